// The options of Diffusion-Sharpening (docs/methods.md §3), declared once: every
// field is a zod field with its one default. The losses (sharpening.ts) take the loss fields
// (SharpeningOptions); the two methods (sft-sharpening.ts, rlhf-sharpening.ts) build their option
// schemas from the same fields, and a preset (configs/demo.yaml) is a file over those schemas.
import { z } from 'zod';
import * as torch from '../../torch/index.js';
import { formatZodError } from '../../util/config.js';

/** The fields of the losses, each with its default. */
export const sharpeningLossFields = {
  /** n, trajectories per example (the paper's best: 3) */
  n: z.number().int().min(1).default(3),
  /** m, unrolled denoising steps per trajectory (the paper's best: 3; 8 is worse) */
  m: z.number().int().min(1).default(3),
  /** S, inference steps that set the stride Δ = ⌊T/S⌋ (25 in the authors' code), and the steps of
   *  the RLHF rollouts */
  S: z.number().int().min(1).default(25),
  /** DDIM η of the unrolled steps (0: deterministic) */
  eta: z.number().min(0).max(1).default(0),
  /** detach x between unrolled steps (truncated gradient) instead of back-propagating through the
   *  whole trajectory (false, as the authors' code) */
  detachBetweenSteps: z.boolean().default(false),
  /** 'recompute': roll out all n without a graph, recompute only the chosen (same gradient, ~1/n
   *  memory); 'full': keep the graph of all n (the authors' way) */
  gradPath: z.enum(['recompute', 'full']).default('recompute'),
  /**
   * the regression target at unrolled step k: 'noise' (docs/methods.md §3, step 4: the original ε_i at every
   * step) or 'x0' (the ε that takes the step's x_k to the example's x0, (x_k − √ᾱ x0)/√(1−ᾱ); the
   * same as ε_i at k = 0). An option of this project, not the paper's.
   */
  target: z.enum(['noise', 'x0']).default('noise'),
  /** RLHF: the DPO β in the no-½ convention (docs/methods.md §3: 2500) */
  beta: z.number().positive().default(2500),
  /** RLHF: the reference loss at the first unrolled step ('first', the authors') or over the same
   *  m' steps as the policy's ('all': the loss is then exactly log 2 at the start) */
  referenceOver: z.enum(['first', 'all']).default('first'),
  /** RLHF: λ ≥ 0, the weight of the winner's own trajectory loss L_w added to the DPO loss (0: the
   *  paper's loss). An option of this project (DPO + NLL, Pang et al. 2024, arXiv 2404.19733): it keeps
   *  the winner's denoising loss low, so the DPO term cannot move the policy only by pushing the loser
   *  away. */
  winnerWeight: z.number().min(0).default(0),
  /** SFT: which trajectory the loss trains, 'best' (docs/methods.md §3, step 5: argmax_i R_i) or 'worst'
   *  (argmin_i R_i: a diagnostic of this project, not the paper's method) */
  select: z.enum(['best', 'worst']).default('best'),
};

export const sharpeningLossSchema = z.object(sharpeningLossFields).strict();

/** The options of sftSharpeningLoss and rlhfSharpeningLoss. */
export type SharpeningOptions = z.infer<typeof sharpeningLossSchema>;

export const SHARPENING_DEFAULTS: Readonly<SharpeningOptions> = Object.freeze(sharpeningLossSchema.parse({}));

/** The defaults with `opts` over them, checked; an error names the function and the field. */
export function resolveSharpeningOptions(fn: string, opts: Partial<SharpeningOptions>): SharpeningOptions {
  const r = sharpeningLossSchema.safeParse(opts);
  if (!r.success) throw new Error(formatZodError(r.error, `${fn}: option`));
  return r.data;
}

