// Demon (Yeh et al. 2024, "Training-free Diffusion Model Alignment with Sampling Demons",
// arXiv 2410.05760, §4 "Tanh Demon"): at every stochastic step x_t → x_{t−1} = μ + σ z, draw K
// candidate noises z_1..z_K instead of one, score where each leads, and step with a noise that leans
// toward the good ones:
//   x_{t−1}^k = μ + σ z_k                              (K candidate next states)
//   r_k       = R(x̂0(x_{t−1}^k), c)                    (x̂0: Tweedie's one-step estimate, 1 network call)
//   b_k       = tanh((r_k − mean_k r) / std_k r)       (std: population std over the K; b = 0 when std = 0)
//   z*        = √D · Σ_k b_k z_k / ‖Σ_k b_k z_k‖       (D = C·H·W)
//   x_{t−1}   = μ + σ z*
// The renormalisation puts z* on the shell where N(0, I_D) noise lives: ‖z*‖² = D, i.e. its
// per-element mean square is 1 (the "unit-variance" norm E‖z‖² = D of a standard Gaussian draw), as
// the paper projects the combined noise back to radius √D. When every b_k is 0 (all K rewards
// equal, or K = 1) the combination is undefined and z* = z_1, an ordinary draw.
//
// Two choices differ from the paper and are ours: (1) the reward of a candidate is taken at its
// one-step x̂0 (the paper also estimates it by solving the ODE from x_{t−1}^k, which costs many calls
// per candidate); (2) no temperature: the rewards are standardised per prompt before tanh, as
// docs/methods.md ("Demon") states, so the method is blind to the reward's units.
//
// The sampler must be stochastic: DDIM with η > 0 (default η = 1) or DDPM; z is replayed through
// Scheduler.step's `noise` option. The last step (to x0, σ = 0) is an ordinary step.
// NFE: S calls of the ordinary sampler + K look-ahead calls at each of the G guided steps,
// all × 2 with guidance: (S + K·G)·c. A budget sets K = ⌊(budget/c − S)/G⌋ (≥ 2, or an error).
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { TextToImageModel } from '../models/t2i.js';
import {
  SamplingContext, batchOptionFields, budgetTooSmall, checkSpent, commonOptionsFields, mean, parseOptions, requireReward,
  resolveCommon, stochasticEta, type MethodPlan, type SampleResult, type SamplingMethod,
} from './sampling-method.js';

const NAME = 'demon';
export const demonOptionsSchema = z
  .object({
    ...commonOptionsFields,
    ...batchOptionFields,
    /** K, candidate noises per step (default: what the budget buys, else 4) */
    K: z.number().int().min(2).optional(),
    /** G, the first steps that draw candidates (default: every step but the last, S − 1) */
    guidedSteps: z.number().int().positive().optional(),
  })
  .strict();
export type DemonOptions = z.infer<typeof demonOptionsSchema>;

function planOf(model: TextToImageModel, o: DemonOptions): MethodPlan {
  const r = resolveCommon(model, o, { eta: stochasticEta(model, o) });
  const G = Math.min(o.guidedSteps ?? r.steps - 1, r.steps - 1);
  if (G < 1) throw new Error(`method '${NAME}': needs at least 2 sampling steps (one stochastic step to guide), got ${r.steps}`);
  let K = o.K ?? 4;
  if (o.budgetNfe !== undefined) {
    const fits = Math.floor((o.budgetNfe / r.nfePerCall - r.steps) / G);
    if (fits < 2) throw budgetTooSmall(NAME, o.budgetNfe, (r.steps + 2 * G) * r.nfePerCall, `K = 2 candidates at ${G} of ${r.steps} steps`);
    if (o.K === undefined) K = fits;
    else if (o.K > fits) throw budgetTooSmall(NAME, o.budgetNfe, (r.steps + o.K * G) * r.nfePerCall, `K = ${o.K} candidates at ${G} of ${r.steps} steps`);
  }
  return {
    nfePerImage: (r.steps + K * G) * r.nfePerCall,
    settings: { K, guidedSteps: G, steps: r.steps, guidanceScale: r.guidanceScale, scheduler: r.scheduler, eta: r.eta ?? null },
  };
}

/**
 * Demon's weights of K candidates of one prompt: b_k = tanh((r_k − mean)/std), std the population
 * standard deviation of the finite r_k; 0 for a NaN (unscored) r_k, and all 0 when std = 0.
 */
export function demonWeights(r: readonly number[]): number[] {
  const f = r.filter((v) => Number.isFinite(v));
  if (f.length === 0) return r.map(() => 0);
  const m = f.reduce((a, b) => a + b, 0) / f.length;
  const std = Math.sqrt(f.reduce((a, b) => a + (b - m) * (b - m), 0) / f.length);
  if (!(std > 0)) return r.map(() => 0);
  return r.map((v) => (Number.isFinite(v) ? Math.tanh((v - m) / std) : 0));
}

