// DDPO (Black, Janner, Du, Kostrikov & Levine 2023, "Training Diffusion Models with Reinforcement
// Learning", arXiv 2305.13301), the importance-sampling estimator DDPO_IS (§4.3) with PPO's clipped
// objective (Schulman et al. 2017, eq. 7); docs/methods.md §6. Denoising is a multi-step MDP: the
// state at step k is (c, t_k, x_{t_k}), the action is x_{t_{k+1}}, the policy is the sampler's
// Gaussian p_θ(x_{t_{k+1}} | x_{t_k}, c), and the only reward is R(x_0, c) at the end.
//
//   1. sample:  N trajectories with DDIM η = 1 (a Gaussian step, so every transition has a density),
//               storing x_{t_0} = x_T, …, x_{t_S} = x_0 and log p_old of each transition
//               (sampleTrajectories in ../rollout.ts; the log-density is averaged over C·H·W, as DDPO's
//               ddim_step_with_logprob does: gaussianLogProb in src/diffusion/gaussian-step.ts);
//   2. score:   r_i = R(x_0^i, c_i);
//   3. normalise: A_i = (r_i − mean) / (std + 1e-6) with the mean and std of the prompt's recent
//               rewards when the prompt has been seen at least minCount times, else of the whole
//               buffer's rewards (PerPromptStatTracker in ./ddpo-advantages.ts, DDPO's per-prompt
//               stat tracking);
//               then A_i ← clamp(A_i, −5, 5) (DDPO's adv_clip_max);
//   4. update:  for each training minibatch of the buffer, in each inner epoch, and each trained step k,
//               ρ = exp(log p_θ(x_{t_{k+1}} | x_{t_k}, c) − log p_old), and the PPO loss
//               L = mean_i max(−A_i ρ_i, −A_i clamp(ρ_i, 1 − ε, 1 + ε)) with ε = 1e-4; the loss of
//               a minibatch is the mean of L over its trained steps (DDPO accumulates the gradient
//               of every step and takes one optimizer step per minibatch) (ddpoLoss).
//
// As a fine-tuning method ('ddpo', bottom of this file): one rollout buffer of bufferBatches
// minibatches (B prompts × samplesPerPrompt trajectories each) is sampled by the current policy at
// the buffer's first micro-batch, scored and normalised, and then trained on minibatch by minibatch
// for innerEpochs epochs, one micro-batch each. With the loop's accumulation 1 every minibatch is an
// optimizer step, so from the buffer's second minibatch on the policy has moved, ρ ≠ 1 and the clip
// binds: DDPO_IS. With bufferBatches = innerEpochs = 1 every step trains on its own fresh samples,
// ρ ≡ 1 and the clip never binds: on-policy REINFORCE with a baseline (DDPO_SF's gradient, through
// the ratio). ddpoVariantLabel names which of the two a set of options runs. Logged per step:
// clipFraction (ratios outside [1 − ε, 1 + ε]), ratioDeviationMean and ratioDeviationMax (|ρ − 1|),
// approxKl, advantageMean, ownStatsFraction (rows normalised by their prompt's own statistics) and
// the rewards' mean, best and worst.
//
// Defaults, DDPO's published configuration scaled to this project's CPU budgets (the authors'
// ddpo-pytorch, config/dgx.py: 8 GPUs × 8 samples × 4 sampling batches = 256 samples per epoch,
// trained in 4 gradient updates of 64, 1 inner epoch, ε = 1e-4, per-prompt stat tracking with
// buffer_size 16 and min_count 16 over a small set of prompts (animal names) that recur every epoch):
// - bufferBatches 4: four optimizer steps per buffer, as DDPO's four updates per epoch; the sampling
//   cost per step is that of fresh sampling (one buffer of 4 minibatches every 4 steps).
// - innerEpochs 1: DDPO's num_inner_epochs in every published configuration.
// - samplesPerPrompt 4, statMinCount 4, statBufferSize 16: the world's train split has 3600 prompts
//   drawn with replacement, so a prompt rarely recurs within a run and DDPO's min_count of 16
//   accumulated over epochs would never be reached: the per-prompt statistics come from the
//   prompt's own 4 samples of the buffer (a prompt seen again keeps up to 16). At --batch 4 a
//   buffer is 64 trajectories in minibatches of 16 (a quarter of DDPO's 256 and 64); the NFE per
//   step is 4× that of one sample per prompt (docs/methods.md §6).
//
// Decisions:
// - The recomputed log p_θ uses the same guided prediction as the rollout (classifier-free
//   guidance at the rollout's scale, as DDPO does), and gradients flow through the step's mean only
//   (x_{t_{k+1}} is data: gaussianLogProb detaches it).
// - The sampler is the model's own (DDIM, trailing spacing, ᾱ_prev = 1 at the last step, as
//   diffusers' set_alpha_to_one) at η = 1. Where S divides T its last step goes to x_0 with σ = 0: a
//   deterministic transition with no density (gaussianLogProb reports 0 there). Such steps are left
//   out of the objective (stochasticSteps): their ratio is 1 and they carry no gradient, so keeping
//   them would only shrink the loss by (S − 1)/S. (DDPO ran Stable Diffusion's DDIM with
//   set_alpha_to_one = False, where the last step keeps a σ of ~0.03; any Scheduler may be passed.)
// - timestepFraction < 1 trains ⌊S·fraction⌋ steps per trajectory, a random subset per trajectory
//   (DDPO's train.timestep_fraction: a permutation per sample, its first k entries).
// - Float noise: recomputing log p with a different batch composition changes it by ~1e-6, so the
//   ratio of a policy that has not moved is 1 to ~1e-5, not exactly (the clip range is 1e-4).
import { z } from 'zod';
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';
import type { FinetuneMethod, MethodState, MethodStateDict } from '../finetune-method.js';
import type { Scheduler } from '../../diffusion/index.js';
import type { TextToImageModel } from '../../models/t2i.js';
import { repeatEach } from '../../util/arrays.js';
import {
  sampleTrajectories, selectTrajectories, disposeTrajectories, guidanceText, disposeGuidanceText, transitionLogProb, transitionsAt,
  trainedSteps, stochasticSteps, matchScheduler, meanOverSteps, type Trajectories,
} from '../rollout.js';
import { ddpoAdvantages, PerPromptStatTracker } from './ddpo-advantages.js';

