// D3PO (Yang, Tao, Cheng, Chen, Xu & Tang 2023, "Using Human Feedback to Fine-tune Diffusion Models
// without Any Reward Model", arXiv 2311.13231, §4); docs/methods.md §7. DPO (Rafailov et al. 2023)
// applied to every denoising step of a pair of trajectories:
//
//   1. sample:  for each prompt c, two trajectories from the same initial noise x_T with DDIM η = 1
//               (so they part at the first step), storing every transition (sampleTrajectoryPairs);
//   2. prefer:  w, l by the reward of the two final images (a preference, as a human would give);
//               a tie gives no preference and the pair is left out;
//   3. loss:    for each step k, ρ = clamp(p_θ(x^k_{t_{k+1}} | x^k_{t_k}, c) / p_ref(…), 1 − ε, 1 + ε)
//               for the winner's and the loser's transition, and
//               L = −log σ(β (log ρ_w − log ρ_l)), β = 0.1, ε = 0.1 ([0.9, 1.1]); the loss is the
//               mean over preferred pairs and trained steps (d3poLoss).
//
// As a fine-tuning method ('d3po', bottom of this file): online, every micro-batch samples its B
// pairs with the current policy.
//
// Decisions:
// - p_ref is the frozen starting model (the loop's reference); p_θ and p_ref are the same guided
//   DDIM Gaussian as the rollout, log-densities averaged over C·H·W (DDPO's convention,
//   gaussianLogProb), gradients through the step's mean only.
// - The clamp is D3PO's trust region: outside [1 − ε, 1 + ε] the term's gradient is 0.
// - Before the first update p_θ = p_ref, so every ρ = 1 and every pair's loss is log 2; the gradient
//   is then −β/2 (∇ log p_θ(w) − ∇ log p_θ(l)), a ±1-advantage policy gradient.
// - The winner and loser of a pair train on the same steps (timestepFraction < 1 draws one random
//   subset per pair).
import { z } from 'zod';
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';
import type { Scheduler } from '../../diffusion/index.js';
import type { TextToImageModel } from '../../models/t2i.js';
import type { FinetuneMethod } from '../finetune-method.js';
import {
  sampleTrajectories, selectTrajectories, disposeTrajectories, guidanceText, disposeGuidanceText, transitionLogProb, transitionsAt, trainedSteps, stochasticSteps, matchScheduler,
  meanOverSteps, type Trajectories, type TrajectoryOptions,
} from '../rollout.js';

export interface D3poOptions {
  /** DPO's β (D3PO: 0.1) */
  beta: number;
  /** the ratio is clamped to [1 − clip, 1 + clip] (D3PO: 0.1) */
  clip: number;
  /** fraction of the steps to train on (1: all) */
  timestepFraction: number;
}

export const D3PO_DEFAULTS: Readonly<D3poOptions & { eta: number }> = Object.freeze({ beta: 0.1, clip: 0.1, timestepFraction: 1, eta: 1 });

/**
 * Step 1: two trajectories per prompt from one x_T (rows 2b and 2b + 1 of the result, prompt b).
 * `noise` [B, C, H, W] gives the B initial noises, else they are drawn from the global generator.
 */
export function sampleTrajectoryPairs(
  model: TextToImageModel, scheduler: Scheduler, prompts: string[], o: TrajectoryOptions, noise?: Tensor,
): Trajectories {
  const { sampleSize: size, inChannels: C } = model.config.unet;
  const B = prompts.length;
  if (B === 0) throw new Error('sampleTrajectoryPairs: no prompts');
  if (noise && (noise.ndim !== 4 || noise.shape[0] !== B || noise.shape[1] !== C || noise.shape[2] !== size || noise.shape[3] !== size)) {
    throw new Error(`sampleTrajectoryPairs: noise has shape [${noise.shape.join(', ')}], expected [${B}, ${C}, ${size}, ${size}]`);
  }
  const xT = torch.tidy(() => (noise ? noise.detach() : torch.randn([B, C, size, size])).repeatInterleave(2, 0)); // [2B, C, H, W], rows 2b, 2b+1 equal
  try {
    return sampleTrajectories(model, scheduler, prompts.flatMap((p) => [p, p]), o, xT);
  } finally {
    xT.dispose();
  }
}

/**
 * Step 2: which of each pair is preferred, from the rewards of the 2B images (rows 2b, 2b + 1):
 * 0 (the first), 1 (the second) or null (a tie: no preference).
 */
