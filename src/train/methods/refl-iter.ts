// IterComp-style reward feedback learning: ReFL (Xu, Liu, Wu, Tong, Li, Ding, Tang & Dong 2023,
// "ImageReward: Learning and Evaluating Human Preferences for Text-to-Image Generation", arXiv
// 2304.05977, §4, Algorithm 1) as IterComp uses it (Zhang, Yang, Ye, Zhang, Zhang, Cui, Chen, Xu,
// Pi & Yang 2024, "IterComp: Iterative Composition-Aware Feedback Learning from Model Gallery for
// Text-to-Image Generation", arXiv 2410.07171, §3.3: ReFL against the sum of its compositional
// reward models, iterated); docs/methods.md §8.
//
// One step, per prompt c (reflRewardLoss):
//   1. x_T ~ N(0, I); run the sampler without a graph for the first k steps, k drawn uniformly from
//      the last `lateSteps` of S (ReFL: S = 40, k ∈ [30, 39]), so x_{t_k} is already a late, mostly
//      formed image;
//   2. one step with a graph: ε̂ = ε_θ(x_{t_k}, t_k, c) (guided), x̂0 = the step's clean prediction;
//   3. reward loss −λ · mean_c R(decode(x̂0), c) with R differentiable (ReFL's φ = identity here);
// plus the pre-training loss on image–caption data against drift (ReFL's L_pre: the plain diffusion
// loss, diffusionLoss of src/train/pretrain.ts), weighted by `pretrainWeight` (iterReflLoss).
//
// As a fine-tuning method ('refl-iter', bottom of this file): --data gives the pre-training pairs,
// the run's prompts the reward's prompts, and the differentiable reward is the method's option
// reflReward (the loop's --reward is a score without gradients).
//
// Decisions:
// - ReFL alternates an update on L_pre and one on the reward loss; here both are summed into one
//   loss per step (the same first-order update for small steps, and one optimizer step per batch as
//   the shared loop does).
// - ReFL's φ is ReLU(2 − r) for ImageReward's N(0, 1) scores; a fixed margin has no meaning for
//   rewards of other scales (CLIP ×100), so φ is the identity and λ sets the scale (ReFL's
//   grad_scale λ = 1e-3 is the default).
// - The steps before k are DDIM η = 0 without a graph (the gradient reaches θ through the last
//   step only, as in ReFL); x̂0 is decoded to [0, 1] with a clamp, as ReFL's VAE decode is.
// - What a round is. IterComp iterates (§3.3): round r (1) adds the current model's samples to the
//   gallery and re-trains the reward models on the updated preferences, then (2) fine-tunes the
//   model with ReFL against them, starting from round r − 1's model. Step (2) is one
//   `finetune --method refl-iter` run; a round is that run preceded by refreshing the reward:
//     sharpen labels generate --ckpt <round r−1 model> --pairs N --out labels/round-r
//     sharpen train-preference --labels labels/round-r --out checkpoints/preference-r
//     sharpen finetune --method refl-iter --base <round r−1 model> --set reflReward=preference
//                      --set reflRewardOptions.ckpt=checkpoints/preference-r --out runs/refl-round-r
//   (with a fixed reward such as 'clip', rounds only restart from the previous round's weights).
import { z } from 'zod';
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';
import { nfePerStep, type NoiseSchedule, type Scheduler } from '../../diffusion/index.js';
import { guidedPrediction } from '../../models/generate.js';
import type { TextToImageModel } from '../../models/t2i.js';
import { diffusionLoss } from '../pretrain.js';
import { NonFiniteError, type FinetuneMethod, type MethodState } from '../finetune-method.js';
import { makeReward, type Reward } from '../../rewards/index.js';

/** A differentiable reward: images [N, 3, H, W] in [0, 1] and their prompts → [N] with a graph to the images. */
export type DifferentiableRewardFn = (images01: Tensor, prompts: string[]) => Tensor;

