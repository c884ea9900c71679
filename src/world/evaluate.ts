// The evaluator: image pixels + prompt → a score in [0, 1] and a breakdown per check. It reads only
// the pixels (never what the renderer drew) and knows only the world's vocabulary: what each colour,
// shape, size and texture looks like.
//
// In the spirit of T2I-CompBench's per-category metrics (Huang et al., 2023, §4): attribute binding
// is judged per noun phrase (is the object there, does it carry its attribute), spatial relations
// by comparing the objects' centres along the dominant axis (as its UniDet-based spatial metric
// does), non-spatial relations and counts by their own checks. Here detection is exact image
// analysis instead of a learned detector:
//   1. background: a robust plane fit per channel (the world's backgrounds are flat or linear);
//   2. foreground: pixels far from the background; 4-connected components;
//   3. a component with two significant colours (touching objects) is split by colour;
//   4. per object: colour = the palette colour that best explains its pixels as shades of it,
//      shape = the best anti-aliased template (IoU), size = side of that template, texture = the
//      best-fitting pattern (linear regression of the darkness on each pattern at every phase);
//   5. objects are matched to the prompt's noun phrases, and every check is read off.
// It runs for every image a reward-trained step scores (tens per step), so its loops allocate
// little; what it returns is pinned bit for bit (test/world/evaluate-golden.test.ts), and a change
// meant only to make it faster must leave that test passing.
import { COLORS, COLOR_RGB, SHAPES, TEXTURES, TEXTURE_SHADE, type Category, type Color, type RelationType, type Shape, type Size, type Texture } from './vocab.js';
import type { RgbImage } from './image.js';
import { parsePrompt } from './grammar.js';
import { describeObject, type EntitySpec, type SceneSpec } from './spec.js';
import { SHAPE_CENTROID_Y, SHAPE_FILL, softIoU, texturePattern, worldScale, type WorldScale } from './geometry.js';

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

export interface Detection {
  objects: DetectedObject[];
  /** pairs [i, j] of objects that touch (share a boundary) */
  touching: [number, number][];
  /** the fitted background at the image centre */
  background: [number, number, number];
}

export type CheckKind = 'found' | 'shape' | 'color' | 'size' | 'texture' | 'count' | 'relation';

export interface Check {
  /** e.g. "object 1 (a red circle): colour" */
  name: string;
  kind: CheckKind;
  /** the noun phrase (entity) index, for object and count checks */
  entity?: number;
  /** the relation index, for relation checks */
  relation?: number;
  expected: string;
  observed: string | null;
  ok: boolean;
}

export interface Evaluation {
  prompt: string;
  category: Category | null;
  /** fraction of checks passed, in [0, 1] */
  score: number;
  /** every check passed */
  pass: boolean;
  checks: Check[];
  /** index of the detected object matched to each noun phrase (−1 if none; count phrases: −1) */
  assignment: number[];
  detection: Detection;
}

// ---------------------------------------------------------------------------------------------
// constants of the analysis (in pixels at 32×32, scaled with the resolution)

const PALETTE = COLORS.map((c) => COLOR_RGB[c]);
const PAL_N2 = PALETTE.map(([r, g, b]) => r * r + g * g + b * b);
/** a pixel is foreground when this far (RGB distance) from the background */
const FG_DISTANCE = 0.3;
/** background pixels for the plane fit: this close to the current model */
const BG_INLIER = 0.15;
/** a colour this close to a shade of a palette colour is an object's, not the background's */
const OBJECT_LIKE = 0.12;
/** a pixel's colour label is sure when a shade of that colour mixed with the background explains it
 * this well, and clearly better than any other colour does */
