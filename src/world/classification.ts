// The evaluator's classification of one region (step 4 of the analysis in evaluate.ts): colour =
// the palette colour that best explains its pixels as shades of it mixed with the background; shape
// = the best anti-aliased template by soft IoU, placed by area and centroid and refined by a
// pattern search; size = the side of that template; texture = the best-fitting pattern (linear
// regression of the darkness on each pattern at every phase).
import { COLORS, SHAPES, TEXTURES, type Color, type Shape, type Size, type Texture } from './vocab.js';
import type { RgbImage } from './image.js';
import { SHAPE_CENTROID_Y, SHAPE_FILL, softIoU, texturePattern, type WorldScale } from './geometry.js';
import { FG_DISTANCE, PALETTE, PAL_N2, mixResidual } from './background.js';
import type { Region } from './segmentation.js';

export interface DetectedObject {
  color: Color;
  /** mean distance (RGB, 0–1) of the object's pixels from the best shade of its colour */
  colorResidual: number;
  shape: Shape;
  /** soft IoU of the object with each shape's template */
  shapeScores: Record<Shape, number>;
  size: Size;
  /** estimated side of the bounding square, pixels */
  side: number;
  texture: Texture;
  /** R² of each pattern's fit (0 for plain), and the fitted contrast of the best one */
  textureScores: Record<Texture, number>;
  textureContrast: number;
  /** α-weighted centroid, pixels */
  cx: number;
  cy: number;
  /** soft area, pixels */
  area: number;
  /** foreground component it belongs to (touching objects share one) */
  component: number;
}

/** least template IoU and largest colour residual of an object */
const MIN_SHAPE_IOU = 0.5;
const MAX_COLOR_RESIDUAL = 0.16;
/** textures: least fitted contrast (of 1 − shade = 0.65 in full) for a pattern to count */
const MIN_TEXTURE_CONTRAST = 0.14;
/** the shape refinement's pattern search: at steps of 0.5 then 0.25 px, moves of the centre (x, y)
 *  and of the scale (relative, 0.16 × step) */
const REFINE_MOVES: readonly (readonly [number, number, number])[][] = [0.5, 0.25].map((step) => [
  [step, 0, 0], [-step, 0, 0], [0, step, 0], [0, -step, 0], [0, 0, step * 0.16], [0, 0, -step * 0.16],
]);

/** What the classification of one image shares: the image, its background model (CHW), every
 * pixel's region id and distance from the background, and the resolution's scale. */
export interface ClassifyInput {
  img: RgbImage;
  bgModel: Float32Array;
  region: Int32Array;
  dist: Float32Array;
  scale: WorldScale;
}

/** Colour: the palette colour whose shades, mixed with the background, best explain the pixels;
 * with the mean residual of that explanation. */
function classifyColour(input: ClassifyInput, pixels: number[]): { bestColor: number; colorResidual: number } {
  const { img: { width: W, height: H, data: d }, bgModel } = input;
  const n = W * H;
  const mix = (i: number, kk: number) => mixResidual(d[i]!, d[n + i]!, d[2 * n + i]!, bgModel[i]!, bgModel[n + i]!, bgModel[2 * n + i]!, kk);
  let bestColor = 0, bestRes = Infinity;
  for (let kk = 0; kk < PALETTE.length; kk++) {
    let sum = 0;
    for (const i of pixels) sum += mix(i, kk);
    if (sum < bestRes) { bestRes = sum; bestColor = kk; }
  }
  return { bestColor, colorResidual: bestRes / pixels.length };
}

interface Coverage {
  /** the pixels given a coverage in `alpha`: the region's, then a one-pixel ring around it */
  support: number[];
  /** soft area and α-weighted centroid */
  area: number;
  cx: number;
  cy: number;
  /** the region's bounding box, pixels (inclusive) */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * α: every pixel's coverage by the object, from x − bg = a·q − α·bg (the pixel is α·s·q + (1 − α)·bg
 * for a shade s of q), on the region and a one-pixel ring of background around it; written into
 * `alpha` (which the caller clears over `support` afterwards).
 */