export interface ReflOptions {
  /** S, sampling steps of the no-grad rollout (ReFL: 40) */
  steps: number;
  /** the gradient step is one of the last `lateSteps` of S (ReFL: 10 of 40) */
  lateSteps: number;
  /** λ, the reward loss's weight (ReFL's grad_scale: 1e-3) */
  lambda: number;
  /** weight of the pre-training loss (ReFL: 1) */
  pretrainWeight: number;
  /** classifier-free guidance scale of the rollout and the gradient step */
  guidanceScale: number;
}

export const REFL_DEFAULTS: Readonly<Omit<ReflOptions, 'guidanceScale'>> = Object.freeze({ steps: 40, lateSteps: 10, lambda: 1e-3, pretrainWeight: 1 });

/** Fixed draws instead of the global generator's (tests, exact replays). */
export interface ReflDraws {
  /** k, the step that carries the gradient, in [S − lateSteps, S − 1] */
  stopStep: number;
  /** x_T [N, C, H, W] */
  noise: Tensor;
}

export interface ReflRewardResult {
  /** −λ · mean R(x̂0), a scalar with the graph to the model's parameters */
  loss: Tensor;
  logs: {
    /** mean R(x̂0) over the prompts */
    reward: number;
    /** k and t_k of the gradient step */
    stopStep: number;
    timestep: number;
  };
}

function checkOptions(fn: string, o: ReflOptions): void {
  if (!Number.isSafeInteger(o.steps) || o.steps < 1) throw new Error(`${fn}: steps must be a positive integer, got ${o.steps}`);
  if (!Number.isSafeInteger(o.lateSteps) || o.lateSteps < 1 || o.lateSteps > o.steps) {
    throw new Error(`${fn}: lateSteps must be an integer in [1, steps = ${o.steps}], got ${o.lateSteps}`);
  }
  if (!(o.lambda > 0) || !Number.isFinite(o.lambda)) throw new Error(`${fn}: lambda must be a positive number, got ${o.lambda}`);
  if (!(o.pretrainWeight >= 0) || !Number.isFinite(o.pretrainWeight)) throw new Error(`${fn}: pretrainWeight must be a number ≥ 0, got ${o.pretrainWeight}`);
  if (!Number.isFinite(o.guidanceScale) || o.guidanceScale < 0) throw new Error(`${fn}: guidanceScale must be a number ≥ 0, got ${o.guidanceScale}`);
}

/**
 * Steps 1–3: the ReFL reward loss of one batch of prompts. `scheduler` is the sampler (DDIM; η = 0
 * is used). k and x_T come from the global generator unless `draws` gives them.
 */