export { ddpoAdvantages, PerPromptStatTracker };

// ------------------------------------------------------------------ the PPO objective

export interface PpoTerms {
  /** mean_i max(−A_i ρ_i, −A_i clamp(ρ_i, 1 − ε, 1 + ε)), a scalar with the graph of logProb */
  loss: Tensor;
  /** fraction of rows with |ρ − 1| > ε */
  clipFraction: number;
  /** ½ mean (log p_θ − log p_old)², DDPO's approx_kl */
  approxKl: number;
  /** max |ρ − 1| */
  maxRatioDeviation: number;
  /** mean |ρ − 1| */
  meanRatioDeviation: number;
}

/**
 * PPO's clipped surrogate as a loss (Schulman et al. 2017, eq. 7, negated; DDPO_IS's trust region):
 * logProb [n] (with a graph), oldLogProb [n], advantages [n] (numbers or a tensor), clip range ε.
 */
export function ppoClippedLoss(logProb: Tensor, oldLogProb: Tensor, advantages: Tensor | number[], clipRange: number): PpoTerms {
  const fn = 'ppoClippedLoss';
  if (!(clipRange > 0)) throw new Error(`${fn}: clipRange must be positive, got ${clipRange}`);
  const n = logProb.shape[0] ?? 0;
  if (logProb.ndim !== 1 || oldLogProb.ndim !== 1 || oldLogProb.shape[0] !== n) {
    throw new Error(`${fn}: logProb [${logProb.shape.join(', ')}] and oldLogProb [${oldLogProb.shape.join(', ')}] must both be [n]`);
  }
  const advLen = Array.isArray(advantages) ? advantages.length : advantages.shape[0];
  if (advLen !== n || (!Array.isArray(advantages) && advantages.ndim !== 1)) throw new Error(`${fn}: ${advLen} advantages for ${n} log-probabilities`);
  return torch.tidy(() => {
    const A = Array.isArray(advantages)
      ? torch.fromTypedArray(Float32Array.from(advantages), [n]).to(logProb.dtype)
      : advantages.detach().to(logProb.dtype);
    const diff = logProb.sub(oldLogProb.detach()); // log ρ  [n]
    const ratio = diff.exp(); // ρ  [n]
    const unclipped = A.neg().mul(ratio);
    const clipped = A.neg().mul(ratio.clamp(1 - clipRange, 1 + clipRange));
    const loss = unclipped.maximum(clipped).mean();
    const dev = ratio.detach().sub(1).abs();
    return {
      loss,
      clipFraction: dev.gt(clipRange).float().mean().item(),
      approxKl: diff.detach().square().mean().mul(0.5).item(),
      maxRatioDeviation: dev.max().item(),
      meanRatioDeviation: dev.mean().item(),
    };
  });
}