function coverage(input: ClassifyInput, r: Region, colour: number, alpha: Float32Array): Coverage {
  const { img: { width: W, height: H, data: d }, bgModel, region, dist } = input;
  const n = W * H;
  const p = PALETTE[colour]!;
  // a typical distance of the object from the background (for the degenerate case below)
  const byDist = new Float64Array(r.pixels.length);
  for (let j = 0; j < byDist.length; j++) byDist[j] = dist[r.pixels[j]!]!;
  byDist.sort(); // numeric order (distances are ≥ 0)
  const dRef = Math.max(FG_DISTANCE, byDist[Math.floor(byDist.length * 0.65)]!);

  const coverageAt = (i: number): number => {
    const b0 = bgModel[i]!, b1 = bgModel[n + i]!, b2 = bgModel[2 * n + i]!;
    const v0 = d[i]! - b0, v1 = d[n + i]! - b1, v2 = d[2 * n + i]! - b2;
    const qq = p[0] * p[0] + p[1] * p[1] + p[2] * p[2];
    const qb = p[0] * b0 + p[1] * b1 + p[2] * b2;
    const bb = b0 * b0 + b1 * b1 + b2 * b2;
    const qv = p[0] * v0 + p[1] * v1 + p[2] * v2;
    const bv = b0 * v0 + b1 * v1 + b2 * v2;
    const det = qq * bb - qb * qb;
    if (det < 1e-6) return Math.min(1, dist[i]! / dRef);
    // [qq, −qb; −qb, bb]·[a; α] = [qv; −bv]
    const al = (qq * -bv + qb * qv) / det;
    return al < 0 ? 0 : al > 1 ? 1 : al;
  };
  const support: number[] = [];
  let x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (const i of r.pixels) {
    alpha[i] = Math.max(1e-6, coverageAt(i));
    support.push(i);
    const x = i % W, y = (i - x) / W;
    if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
  }
  for (const i of r.pixels) {
    const x = i % W, y = (i - x) / W;
    for (let dy = -1; dy <= 1; dy++) {
      for (let dx = -1; dx <= 1; dx++) {
        const xx = x + dx, yy = y + dy;
        if (xx < 0 || yy < 0 || xx >= W || yy >= H) continue;
        const j = yy * W + xx;
        if (region[j]! >= 0 || alpha[j]! > 0) continue;
        alpha[j] = Math.max(1e-6, coverageAt(j));
        support.push(j);
      }
    }
  }
  let area = 0, mx = 0, my = 0;
  for (const i of support) {
    const a = alpha[i]!;
    const x = i % W, y = (i - x) / W;
    area += a; mx += a * (x + 0.5); my += a * (y + 0.5);
  }
  return { support, area, cx: mx / area, cy: my / area, x0, y0, x1, y1 };
}

/** The pixels of the box around the region (2 px margin) as (x + ½, y + ½, α) triples, leaving out
 * pixels of another region (they may hide part of this one). */
function shapeWindow(input: ClassifyInput, id: number, cov: Coverage, alpha: Float32Array): Float64Array {
  const { img: { width: W, height: H }, region } = input;
  const wx0 = Math.max(0, cov.x0 - 2), wx1 = Math.min(W - 1, cov.x1 + 2), wy0 = Math.max(0, cov.y0 - 2), wy1 = Math.min(H - 1, cov.y1 + 2);
  const win = new Float64Array(3 * (wx1 - wx0 + 1) * (wy1 - wy0 + 1));
  let nWin = 0;
  for (let y = wy0; y <= wy1; y++) {
    for (let x = wx0; x <= wx1; x++) {
      const i = y * W + x;
      if (region[i]! >= 0 && region[i] !== id) continue;
      win[nWin++] = x + 0.5;
      win[nWin++] = y + 0.5;
      win[nWin++] = alpha[i]!;
    }
  }
  return win.subarray(0, nWin);
}

