// The options the two Diffusion-Sharpening methods share (METHOD.md, "Diffusion-Sharpening"), as
// zod fields with the defaults of SHARPENING_DEFAULTS (sharpening.ts), and the step logs they share.
import { z } from 'zod';
import * as torch from '../../torch/index.js';
import { SHARPENING_DEFAULTS, type SharpeningBatchResult, type SharpeningDraws } from './sharpening.js';

const d = SHARPENING_DEFAULTS;

/** Options of both variants. */
export const sharpeningCoreShape = {
  /** n, trajectories per example (the paper's best: 3) */
  n: z.number().int().min(1).default(d.n),
  /** m, unrolled denoising steps per trajectory (the paper's best: 3; 8 is worse) */
  m: z.number().int().min(1).default(d.m),
  /** S, inference steps that set the stride Δ = ⌊T/S⌋ (25 in the authors' code) */
  S: z.number().int().min(1).default(d.S),
  /** DDIM η of the unrolled steps (0: deterministic) */
  eta: z.number().min(0).max(1).default(d.eta),
  /** detach x between unrolled steps (truncated gradient) instead of back-propagating through the trajectory */
  detachBetweenSteps: z.boolean().default(d.detachBetweenSteps),
  /** 'recompute': roll out all n without a graph, recompute only the chosen (same gradient, ~1/n memory); 'full': the authors' way */
  gradPath: z.enum(['recompute', 'full']).default(d.gradPath),
  /** the target at unrolled step k: 'noise' (METHOD.md: ε_i at every step) or 'x0' (the ε that takes
   *  x_k to the example's x0; equal to ε_i at k = 0). See SharpeningOptions.target. */
  target: z.enum(['noise', 'x0']).default(d.target),
  /**
   * t is drawn from [tMin, tMax) instead of METHOD.md's [0, T) (defaults 0 and null = T: the paper's).
   * Why one may narrow it: at large t, x̂0 = x0 + √((1−ᾱ_t)/ᾱ_t)(ε − ε̂) is dominated by the network's
   * own error, so ranking trajectories by R(x̂0) ranks that error, and the loss (target ε) corrects
   * it: for a reward that sees the error (e.g. a pixel statistic) those pairs push the model against
   * the reward (measured on the tiny model: test/train/finetune-methods.test.ts).
   */
  tMin: z.number().int().min(0).default(0),
  tMax: z.number().int().positive().nullable().default(null),
};

/**
 * The draws for a sharpening loss when [tMin, tMax) is narrower than [0, T): t per example and ε per
 * trajectory ([B·n, C, H, W]) from the global generator; undefined otherwise (the loss draws them).
 * The caller disposes draws.noise.
 */
export function sharpeningDraws(
  o: { n: number; tMin: number; tMax: number | null }, T: number, B: number, imageShape: number[], method: string,
): SharpeningDraws | undefined {
  const hi = o.tMax ?? T;
  if (hi > T) throw new Error(`${method}: tMax = ${hi} exceeds the model's T = ${T}`);
  if (o.tMin >= hi) throw new Error(`${method}: tMin = ${o.tMin} must be below tMax = ${hi}`);
  if (o.tMin === 0 && hi === T) return undefined;
  const t = torch.tidy(() => Array.from(torch.randint(o.tMin, hi, [B]).toTypedArray() as BigInt64Array, Number));
  return { t, noise: torch.randn([B * o.n, ...imageShape]) };
}

/** Drops the options the loss functions do not take. */
export function lossOptions<O extends { tMin: number; tMax: number | null }>(o: O): Omit<O, 'tMin' | 'tMax'> {
  const { tMin: _lo, tMax: _hi, ...rest } = o;
  return rest;
}

/** Options of the RLHF variant only. */
export const sharpeningRlhfShape = {
  /** the DPO β in the no-½ convention (METHOD.md: 2500) */
  beta: z.number().positive().default(d.beta),
  /** the reference loss at the first unrolled step ('first', the authors') or over the same m' steps ('all') */
  referenceOver: z.enum(['first', 'all']).default(d.referenceOver),
  /**
   * classifier-free guidance scale of the n rollouts generated per prompt; null (the default) takes
   * the model's own sampling guidance (config.json sampling.guidanceScale), so that the images the
   * method ranks are those the model produces at inference
   */
  rolloutGuidance: z.number().min(0).nullable().default(null),
  /**
   * what ranks the n trajectories into winner and loser: 'trajectory' (METHOD.md steps 4–5: the mean
   * reward of the unrolled steps' x̂0) or 'image' (the reward of the n generated images themselves,
   * as online Diffusion-DPO ranks its pairs). An option of this project, not the paper's: at large t
   * a trajectory's x̂0 mostly shows the network's own error (see tMin/tMax), while the image's reward
   * is the reward of what the model produces at inference, at every t.
   */
  rankBy: z.enum(['trajectory', 'image']).default('trajectory'),
};

/** The numbers a sharpening step logs. */
export function sharpeningLogs(r: SharpeningBatchResult['logs']): Record<string, number> {
  const logs: Record<string, number> = { rewardMean: r.rewardMean, rewardBest: r.rewardBest, rewardWorst: r.rewardWorst };
  if (r.rewardGap !== undefined) logs.rewardGap = r.rewardGap;
  return logs;
}
