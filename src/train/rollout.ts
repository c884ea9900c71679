// What several fine-tuning methods share about sampled trajectories: the reward type the losses
// call, the per-example choice of the best and the worst of n samples (Diffusion-Sharpening's
// selection, Diffusion-DPO's ranked pairs), and stochastic DDIM trajectories with the log-density of
// every transition (DDPO, Black et al. 2023, arXiv 2305.13301; D3PO, Yang et al. 2023, arXiv
// 2311.13231): sampling them, selecting rows, recomputing log p_θ of stored transitions, and
// choosing the steps to train on.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { sampleLoop, nfePerStep, type Scheduler } from '../diffusion/index.js';
import { guidedPrediction } from '../models/generate.js';
import type { TextToImageModel } from '../models/t2i.js';

// ------------------------------------------------------------------ rewards and selection

/** A reward of images in [0, 1] ([N, 3, H, W]) under their prompts; need not be differentiable. */
export type RewardFn = (images01: Tensor, prompts: string[]) => Promise<number[]>;

/** argmax/argmin of R within each example of n consecutive rows (b·n + i; ties: the lowest index),
 *  as indices i in [0, n). */
export function selectPerExample(R: number[], B: number, n: number): { best: number[]; worst: number[] } {
  const best: number[] = [];
  const worst: number[] = [];
  for (let b = 0; b < B; b++) {
    let hi = 0;
    let lo = 0;
    for (let i = 1; i < n; i++) {
      if (R[b * n + i]! > R[b * n + hi]!) hi = i;
      if (R[b * n + i]! < R[b * n + lo]!) lo = i;
    }
    best.push(hi);
    worst.push(lo);
  }
  return { best, worst };
}

// ------------------------------------------------------------------ trajectories

export interface TrajectoryOptions {
  /** S, denoising steps */
  steps: number;
  /** classifier-free guidance scale of the rollout and of the recomputed log-probabilities (1: none) */
  guidanceScale: number;
  /** DDIM η (DDPO and D3PO: 1) */
  eta: number;
}

/** N sampled trajectories with the log-density of every transition (all detached). */
export interface Trajectories {
  /** the N prompts, one per trajectory */
  prompts: string[];
  /** t_0 > t_1 > … > t_{S−1}: the timestep each step starts from */
  timesteps: number[];
  /** x_{t_0} = x_T, …, x_{t_S} = x_0: [N, S + 1, C, H, W] */
  latents: Tensor;
  /** log p_old(x_{t_{k+1}} | x_{t_k}, c) averaged over C·H·W: [N, S] */
  logProbs: Tensor;
  /** the final samples, [N, 3, H, W] in [0, 1] */
  images: Tensor;
  /** the rollout's guidance scale and η (the log-probabilities are of that policy) */
  guidanceScale: number;
  eta: number;
  /** network evaluations per trajectory */
  nfe: number;
}

export function disposeTrajectories(tr: Trajectories): void {
  tr.latents.dispose();
  tr.logProbs.dispose();
  tr.images.dispose();
}

function checkTrajectoryOptions(fn: string, o: TrajectoryOptions): void {
  if (!Number.isSafeInteger(o.steps) || o.steps < 1) throw new Error(`${fn}: steps must be a positive integer, got ${o.steps}`);
  if (!Number.isFinite(o.guidanceScale) || o.guidanceScale < 0) throw new Error(`${fn}: guidanceScale must be a number ≥ 0, got ${o.guidanceScale}`);
  if (!(o.eta > 0 && o.eta <= 1)) {
    throw new Error(`${fn}: eta must be in (0, 1] (a stochastic step has a log-probability; DDPO uses 1), got ${o.eta}`);
  }
}

function int64(values: number[]): Tensor {
  return torch.fromTypedArray(BigInt64Array.from(values.map((v) => BigInt(v))), [values.length]);
}

/**
 * Samples one trajectory per prompt from x_T (`noise` [N, C, H, W], or drawn from the global
 * generator) with S stochastic DDIM steps under classifier-free guidance, without a graph, keeping
 * every latent and log p of every transition (step 1 above). The caller disposes the result.
 */