// ------------------------------------------------------------------ the DDPO loss

export interface DdpoLossOptions {
  /** PPO's clip range ε (DDPO: 1e-4) */
  clipRange: number;
  /** fraction of each trajectory's steps to train on (DDPO: 1) */
  timestepFraction: number;
}

/** The method's defaults (the file header says why these). */
export const DDPO_DEFAULTS = Object.freeze({
  eta: 1, clipRange: 1e-4, advClip: 5, timestepFraction: 1, statBufferSize: 16, statMinCount: 4, samplesPerPrompt: 4, bufferBatches: 4, innerEpochs: 1,
});

export interface DdpoLossResult {
  /** scalar with the graph to the model's parameters (without one when ddpoLoss back-propagated it) */
  loss: Tensor;
  logs: {
    /** fraction of (trajectory, step) pairs whose ratio left [1 − ε, 1 + ε] */
    clipFraction: number;
    approxKl: number;
    /** max |ρ − 1| over the (trajectory, step) pairs */
    maxRatioDeviation: number;
    /** mean |ρ − 1| over the (trajectory, step) pairs */
    meanRatioDeviation: number;
    /** mean advantage of the minibatch */
    advantageMean: number;
  };
}

/**
 * Step 4 on one training minibatch: the mean over trained steps of PPO's clipped loss, with
 * ρ = exp(log p_θ − log p_old) of each stored transition. `advantages` [N], one per trajectory
 * (already normalised and clipped: ddpoAdvantages). Random subsets of steps (timestepFraction < 1)
 * come from the global generator. With `backwardScale`, each step's term is back-propagated (× the
 * scale) as it is made and the loss returned is its value only (meanOverSteps in ../rollout.ts).
 */
export function ddpoLoss(
  model: TextToImageModel, scheduler: Scheduler, tr: Trajectories, advantages: number[], opts: Partial<DdpoLossOptions> = {}, backwardScale: number | null = null,
): DdpoLossResult {
  const fn = 'ddpoLoss';
  const o = { clipRange: DDPO_DEFAULTS.clipRange, timestepFraction: DDPO_DEFAULTS.timestepFraction, ...opts };
  const N = tr.prompts.length;
  if (advantages.length !== N) throw new Error(`${fn}: ${advantages.length} advantages for ${N} trajectories`);
  advantages.forEach((a, i) => {
    if (!Number.isFinite(a)) throw new Error(`${fn}: advantage ${i} is ${a}`);
  });
  matchScheduler(fn, scheduler, tr);
  const order = trainedSteps(N, stochasticSteps(tr), o.timestepFraction);
  const K = order[0]!.length;
  const text = guidanceText(model, tr.prompts, tr.guidanceScale);
  try {
    let clip = 0;
    let kl = 0;
    let dev = 0;
    let devMean = 0;
    const loss = meanOverSteps(K, (j) => {
      const step = transitionsAt(tr, order, j);
      const logProb = transitionLogProb(model, scheduler, step.x, step.xPrev, step.t, text, tr.eta); // [N]
      const ppo = ppoClippedLoss(logProb, step.oldLogProb, advantages, o.clipRange);
      clip += ppo.clipFraction / K;
      kl += ppo.approxKl / K;
      dev = Math.max(dev, ppo.maxRatioDeviation);
      devMean += ppo.meanRatioDeviation / K;
      return ppo.loss;
    }, backwardScale);
    return {
      loss,
      logs: {
        clipFraction: clip, approxKl: kl, maxRatioDeviation: dev, meanRatioDeviation: devMean, advantageMean: advantages.reduce((a, c) => a + c, 0) / N,
      },
    };
  } finally {
    disposeGuidanceText(text);
  }
}

