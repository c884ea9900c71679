// The renderer: scene specification + seed → an RGB image (CHW Float32Array in [0, 1]).
// Anti-aliased shapes and textures (box-filtered coverage), random placement and size jitter
// within what the specification allows, a pale background (flat or a linear gradient) and mild
// pixel noise, so that a model has to learn the concepts rather than memorise pixels.
// Deterministic for a seed.
import { NORMAL_TABLE, Rng } from './rng.js';
import { COLOR_RGB, TEXTURE_SHADE } from './vocab.js';
import type { SceneSpec } from './spec.js';
import { createImage, type RgbImage } from './image.js';
import { shapeCoverage, texturePattern, worldScale, type WorldScale } from './geometry.js';
import { layoutScene, type Layout, type PlacedObject } from './layout.js';

/** Pale, low-saturation background colours (far from every object colour and its dark shade). */
export const BACKGROUND_COLORS: readonly (readonly [number, number, number])[] = [
  [0.94, 0.94, 0.94],
  [0.86, 0.86, 0.86],
  [0.96, 0.94, 0.87],
  [0.88, 0.92, 0.97],
  [0.9, 0.95, 0.9],
  [0.96, 0.9, 0.92],
  [0.82, 0.84, 0.88],
];

export interface RenderOptions {
  /** side of the square image in pixels (32 by default; 64 works the same, scaled) */
  resolution?: number;
}

export interface Rendered {
  image: RgbImage;
  /** what was drawn (for debugging and tests; the evaluator never reads it) */
  layout: Layout;
}

function jitterColor(c: readonly [number, number, number], rng: Rng, amount: number): [number, number, number] {
  return [c[0] + rng.uniform(-amount, amount), c[1] + rng.uniform(-amount, amount), c[2] + rng.uniform(-amount, amount)];
}

/** Fills the image with a flat or linear-gradient pale background. */
export function paintBackground(img: RgbImage, rng: Rng): void {
  const W = img.width;
  const H = img.height;
  const n = W * H;
  const c1 = jitterColor(rng.pick(BACKGROUND_COLORS), rng, 0.03);
  const d = img.data;
  if (rng.bool(0.4)) {
    for (let c = 0; c < 3; c++) d.fill(c1[c]!, c * n, (c + 1) * n);
    return;
  }
  const c2 = jitterColor(rng.pick(BACKGROUND_COLORS), rng, 0.03);
  const theta = rng.uniform(0, 2 * Math.PI);
  const ux = Math.cos(theta);
  const uy = Math.sin(theta);
  const span = Math.abs(ux) * W + Math.abs(uy) * H;
  const x0 = W / 2;
  const y0 = H / 2;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const t = 0.5 + ((x + 0.5 - x0) * ux + (y + 0.5 - y0) * uy) / span;
      const i = y * W + x;
      d[i] = c1[0] + (c2[0] - c1[0]) * t;
      d[n + i] = c1[1] + (c2[1] - c1[1]) * t;
      d[2 * n + i] = c1[2] + (c2[2] - c1[2]) * t;
    }
  }
}

/** Draws one object over the image (alpha-composited coverage). */
export function drawObject(img: RgbImage, o: PlacedObject, s: WorldScale, rgb: readonly [number, number, number]): void {
  const W = img.width;
  const H = img.height;
  const n = W * H;
  const d = img.data;
  const h = o.side / 2;
  const x0 = Math.max(0, Math.floor(o.cx - h - 1));
  const x1 = Math.min(W - 1, Math.ceil(o.cx + h + 1));
  const y0 = Math.max(0, Math.floor(o.cy - h - 1));
  const y1 = Math.min(H - 1, Math.ceil(o.cy + h + 1));
  const dark = 1 - TEXTURE_SHADE;
  const [r, g, b] = rgb;
  const plain = o.texture === 'plain';
  for (let y = y0; y <= y1; y++) {
    const dy = y + 0.5 - o.cy;
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - o.cx;
      const a = shapeCoverage(o.shape, dx, dy, h);
      if (a === 0) continue;
      const f = plain ? 1 : 1 - dark * texturePattern(o.texture, dx, dy, s);
      const i = y * W + x;
      d[i] = d[i]! + a * (r * f - d[i]!);
      d[n + i] = d[n + i]! + a * (g * f - d[n + i]!);
      d[2 * n + i] = d[2 * n + i]! + a * (b * f - d[2 * n + i]!);
    }
  }
}

/** Adds Gaussian pixel noise of standard deviation sigma and clamps to [0, 1]. */
export function addNoiseAndClamp(img: RgbImage, rng: Rng, sigma: number): void {
  const d = img.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]! + sigma * NORMAL_TABLE[rng.u32() & 0xffff]!;
    d[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

/** Draws a laid-out scene; `rng` gives the background, colour jitter and noise. */
export function renderLayout(layout: Layout, rng: Rng): RgbImage {
  const s = worldScale(layout.resolution);
  const img = createImage(layout.resolution, layout.resolution);
  paintBackground(img, rng);
  for (const o of layout.objects) drawObject(img, o, s, jitterColor(COLOR_RGB[o.color], rng, 0.03));
  addNoiseAndClamp(img, rng, rng.uniform(0.005, 0.02));
  return img;
}

/** Renders a scene for a seed: the same (spec, seed, resolution) always gives the same pixels. */
export function renderScene(spec: SceneSpec, seed: number, opts: RenderOptions = {}): Rendered {
  const resolution = opts.resolution ?? 32;
  const rng = new Rng(seed, 'render');
  const layout = layoutScene(spec, rng.fork('layout'), resolution);
  const image = renderLayout(layout, rng.fork('paint'));
  return { image, layout };
}

/** A background with no objects (for measuring the evaluator on empty images). */
export function renderBackground(seed: number, resolution = 32): RgbImage {
  const rng = new Rng(seed, 'background');
  const img = createImage(resolution, resolution);
  paintBackground(img, rng);
  addNoiseAndClamp(img, rng, rng.uniform(0.005, 0.02));
  return img;
}