export function sampleTrajectories(
  model: TextToImageModel, scheduler: Scheduler, prompts: string[], o: TrajectoryOptions, noise?: Tensor,
): Trajectories {
  const fn = 'sampleTrajectories';
  checkTrajectoryOptions(fn, o);
  if (prompts.length === 0) throw new Error(`${fn}: no prompts`);
  const { sampleSize: size, inChannels: C } = model.config.unet;
  const N = prompts.length;
  if (noise && (noise.ndim !== 4 || noise.shape[0] !== N || noise.shape[1] !== C || noise.shape[2] !== size || noise.shape[3] !== size)) {
    throw new Error(`${fn}: noise has shape [${noise.shape.join(', ')}], expected [${N}, ${C}, ${size}, ${size}]`);
  }
  const unet = model.unet;
  const wasTraining = unet.training;
  unet.train(false);
  try {
    return torch.noGrad(() => torch.tidy(() => {
      const cond = model.encode(prompts);
      const guided = nfePerStep(o.guidanceScale) === 2;
      const uncond = guided ? model.encode(new Array<string>(N).fill('')) : null;
      const r = sampleLoop({
        scheduler, numSteps: o.steps, shape: [N, C, size, size], generatorNoise: noise, eta: o.eta,
        nfePerCall: nfePerStep(o.guidanceScale), returnTrajectory: true, returnLogProbs: true,
        denoise: (x, t) => guidedPrediction(model, x, t, cond, uncond, o.guidanceScale),
      });
      const latents = torch.stack(r.trajectory!, 1); // [N, S + 1, C, H, W]
      const logProbs = torch.stack(r.logProbs!, 1); // [N, S]
      const images = r.x0.add(1).div(2).clamp(0, 1); // [−1, 1] → [0, 1]
      return {
        prompts: [...prompts], timesteps: r.timesteps, latents, logProbs, images,
        guidanceScale: o.guidanceScale, eta: o.eta, nfe: r.nfe,
      };
    }));
  } finally {
    unet.train(wasTraining);
  }
}

/** The rows `rows` of a set of trajectories (a training minibatch); the caller disposes it. */
export function selectTrajectories(tr: Trajectories, rows: number[]): Trajectories {
  const N = tr.prompts.length;
  for (const r of rows) if (!Number.isInteger(r) || r < 0 || r >= N) throw new Error(`selectTrajectories: row ${r} outside [0, ${N - 1}]`);
  return torch.tidy(() => {
    const idx = int64(rows);
    return {
      ...tr, prompts: rows.map((r) => tr.prompts[r]!), latents: tr.latents.indexSelect(0, idx),
      logProbs: tr.logProbs.indexSelect(0, idx), images: tr.images.indexSelect(0, idx),
    };
  });
}

/** Text encodings of the trajectories' prompts (and of '' when guided), for transitionLogProb. */
export interface GuidanceText {
  cond: { hidden: Tensor; mask: Tensor };
  uncond: { hidden: Tensor; mask: Tensor } | null;
  scale: number;
}

export function guidanceText(model: TextToImageModel, prompts: string[], scale: number): GuidanceText {
  return torch.tidy(() => {
    const c = model.encode(prompts);
    const u = nfePerStep(scale) === 2 ? model.encode(new Array<string>(prompts.length).fill('')) : null;
    return { cond: { hidden: c.hidden, mask: c.mask }, uncond: u ? { hidden: u.hidden, mask: u.mask } : null, scale };
  });
}

export function disposeGuidanceText(g: GuidanceText): void {
  for (const t of [g.cond.hidden, g.cond.mask, g.uncond?.hidden, g.uncond?.mask]) t?.dispose();
}

/**
 * log p_θ(xPrev | x, c) of given transitions under `model` (with a graph when gradients are on):
 * x, xPrev [n, C, H, W], per-row timesteps t [n], text for the same n rows → [n] (mean over C·H·W).
 */
export function transitionLogProb(
  model: TextToImageModel, scheduler: Scheduler, x: Tensor, xPrev: Tensor, t: number[], text: GuidanceText, eta: number,
): Tensor {
  return torch.tidy(() => {
    const tt = int64(t);
    const pred = guidedPrediction(model, x, tt, text.cond, text.uncond, text.scale); // [n, C, H, W]
    return scheduler.step(pred, tt, x, { eta, prevSample: xPrev }).logProb!; // [n]
  });
}