/**
 * z* per prompt from candidates z [K·B, …] (row k·B + b is candidate k of prompt b) and weights
 * [K·B] in the same layout: √D · Σ_k w_k z_k / ‖Σ_k w_k z_k‖, D the elements of one row; a prompt
 * whose weighted sum vanishes (all weights 0) gets its first candidate z_{1}.
 */
export function combineNoises(zs: Tensor, weights: readonly number[], B: number): Tensor {
  const K = zs.shape[0]! / B;
  if (!Number.isInteger(K) || weights.length !== zs.shape[0]) {
    throw new Error(`combineNoises: ${zs.shape[0]} rows, ${weights.length} weights, B = ${B}`);
  }
  return torch.tidy(() => {
    const rest = zs.shape.slice(1);
    const D = rest.reduce((a, b) => a * b, 1);
    const w = torch.tensor(weights as number[], { dtype: zs.dtype as 'float32' }).reshape([K, B, ...rest.map(() => 1)]);
    const s = zs.reshape([K, B, ...rest]).mul(w).sum([0]); // [B, …]
    const norms = s.reshape(B, D).norm(2, [1]); // [B]
    const nz = Array.from(norms.toFloat32Array()).map((n) => n > 1e-12);
    const scaled = s.div(norms.clamp(1e-12, null).reshape([B, ...rest.map(() => 1)])).mul(Math.sqrt(D));
    if (nz.every(Boolean)) return scaled;
    const keep = torch.tensor(nz).reshape([B, ...rest.map(() => 1)]);
    return torch.where(keep, scaled, zs.narrow(0, 0, B));
  });
}

export const demon: SamplingMethod = {
  name: NAME,
  description: 'Demon (Yeh et al. 2024): at each stochastic step K candidate noises, combined by tanh-standardised rewards of their x̂0',
  plan(model, opts) {
    return planOf(model, parseOptions(demonOptionsSchema, opts, NAME));
  },
  async sample(model, prompts, opts): Promise<SampleResult> {
    const o = parseOptions(demonOptionsSchema, opts, NAME);
    const plan = planOf(model, o);
    const reward = requireReward(o, NAME);
    const { K, guidedSteps: G } = plan.settings as { K: number; guidedSteps: number };
    const ctx = new SamplingContext(model, prompts, resolveCommon(model, o, { eta: stochasticEta(model, o) }), NAME, o.batchSize, reward);
    const live = new Set<Tensor>();
    const own = <T extends Tensor>(t: T): T => (live.add(t), t);
    const drop = (t: Tensor) => (live.delete(t), t.dispose());
    try {
      ctx.requireStochastic();
      const B = ctx.B;
      const idx = ctx.tiledIndex(K);
      if (o.seed !== undefined) torch.manualSeed(o.seed);
      let x = own(ctx.initialNoise()); // [B, C, H, W], plain sampling's x_T
      let eps = own(ctx.predict(x, ctx.timesteps[0]!));
      const trace: Record<string, unknown>[] = [];
      for (let i = 0; i < ctx.timesteps.length; i++) {
        const t = ctx.timesteps[i]!;
        const tp = ctx.prevTimestep(t);
        let noise: Tensor | undefined;
        if (i < G) {
          if (tp < 0) throw new Error(`method '${NAME}': step ${i} of ${ctx.timesteps.length} is already the last (a bug)`);
          const zs = own(torch.randn([K * B, ctx.C, ctx.size, ctx.size])); // [K·B, C, H, W]
          const cand = own(torch.tidy(() => ctx.step(eps.repeat(K, 1, 1, 1), t, x.repeat(K, 1, 1, 1), zs).prev)); // x_{t−1}^k
          const ec = own(ctx.predict(cand, tp, idx)); // look-ahead: K·B rows
          const images = own(torch.tidy(() => SamplingContext.toImages(ctx.predictX0(ec, cand, tp))));
          drop(ec);
          drop(cand);
          const r = await ctx.score(images, idx);
          drop(images);
          const w = new Array<number>(K * B);
          for (let b = 0; b < B; b++) {
            const wb = demonWeights(Array.from({ length: K }, (_, k) => r[k * B + b]!));
            wb.forEach((v, k) => (w[k * B + b] = v));
          }
          noise = own(combineNoises(zs, w, B)); // z* [B, C, H, W]
          drop(zs);
          trace.push({ step: i, t, meanCandidateScore: mean(r), meanAbsWeight: mean(w.map(Math.abs)) });
        }
        const { prev, x0 } = ctx.step(eps, t, x, noise);
        x0.dispose();
        if (noise) drop(noise);
        drop(eps);
        drop(x);
        x = own(prev);
        if (i + 1 < ctx.timesteps.length) eps = own(ctx.predict(x, tp)); // the last step needs no next call
      }
      const images = SamplingContext.toImages(x);
      drop(x);
      checkSpent(ctx, plan, o.budgetNfe);
      let scores: number[];
      try {
        scores = await ctx.score(images);
      } catch (e) {
        images.dispose();
        throw e;
      }
      return { images, nfePerImage: ctx.nfePerImage, log: ctx.log(plan, o.budgetNfe, { scores, trace }) };
    } finally {
      for (const t of live) t.dispose();
      ctx.dispose();
    }
  },
};