const SURE_RESIDUAL = 0.1;
const LABEL_MARGIN = 0.03;
/** shade range accepted when explaining pixels by a palette colour */
const SHADE_MIN = TEXTURE_SHADE * 0.7;
const SHADE_MAX = 1.25;
/** objects: least area, least template IoU, largest colour residual */
const MIN_AREA = 14;
const MIN_SHAPE_IOU = 0.5;
const MAX_COLOR_RESIDUAL = 0.16;
/** a second colour in one component is an object of its own when this many of its pixels are solid */
const MIN_SOLID_PIXELS = 4;
/** textures: least fitted contrast (of 1 − shade = 0.65 in full) for a pattern to count */
const MIN_TEXTURE_CONTRAST = 0.14;
/** touching: least number of 4-neighbour pixel pairs shared by two objects */
const MIN_CONTACT = 2;
/** the shape refinement's pattern search: at steps of 0.5 then 0.25 px, moves of the centre (x, y)
 *  and of the scale (relative, 0.16 × step) */
const REFINE_MOVES: readonly (readonly [number, number, number])[][] = [0.5, 0.25].map((step) => [
  [step, 0, 0], [-step, 0, 0], [0, step, 0], [0, -step, 0], [0, 0, step * 0.16], [0, 0, -step * 0.16],
]);

// ---------------------------------------------------------------------------------------------
// background

function median(values: number[]): number {
  const s = Float64Array.from(values).sort((a, b) => a - b); // a stable sort, as Array's
  return s[s.length >> 1] ?? 0;
}

/** Per-channel plane a + b·x + c·y fitted to the background; returns the model at every pixel (CHW). */
function fitBackground(img: RgbImage): Float32Array {
  const { width: W, height: H, data: d } = img;
  const n = W * H;
  const border: number[] = [];
  for (let x = 0; x < W; x++) border.push(x, (H - 1) * W + x);
  for (let y = 1; y < H - 1; y++) border.push(y * W, y * W + W - 1);
  // starting colour: of the medians of eight stretches of the border, one that is not an object's
  // colour (a shade of a palette colour) and that most border pixels are close to
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
  start ??= [0, 1, 2].map((c) => median(border.map((i) => d[c * n + i]!)));
  const model = new Float32Array(3 * n);
  for (let c = 0; c < 3; c++) model.fill(start[c]!, c * n, (c + 1) * n);
  for (let it = 0; it < 4; it++) {
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
    if (s1 < 0.1 * n) break;
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
  }
  return model;
}

// ---------------------------------------------------------------------------------------------
// colour model: a pixel of a `p`-coloured object is s·p with s in [SHADE_MIN, SHADE_MAX]