export function reflRewardLoss(
  model: TextToImageModel, scheduler: Scheduler, prompts: string[], reward: DifferentiableRewardFn, o: ReflOptions, draws?: ReflDraws,
): ReflRewardResult {
  const fn = 'reflRewardLoss';
  checkOptions(fn, o);
  const N = prompts.length;
  if (N === 0) throw new Error(`${fn}: no prompts`);
  const { sampleSize: size, inChannels: C } = model.config.unet;
  const S = o.steps;
  const lo = S - o.lateSteps;
  let k: number;
  if (draws) {
    k = draws.stopStep;
    if (!Number.isInteger(k) || k < lo || k > S - 1) throw new Error(`${fn}: draws.stopStep = ${k} is outside [${lo}, ${S - 1}] (the last ${o.lateSteps} of ${S} steps)`);
    const s = draws.noise.shape;
    if (s.length !== 4 || s[0] !== N || s[1] !== C || s[2] !== size || s[3] !== size) {
      throw new Error(`${fn}: draws.noise has shape [${s.join(', ')}], expected [${N}, ${C}, ${size}, ${size}]`);
    }
  } else {
    k = torch.tidy(() => Number(torch.randint(lo, S, [1]).item())); // k ~ U{S − lateSteps, …, S − 1}
  }
  const timesteps = scheduler.setTimesteps(S);
  const guided = nfePerStep(o.guidanceScale) === 2;
  let rewardMean = 0;
  const loss = torch.tidy(() => {
    const c = model.encode(prompts);
    const u = guided ? model.encode(new Array<string>(N).fill('')) : null;
    const cond = { hidden: c.hidden, mask: c.mask };
    const uncond = u ? { hidden: u.hidden, mask: u.mask } : null;
    // step 1: x_T → x_{t_k} without a graph (DDIM η = 0)
    let x = torch.noGrad(() => {
      let xi = draws ? draws.noise.detach() : torch.randn([N, C, size, size]); // x_T  [N, C, H, W]
      for (let i = 0; i < k; i++) {
        const prev = xi;
        xi = torch.tidy(() => {
          const tt = torch.full([N], timesteps[i]!, { dtype: 'int64' });
          return scheduler.step(guidedPrediction(model, prev, tt, cond, uncond, o.guidanceScale), tt, prev, { eta: 0 }).prevSample;
        });
        prev.dispose();
      }
      return xi;
    });
    x = x.detach();
    // step 2: one step with a graph; x̂0 of that step
    const tt = torch.full([N], timesteps[k]!, { dtype: 'int64' });
    const eps = guidedPrediction(model, x, tt, cond, uncond, o.guidanceScale); // [N, C, H, W], graph
    const x0Hat = scheduler.step(eps, tt, x, { eta: 0 }).predOriginalSample; // [N, C, H, W]
    // step 3: −λ · mean R(decode(x̂0))
    const images = x0Hat.add(1).div(2).clamp(0, 1); // [−1, 1] → [0, 1]
    const r = reward(images, prompts); // [N], graph to the images
    if (r.ndim !== 1 || r.shape[0] !== N) throw new Error(`${fn}: the reward returned shape [${r.shape.join(', ')}] for ${N} images; expected [${N}]`);
    const values = Array.from(r.detach().to('float32').toFloat32Array());
    values.forEach((v, i) => {
      if (!Number.isFinite(v)) throw new NonFiniteError(`${fn}: the reward is ${v} for prompt ${JSON.stringify(prompts[i])}; a reward must be a finite number`);
    });
    rewardMean = values.reduce((a, b) => a + b, 0) / N;
    return r.mean().mul(-o.lambda);
  });
  return { loss, logs: { reward: rewardMean, stopStep: k, timestep: timesteps[k]! } };
}

export interface IterReflBatch {
  /** prompts of the reward loss */
  prompts: string[];
  /** image–caption data of the pre-training loss: [B, 3, H, W] in [−1, 1] and their captions */
  x0: Tensor;
  captions: string[];
}

export interface IterReflResult {
  /** −λ · mean R(x̂0) + pretrainWeight · L_pre */
  loss: Tensor;
  logs: ReflRewardResult['logs'] & { rewardLoss: number; pretrainLoss: number };
}

/** One IterComp-style step: the ReFL reward loss plus the weighted pre-training loss (see above). */
export function iterReflLoss(
  model: TextToImageModel, schedule: NoiseSchedule, scheduler: Scheduler, batch: IterReflBatch, reward: DifferentiableRewardFn,
  o: ReflOptions, draws?: ReflDraws,
): IterReflResult {
  if (batch.x0.ndim !== 4 || batch.x0.shape[0] !== batch.captions.length) {
    throw new Error(`iterReflLoss: batch.x0 [${batch.x0.shape.join(', ')}] must be [B, C, H, W] with one caption per image (${batch.captions.length} captions)`);
  }
  const r = reflRewardLoss(model, scheduler, batch.prompts, reward, o, draws);
  try {
    const { loss, pre } = torch.tidy(() => {
      const pre = o.pretrainWeight > 0 ? diffusionLoss(model, schedule, batch.x0, batch.captions) : null; // L_pre
      const total = pre ? r.loss.add(pre.mul(o.pretrainWeight)) : r.loss.mul(1);
      return { loss: total, pre: pre ? pre.detach() : null };
    });
    const pretrainLoss = pre ? pre.item() : 0;
    pre?.dispose();
    return { loss, logs: { ...r.logs, rewardLoss: r.loss.item(), pretrainLoss } };
  } finally {
    r.loss.dispose();
  }
}

