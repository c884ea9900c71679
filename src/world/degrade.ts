// Degradations that make a clean rendering look like a generated image: Gaussian pixel noise, a
// one-pixel blur and a slight colour shift. Used to measure the evaluator's robustness.
import { Rng } from './rng.js';
import { cloneImage, type RgbImage } from './image.js';

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Adds i.i.d. Gaussian noise of standard deviation sigma to every channel, clamped to [0, 1]. */
export function addGaussianNoise(img: RgbImage, sigma: number, rng: Rng): RgbImage {
  const out = cloneImage(img);
  for (let i = 0; i < out.data.length; i++) out.data[i] = clamp01(out.data[i]! + sigma * rng.normal());
  return out;
}

/** Separable convolution with a symmetric 1-D kernel, edges clamped. */
function convolveSeparable(img: RgbImage, kernel: number[]): RgbImage {
  const { width: W, height: H } = img;
  const r = (kernel.length - 1) / 2;
  const tmp = new Float32Array(img.data.length);
  const out = cloneImage(img);
  const n = W * H;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let acc = 0;
        for (let k = -r; k <= r; k++) acc += kernel[k + r]! * img.data[c * n + y * W + Math.min(W - 1, Math.max(0, x + k))]!;
        tmp[c * n + y * W + x] = acc;
      }
    }
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        let acc = 0;
        for (let k = -r; k <= r; k++) acc += kernel[k + r]! * tmp[c * n + Math.min(H - 1, Math.max(0, y + k)) * W + x]!;
        out.data[c * n + y * W + x] = acc;
      }
    }
  }
  return out;
}

/**
 * A blur of radius `radius` pixels: the binomial kernel [1, 2, 1]/4 in each direction for radius 1
 * (a 3×3 blur, σ ≈ 0.71 px), larger radii by repeating it. `gaussianBlur` gives a chosen σ.
 */
export function blur(img: RgbImage, radius = 1): RgbImage {
  let out = img;
  for (let i = 0; i < radius; i++) out = convolveSeparable(out, [0.25, 0.5, 0.25]);
  return out === img ? cloneImage(img) : out;
}

/** Gaussian blur of standard deviation sigma (pixels), kernel cut at 3σ. */
export function gaussianBlur(img: RgbImage, sigma: number): RgbImage {
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k: number[] = [];
  for (let i = -r; i <= r; i++) k.push(Math.exp((-i * i) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  return convolveSeparable(img, k.map((v) => v / sum));
}

/** A slight colour shift: per channel, a gain in 1 ± amount and an offset in ± amount. */
export function colorShift(img: RgbImage, amount: number, rng: Rng): RgbImage {
  const out = cloneImage(img);
  const n = img.width * img.height;
  for (let c = 0; c < 3; c++) {
    const gain = 1 + rng.uniform(-amount, amount);
    const offset = rng.uniform(-amount, amount);
    for (let i = c * n; i < (c + 1) * n; i++) out.data[i] = clamp01(out.data[i]! * gain + offset);
  }
  return out;
}

export interface DegradeOptions {
  /** Gaussian noise σ (default 0.05) */
  noise?: number;
  /** blur: 'binomial' (3×3, radius 1, the default) or a Gaussian σ in pixels */
  blur?: 'binomial' | number;
  /** colour shift amount (default 0.04: gains 0.96–1.04, offsets ±0.04) */
  shift?: number;
}

/** Blur, then colour shift, then noise: the way a generated image is imperfect. */
export function degrade(img: RgbImage, rng: Rng, opts: DegradeOptions = {}): RgbImage {
  const b = opts.blur ?? 'binomial';
  let out = b === 'binomial' ? blur(img, 1) : gaussianBlur(img, b);
  out = colorShift(out, opts.shift ?? 0.04, rng);
  return addGaussianNoise(out, opts.noise ?? 0.05, rng);
}
