// The evaluator's colour model and background fit (step 1 of the analysis in evaluate.ts).
//
// Colour model: a pixel of a `p`-coloured object is s·p with s in [SHADE_MIN, SHADE_MAX]; at its
// edges it is a mix of such a shade and the background. Background: a robust plane fit per channel
// (the world's backgrounds are flat or linear).
import { COLORS, COLOR_RGB, TEXTURE_SHADE } from './vocab.js';
import type { RgbImage } from './image.js';

/** the palette's colours as RGB in [0, 1], in the order of COLORS */
export const PALETTE = COLORS.map((c) => COLOR_RGB[c]);
/** the squared norm of each palette colour */
export const PAL_N2 = PALETTE.map(([r, g, b]) => r * r + g * g + b * b);
/** a pixel is foreground when this far (RGB distance) from the background */
export const FG_DISTANCE = 0.3;
/** background pixels for the plane fit: this close to the current model */
const BG_INLIER = 0.15;
/** a colour this close to a shade of a palette colour is an object's, not the background's */
const OBJECT_LIKE = 0.12;
/** shade range accepted when explaining pixels by a palette colour */
const SHADE_MIN = TEXTURE_SHADE * 0.7;
const SHADE_MAX = 1.25;

/** The distance of (r, g, b) from the best shade s·p_k (s clamped to the shade range). */
export function shadeResidual(r: number, g: number, b: number, k: number): number {
  const p = PALETTE[k]!;
  let s = (r * p[0] + g * p[1] + b * p[2]) / PAL_N2[k]!;
  s = s < SHADE_MIN ? SHADE_MIN : s > SHADE_MAX ? SHADE_MAX : s;
  const e0 = r - s * p[0], e1 = g - s * p[1], e2 = b - s * p[2];
  return Math.sqrt(e0 * e0 + e1 * e1 + e2 * e2);
}

/**
 * Explains a pixel x as a·p_k + β·bg (a shade of colour k mixed with the background, as every
 * pixel of a k-coloured object is, edges included) with a ≥ 0 and 0 ≤ β ≤ 1; returns the distance
 * of x from that explanation (a plain number: this runs per pixel and colour, and allocates nothing).
 */
export function mixResidual(r: number, g: number, b: number, b0: number, b1: number, b2: number, k: number): number {
  const p = PALETTE[k]!;
  const qq = PAL_N2[k]!;
  const qb = p[0] * b0 + p[1] * b1 + p[2] * b2;
  const bb = b0 * b0 + b1 * b1 + b2 * b2;
  const qx = p[0] * r + p[1] * g + p[2] * b;
  const bx = b0 * r + b1 * g + b2 * b;
  const det = qq * bb - qb * qb;
  let a = det > 1e-9 ? (qx * bb - bx * qb) / det : qx / qq;
  let beta = det > 1e-9 ? (bx * qq - qx * qb) / det : 0;
  if (beta < 0 || beta > 1) {
    beta = beta < 0 ? 0 : 1;
    a = (qx - beta * qb) / qq;
  }
  if (a < 0) {
    a = 0;
    beta = Math.min(1, Math.max(0, bx / bb));
  }
  if (a > SHADE_MAX) a = SHADE_MAX;
  const e0 = r - a * p[0] - beta * b0, e1 = g - a * p[1] - beta * b1, e2 = b - a * p[2] - beta * b2;
  return Math.sqrt(e0 * e0 + e1 * e1 + e2 * e2);
}

function median(values: number[]): number {
  const s = Float64Array.from(values).sort((a, b) => a - b); // a stable sort, as Array's
  return s[s.length >> 1] ?? 0;
}

/** The image's border pixels (indices): the top and bottom rows, then the left and right columns. */
function borderPixels(W: number, H: number): number[] {
  const border: number[] = [];
  for (let x = 0; x < W; x++) border.push(x, (H - 1) * W + x);
  for (let y = 1; y < H - 1; y++) border.push(y * W, y * W + W - 1);
  return border;
}

/**
 * The starting colour of the fit: of the medians of eight stretches of the border, one that is not
 * an object's colour (a shade of a palette colour) and that most border pixels are close to; the
 * median of the whole border when every stretch looks like an object.
 */