export function preferences(rewards: number[]): (0 | 1 | null)[] {
  if (rewards.length % 2 !== 0) throw new Error(`d3po preferences: ${rewards.length} rewards, expected two per prompt`);
  const out: (0 | 1 | null)[] = [];
  for (let b = 0; b < rewards.length / 2; b++) {
    const r0 = rewards[2 * b]!;
    const r1 = rewards[2 * b + 1]!;
    if (!Number.isFinite(r0) || !Number.isFinite(r1)) throw new Error(`d3po preferences: the rewards of pair ${b} are ${r0}, ${r1}; rewards must be finite`);
    out.push(r0 > r1 ? 0 : r1 > r0 ? 1 : null);
  }
  return out;
}

export interface D3poLossResult {
  /** scalar with the graph to the model's parameters (0 with no gradient when every pair is a tie; without a graph when d3poLoss back-propagated it) */
  loss: Tensor;
  logs: {
    /** pairs with a preference */
    pairs: number;
    /** smallest and largest clamped ratio seen (winners and losers, all trained steps) */
    ratioMin: number;
    ratioMax: number;
    /** fraction of ratios that the clamp cut */
    clampedFraction: number;
    /** mean over pairs and steps of log ρ_w − log ρ_l */
    logRatioGap: number;
  };
}

/**
 * Step 3: D3PO's loss over the preferred pairs of `tr` (rows 2b, 2b + 1, as sampleTrajectoryPairs
 * makes them) with `prefer` from preferences(). Random subsets of steps (timestepFraction < 1) come
 * from the global generator. With `backwardScale`, each step's term is back-propagated (× the
 * scale) as it is made and the loss returned is its value only (meanOverSteps in ../rollout.ts).
 */
export function d3poLoss(
  model: TextToImageModel, reference: TextToImageModel, scheduler: Scheduler, tr: Trajectories, prefer: (0 | 1 | null)[],
  opts: Partial<D3poOptions> = {}, backwardScale: number | null = null,
): D3poLossResult {
  const fn = 'd3poLoss';
  const o = { ...D3PO_DEFAULTS, ...opts };
  if (!(o.beta > 0) || !Number.isFinite(o.beta)) throw new Error(`${fn}: beta must be a positive number, got ${o.beta}`);
  if (!(o.clip > 0 && o.clip < 1)) throw new Error(`${fn}: clip must be in (0, 1), got ${o.clip}`);
  const N = tr.prompts.length;
  if (N % 2 !== 0 || prefer.length !== N / 2) throw new Error(`${fn}: ${N} trajectories and ${prefer.length} preferences: expected two trajectories per preference`);
  for (let b = 0; b < N / 2; b++) {
    if (tr.prompts[2 * b] !== tr.prompts[2 * b + 1]) throw new Error(`${fn}: rows ${2 * b} and ${2 * b + 1} have different prompts; a pair shares its prompt`);
    if (prefer[b] !== 0 && prefer[b] !== 1 && prefer[b] !== null) throw new Error(`${fn}: preference ${b} is ${String(prefer[b])}; expected 0, 1 or null`);
  }
  matchScheduler(fn, scheduler, tr);
  const used = prefer.flatMap((p, b) => (p === null ? [] : [b]));
  if (used.length === 0) {
    // no preference at all: a zero loss that still reaches the parameters (no gradient)
    const zero = () => model.unet.trainableParameters()[0]!.sum().mul(0).add(0); // +0, not −0
    const loss = meanOverSteps(1, zero, backwardScale);
    return { loss, logs: { pairs: 0, ratioMin: 1, ratioMax: 1, clampedFraction: 0, logRatioGap: 0 } };
  }
  const P = used.length;
  // the rows of the winners and losers: [w_0, …, w_{P−1}, l_0, …, l_{P−1}]
  const rows = [...used.map((b) => 2 * b + prefer[b]!), ...used.map((b) => 2 * b + 1 - prefer[b]!)];
  const pairOrder = trainedSteps(P, stochasticSteps(tr), o.timestepFraction);
  const order = [...pairOrder, ...pairOrder]; // the winner and loser of a pair train on the same steps
  const K = order[0]!.length;
  const sub = selectTrajectories(tr, rows);
  const text = guidanceText(model, sub.prompts, tr.guidanceScale);
  const refText = guidanceText(reference, sub.prompts, tr.guidanceScale);
  try {
    let rMin = Infinity;
    let rMax = -Infinity;
    let clamped = 0;
    let gap = 0;
    const loss = meanOverSteps(K, (j) => {
      const step = transitionsAt(sub, order, j);
      const logP = transitionLogProb(model, scheduler, step.x, step.xPrev, step.t, text, tr.eta); // [2P], graph
      const logRef = torch.noGrad(() => transitionLogProb(reference, scheduler, step.x, step.xPrev, step.t, refText, tr.eta)); // [2P]
      const raw = logP.sub(logRef).exp(); // p_θ / p_ref
      const ratio = raw.clamp(1 - o.clip, 1 + o.clip); // [2P]
      const logRatio = ratio.log();
      const [lw, ll] = logRatio.chunk(2, 0) as [Tensor, Tensor]; // [P] each
      const d = lw.sub(ll); // log ρ_w − log ρ_l
      const r = ratio.detach();
      rMin = Math.min(rMin, r.min().item());
      rMax = Math.max(rMax, r.max().item());
      clamped += raw.detach().sub(1).abs().gt(o.clip).float().mean().item() / K;
      gap += d.detach().mean().item() / K;
      return torch.F.logsigmoid(d.mul(o.beta)).neg().mean(); // mean over pairs
    }, backwardScale);
    return { loss, logs: { pairs: P, ratioMin: rMin, ratioMax: rMax, clampedFraction: clamped, logRatioGap: gap } };
  } finally {
    disposeGuidanceText(text);
    disposeGuidanceText(refText);
    disposeTrajectories(sub);
  }
}