/**
 * The pattern search over a template's centre (px, py) and half-side ph that maximises its soft IoU
 * with the window `wv`, starting from a placement that scores `score`.
 */
function refinePlacement(shape: Shape, wv: Float64Array, px: number, py: number, ph: number, score: number): { score: number; px: number; py: number; ph: number } {
  let best = score;
  // (x, y, h) already scored in this search: a point seen before scored at most the best of
  // then, which is at most the best of now, so it cannot improve and is not scored again (a move
  // and its reverse come back to the same point, to the last bit, most of the time)
  const seen = [px, py, ph];
  const isNew = (x: number, y: number, h: number): boolean => {
    for (let j = 0; j < seen.length; j += 3) if (seen[j] === x && seen[j + 1] === y && seen[j + 2] === h) return false;
    seen.push(x, y, h);
    return true;
  };
  for (const moves of REFINE_MOVES) {
    for (let round = 0; round < 4; round++) {
      let improved = false;
      for (const [ddx, ddy, dh] of moves) {
        const nx = px + ddx, ny = py + ddy, nh = ph * (1 + dh);
        if (!isNew(nx, ny, nh)) continue;
        const v = softIoU(shape, wv, nx, ny, nh);
        if (v > best) { best = v; px = nx; py = ny; ph = nh; improved = true; }
      }
      if (!improved) break;
    }
  }
  return { score: best, px, py, ph };
}

interface ShapeFit {
  shape: Shape;
  shapeScores: Record<Shape, number>;
  sides: Record<Shape, number>;
  centres: Record<Shape, [number, number]>;
}

/** Shape: soft IoU with each shape's template, placed by area and centroid, then refined by a
 * pattern search over centre and scale for the shapes that start close to the best. */
function classifyShape(wv: Float64Array, area: number, cx: number, cy: number): ShapeFit {
  const shapeScores = {} as Record<Shape, number>;
  const sides = {} as Record<Shape, number>;
  const centres = {} as Record<Shape, [number, number]>;
  for (const shape of SHAPES) {
    const h0 = Math.sqrt(area / SHAPE_FILL[shape]) / 2;
    centres[shape] = [cx, cy - SHAPE_CENTROID_Y[shape] * h0];
    sides[shape] = 2 * h0;
    shapeScores[shape] = softIoU(shape, wv, cx, centres[shape][1], h0);
  }
  const initialBest = Math.max(...SHAPES.map((sh) => shapeScores[sh]));
  for (const shape of SHAPES) {
    if (shapeScores[shape] < initialBest - 0.12) continue;
    const [px, py] = centres[shape];
    const fit = refinePlacement(shape, wv, px, py, sides[shape] / 2, shapeScores[shape]);
    shapeScores[shape] = fit.score;
    sides[shape] = 2 * fit.ph;
    centres[shape] = [fit.px, fit.py];
  }
  let shape: Shape = 'circle';
  for (const sh of SHAPES) if (shapeScores[sh] > shapeScores[shape]) shape = sh;
  return { shape, shapeScores, sides, centres };
}

/**
 * Texture: regresses the darkness (1 − the shade of `colour`) of the region's interior pixels on
 * each pattern, at every phase; a pattern counts when its fitted contrast reaches
 * MIN_TEXTURE_CONTRAST, and the best R² of those wins. Patterns are anchored at the centre
 * (ax, ay) of the object's bounding square (geometry.ts).
 */
