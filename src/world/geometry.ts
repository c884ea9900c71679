// Geometry of the world, shared by the renderer (to draw) and the evaluator (to know what a circle or
// a stripe looks like, never what a particular image contains): shapes as signed distances in
// pixels, anti-aliased coverage, texture patterns, and the pixel sizes at a given resolution.
import type { Shape, Size, Texture } from './vocab.js';

/** The world is designed at 32×32; everything in pixels scales with resolution / 32. */
export const BASE_RESOLUTION = 32;

export interface WorldScale {
  resolution: number;
  /** resolution / 32 */
  k: number;
  /** [min, max] side of a small and a large object's bounding square, in pixels */
  sizeRange: Record<Size, [number, number]>;
  /** side above which an object counts as large */
  sizeThreshold: number;
  /** the least gap between objects that do not touch */
  gap: number;
  /** the least distance from an object's box to the image border */
  margin: number;
  stripePeriod: number;
  checkerCell: number;
  dotPeriod: number;
  dotRadius: number;
}

export function worldScale(resolution: number): WorldScale {
  if (!Number.isInteger(resolution) || resolution < 16) throw new Error(`world: resolution must be an integer ≥ 16, got ${resolution}`);
  const k = resolution / BASE_RESOLUTION;
  return {
    resolution,
    k,
    sizeRange: { small: [9.25 * k, 10.25 * k], large: [13 * k, 14 * k] },
    sizeThreshold: 11.6 * k,
    gap: 3 * k,
    margin: 0.25 * k,
    stripePeriod: 4 * k,
    checkerCell: 3 * k,
    dotPeriod: 4 * k,
    dotRadius: 1.25 * k,
  };
}

/** Fraction of the bounding square a shape fills. */
export const SHAPE_FILL: Record<Shape, number> = { circle: Math.PI / 4, square: 1, triangle: 0.5, diamond: 0.5 };
/** Centroid's offset from the box centre, in units of the half-side (y grows downward). */
export const SHAPE_CENTROID_Y: Record<Shape, number> = { circle: 0, square: 0, triangle: 1 / 3, diamond: 0 };

const INV_SQRT2 = Math.SQRT1_2;
const INV_SQRT5 = 1 / Math.sqrt(5);

/**
 * Signed distance (pixels, negative inside) from (dx, dy) — the offset from the box centre — to a
 * shape whose bounding square has half-side h. Polygons use the largest half-plane distance, exact
 * along edges (which is all anti-aliasing needs). The triangle points up.
 */
export function shapeDistance(shape: Shape, dx: number, dy: number, h: number): number {
  switch (shape) {
    case 'circle':
      return Math.sqrt(dx * dx + dy * dy) - h;
    case 'square':
      return Math.max(Math.abs(dx), Math.abs(dy)) - h;
    case 'diamond':
      return (Math.abs(dx) + Math.abs(dy) - h) * INV_SQRT2;
    case 'triangle': {
      const base = dy - h;
      const side = (2 * Math.abs(dx) - dy - h) * INV_SQRT5;
      return Math.max(base, side);
    }
  }
}

function clamp01(d: number): number {
  return d <= 0 ? 0 : d >= 1 ? 1 : d;
}
// the anti-aliased coverage of each shape, clamp(0.5 − signed distance), one function per shape so
// that a loop over pixels calls one function (inlined) rather than one of four
function coverCircle(dx: number, dy: number, h: number): number {
  return clamp01(0.5 + h - Math.sqrt(dx * dx + dy * dy));
}
function coverSquare(dx: number, dy: number, h: number): number {
  return clamp01(0.5 + h - Math.max(Math.abs(dx), Math.abs(dy)));
}
function coverDiamond(dx: number, dy: number, h: number): number {
  return clamp01(0.5 - (Math.abs(dx) + Math.abs(dy) - h) * INV_SQRT2);
}
function coverTriangle(dx: number, dy: number, h: number): number {
  return clamp01(0.5 - Math.max(dy - h, (2 * Math.abs(dx) - dy - h) * INV_SQRT5));
}

/** A coverage function specialised to one shape (for tight loops). */
export function coverageFunction(shape: Shape): (dx: number, dy: number, h: number) => number {
  switch (shape) {
    case 'circle':
      return coverCircle;
    case 'square':
      return coverSquare;
    case 'diamond':
      return coverDiamond;
    case 'triangle':
      return coverTriangle;
  }
}

