// The scripted annotator: a stand-in for a human rater, with a taste of its own that the models
// never see directly (they learn it only from its labels, as ImageReward learns from people).
// It looks at the pixels (and the prompt), rates an image 1–10 and chooses between two images.
// docs/annotator.md describes the terms and weights; everything below is deterministic for given
// inputs (the optional rater noise is seeded by the inputs themselves).
//
// Five terms, each in [0, 1] (1 = what the rater likes):
//   correctness — the world's evaluator score (fraction of the prompt's checks passed);
//   crispness   — how sharp edges are: at every strong edge, the contrast across two pixels relative
//                 to the contrast over a 5×5 window (a clean step = 1; blur spreads it out);
//   colour      — inside objects, how close each pixel is to a shade of a vocabulary colour
//                 (desaturated, shifted or muddy colours score low);
//   framing     — how much of the foreground lies away from the image border (a ramp over the outer
//                 3 px at 32×32: objects cut by the border score low);
//   artefacts   — a clean background: no pixel noise, no smooth blotches, no stray specks, and
//                 some background left at all (an image covered in "foreground" is clutter).
// Rating = 1 + 9 · Σ w_k term_k (weights sum to 1). Without a prompt, correctness is dropped and the
// other weights renormalised: the prompt-free "aesthetic" rating (LAION-aesthetics style ratings are
// about the image alone). A choice compares the prompt-aware utilities u = Σ w_k term_k: |u_A − u_B|
// below the tie band is a tie.
import { evaluateImage } from '../world/evaluate.js';
import type { RgbImage } from '../world/image.js';
import { COLORS, COLOR_RGB } from '../world/vocab.js';
import { mixSeed, Rng } from '../world/rng.js';

export const ANNOTATOR_TERMS = ['correctness', 'crispness', 'colour', 'framing', 'artefacts'] as const;
export type AnnotatorTerm = (typeof ANNOTATOR_TERMS)[number];
export type AnnotatorTerms = Record<AnnotatorTerm, number>;

/** The annotator's taste (docs/annotator.md). */
export const DEFAULT_ANNOTATOR_WEIGHTS: AnnotatorTerms = {
  correctness: 0.4,
  crispness: 0.15,
  colour: 0.15,
  framing: 0.15,
  artefacts: 0.15,
};

/** The analysis constants (colour distances are RGB Euclidean in [0, 1]; pixels at 32×32, scaled). */
export const ANNOTATOR_CONSTANTS = {
  /** a pixel is foreground when this far from the background colour */
  foregroundDistance: 0.25,
  /** a pixel is on an edge when the range of a channel over its 5×5 window is at least this */
  edgeRange: 0.3,
  /** colour: a pixel's score is exp(−(residual / this)²) */
  colourScale: 0.12,
  /** colour: shades s·p with s in this range explain an object's pixels (textures darken to 0.3) */
  shadeRange: [0.2, 1.25] as const,
  /** framing: width (px at 32×32) of the border ramp */
  framingMargin: 3,
  /** artefacts: pixel-noise score 1 / (1 + (rms / this)²) */
  noiseScale: 0.03,
  /** artefacts: blotch score 1 / (1 + (rms / this)²) */
  blotchScale: 0.04,
  /** artefacts: a foreground component smaller than this many px (at 32×32) is a speck */
  speckArea: 6,
  /** artefacts: speck score exp(−speck pixels / this) (px at 32×32) */
  speckScale: 8,
  /** artefacts: clutter score 1 up to the first foreground fraction, falling linearly to 0 at the second */
  clutterCover: [0.5, 0.85] as const,
};

export interface AnnotatorOptions {
  /** term weights (non-negative, summing to 1); default DEFAULT_ANNOTATOR_WEIGHTS */
  weights?: Partial<AnnotatorTerms>;
  /** |u_A − u_B| below this is a tie (utilities in [0, 1]); default 0.02 */
  tieBand?: number;
  /**
   * σ of a rater's inconsistency, added to u_A − u_B before choosing (and, scaled by 9, to a
   * rating); default 0 (a perfectly consistent rater). Drawn from a generator seeded by `seed`, the
   * prompt and the images' pixels, so the same inputs always get the same label.
   */
  noise?: number;
  seed?: number;
  /** recorded as the label's `annotator` field; default 'scripted-v1' (with '+noise…' when noisy) */
  name?: string;
}

export interface Analysis {
  terms: AnnotatorTerms;
  /** foreground pixels found */
  foreground: number;
}