/**
 * The mean over j < K of per-step loss terms, term(j) a scalar with its own graph (DDPO's and D3PO's
 * objectives are such means over a trajectory's denoising steps). With `backwardScale` null the
 * terms are summed and the mean keeps every step's graph, for the caller to back-propagate. With a
 * number, each term × backwardScale / K is back-propagated as soon as it is made and its graph freed,
 * so one step's activations are alive at a time instead of K steps' (the same gradient up to float
 * rounding); the mean is then returned as a value without a graph.
 */
export function meanOverSteps(K: number, term: (j: number) => Tensor, backwardScale: number | null): Tensor {
  if (!(K > 0)) throw new Error(`meanOverSteps: K must be positive, got ${K}`);
  if (backwardScale === null) {
    return torch.tidy(() => {
      let sum: Tensor | null = null;
      for (let j = 0; j < K; j++) {
        const t = term(j);
        sum = sum ? sum.add(t) : t;
      }
      return sum!.div(K);
    });
  }
  let value = 0;
  for (let j = 0; j < K; j++) {
    torch.tidy(() => {
      const t = term(j);
      value += t.item();
      t.mul(backwardScale / K).backward();
    });
  }
  return torch.scalarTensor(value / K);
}

/**
 * The steps that have a density: those where some trajectory's stored log p is not exactly 0 (a
 * σ = 0 step reports 0 for every trajectory; a Gaussian log-density is never exactly 0 in practice).
 */
export function stochasticSteps(tr: Trajectories): number[] {
  const S = tr.timesteps.length;
  const nonzero = torch.tidy(() => Array.from(tr.logProbs.abs().amax(0).to('float32').toFloat32Array(), (v) => v > 0)); // [S]
  const steps = Array.from({ length: S }, (_, k) => k).filter((k) => nonzero[k]);
  if (steps.length === 0) throw new Error('stochasticSteps: no step of these trajectories has a density (σ = 0 everywhere: sample with η > 0)');
  return steps;
}

/**
 * Which steps each trajectory trains on: all `candidates` in order (fraction 1), else
 * ⌊|candidates|·fraction⌋ (at least 1) of them, a random subset per trajectory from the global
 * generator (DDPO's timestep_fraction). Returns order[i][j], the j-th trained step of trajectory i.
 */
export function trainedSteps(N: number, candidates: number[], fraction: number): number[][] {
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`trainedSteps: timestepFraction must be in (0, 1], got ${fraction}`);
  const S = candidates.length;
  const k = Math.max(1, Math.floor(S * fraction));
  if (k === S) return Array.from({ length: N }, () => [...candidates]);
  return Array.from({ length: N }, () =>
    torch.tidy(() => Array.from(torch.randperm(S).toTypedArray() as BigInt64Array, (v) => candidates[Number(v)]!).slice(0, k)));
}

/**
 * The transitions of step j of `order` for every row: x [n, C, H, W], xPrev, their timesteps and the
 * stored log p_old [n] (detached). Used by DDPO and D3PO alike.
 */
export function transitionsAt(tr: Trajectories, order: number[][], j: number): { x: Tensor; xPrev: Tensor; t: number[]; oldLogProb: Tensor } {
  const N = tr.prompts.length;
  const S = tr.timesteps.length;
  return torch.tidy(() => {
    const k = order.map((o) => o[j]!);
    const flat = tr.latents.reshape([N * (S + 1), ...tr.latents.shape.slice(2)]); // [N·(S+1), C, H, W]
    const x = flat.indexSelect(0, int64(k.map((s, i) => i * (S + 1) + s)));
    const xPrev = flat.indexSelect(0, int64(k.map((s, i) => i * (S + 1) + s + 1)));
    const oldLogProb = tr.logProbs.reshape([N * S]).indexSelect(0, int64(k.map((s, i) => i * S + s)));
    return { x, xPrev, t: k.map((s) => tr.timesteps[s]!), oldLogProb };
  });
}

/** Sets the scheduler to the trajectories' S and checks that it visits the same timesteps. */
export function matchScheduler(fn: string, scheduler: Scheduler, tr: Trajectories): void {
  const S = tr.timesteps.length;
  if (scheduler.numInferenceSteps !== S) scheduler.setTimesteps(S);
  const ts = scheduler.timesteps;
  if (ts.length !== S || ts.some((v, i) => v !== tr.timesteps[i])) {
    throw new Error(
      `${fn}: the scheduler's timesteps [${ts.join(', ')}] are not those the trajectories were sampled with [${tr.timesteps.join(', ')}]` +
      ' (use the same scheduler and spacing)',
    );
  }
}