/**
 * Soft IoU of a shape's template (coverageFunction's, box centre (cx, cy), half-side h) with soft
 * samples: `samples` holds triples (x, y, a) of pixel centres and their coverage a; the result is
 * Σ min(a, t) / Σ max(a, t) with t = cover(x − cx, y − cy, h), summed in the samples' order (0 when
 * the union is 0). One loop per shape, each calling its own coverage function: the same arithmetic
 * as calling coverageFunction(shape) per sample, without the cost of a call through one of four.
 */
export function softIoU(shape: Shape, samples: Float64Array, cx: number, cy: number, h: number): number {
  let inter = 0, union = 0;
  const len = samples.length;
  switch (shape) {
    case 'circle':
      for (let j = 0; j < len; j += 3) {
        const a = samples[j + 2]!;
        const dx = samples[j]! - cx, dy = samples[j + 1]! - cy;
        const t = coverCircle(dx, dy, h);
        inter += a < t ? a : t;
        union += a > t ? a : t;
      }
      break;
    case 'square':
      for (let j = 0; j < len; j += 3) {
        const a = samples[j + 2]!;
        const dx = samples[j]! - cx, dy = samples[j + 1]! - cy;
        const t = coverSquare(dx, dy, h);
        inter += a < t ? a : t;
        union += a > t ? a : t;
      }
      break;
    case 'diamond':
      for (let j = 0; j < len; j += 3) {
        const a = samples[j + 2]!;
        const dx = samples[j]! - cx, dy = samples[j + 1]! - cy;
        const t = coverDiamond(dx, dy, h);
        inter += a < t ? a : t;
        union += a > t ? a : t;
      }
      break;
    case 'triangle':
      for (let j = 0; j < len; j += 3) {
        const a = samples[j + 2]!;
        const dx = samples[j]! - cx, dy = samples[j + 1]! - cy;
        const t = coverTriangle(dx, dy, h);
        inter += a < t ? a : t;
        union += a > t ? a : t;
      }
      break;
  }
  return union > 0 ? inter / union : 0;
}

/** Anti-aliased coverage of the pixel whose centre is at offset (dx, dy). */
export function shapeCoverage(shape: Shape, dx: number, dy: number, h: number): number {
  const d = 0.5 - shapeDistance(shape, dx, dy, h);
  return d <= 0 ? 0 : d >= 1 ? 1 : d;
}

/** ∫₀ˣ of a square wave of period p that is 1 on [0, p/2): the box-filtered wave is F(x+½)−F(x−½). */
function squareWaveIntegral(x: number, p: number): number {
  const n = Math.floor(x / p);
  const r = x - n * p;
  return n * p * 0.5 + Math.min(r, p * 0.5);
}

function boxedSquareWave(x: number, p: number): number {
  return squareWaveIntegral(x + 0.5, p) - squareWaveIntegral(x - 0.5, p);
}

/**
 * How much of the pixel at offset (dx, dy) from the object's centre is the dark secondary colour,
 * in [0, 1], box-filtered (anti-aliased). Patterns are anchored at the object's centre: a dark
 * stripe runs through the centre, four checker cells meet there, and four dots sit around it
 * (the dot lattice is offset by half a period).
 */
export function texturePattern(texture: Texture, dx: number, dy: number, s: WorldScale): number {
  switch (texture) {
    case 'plain':
      return 0;
    case 'striped': {
      const p = s.stripePeriod;
      return boxedSquareWave(dy + p / 4, p);
    }
    case 'checkered': {
      const p = 2 * s.checkerCell;
      const gx = boxedSquareWave(dx, p);
      const gy = boxedSquareWave(dy, p);
      return gx * gy + (1 - gx) * (1 - gy);
    }
    case 'dotted': {
      const p = s.dotPeriod;
      const hx = dx - p / 2;
      const hy = dy - p / 2;
      let ox = hx - Math.round(hx / p) * p;
      let oy = hy - Math.round(hy / p) * p;
      ox = Math.abs(ox);
      oy = Math.abs(oy);
      const d = Math.sqrt(ox * ox + oy * oy);
      const c = s.dotRadius - d + 0.5;
      return c <= 0 ? 0 : c >= 1 ? 1 : c;
    }
  }
}