export interface RatingResult {
  /** in [1, 10] */
  rating: number;
  /** prompt-aware (with a prompt) or aesthetic (without) utility in [0, 1], before rater noise */
  utility: number;
  terms: AnnotatorTerms;
}

export type Choice = 'A' | 'B' | 'tie';

export interface ChoiceResult {
  choice: Choice;
  utilityA: number;
  utilityB: number;
  /** u_A − u_B + the rater noise */
  margin: number;
  termsA: AnnotatorTerms;
  termsB: AnnotatorTerms;
}

const PALETTE = COLORS.map((c) => COLOR_RGB[c]);
const PAL_N2 = PALETTE.map(([r, g, b]) => r * r + g * g + b * b);

function checkImage(img: RgbImage, what: string): void {
  if (!img || !(img.data instanceof Float32Array) || !Number.isInteger(img.width) || !Number.isInteger(img.height)) {
    throw new Error(`annotator: ${what} is not an RgbImage`);
  }
  if (img.width < 8 || img.height < 8) throw new Error(`annotator: ${what} is ${img.width}×${img.height}; at least 8×8 is needed`);
  if (img.data.length !== 3 * img.width * img.height) {
    throw new Error(`annotator: ${what} has ${img.data.length} values for 3×${img.height}×${img.width}`);
  }
  for (let i = 0; i < img.data.length; i++) {
    if (!Number.isFinite(img.data[i]!)) throw new Error(`annotator: ${what} contains a non-finite value at index ${i}`);
  }
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[s.length >> 1] ?? 0;
}

/** Distance of an RGB value from the nearest shade s·p of a vocabulary colour (s in shadeRange). */
export function paletteResidual(r: number, g: number, b: number): number {
  const [smin, smax] = ANNOTATOR_CONSTANTS.shadeRange;
  let best = Infinity;
  for (let k = 0; k < PALETTE.length; k++) {
    const p = PALETTE[k]!;
    let s = (r * p[0] + g * p[1] + b * p[2]) / PAL_N2[k]!;
    s = s < smin ? smin : s > smax ? smax : s;
    const e0 = r - s * p[0], e1 = g - s * p[1], e2 = b - s * p[2];
    const d = e0 * e0 + e1 * e1 + e2 * e2;
    if (d < best) best = d;
  }
  return Math.sqrt(best);
}

/** The background colour: per-channel median of the border pixels. */
function borderColour(img: RgbImage): [number, number, number] {
  const { width: W, height: H, data: d } = img;
  const n = W * H;
  const border: number[] = [];
  for (let x = 0; x < W; x++) border.push(x, (H - 1) * W + x);
  for (let y = 1; y < H - 1; y++) border.push(y * W, y * W + W - 1);
  return [0, 1, 2].map((c) => median(border.map((i) => d[c * n + i]!))) as [number, number, number];
}

/** 4-connected components of a mask; returns the component sizes and the label of every pixel (−1 outside). */
function components(mask: Uint8Array, W: number, H: number): { sizes: number[]; label: Int32Array } {
  const n = W * H;
  const label = new Int32Array(n).fill(-1);
  const queue = new Int32Array(n);
  const sizes: number[] = [];
  for (let i0 = 0; i0 < n; i0++) {
    if (!mask[i0] || label[i0]! >= 0) continue;
    const id = sizes.length;
    let head = 0, tail = 0;
    queue[tail++] = i0;
    label[i0] = id;
    while (head < tail) {
      const i = queue[head++]!;
      const x = i % W, y = (i - x) / W;
      if (x > 0 && mask[i - 1] && label[i - 1]! < 0) { label[i - 1] = id; queue[tail++] = i - 1; }
      if (x < W - 1 && mask[i + 1] && label[i + 1]! < 0) { label[i + 1] = id; queue[tail++] = i + 1; }
      if (y > 0 && mask[i - W] && label[i - W]! < 0) { label[i - W] = id; queue[tail++] = i - W; }
      if (y < H - 1 && mask[i + W] && label[i + W]! < 0) { label[i + W] = id; queue[tail++] = i + W; }
    }
    sizes.push(tail);
  }
  return { sizes, label };
}