// ------------------------------------------------------------------ the fine-tuning method

export const ddpoOptionsSchema = z.object({
  /** S, sampling steps of the rollouts (null: the model's own, config.json sampling.steps; DDPO used 50 with Stable Diffusion) */
  S: z.number().int().positive().nullable().default(null),
  /** classifier-free guidance of the rollouts and of log p_θ (null: the model's own sampling guidance) */
  guidance: z.number().min(0).nullable().default(null),
  /** DDIM η of the rollouts (DDPO: 1) */
  eta: z.number().gt(0).max(1).default(DDPO_DEFAULTS.eta),
  /** PPO's clip range ε (DDPO: 1e-4) */
  clipRange: z.number().positive().default(DDPO_DEFAULTS.clipRange),
  /** advantages are clipped to ±advClip (DDPO: 5) */
  advClip: z.number().positive().default(DDPO_DEFAULTS.advClip),
  /** fraction of each trajectory's steps trained (DDPO: 1) */
  timestepFraction: z.number().gt(0).max(1).default(DDPO_DEFAULTS.timestepFraction),
  /** normalise advantages per prompt over its recent rewards (DDPO's per-prompt stat tracking) or over the buffer */
  perPromptStatTracking: z.boolean().default(true),
  /**
   * rewards kept per prompt, and how many a prompt needs before its own statistics are used (DDPO:
   * 16, 16 over recurring prompts; here 16, 4: the 4 samples of a prompt in one buffer suffice)
   */
  statBufferSize: z.number().int().positive().default(DDPO_DEFAULTS.statBufferSize),
  statMinCount: z.number().int().positive().default(DDPO_DEFAULTS.statMinCount),
  /** trajectories sampled per prompt, consecutive rows of one minibatch (DDPO: prompts drawn independently) */
  samplesPerPrompt: z.number().int().positive().default(DDPO_DEFAULTS.samplesPerPrompt),
  /**
   * minibatches (micro-batches) of one rollout buffer: the buffer (bufferBatches × batch prompts ×
   * samplesPerPrompt) is sampled, scored and normalised at its first micro-batch and trained on in
   * order (DDPO: num_batches_per_epoch sampling batches, trained in 2–4 gradient updates). 1: every
   * micro-batch trains on fresh samples, where ρ = 1 and the clip never binds
   */
  bufferBatches: z.number().int().positive().default(DDPO_DEFAULTS.bufferBatches),
  /** passes over the buffer's minibatches, in the same order each time (DDPO's num_inner_epochs: 1; DDPO reshuffles) */
  innerEpochs: z.number().int().positive().default(DDPO_DEFAULTS.innerEpochs),
}).strict();
export type DdpoOptions = z.infer<typeof ddpoOptionsSchema>;

function formatClip(v: number): string {
  return v < 0.01 ? v.toExponential() : String(v);
}

/**
 * What a set of DDPO options runs, as a row label for reports. DDPO_IS when a buffer's minibatches
 * span more than one optimizer step (bufferBatches · innerEpochs > accumulation): every minibatch
 * after the buffer's first optimizer step sees ρ ≠ 1 and the clip; else on-policy, ρ ≡ 1 (DDPO_SF's
 * gradient). For a run's finetune-config.json: `const r = resolveFinetuneConfig(cfg);
 * ddpoVariantLabel(r.options, r.loop.accumulation)`.
 */