// ------------------------------------------------------------------ the fine-tuning method

export const reflIterOptionsSchema = z.object({
  /**
   * the differentiable reward, by name (rewards/index.ts: clip, aesthetic, preference, or a composite
   * of them — IterComp's sum of reward models). It is the method's own option, not --reward: the
   * loop hands methods a score function without gradients, and ReFL needs scoreDifferentiable
   */
  reflReward: z.string().min(1).default('clip'),
  /** options of that reward's factory (e.g. {"ckpt": "checkpoints/clip"}) */
  reflRewardOptions: z.record(z.string(), z.unknown()).default({}),
  /** S, sampling steps of the no-grad rollout (ReFL: 40); named S, as `steps` is the loop's optimizer steps */
  S: z.number().int().positive().default(REFL_DEFAULTS.steps),
  /** the gradient step is one of the last lateSteps of S (ReFL: 10 of 40) */
  lateSteps: z.number().int().positive().default(REFL_DEFAULTS.lateSteps),
  /** λ, the reward loss's weight (ReFL's grad_scale: 1e-3, for ImageReward's N(0, 1) scores; scale it to the reward's units) */
  lambda: z.number().positive().default(REFL_DEFAULTS.lambda),
  /** weight of the pre-training loss on --data (ReFL: 1; 0 turns the anchor off) */
  pretrainWeight: z.number().min(0).default(REFL_DEFAULTS.pretrainWeight),
  /** classifier-free guidance of the rollout and the gradient step (null: the model's own) */
  guidance: z.number().min(0).nullable().default(null),
}).strict();
export type ReflIterOptions = z.infer<typeof reflIterOptionsSchema>;

/** A run's state: its differentiable reward, made once per run (nothing to checkpoint). */
interface ReflIterState extends MethodState {
  reward: Reward;
}

async function differentiableReward(o: ReflIterOptions): Promise<Reward> {
  const reward = await makeReward(o.reflReward, o.reflRewardOptions);
  if (!reward.differentiable || typeof reward.scoreDifferentiable !== 'function') {
    reward.dispose?.();
    throw new Error(`refl-iter: reward '${o.reflReward}' is not differentiable; ReFL back-propagates through the reward (use clip, aesthetic, preference or a composite of them)`);
  }
  return reward;
}

export const reflIter: FinetuneMethod<ReflIterOptions, IterReflBatch, ReflIterState> = {
  name: 'refl-iter',
  description: 'IterComp-style ReFL (Xu et al.; Zhang et al.): a differentiable reward of x̂0 at a late step plus the pre-training loss on --data (reward: --set reflReward=NAME, default clip)',
  optionsSchema: reflIterOptionsSchema,
  needsReference: () => false,
  needsData: true,
  needsReward: false,

  async init({ options }) {
    const reward = await differentiableReward(options);
    return { reward, dispose: () => reward.dispose?.() };
  },

  async makeBatch(ctx) {
    const { images, prompts: captions } = ctx.data!.batchAt(ctx.position, ctx.batchSize); // [B, 3, H, W] in [−1, 1]
    return { prompts: ctx.prompts.promptsAt(ctx.position, ctx.batchSize), x0: images, captions };
  },

  async loss(ctx, batch) {
    const o = ctx.options;
    const reward = ctx.state.reward;
    const r = iterReflLoss(ctx.model, ctx.schedule, ctx.scheduler, batch, (images, prompts) => reward.scoreDifferentiable!(images, prompts), {
      steps: o.S, lateSteps: o.lateSteps, lambda: o.lambda, pretrainWeight: o.pretrainWeight,
      guidanceScale: o.guidance ?? ctx.model.config.sampling.guidanceScale,
    });
    return { loss: r.loss, logs: { rewardMean: r.logs.reward, rewardLoss: r.logs.rewardLoss, pretrainLoss: r.logs.pretrainLoss, stopStep: r.logs.stopStep } };
  },

  disposeBatch(batch) {
    batch.x0.dispose();
  },
};