/** Crispness: Σ over channels and edge pixels of min(1, central difference / 5×5 range)·range / Σ range. */
function crispness(img: RgbImage): number {
  const { width: W, height: H, data: d } = img;
  const n = W * H;
  const { edgeRange } = ANNOTATOR_CONSTANTS;
  let num = 0;
  let den = 0;
  const cd = new Float32Array(n);
  for (let c = 0; c < 3; c++) {
    const o = c * n;
    // the largest two-pixel (central) difference at each pixel
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const xl = x > 0 ? x - 1 : x, xr = x < W - 1 ? x + 1 : x;
        const yu = y > 0 ? y - 1 : y, yd = y < H - 1 ? y + 1 : y;
        const gx = Math.abs(d[o + y * W + xr]! - d[o + y * W + xl]!);
        const gy = Math.abs(d[o + yd * W + x]! - d[o + yu * W + x]!);
        cd[y * W + x] = gx > gy ? gx : gy;
      }
    }
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let lo = Infinity, hi = -Infinity, step = 0;
        for (let yy = Math.max(0, y - 2); yy <= Math.min(H - 1, y + 2); yy++) {
          for (let xx = Math.max(0, x - 2); xx <= Math.min(W - 1, x + 2); xx++) {
            const v = d[o + yy * W + xx]!;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
            // the steepest step near the pixel (3×3)
            if (Math.abs(yy - y) <= 1 && Math.abs(xx - x) <= 1 && cd[yy * W + xx]! > step) step = cd[yy * W + xx]!;
          }
        }
        const range = hi - lo;
        if (range < edgeRange) continue;
        num += Math.min(1, step / range) * range;
        den += range;
      }
    }
  }
  return den > 0 ? num / den : 0;
}

/** Analyses an image into the five terms (correctness needs the prompt: 0 without one). */
function analyse(img: RgbImage, prompt: string | null): Analysis {
  const { width: W, height: H, data: d } = img;
  const n = W * H;
  const k = Math.min(W, H) / 32;
  const C = ANNOTATOR_CONSTANTS;

  // foreground: far from the border's median colour
  const bg = borderColour(img);
  const fg = new Uint8Array(n);
  let fgCount = 0;
  for (let i = 0; i < n; i++) {
    const e0 = d[i]! - bg[0], e1 = d[n + i]! - bg[1], e2 = d[2 * n + i]! - bg[2];
    if (e0 * e0 + e1 * e1 + e2 * e2 > C.foregroundDistance * C.foregroundDistance) {
      fg[i] = 1;
      fgCount++;
    }
  }

  // correctness: the world's evaluator (a prompt outside the world's grammar scores 0)
  let correctness = 0;
  if (prompt !== null) {
    try {
      correctness = evaluateImage(img, prompt).score;
    } catch (e) {
      throw new Error(`annotator: cannot judge the prompt '${prompt}': ${(e as Error).message}`);
    }
  }

  // colour: interior foreground pixels (all 8 neighbours foreground) against the palette's shades
  let colourSum = 0;
  let interior = 0;
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      const i = y * W + x;
      if (!fg[i]) continue;
      let all = true;
      for (let dy = -1; dy <= 1 && all; dy++) for (let dx = -1; dx <= 1; dx++) if (!fg[i + dy * W + dx]) { all = false; break; }
      if (!all) continue;
      const r = paletteResidual(d[i]!, d[n + i]!, d[2 * n + i]!);
      colourSum += Math.exp(-((r / C.colourScale) ** 2));
      interior++;
    }
  }
  const colour = interior > 0 ? colourSum / interior : 0;

  // framing: foreground mass weighted by a ramp over the border
  const m = C.framingMargin * k;
  let framed = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (!fg[y * W + x]) continue;
      const dist = Math.min(x + 0.5, W - x - 0.5, y + 0.5, H - y - 0.5);
      framed += Math.min(1, dist / m);
    }
  }
  const framing = fgCount > 0 ? framed / fgCount : 0;

  // artefacts: background pixels at least 2 px from the foreground
  const near = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (!fg[i]) continue;
    const x = i % W, y = (i - x) / W;
    for (let yy = Math.max(0, y - 2); yy <= Math.min(H - 1, y + 2); yy++) for (let xx = Math.max(0, x - 2); xx <= Math.min(W - 1, x + 2); xx++) near[yy * W + xx] = 1;
  }
  const bgIdx: number[] = [];
  for (let y = 1; y < H - 1; y++) for (let x = 1; x < W - 1; x++) if (!near[y * W + x]) bgIdx.push(y * W + x);
  // with (almost) no clean background left there is nothing to judge it by, and that is itself
  // the worst artefact: the image is clutter
  let artefacts = 0;
  if (bgIdx.length >= 8) {
    // pixel noise: the pixel minus its 3×3 mean; blotches: the 3×3 mean minus a plane fitted to the background
    const smooth = new Float32Array(3 * bgIdx.length);
    let hf2 = 0;
    for (let c = 0; c < 3; c++) {
      const o = c * n;
      bgIdx.forEach((i, j) => {
        let s = 0;
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += d[o + i + dy * W + dx]!;
        s /= 9;
        smooth[c * bgIdx.length + j] = s;
        const e = d[o + i]! - s;
        hf2 += e * e;
      });
    }
    const noiseRms = Math.sqrt(hf2 / (3 * bgIdx.length) / (8 / 9)); // (1 − 1/9) corrects the mean's share of the pixel
    const blotchRms = planeResidualRms(bgIdx, smooth, W, H);
    const { sizes } = components(fg, W, H);
    const speck = sizes.filter((s) => s < C.speckArea * k * k).reduce((a, b) => a + b, 0);
    // clutter: the world's scenes cover at most about half the image
    const cover = fgCount / n;
    const [c0, c1] = C.clutterCover;
    const clutter = cover <= c0 ? 1 : cover >= c1 ? 0 : (c1 - cover) / (c1 - c0);
    artefacts =
      (1 / (1 + (noiseRms / C.noiseScale) ** 2)) *
      (1 / (1 + (blotchRms / C.blotchScale) ** 2)) *
      Math.exp(-speck / (C.speckScale * k * k)) *
      clutter;
  }

  return {
    terms: { correctness, crispness: fgCount > 0 ? crispness(img) : 0, colour, framing, artefacts },
    foreground: fgCount,
  };
}