export function ddpoVariantLabel(options: Partial<DdpoOptions> = {}, accumulation = 1): string {
  const parsed = ddpoOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new Error(`ddpoVariantLabel: invalid options: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ')}`);
  }
  if (!Number.isSafeInteger(accumulation) || accumulation < 1) throw new Error(`ddpoVariantLabel: accumulation must be a positive integer, got ${accumulation}`);
  const o = parsed.data;
  const spp = `${o.samplesPerPrompt} sample${o.samplesPerPrompt > 1 ? 's' : ''}/prompt`;
  const adv = !o.perPromptStatTracking
    ? `${spp}, buffer-normalised advantages`
    : o.statMinCount <= o.samplesPerPrompt
      ? `per-prompt advantages over ${spp}`
      : `${spp}, per-prompt advantages only for a prompt with ${o.statMinCount} rewards, else buffer-normalised`;
  const span = o.bufferBatches * o.innerEpochs;
  if (span > accumulation) {
    const steps = accumulation > 1 ? `${accumulation} per optimizer step` : 'one optimizer step each';
    const epochs = o.innerEpochs > 1 ? ` × ${o.innerEpochs} inner epochs` : '';
    const minibatches = `${o.bufferBatches} minibatch${o.bufferBatches > 1 ? 'es' : ''}`;
    return `DDPO_IS (${minibatches} per rollout buffer${epochs}, ${steps}; clip ${formatClip(o.clipRange)}; ${adv})`;
  }
  const why = span === 1 ? 'bufferBatches 1' : `a buffer's ${span} minibatches within ${accumulation % span === 0 ? 'one optimizer step' : 'at most two optimizer steps'}`;
  return `DDPO_SF-like on-policy (${why}: ratio ${accumulation % span === 0 ? '≡' : 'mostly'} 1; ${adv})`;
}

interface DdpoBatch {
  /** the minibatch's trajectories */
  tr: Trajectories;
  advantages: number[];
  rewards: number[];
  /** per row: whether its advantage came from its prompt's own statistics */
  ownStats: boolean[];
}

interface DdpoBuffer {
  /** the buffer's number: it serves micro-batches index · span to (index + 1) · span − 1, span = bufferBatches · innerEpochs */
  index: number;
  tr: Trajectories;
  advantages: number[];
  rewards: number[];
  ownStats: boolean[];
}

/**
 * What a DDPO run carries between micro-batches: the per-prompt stat tracker and the current rollout
 * buffer (sampled and scored at its first micro-batch, trained on until its last minibatch of its
 * last inner epoch).
 * Both are in every checkpoint (the buffer's trajectories as tensors, the rest as JSON), so a run
 * resumed inside a buffer trains on the samples the uninterrupted run would.
 */
export class DdpoState implements MethodState {
  buffer: DdpoBuffer | null = null;

  constructor(readonly tracker: PerPromptStatTracker | null) {}

  stateDict(): MethodStateDict {
    const b = this.buffer;
    const meta = {
      tracker: this.tracker ? this.tracker.entries() : null,
      buffer: b ? {
        index: b.index, prompts: b.tr.prompts, timesteps: b.tr.timesteps, guidanceScale: b.tr.guidanceScale, eta: b.tr.eta, nfe: b.tr.nfe,
        advantages: b.advantages, rewards: b.rewards, ownStats: b.ownStats,
      } : null,
    };
    const tensors: Record<string, Tensor> = b ? { latents: b.tr.latents.clone(), logProbs: b.tr.logProbs.clone(), images: b.tr.images.clone() } : {};
    return { tensors, meta };
  }

  loadStateDict(saved: MethodStateDict): void {
    const m = saved.meta as { tracker?: unknown; buffer?: Record<string, unknown> | null } | null;
    if (!m || typeof m !== 'object') throw new Error('ddpo: the saved method state has no meta');
    if (this.tracker) this.tracker.restore(m.tracker);
    this.dispose();
    const b = m.buffer;
    if (!b) return;
    const { latents, logProbs, images } = saved.tensors;
    if (!latents || !logProbs || !images) throw new Error('ddpo: the saved rollout buffer lacks its latents, logProbs or images');
    const numbers = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'number');
    const flags = Array.isArray(b.ownStats) && b.ownStats.every((x) => typeof x === 'boolean');
    if (!Number.isInteger(b.index) || !numbers(b.timesteps) || !numbers(b.advantages) || !numbers(b.rewards) || !Array.isArray(b.prompts) || !flags) {
      throw new Error('ddpo: the saved rollout buffer is malformed');
    }
    this.buffer = {
      index: b.index as number,
      tr: {
        prompts: b.prompts as string[], timesteps: b.timesteps as number[], latents: latents.clone(), logProbs: logProbs.clone(), images: images.clone(),
        guidanceScale: b.guidanceScale as number, eta: b.eta as number, nfe: b.nfe as number,
      },
      advantages: b.advantages as number[], rewards: b.rewards as number[], ownStats: b.ownStats as boolean[],
    };
  }

  dispose(): void {
    if (this.buffer) disposeTrajectories(this.buffer.tr);
    this.buffer = null;
  }
}