/** The distance of (r, g, b) from the best shade s·p_k (s clamped to the shade range). */
function shadeResidual(r: number, g: number, b: number, k: number): number {
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
function mixResidual(r: number, g: number, b: number, b0: number, b1: number, b2: number, k: number): number {
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

// ---------------------------------------------------------------------------------------------
// detection

interface Region {
  pixels: number[];
  label: number;
  component: number;
}

/** Finds the objects in an image (pixels only). */
export function detectObjects(img: RgbImage): Detection {
  const { width: W, height: H, data: d } = img;
  const n = W * H;
  const scale = worldScale(Math.max(16, Math.round(Math.min(W, H))));
  const k2 = scale.k * scale.k;
  const bg = fitBackground(img);

  // foreground: far enough from the background
  const dist = new Float32Array(n);
  const fg = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const e0 = d[i]! - bg[i]!, e1 = d[n + i]! - bg[n + i]!, e2 = d[2 * n + i]! - bg[2 * n + i]!;
    const dd = Math.sqrt(e0 * e0 + e1 * e1 + e2 * e2);
    dist[i] = dd;
    if (dd > FG_DISTANCE) fg[i] = 1;
  }
  // colour labels of foreground pixels, from the mean of the foreground in their 3×3
  // neighbourhood (noise averages out; mixtures of one colour's shades and the background stay
  // mixtures of them)
  const label = new Int8Array(n).fill(-1);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      if (!fg[i]) continue;
      let r = 0, g = 0, b = 0, c = 0;
      for (let yy = Math.max(0, y - 1); yy <= Math.min(H - 1, y + 1); yy++) {
        for (let xx = Math.max(0, x - 1); xx <= Math.min(W - 1, x + 1); xx++) {
          const j = yy * W + xx;
          if (!fg[j]) continue;
          r += d[j]!; g += d[n + j]!; b += d[2 * n + j]!; c++;
        }
      }
      r /= c; g /= c; b /= c;
      let best = -1, bestR = Infinity, second = Infinity;
      for (let kk = 0; kk < PALETTE.length; kk++) {
        const res = mixResidual(r, g, b, bg[i]!, bg[n + i]!, bg[2 * n + i]!, kk);
        if (res < bestR) { second = bestR; bestR = res; best = kk; } else if (res < second) second = res;
      }
      if (bestR < SURE_RESIDUAL && second - bestR > LABEL_MARGIN) label[i] = best;
    }
  }

  // 4-connected components of the foreground
  const comp = new Int32Array(n).fill(-1);
  const queue = new Int32Array(n);
  const components: number[][] = [];
  for (let i0 = 0; i0 < n; i0++) {
    if (!fg[i0] || comp[i0]! >= 0) continue;
    const id = components.length;
    const px: number[] = [];
    let head = 0, tail = 0;
    queue[tail++] = i0;
    comp[i0] = id;
    while (head < tail) {
      const i = queue[head++]!;
      px.push(i);
      const x = i % W, y = (i - x) / W;
      if (x > 0 && fg[i - 1] && comp[i - 1]! < 0) { comp[i - 1] = id; queue[tail++] = i - 1; }
      if (x < W - 1 && fg[i + 1] && comp[i + 1]! < 0) { comp[i + 1] = id; queue[tail++] = i + 1; }
      if (y > 0 && fg[i - W] && comp[i - W]! < 0) { comp[i - W] = id; queue[tail++] = i - W; }
      if (y < H - 1 && fg[i + W] && comp[i + W]! < 0) { comp[i + W] = id; queue[tail++] = i + W; }
    }
    components.push(px);
  }

  // split each component into single-colour regions
  const region = new Int32Array(n).fill(-1);
  const regions: Region[] = [];
  // the 4-neighbours of a pixel, in the order left, right, up, down (−1 or out of [0, n): none)
  const nbs = new Int32Array(4);
  const neighbours = (i: number) => {
    const x = i % W;
    nbs[0] = x > 0 ? i - 1 : -1; nbs[1] = x < W - 1 ? i + 1 : -1; nbs[2] = i - W; nbs[3] = i + W;
  };
  // a pixel's index in its component's pixel list (−1: in none). The 4-neighbours of a component's
  // pixels that are in any list are in the same component's, so one array serves every component.
  const where = new Int32Array(n).fill(-1);
  components.forEach((px, ci) => {
    if (px.length < MIN_AREA * k2) return;
    // a colour is significant when it labels a solid patch — pixels whose four neighbours all
    // carry the same label: a second object has one, a thin blend along an edge or a contact does not
    const solid = new Array<number>(PALETTE.length).fill(0);
    for (const i of px) {
      const lab = label[i]!;
      if (lab < 0) continue;
      const x = i % W;
      if (x > 0 && x < W - 1 && i >= W && i + W < n && label[i - 1] === lab && label[i + 1] === lab && label[i - W] === lab && label[i + W] === lab) solid[lab]!++;
    }
    const significant = solid.map((c, kk) => (c >= MIN_SOLID_PIXELS * k2 ? kk : -1)).filter((kk) => kk >= 0);
    if (significant.length <= 1) {
      const lab = significant[0] ?? -1;
      const id = regions.length;
      regions.push({ pixels: px, label: lab, component: ci });
      for (const i of px) region[i] = id;
      return;
    }
    // multi-source BFS from the sure pixels of significant colours
    const assigned = new Int8Array(px.length).fill(-1);
    px.forEach((i, j) => { where[i] = j; });
    let head = 0, tail = 0;
    px.forEach((i, j) => {
      if (label[i]! >= 0 && significant.includes(label[i]!)) { assigned[j] = label[i]!; queue[tail++] = i; }
    });
    while (head < tail) {
      const i = queue[head++]!;
      const lab = assigned[where[i]!]!;
      neighbours(i);
      for (let q = 0; q < 4; q++) {
        const nb = nbs[q]!;
        if (nb < 0 || nb >= n) continue;
        const j = where[nb]!;
        if (j < 0 || assigned[j]! >= 0) continue;
        assigned[j] = lab;
        queue[tail++] = nb;
      }
    }
    // connected regions per colour
    const local = new Int32Array(px.length).fill(-1);
    const made: number[] = [];
    for (let j0 = 0; j0 < px.length; j0++) {
      if (local[j0]! >= 0) continue;
      const lab = assigned[j0]!;
      const id = regions.length;
      const rp: number[] = [];
      let h2 = 0, t2 = 0;
      queue[t2++] = px[j0]!;
      local[j0] = id;
      while (h2 < t2) {
        const i = queue[h2++]!;
        rp.push(i);
        neighbours(i);
        for (let q = 0; q < 4; q++) {
          const nb = nbs[q]!;
          if (nb < 0 || nb >= n) continue;
          const j = where[nb]!;
          if (j < 0 || local[j]! >= 0 || assigned[j] !== lab) continue;
          local[j] = id;
          queue[t2++] = nb;
        }
      }
      regions.push({ pixels: rp, label: lab, component: ci });
      made.push(id);
      for (const i of rp) region[i] = id;
    }
    // fold slivers into the neighbour they share the longest border with
    for (const id of made) {
      const r = regions[id]!;
      if (r.pixels.length >= (MIN_AREA / 2) * k2) continue;
      const shared = new Map<number, number>();
      for (const i of r.pixels) {
        neighbours(i);
        for (let q = 0; q < 4; q++) {
          const nb = nbs[q]!;
          if (nb < 0 || nb >= n) continue;
          const o = region[nb]!;
          if (o >= 0 && o !== id && regions[o]!.pixels.length > 0) shared.set(o, (shared.get(o) ?? 0) + 1);
        }
      }
      let target = -1, most = 0;
      for (const [o, c] of shared) if (c > most) { most = c; target = o; }
      if (target < 0) continue;
      for (const i of r.pixels) { region[i] = target; regions[target]!.pixels.push(i); }
      r.pixels = [];
    }
  });

  // measure each region
  const objects: DetectedObject[] = [];
  const regionObject = new Map<number, number>();
  const alpha = new Float32Array(n);
  regions.forEach((r, id) => {
    if (r.pixels.length < MIN_AREA * k2) return;
    const o = measure(img, bg, r, id, region, dist, alpha, scale);
    if (o) {
      regionObject.set(id, objects.length);
      objects.push(o);
    }
  });

  // contacts between objects of one component
  const contact = new Map<string, number>();
  const meet = (a: number, b: number) => {
    if (b < 0 || b === a) return;
    const oa = regionObject.get(a), ob = regionObject.get(b);
    if (oa === undefined || ob === undefined) return;
    const key = oa < ob ? `${oa},${ob}` : `${ob},${oa}`;
    contact.set(key, (contact.get(key) ?? 0) + 1);
  };
  for (let i = 0; i < n; i++) {
    const a = region[i]!;
    if (a < 0) continue;
    // the right neighbour, then the one below
    if (i % W < W - 1) meet(a, region[i + 1]!);
    if (i + W < n) meet(a, region[i + W]!);
  }
  const touching: [number, number][] = [];
  for (const [key, c] of contact) if (c >= MIN_CONTACT) touching.push(key.split(',').map(Number) as [number, number]);

  const ci = (H >> 1) * W + (W >> 1);
  return { objects, touching, background: [bg[ci]!, bg[n + ci]!, bg[2 * n + ci]!] };
}