/** RMS residual of the smoothed background from a least-squares plane per channel. */
function planeResidualRms(idx: number[], smooth: Float32Array, W: number, H: number): number {
  const m = idx.length;
  // normal equations of [1, u, v]
  let s1 = 0, su = 0, sv = 0, suu = 0, suv = 0, svv = 0;
  const us = new Float64Array(m), vs = new Float64Array(m);
  idx.forEach((i, j) => {
    const x = i % W, y = (i - x) / W;
    const u = (x - W / 2) / W, v = (y - H / 2) / H;
    us[j] = u; vs[j] = v;
    s1++; su += u; sv += v; suu += u * u; suv += u * v; svv += v * v;
  });
  const A = [[s1, su, sv], [su, suu, suv], [sv, suv, svv]];
  let total = 0;
  for (let c = 0; c < 3; c++) {
    let r0 = 0, r1 = 0, r2 = 0;
    for (let j = 0; j < m; j++) {
      const val = smooth[c * m + j]!;
      r0 += val; r1 += us[j]! * val; r2 += vs[j]! * val;
    }
    const coef = solve3(A, [r0, r1, r2]);
    for (let j = 0; j < m; j++) {
      const e = smooth[c * m + j]! - (coef[0] + coef[1] * us[j]! + coef[2] * vs[j]!);
      total += e * e;
    }
  }
  return Math.sqrt(total / (3 * m));
}

/** Solves a 3×3 system by Cramer's rule; a singular system falls back to the mean (a constant). */
function solve3(A: number[][], b: number[]): [number, number, number] {
  const det3 = (M: number[][]) =>
    M[0]![0]! * (M[1]![1]! * M[2]![2]! - M[1]![2]! * M[2]![1]!) -
    M[0]![1]! * (M[1]![0]! * M[2]![2]! - M[1]![2]! * M[2]![0]!) +
    M[0]![2]! * (M[1]![0]! * M[2]![1]! - M[1]![1]! * M[2]![0]!);
  const det = det3(A);
  if (Math.abs(det) < 1e-12 * Math.abs(A[0]![0]!) ** 3) return [b[0]! / A[0]![0]!, 0, 0];
  const col = (k: number) => A.map((row, r) => row.map((v, c) => (c === k ? b[r]! : v)));
  return [det3(col(0)) / det, det3(col(1)) / det, det3(col(2)) / det];
}