export const ddpo: FinetuneMethod<DdpoOptions, DdpoBatch, DdpoState> = {
  name: 'ddpo',
  description: 'DDPO_IS (Black et al.): online RL, DDIM η = 1 rollouts with log-probs, per-prompt advantages, PPO clipped objective (needs --reward)',
  optionsSchema: ddpoOptionsSchema,
  needsReference: () => false,
  needsData: false,
  needsReward: true,

  positionGroup: (o) => o.bufferBatches, // data-parallel: each rank samples and trains its own buffers

  async init({ options: o }) {
    if (o.perPromptStatTracking && o.statMinCount > o.statBufferSize) {
      throw new Error(`ddpo: statMinCount (${o.statMinCount}) exceeds statBufferSize (${o.statBufferSize}): no prompt would ever use its own statistics`);
    }
    return new DdpoState(o.perPromptStatTracking ? new PerPromptStatTracker(o.statBufferSize, o.statMinCount) : null);
  },

  async makeBatch(ctx) {
    const o = ctx.options;
    const st = ctx.state;
    const span = o.bufferBatches * o.innerEpochs;
    const index = Math.floor(ctx.position / span);
    const p = ctx.position % span;
    const j = p % o.bufferBatches; // the minibatch, the same in every inner epoch
    if (st.buffer?.index !== index) {
      if (st.buffer) disposeTrajectories(st.buffer.tr);
      st.buffer = null;
      // 1. sample the buffer with the current policy
      const promptsPerBatch = Array.from({ length: o.bufferBatches }, (_, q) => ctx.prompts.promptsAt(index * o.bufferBatches + q, ctx.batchSize))
        .flat();
      const prompts = repeatEach(promptsPerBatch, o.samplesPerPrompt);
      const tr = sampleTrajectories(ctx.model, ctx.scheduler, prompts, {
        steps: o.S ?? ctx.model.config.sampling.steps, guidanceScale: o.guidance ?? ctx.model.config.sampling.guidanceScale, eta: o.eta,
      });
      try {
        // 2.–3. score and normalise over the buffer
        const rewards = await ctx.reward!(tr.images, prompts);
        const advantages = ddpoAdvantages(prompts, rewards, st.tracker, o.advClip);
        const ownStats = prompts.map((q) => st.tracker?.hasOwnStats(q) ?? false);
        st.buffer = { index, tr, advantages, rewards, ownStats };
      } catch (e) {
        disposeTrajectories(tr);
        throw e;
      }
    }
    const b = st.buffer!;
    const per = ctx.batchSize * o.samplesPerPrompt;
    const rows = Array.from({ length: per }, (_, i) => j * per + i);
    const pick = <T>(v: T[]) => rows.map((r) => v[r]!);
    const batch = { tr: selectTrajectories(b.tr, rows), advantages: pick(b.advantages), rewards: pick(b.rewards), ownStats: pick(b.ownStats) };
    if (p === span - 1) {
      // the buffer's last minibatch of its last inner epoch: nothing of it is kept past this step
      disposeTrajectories(b.tr);
      st.buffer = null;
    }
    return batch;
  },

  async loss(ctx, b) {
    const o = ctx.options;
    // 4. PPO's clipped loss over the minibatch's trained steps, back-propagated step by step
    const r = ddpoLoss(ctx.model, ctx.scheduler, b.tr, b.advantages, { clipRange: o.clipRange, timestepFraction: o.timestepFraction }, ctx.gradScale);
    const mean = b.rewards.reduce((a, c) => a + c, 0) / b.rewards.length;
    return {
      loss: r.loss,
      backwardDone: true,
      logs: {
        rewardMean: mean, rewardBest: Math.max(...b.rewards), rewardWorst: Math.min(...b.rewards),
        clipFraction: r.logs.clipFraction, ratioDeviationMean: r.logs.meanRatioDeviation, ratioDeviationMax: r.logs.maxRatioDeviation,
        approxKl: r.logs.approxKl, advantageMean: r.logs.advantageMean,
        ownStatsFraction: b.ownStats.filter(Boolean).length / b.ownStats.length,
      },
    };
  },

  disposeBatch(b) {
    disposeTrajectories(b.tr);
  },
};