function startingColour(d: Float32Array, n: number, border: number[]): number[] {
  const seg = Math.max(1, Math.floor(border.length / 8));
  let start: number[] | null = null;
  let bestInliers = -1;
  for (let k = 0; k < 8; k++) {
    const part = border.slice(k * seg, (k + 1) * seg);
    if (part.length === 0) continue;
    const cand = [0, 1, 2].map((c) => median(part.map((i) => d[c * n + i]!)));
    if (PALETTE.some((_, kk) => shadeResidual(cand[0]!, cand[1]!, cand[2]!, kk) < OBJECT_LIKE)) continue;
    let inl = 0;
    for (const i of border) {
      const e0 = d[i]! - cand[0]!, e1 = d[n + i]! - cand[1]!, e2 = d[2 * n + i]! - cand[2]!;
      if (e0 * e0 + e1 * e1 + e2 * e2 < BG_INLIER * BG_INLIER) inl++;
    }
    if (inl > bestInliers) { bestInliers = inl; start = cand; }
  }
  return start ?? [0, 1, 2].map((c) => median(border.map((i) => d[c * n + i]!)));
}

/**
 * One round of the fit: the least-squares plane a + b·u + c·v per channel through the pixels
 * within BG_INLIER of the current model, written into `model`. Returns false (model unchanged) when
 * fewer than a tenth of the pixels are inliers.
 */
function refitPlane(d: Float32Array, W: number, H: number, model: Float32Array): boolean {
  const n = W * H;
  let s1 = 0, sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
  const sv = [0, 0, 0], sxv = [0, 0, 0], syv = [0, 0, 0];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      const e0 = d[i]! - model[i]!;
      const e1 = d[n + i]! - model[n + i]!;
      const e2 = d[2 * n + i]! - model[2 * n + i]!;
      if (e0 * e0 + e1 * e1 + e2 * e2 > BG_INLIER * BG_INLIER) continue;
      const u = (x - W / 2) / W;
      const v = (y - H / 2) / H;
      s1++; sx += u; sy += v; sxx += u * u; sxy += u * v; syy += v * v;
      for (let c = 0; c < 3; c++) {
        const val = d[c * n + i]!;
        sv[c]! += val; sxv[c]! += u * val; syv[c]! += v * val;
      }
    }
  }
  if (s1 < 0.1 * n) return false;
  const det = s1 * (sxx * syy - sxy * sxy) - sx * (sx * syy - sxy * sy) + sy * (sx * sxy - sxx * sy);
  for (let c = 0; c < 3; c++) {
    let a: number, b: number, cc: number;
    if (Math.abs(det) < 1e-9 * s1 * s1 * s1) {
      a = sv[c]! / s1; b = 0; cc = 0;
    } else {
      // Cramer's rule on the normal equations
      const r0 = sv[c]!, r1 = sxv[c]!, r2 = syv[c]!;
      a = (r0 * (sxx * syy - sxy * sxy) - sx * (r1 * syy - sxy * r2) + sy * (r1 * sxy - sxx * r2)) / det;
      b = (s1 * (r1 * syy - sxy * r2) - r0 * (sx * syy - sxy * sy) + sy * (sx * r2 - r1 * sy)) / det;
      cc = (s1 * (sxx * r2 - r1 * sxy) - sx * (sx * r2 - r1 * sy) + r0 * (sx * sxy - sxx * sy)) / det;
    }
    for (let y = 0; y < H; y++) {
      const v = (y - H / 2) / H;
      for (let x = 0; x < W; x++) model[c * n + y * W + x] = a + b * ((x - W / 2) / W) + cc * v;
    }
  }
  return true;
}

/** Per-channel plane a + b·x + c·y fitted to the background; returns the model at every pixel (CHW). */
export function fitBackground(img: RgbImage): Float32Array {
  const { width: W, height: H, data: d } = img;
  const n = W * H;
  const start = startingColour(d, n, borderPixels(W, H));
  const model = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) model.fill(start[c]!, c * n, (c + 1) * n);
  for (let it = 0; it < 4; it++) if (!refitPlane(d, W, H, model)) break;
  return model;
}