/** Fields of both methods that the losses do not take: where t is drawn, and caption dropout. */
export const methodFields = {
  /**
   * t is drawn from [tMin, tMax) instead of the whole [0, T) (null: T; docs/methods.md §3, step 1).
   * Why one may narrow it: at large t, x̂0 = x0 + √((1−ᾱ_t)/ᾱ_t)(ε − ε̂) is dominated by the
   * network's own error, so ranking trajectories by R(x̂0) there ranks that error
   * (results/sharpening/README.md).
   */
  tMin: z.number().int().min(0).default(0),
  tMax: z.number().int().positive().nullable().default(null),
  /** the share of training prompts replaced by the empty prompt in the loss, so that the
   *  unconditional branch used by guidance keeps training (the authors' scripts:
   *  --proportion_empty_prompts=0.2). Rewards and rankings always see the real prompt. */
  captionDropout: z.number().min(0).max(1).default(0.2),
};

const { beta, referenceOver, winnerWeight, select, ...coreLoss } = sharpeningLossFields;

/** The options of SFT-Diffusion-Sharpening. */
export const sftSharpeningFields = { ...coreLoss, ...methodFields, select };

/** The options of RLHF-Diffusion-Sharpening. */
export const rlhfSharpeningFields = {
  ...coreLoss,
  ...methodFields,
  /** n ≥ 2: a winner and a loser per prompt */
  n: sharpeningLossFields.n.unwrap().min(2).default(3),
  beta,
  referenceOver,
  winnerWeight,
  /**
   * how each generated image is noised to x_t: 'generation' (the default, the authors' code,
   * train_rlhf_diffusion_sharpen_sdxl.py: add_noise(latents, noise, t) with the noise x_T the image
   * was generated from; x_t then lies near the model's own deterministic path, and the target and
   * the reference loss are against x_T) or 'fresh' (a new ε per trajectory)
   */
  renoise: z.enum(['generation', 'fresh']).default('generation'),
  /** classifier-free guidance scale of the n rollouts per prompt: 1 (the default) is none, as in
   *  the authors' code; null takes the model's own sampling guidance (config.json) */
  rolloutGuidance: z.number().min(0).nullable().default(1),
  /**
   * what ranks the n trajectories into winner and loser: 'trajectory' (docs/methods.md §3, steps 4–5: the mean
   * reward of the unrolled steps' x̂0) or 'image' (the reward of the n generated images themselves,
   * as online Diffusion-DPO ranks its pairs; this project's option)
   */
  rankBy: z.enum(['trajectory', 'image']).default('trajectory'),
};

/** A t per example from [tMin, tMax) (the global generator); the caller checked the range. */
export function drawTimesteps(o: { tMin: number; tMax: number | null }, T: number, B: number, method: string): number[] {
  const hi = o.tMax ?? T;
  if (hi > T) throw new Error(`${method}: tMax = ${hi} exceeds the model's T = ${T}`);
  if (o.tMin >= hi) throw new Error(`${method}: tMin = ${o.tMin} must be below tMax = ${hi}`);
  return torch.tidy(() => Array.from(torch.randint(o.tMin, hi, [B]).toTypedArray() as BigInt64Array, Number));
}

/** Whether [tMin, tMax) is the whole [0, T) (docs/methods.md §3, step 1). */
export function fullTimeRange(o: { tMin: number; tMax: number | null }, T: number): boolean {
  return o.tMin === 0 && (o.tMax === null || o.tMax === T);
}

/**
 * Prompts with a share `p` replaced by '' (drawn from the global generator, so that a resumed run
 * replays them). p = 0 returns the prompts and draws nothing.
 */
export function dropCaptions(prompts: string[], p: number): string[] {
  if (p <= 0) return prompts;
  const drop = torch.tidy(() => torch.rand([prompts.length]).lt(p).toTypedArray());
  return prompts.map((c, i) => (drop[i] ? '' : c));
}

/** Picks the loss fields out of a method's options. */
export function lossOptions(o: Partial<SharpeningOptions> & Record<string, unknown>): Partial<SharpeningOptions> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(sharpeningLossFields)) if (o[k] !== undefined) out[k] = o[k];
  return out as Partial<SharpeningOptions>;
}

/** The numbers a sharpening step logs. */
export function sharpeningLogs(r: { rewardMean: number; rewardBest: number; rewardWorst: number; rewardGap?: number }): Record<string, number> {
  const logs: Record<string, number> = { rewardMean: r.rewardMean, rewardBest: r.rewardBest, rewardWorst: r.rewardWorst };
  if (r.rewardGap !== undefined) logs.rewardGap = r.rewardGap;
  return logs;
}