// ------------------------------------------------------------------ the fine-tuning method

export const d3poOptionsSchema = z.object({
  /** S, sampling steps of the paired rollouts (null: the model's own, config.json sampling.steps) */
  S: z.number().int().positive().nullable().default(null),
  /** classifier-free guidance of the rollouts and of both log-densities (null: the model's own) */
  guidance: z.number().min(0).nullable().default(null),
  /** DDIM η of the rollouts (D3PO: 1) */
  eta: z.number().gt(0).max(1).default(D3PO_DEFAULTS.eta),
  /** DPO's β (D3PO: 0.1) */
  beta: z.number().positive().default(D3PO_DEFAULTS.beta),
  /** ρ is clamped to [1 − clip, 1 + clip] (D3PO: 0.1) */
  clip: z.number().gt(0).lt(1).default(D3PO_DEFAULTS.clip),
  /** fraction of the steps trained per pair (1: all) */
  timestepFraction: z.number().gt(0).max(1).default(D3PO_DEFAULTS.timestepFraction),
}).strict();
export type D3poMethodOptions = z.infer<typeof d3poOptionsSchema>;

interface D3poBatch {
  /** 2 trajectories per prompt, rows 2b and 2b + 1 */
  tr: Trajectories;
  prefer: (0 | 1 | null)[];
  rewards: number[];
}

export const d3po: FinetuneMethod<D3poMethodOptions, D3poBatch> = {
  name: 'd3po',
  description: 'D3PO (Yang et al.): two rollouts per prompt from one noise, the reward\'s preference, a clamped per-step DPO loss against the frozen base (needs --reward)',
  optionsSchema: d3poOptionsSchema,
  needsReference: () => true,
  needsData: false,
  needsReward: true,

  async makeBatch(ctx) {
    const o = ctx.options;
    const prompts = ctx.prompts.promptsAt(ctx.position, ctx.batchSize);
    // 1. two trajectories per prompt from one x_T, with the current policy
    const tr = sampleTrajectoryPairs(ctx.model, ctx.scheduler, prompts, {
      steps: o.S ?? ctx.model.config.sampling.steps, guidanceScale: o.guidance ?? ctx.model.config.sampling.guidanceScale, eta: o.eta,
    });
    try {
      // 2. the preference of each pair from the reward
      const rewards = await ctx.reward!(tr.images, tr.prompts);
      return { tr, prefer: preferences(rewards), rewards };
    } catch (e) {
      disposeTrajectories(tr);
      throw e;
    }
  },

  async loss(ctx, b) {
    const o = ctx.options;
    // 3. the clamped per-step DPO loss
    const r = d3poLoss(ctx.model, ctx.reference!, ctx.scheduler, b.tr, b.prefer, { beta: o.beta, clip: o.clip, timestepFraction: o.timestepFraction }, ctx.gradScale);
    const mean = (v: number[]) => v.reduce((a, c) => a + c, 0) / v.length;
    const P = b.rewards.length / 2;
    const pair = (f: (a: number, c: number) => number) => mean(Array.from({ length: P }, (_, i) => f(b.rewards[2 * i]!, b.rewards[2 * i + 1]!)));
    return {
      loss: r.loss,
      backwardDone: true,
      logs: {
        // rewardBest / rewardWorst: mean over pairs of the better and the worse reward
        rewardMean: mean(b.rewards), rewardBest: pair(Math.max), rewardWorst: pair(Math.min),
        pairs: r.logs.pairs, ratioMin: r.logs.ratioMin, ratioMax: r.logs.ratioMax, clampedFraction: r.logs.clampedFraction, logRatioGap: r.logs.logRatioGap,
      },
    };
  },

  disposeBatch(b) {
    disposeTrajectories(b.tr);
  },
};