function classifyTexture(input: ClassifyInput, r: Region, id: number, colour: number, ax: number, ay: number): { texture: Texture; textureScores: Record<Texture, number>; textureContrast: number } {
  const { img: { width: W, height: H, data: d }, region, scale: s } = input;
  const n = W * H;
  const inRegion = (i: number) => region[i] === id;
  const interior: number[] = [];
  for (const i of r.pixels) {
    const x = i % W;
    if (x === 0 || x === W - 1 || i < W || i >= n - W) continue;
    if (inRegion(i - 1) && inRegion(i + 1) && inRegion(i - W) && inRegion(i + W)) interior.push(i);
  }
  const textureScores = { plain: 0, striped: 0, dotted: 0, checkered: 0 } as Record<Texture, number>;
  let texture: Texture = 'plain';
  let textureContrast = 0;
  if (interior.length < 6) return { texture, textureScores, textureContrast };
  const q = PALETTE[colour]!;
  const qn = PAL_N2[colour]!;
  const u = interior.map((i) => 1 - (d[i]! * q[0] + d[n + i]! * q[1] + d[2 * n + i]! * q[2]) / qn);
  const m = u.length;
  let mu = 0;
  for (const v of u) mu += v;
  mu /= m;
  let vu = 0;
  for (const v of u) vu += (v - mu) * (v - mu);
  const dxs = interior.map((i) => (i % W) + 0.5 - ax);
  const dys = interior.map((i) => Math.floor(i / W) + 0.5 - ay);
  const phases = [-0.5 * s.k, 0, 0.5 * s.k];
  let bestR2 = 0;
  const t = new Float64Array(m);
  for (const tex of TEXTURES) {
    if (tex === 'plain') continue;
    let texBest = 0, texContrast = 0;
    for (const px of tex === 'striped' ? [0] : phases) {
      for (const py of phases) {
        let mt = 0;
        for (let j = 0; j < m; j++) { t[j] = texturePattern(tex, dxs[j]! + px, dys[j]! + py, s); mt += t[j]!; }
        mt /= m;
        let vt = 0, cov = 0;
        for (let j = 0; j < m; j++) { const e = t[j]! - mt; vt += e * e; cov += e * (u[j]! - mu); }
        if (vt <= 1e-9 || vu <= 1e-12 || cov <= 0) continue;
        const r2 = (cov * cov) / (vt * vu);
        if (r2 > texBest) { texBest = r2; texContrast = cov / vt; }
      }
    }
    textureScores[tex] = texBest;
    if (texContrast >= MIN_TEXTURE_CONTRAST && texBest > bestR2) { bestR2 = texBest; texture = tex; textureContrast = texContrast; }
  }
  return { texture, textureScores, textureContrast };
}

/**
 * Classifies region `id` (colour, shape, size, texture, centroid, soft area); null when it is not an
 * object (no coverage, a colour no shade explains, or no shape that fits). `alpha` is scratch of one
 * float per pixel, all zero, and is left all zero.
 */
export function classifyRegion(input: ClassifyInput, r: Region, id: number, alpha: Float32Array): DetectedObject | null {
  const { bestColor, colorResidual } = classifyColour(input, r.pixels);
  const cov = coverage(input, r, bestColor, alpha);
  const cleanup = () => { for (const i of cov.support) alpha[i] = 0; };
  if (cov.area <= 0) { cleanup(); return null; }
  const { area, cx, cy } = cov;
  const { shape, shapeScores, sides, centres } = classifyShape(shapeWindow(input, id, cov, alpha), area, cx, cy);
  cleanup();

  if (colorResidual > MAX_COLOR_RESIDUAL || shapeScores[shape] < MIN_SHAPE_IOU) return null;
  const side = sides[shape];
  const size: Size = side > input.scale.sizeThreshold ? 'large' : 'small';
  const [ax, ay] = centres[shape];
  const { texture, textureScores, textureContrast } = classifyTexture(input, r, id, bestColor, ax, ay);

  return {
    color: COLORS[bestColor]!,
    colorResidual,
    shape,
    shapeScores,
    size,
    side,
    texture,
    textureScores,
    textureContrast,
    cx,
    cy,
    area,
    component: r.component,
  };
}
