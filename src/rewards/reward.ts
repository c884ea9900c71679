// The one interface every reward implements (one reward per file), and the checks they share.
//
// A reward R(x, c) scores images x for prompts c (docs/methods.md). Rewards differ in units (CLIP ×100,
// ImageReward ≈ N(0, 1), an MLLM 0–10), so each declares its scale; a sum of rewards (composite.ts)
// normalises by it. A reward that could not score a sample says so (`unscored`), and only when the
// caller chose that policy: a silent default score would bias selection (docs/methods.md).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { RgbImage } from '../world/image.js';

/** The declared scale of a reward's scores, used to normalise sums of rewards. */
export type RewardScale =
  | { kind: 'range'; min: number; max: number } // scores lie in [min, max]
  | { kind: 'normal'; mean: number; std: number }; // scores are roughly N(mean, std²)

export interface RewardOutput {
  /** one per image; NaN only where `unscored[i]` is true */
  scores: number[];
  /** true where the reward could not score the sample (only under an explicit policy) */
  unscored?: boolean[];
  /** per-image breakdown (e.g. the MLLM's sub-scores) */
  details?: unknown[];
}

export interface Reward {
  readonly name: string;
  /** true when scoreDifferentiable is implemented */
  readonly differentiable: boolean;
  readonly scale: RewardScale;
  /** images [N, 3, H, W] in [0, 1], prompts of length N */
  score(images: Tensor, prompts: string[]): Promise<RewardOutput>;
  /** differentiable rewards only: a [N] tensor with a gradient path to images */
  scoreDifferentiable?(images: Tensor, prompts: string[]): Tensor;
  dispose?(): void;
}

export interface CheckImagesOptions {
  /** also require values in [0, 1] (± tolerance); catches images still in [-1, 1] */
  unitRange?: boolean;
  /** slack for unitRange; default 1e-3 */
  tolerance?: number;
}

/**
 * Checks a reward's inputs: images [N, 3, H, W] with finite values, N === prompts.length.
 * Throws an Error naming the reward and what is wrong. Returns N.
 */
export function checkImages(
  images: Tensor,
  prompts: readonly string[],
  rewardName: string,
  opts: CheckImagesOptions = {},
): number {
  const where = `reward '${rewardName}'`;
  if (!(images instanceof torch.Tensor)) throw new Error(`${where}: images must be a Tensor [N, 3, H, W], got ${typeof images}`);
  if (images.isDisposed) throw new Error(`${where}: images is a disposed tensor`);
  const s = images.shape;
  if (s.length !== 4 || s[1] !== 3 || s[2]! < 1 || s[3]! < 1) {
    throw new Error(`${where}: images must have shape [N, 3, H, W], got [${s.join(', ')}]`);
  }
  const n = s[0]!;
  if (!Array.isArray(prompts)) throw new Error(`${where}: prompts must be an array of strings`);
  if (prompts.length !== n) throw new Error(`${where}: ${n} images but ${prompts.length} prompts`);
  const bad = prompts.findIndex((p) => typeof p !== 'string');
  if (bad >= 0) throw new Error(`${where}: prompts[${bad}] is not a string`);
  if (!images.dtype.startsWith('float') && images.dtype !== 'bfloat16') {
    throw new Error(`${where}: images must be a floating-point tensor in [0, 1], got dtype ${images.dtype}`);
  }
  if (n === 0) return 0;
  const { finite, lo, hi } = torch.noGrad(() =>
    torch.tidy(() => {
      const x = images.detach();
      const ok = x.isfinite().all().item() === 1;
      return { finite: ok, lo: ok ? x.amin().item() : NaN, hi: ok ? x.amax().item() : NaN };
    }),
  );
  if (!finite) throw new Error(`${where}: images contain NaN or infinite values`);
  if (opts.unitRange) {
    const tol = opts.tolerance ?? 1e-3;
    if (lo < -tol || hi > 1 + tol) {
      throw new Error(
        `${where}: images must lie in [0, 1], got values in [${lo.toFixed(4)}, ${hi.toFixed(4)}] (still in [-1, 1]?)`,
      );
    }
  }
  return n;
}

/** Checks a declared scale: a range with min < max, or a normal with std > 0, all finite. */
export function checkScale(scale: RewardScale, rewardName: string): void {
  const where = `reward '${rewardName}'`;
  if (scale.kind === 'range') {
    if (!Number.isFinite(scale.min) || !Number.isFinite(scale.max) || !(scale.max > scale.min)) {
      throw new Error(`${where}: a range scale needs finite min < max, got [${scale.min}, ${scale.max}]`);
    }
  } else if (scale.kind === 'normal') {
    if (!Number.isFinite(scale.mean) || !Number.isFinite(scale.std) || !(scale.std > 0)) {
      throw new Error(`${where}: a normal scale needs a finite mean and std > 0, got mean ${scale.mean}, std ${scale.std}`);
    }
  } else {
    throw new Error(`${where}: unknown scale kind '${(scale as { kind: unknown }).kind}'`);
  }
}

/**
 * Checks what a reward returned for n samples: n scores, NaN/infinite only where marked unscored,
 * unscored and details (when present) of length n. Throws an Error naming the reward.
 */
export function checkOutput(out: RewardOutput, n: number, rewardName: string): void {
  const where = `reward '${rewardName}'`;
  if (!out || !Array.isArray(out.scores)) throw new Error(`${where}: returned no scores array`);
  if (out.scores.length !== n) throw new Error(`${where}: returned ${out.scores.length} scores for ${n} samples`);
  if (out.unscored !== undefined && out.unscored.length !== n) {
    throw new Error(`${where}: returned ${out.unscored.length} unscored flags for ${n} samples`);
  }
  if (out.details !== undefined && out.details.length !== n) {
    throw new Error(`${where}: returned ${out.details.length} details for ${n} samples`);
  }
  for (let i = 0; i < n; i++) {
    const v = out.scores[i]!;
    if (typeof v !== 'number') throw new Error(`${where}: score ${i} is not a number`);
    if (!Number.isFinite(v) && !out.unscored?.[i]) {
      throw new Error(`${where}: score ${i} is ${v} but the sample is not marked unscored`);
    }
  }
}

/** Indices of the samples a reward could not score. */
export function unscoredIndices(out: RewardOutput): number[] {
  const idx: number[] = [];
  out.unscored?.forEach((u, i) => {
    if (u) idx.push(i);
  });
  return idx;
}

/**
 * Copies images [N, 3, H, W] (any float dtype, any device, with or without a graph) into plain
 * CHW RgbImages for rewards that work outside the tensor engine (e.g. PNG encoding).
 */
export function toRgbImages(images: Tensor): RgbImage[] {
  const [n, c, h, w] = images.shape as [number, number, number, number];
  if (images.shape.length !== 4 || c !== 3)
    throw new Error(`toRgbImages: expected [N, 3, H, W], got [${images.shape.join(', ')}]`);
  const flat = torch.noGrad(() => torch.tidy(() => images.detach().cpu().contiguous().toFloat32Array()));
  const per = 3 * h * w;
  const out: RgbImage[] = [];
  for (let i = 0; i < n; i++) out.push({ width: w, height: h, data: flat.slice(i * per, (i + 1) * per) });
  return out;
}