function measure(img: RgbImage, bgModel: Float32Array, r: Region, id: number, region: Int32Array, dist: Float32Array, alpha: Float32Array, s: WorldScale): DetectedObject | null {
  const { width: W, height: H, data: d } = img;
  const n = W * H;
  const inRegion = (i: number) => region[i] === id;

  // colour: the palette colour whose shades, mixed with the background, best explain the pixels
  const mix = (i: number, kk: number) => mixResidual(d[i]!, d[n + i]!, d[2 * n + i]!, bgModel[i]!, bgModel[n + i]!, bgModel[2 * n + i]!, kk);
  let bestColor = 0, bestRes = Infinity;
  for (let kk = 0; kk < PALETTE.length; kk++) {
    let sum = 0;
    for (const i of r.pixels) sum += mix(i, kk);
    if (sum < bestRes) { bestRes = sum; bestColor = kk; }
  }
  const colorResidual = bestRes / r.pixels.length;
  const p = PALETTE[bestColor]!;
  // a typical distance of the object from the background (for the degenerate case below)
  const byDist = new Float64Array(r.pixels.length);
  for (let j = 0; j < byDist.length; j++) byDist[j] = dist[r.pixels[j]!]!;
  byDist.sort(); // numeric order (distances are ≥ 0)
  const dRef = Math.max(FG_DISTANCE, byDist[Math.floor(byDist.length * 0.65)]!);

  // α: coverage, from x − bg = a·q − α·bg (the pixel is α·s·q + (1 − α)·bg for a shade s of q)
  const coverage = (i: number): number => {
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
  // … on the region and a one-pixel ring of background around it
  const support: number[] = [];
  let x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (const i of r.pixels) {
    alpha[i] = Math.max(1e-6, coverage(i));
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
        alpha[j] = Math.max(1e-6, coverage(j));
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
  const cleanup = () => { for (const i of support) alpha[i] = 0; };
  if (area <= 0) { cleanup(); return null; }
  const cx = mx / area, cy = my / area;

  // shape: soft IoU with each shape's template, placed by area and centroid, then refined by a
  // pattern search over centre and scale. Pixels of another object are left out (they may hide
  // part of this one).
  const wx0 = Math.max(0, x0 - 2), wx1 = Math.min(W - 1, x1 + 2), wy0 = Math.max(0, y0 - 2), wy1 = Math.min(H - 1, y1 + 2);
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
  const wv = win.subarray(0, nWin);
  const shapeScores = {} as Record<Shape, number>;
  const sides = {} as Record<Shape, number>;
  const centres = {} as Record<Shape, [number, number]>;
  for (const shape of SHAPES) {
    const h0 = Math.sqrt(area / SHAPE_FILL[shape]) / 2;
    centres[shape] = [cx, cy - SHAPE_CENTROID_Y[shape] * h0];
    sides[shape] = 2 * h0;
    shapeScores[shape] = softIoU(shape, wv, cx, centres[shape][1], h0);
  }
  // refine the shapes that start close to the best
  const initialBest = Math.max(...SHAPES.map((sh) => shapeScores[sh]));
  for (const shape of SHAPES) {
    if (shapeScores[shape] < initialBest - 0.12) continue;
    let [px, py] = centres[shape];
    let ph = sides[shape] / 2;
    let best = shapeScores[shape];
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
    shapeScores[shape] = best;
    sides[shape] = 2 * ph;
    centres[shape] = [px, py];
  }
  let shape: Shape = 'circle';
  for (const sh of SHAPES) if (shapeScores[sh] > shapeScores[shape]) shape = sh;
  cleanup();

  if (colorResidual > MAX_COLOR_RESIDUAL || shapeScores[shape] < MIN_SHAPE_IOU) return null;
  const side = sides[shape];
  const size: Size = side > s.sizeThreshold ? 'large' : 'small';

  // texture: regress the darkness of interior pixels on each pattern, at every phase
  const interior: number[] = [];
  for (const i of r.pixels) {
    const x = i % W;
    if (x === 0 || x === W - 1 || i < W || i >= n - W) continue;
    if (inRegion(i - 1) && inRegion(i + 1) && inRegion(i - W) && inRegion(i + W)) interior.push(i);
  }
  const textureScores = { plain: 0, striped: 0, dotted: 0, checkered: 0 } as Record<Texture, number>;
  let texture: Texture = 'plain';
  let textureContrast = 0;
  if (interior.length >= 6) {
    const q = PALETTE[bestColor]!;
    const qn = PAL_N2[bestColor]!;
    const u = interior.map((i) => 1 - (d[i]! * q[0] + d[n + i]! * q[1] + d[2 * n + i]! * q[2]) / qn);
    const m = u.length;
    let mu = 0;
    for (const v of u) mu += v;
    mu /= m;
    let vu = 0;
    for (const v of u) vu += (v - mu) * (v - mu);
    // patterns are anchored at the centre of the object's bounding square (geometry.ts)
    const [ax, ay] = centres[shape];
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
  }

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

// ---------------------------------------------------------------------------------------------
// relations

/** "a REL b" between two detected objects. Spatial: the centres' offset along the dominant axis. */
export function relationHolds(type: RelationType, a: DetectedObject, b: DetectedObject, touching: boolean): boolean {
  const dx = b.cx - a.cx;
  const dy = b.cy - a.cy;
  switch (type) {
    case 'left_of':
      return dx > 0 && Math.abs(dx) > Math.abs(dy);
    case 'right_of':
      return dx < 0 && Math.abs(dx) > Math.abs(dy);
    case 'above':
      return dy > 0 && Math.abs(dy) > Math.abs(dx);
    case 'below':
      return dy < 0 && Math.abs(dy) > Math.abs(dx);
    case 'touching':
      return touching;
    case 'not_touching':
      return !touching;
  }
}

// ---------------------------------------------------------------------------------------------
// matching and checks

function matchesAttributes(e: EntitySpec, o: DetectedObject): boolean {
  return o.shape === e.shape && (e.color === undefined || o.color === e.color) && (e.size === undefined || o.size === e.size) && (e.texture === undefined || o.texture === e.texture);
}

const RELATION_TEXT: Record<RelationType, string> = { left_of: 'left of', right_of: 'right of', above: 'above', below: 'below', touching: 'touching', not_touching: 'not touching' };

/** Scores a detection against a scene specification. */
export function scoreDetection(spec: SceneSpec, det: Detection, prompt: string, category: Category | null): Evaluation {
  const objs = det.objects;
  const touchSet = new Set(det.touching.map(([a, b]) => `${a},${b}`));
  const touches = (a: number, b: number) => touchSet.has(a < b ? `${a},${b}` : `${b},${a}`);
  const singles = spec.entities.map((e, i) => (e.count === 1 ? i : -1)).filter((i) => i >= 0);
  // candidates: the largest objects first (at most 8, to bound the search)
  const cand = objs.map((_, i) => i).sort((a, b) => objs[b]!.area - objs[a]!.area).slice(0, 8);

  const assignment = new Array<number>(spec.entities.length).fill(-1);
  const current = new Array<number>(spec.entities.length).fill(-1);
  let bestScore = -1;
  const used = new Set<number>();
  const slotScore = (e: EntitySpec, o: DetectedObject) =>
    1000 + (o.shape === e.shape ? 100 : 0) + (e.color !== undefined && o.color === e.color ? 10 : 0) + (e.size !== undefined && o.size === e.size ? 10 : 0) + (e.texture !== undefined && o.texture === e.texture ? 10 : 0);
  const search = (k: number, acc: number) => {
    if (k === singles.length) {
      let total = acc;
      for (const r of spec.relations) {
        const a = current[r.subject]!, b = current[r.object]!;
        if (a >= 0 && b >= 0 && relationHolds(r.type, objs[a]!, objs[b]!, touches(a, b))) total += 10;
      }
      if (total > bestScore) { bestScore = total; for (let i = 0; i < current.length; i++) assignment[i] = current[i]!; }
      return;
    }
    const ei = singles[k]!;
    for (const o of cand) {
      if (used.has(o)) continue;
      used.add(o);
      current[ei] = o;
      search(k + 1, acc + slotScore(spec.entities[ei]!, objs[o]!));
      used.delete(o);
    }
    current[ei] = -1;
    search(k + 1, acc);
  };
  search(0, 0);

  const checks: Check[] = [];
  spec.entities.forEach((e, ei) => {
    const label = `object ${ei + 1} (${e.count > 1 ? `${e.count} ` : ''}${describeObject(e, e.count > 1)})`;
    if (e.count > 1) {
      const observed = objs.filter((o) => matchesAttributes(e, o)).length;
      checks.push({ name: `${label}: count`, kind: 'count', entity: ei, expected: String(e.count), observed: String(observed), ok: observed === e.count });
      return;
    }
    const o = assignment[ei]! >= 0 ? objs[assignment[ei]!]! : null;
    checks.push({ name: `${label}: found`, kind: 'found', entity: ei, expected: 'present', observed: o ? describeObject(o) : null, ok: o !== null });
    checks.push({ name: `${label}: shape`, kind: 'shape', entity: ei, expected: e.shape, observed: o?.shape ?? null, ok: o?.shape === e.shape });
    if (e.color !== undefined) checks.push({ name: `${label}: colour`, kind: 'color', entity: ei, expected: e.color, observed: o?.color ?? null, ok: o?.color === e.color });
    if (e.size !== undefined) checks.push({ name: `${label}: size`, kind: 'size', entity: ei, expected: e.size, observed: o?.size ?? null, ok: o?.size === e.size });
    if (e.texture !== undefined) checks.push({ name: `${label}: texture`, kind: 'texture', entity: ei, expected: e.texture, observed: o?.texture ?? null, ok: o?.texture === e.texture });
  });
  spec.relations.forEach((r, ri) => {
    const a = assignment[r.subject]!, b = assignment[r.object]!;
    let ok = false;
    let observed: string | null = null;
    if (a >= 0 && b >= 0) {
      ok = relationHolds(r.type, objs[a]!, objs[b]!, touches(a, b));
      const oa = objs[a]!, ob = objs[b]!;
      observed = r.type === 'touching' || r.type === 'not_touching' ? (touches(a, b) ? 'touching' : 'not touching') : `offset (${(ob.cx - oa.cx).toFixed(1)}, ${(ob.cy - oa.cy).toFixed(1)}) px`;
    }
    checks.push({ name: `relation ${ri + 1}: object ${r.subject + 1} ${RELATION_TEXT[r.type]} object ${r.object + 1}`, kind: 'relation', relation: ri, expected: RELATION_TEXT[r.type], observed, ok });
  });
  const passed = checks.filter((c) => c.ok).length;
  return { prompt, category, score: checks.length ? passed / checks.length : 0, pass: passed === checks.length, checks, assignment, detection: det };
}

/** Scores an image against a prompt (text or an already parsed specification). */
export function evaluateImage(img: RgbImage, prompt: string | SceneSpec, category: Category | null = null, promptText?: string): Evaluation {
  const spec = typeof prompt === 'string' ? parsePrompt(prompt) : prompt;
  return scoreDetection(spec, detectObjects(img), promptText ?? (typeof prompt === 'string' ? prompt : ''), category);
}