/** FNV-1a over an image's float bits: a key for the rater noise. */
function imageKey(img: RgbImage): number {
  const u = new Uint32Array(img.data.buffer, img.data.byteOffset, img.data.length);
  let h = 0x811c9dc5;
  for (let i = 0; i < u.length; i++) {
    h ^= u[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class ScriptedAnnotator {
  readonly name: string;
  readonly weights: Readonly<AnnotatorTerms>;
  readonly tieBand: number;
  readonly noise: number;
  readonly seed: number;

  constructor(opts: AnnotatorOptions = {}) {
    const known = new Set(['weights', 'tieBand', 'noise', 'seed', 'name']);
    for (const key of Object.keys(opts)) if (!known.has(key)) throw new Error(`annotator: unknown option '${key}' (accepted: ${[...known].join(', ')})`);
    const w = { ...DEFAULT_ANNOTATOR_WEIGHTS };
    for (const [key, v] of Object.entries(opts.weights ?? {})) {
      if (!(ANNOTATOR_TERMS as readonly string[]).includes(key)) {
        throw new Error(`annotator: unknown weight '${key}' (terms: ${ANNOTATOR_TERMS.join(', ')})`);
      }
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`annotator: weight '${key}' must be a finite number ≥ 0, got ${v}`);
      w[key as AnnotatorTerm] = v;
    }
    const sum = ANNOTATOR_TERMS.reduce((s, t) => s + w[t], 0);
    if (Math.abs(sum - 1) > 1e-6) throw new Error(`annotator: weights must sum to 1, got ${sum}`);
    this.weights = w;
    this.tieBand = opts.tieBand ?? 0.02;
    if (!(this.tieBand >= 0 && this.tieBand < 1)) throw new Error(`annotator: tieBand must be in [0, 1), got ${this.tieBand}`);
    this.noise = opts.noise ?? 0;
    if (!(this.noise >= 0 && Number.isFinite(this.noise))) throw new Error(`annotator: noise must be a finite number ≥ 0, got ${this.noise}`);
    this.seed = opts.seed ?? 0;
    if (!Number.isSafeInteger(this.seed)) throw new Error(`annotator: seed must be an integer, got ${this.seed}`);
    this.name = opts.name ?? (this.noise > 0 ? `scripted-v1+noise${this.noise}` : 'scripted-v1');
  }

  /** The five terms of an image for a prompt (null: no prompt, correctness 0). */
  analyse(img: RgbImage, prompt: string | null): Analysis {
    checkImage(img, 'image');
    return analyse(img, prompt);
  }

  /** Σ w_k t_k with a prompt; without one, correctness is dropped and the other weights renormalised. */
  utility(terms: AnnotatorTerms, withPrompt: boolean): number {
    let u = 0;
    let wsum = 0;
    for (const t of ANNOTATOR_TERMS) {
      if (!withPrompt && t === 'correctness') continue;
      u += this.weights[t] * terms[t];
      wsum += this.weights[t];
    }
    return wsum > 0 ? u / wsum : 0;
  }

  /**
   * Rates an image 1–10: prompt-aware with a prompt, the prompt-free aesthetic rating without one.
   * With rater noise, 9·σ·z is added to the rating (then clamped to [1, 10]).
   */
  rate(img: RgbImage, prompt?: string): RatingResult {
    const { terms } = this.analyse(img, prompt ?? null);
    const utility = this.utility(terms, prompt !== undefined);
    let rating = 1 + 9 * utility;
    if (this.noise > 0) {
      const rng = new Rng(mixSeed(this.seed, 'rate', prompt ?? '', imageKey(img)));
      rating += 9 * this.noise * rng.normal();
    }
    return { rating: Math.min(10, Math.max(1, rating)), utility, terms };
  }

  /** Chooses between two images for one prompt: 'A', 'B' or 'tie' (|margin| < tieBand). */
  choose(a: RgbImage, b: RgbImage, prompt: string): ChoiceResult {
    if (typeof prompt !== 'string') throw new Error('annotator: choose needs a prompt string');
    checkImage(a, 'image A');
    checkImage(b, 'image B');
    const ta = analyse(a, prompt).terms;
    const tb = analyse(b, prompt).terms;
    const utilityA = this.utility(ta, true);
    const utilityB = this.utility(tb, true);
    let margin = utilityA - utilityB;
    if (this.noise > 0) {
      // Thurstone-style: the rater perceives the difference with Gaussian error
      // (keyed by the unordered pair, with the sign following the order: choose(b, a) mirrors choose(a, b))
      const ka = imageKey(a), kb = imageKey(b);
      const rng = new Rng(mixSeed(this.seed, 'choose', prompt, Math.min(ka, kb), Math.max(ka, kb)));
      const z = rng.normal();
      margin += this.noise * (ka <= kb ? z : -z);
    }
    const choice: Choice = Math.abs(margin) < this.tieBand ? 'tie' : margin > 0 ? 'A' : 'B';
    return { choice, utilityA, utilityB, margin, termsA: ta, termsB: tb };
  }
}
