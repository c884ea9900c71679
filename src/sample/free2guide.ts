// Free²Guide (Kim et al. 2024, "Free²Guide: Gradient-Free Path Integral Control for Enhancing
// Text-to-Video Generation with Large Vision-Language Models", arXiv 2411.17041, §3): guidance by a
// non-differentiable reward through path integral control. At each of the first G steps:
//   x_{t−1}^k = μ + σ z_k,  k = 1..K                 (K candidate next states of the stochastic sampler)
//   r_k = R(x̂0(x_{t−1}^k), c)                        (one-step look-ahead: Tweedie's x̂0 at t−1)
// then either
//   'best':     x_{t−1} = x_{t−1}^{k*},  k* = argmax_k r_k            (the default)
//   'weighted': x_{t−1} = Σ_k w_k x_{t−1}^k = μ + σ Σ_k w_k z_k,  w = softmax(r/λ)
// 'weighted' is the path-integral estimate of the optimally controlled step (the exp(r/λ)-weighted
// mean of the sampled noises); λ is in the reward's units (λ → 0 tends to 'best'). The later steps
// are ordinary steps.
//
// NFE: in 'best' mode the look-ahead of the chosen candidate is exactly the network call the next
// step needs at x_{t−1} = x_{t−1}^{k*} (same input, same timestep), so it is reused: a guided step
// costs K calls in place of 1, and the total is (S + (K − 1)·G)·c (c = 2 with guidance). 'weighted'
// steps to a state no candidate visited, so the next call is extra: (S + K·G)·c. A budget sets K
// from these (K ≥ 2, or an error). G defaults to ⌈S/2⌉ (our choice: "the first steps", when layout
// forms; at most S − 1, since the last step to x0 has no noise to choose).
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { TextToImageModel } from '../models/t2i.js';
import {
  SamplingContext, argmaxPerPrompt, batchOptionFields, budgetTooSmall, checkSpent, commonOptionsFields, mean, parseOptions,
  requireReward, resolveCommon, stochasticEta, takeRows, type MethodPlan, type SampleResult, type SamplingMethod,
} from './sampling-method.js';

const NAME = 'free2guide';
export const SELECTIONS = ['best', 'weighted'] as const;
export const free2guideOptionsSchema = z
  .object({
    ...commonOptionsFields,
    ...batchOptionFields,
    /** K, candidate next states per guided step (default: what the budget buys, else 4) */
    K: z.number().int().min(2).optional(),
    /** G, the first steps that are guided (default ⌈S/2⌉, at most S − 1) */
    guidedSteps: z.number().int().positive().optional(),
    /** 'best' (keep the argmax, default) or 'weighted' (softmax(r/λ) mean of the candidates) */
    selection: z.enum(SELECTIONS).optional(),
    /** λ of 'weighted', in the reward's units (default 1) */
    lambda: z.number().positive().optional(),
  })
  .strict();
export type Free2GuideOptions = z.infer<typeof free2guideOptionsSchema>;

function planOf(model: TextToImageModel, o: Free2GuideOptions): MethodPlan {
  const r = resolveCommon(model, o, { eta: stochasticEta(model, o) });
  const S = r.steps;
  if (S < 2) throw new Error(`method '${NAME}': needs at least 2 sampling steps (one stochastic step to guide), got ${S}`);
  const G = Math.min(o.guidedSteps ?? Math.ceil(S / 2), S - 1);
  const selection = o.selection ?? 'best';
  if (o.lambda !== undefined && selection !== 'weighted') throw new Error(`method '${NAME}': lambda is an option of selection 'weighted'`);
  const extra = selection === 'best' ? (k: number) => k - 1 : (k: number) => k; // calls a guided step adds
  let K = o.K ?? 4;
  if (o.budgetNfe !== undefined) {
    const spare = Math.floor((o.budgetNfe / r.nfePerCall - S) / G); // extra calls per guided step the budget pays
    const fits = selection === 'best' ? spare + 1 : spare;
    if (fits < 2) throw budgetTooSmall(NAME, o.budgetNfe, (S + extra(2) * G) * r.nfePerCall, `K = 2 candidates at ${G} of ${S} steps`);
    if (o.K === undefined) K = fits;
    else if (o.K > fits) throw budgetTooSmall(NAME, o.budgetNfe, (S + extra(o.K) * G) * r.nfePerCall, `K = ${o.K} candidates at ${G} of ${S} steps`);
  }
  return {
    nfePerImage: (S + extra(K) * G) * r.nfePerCall,
    settings: {
      K, guidedSteps: G, selection, lambda: selection === 'weighted' ? (o.lambda ?? 1) : null,
      steps: S, guidanceScale: r.guidanceScale, scheduler: r.scheduler, eta: r.eta ?? null,
    },
  };
}

/** softmax(r/λ) over one prompt's K rewards; NaN (unscored) rewards get weight 0. */
export function softmaxWeights(r: readonly number[], lambda: number): number[] {
  const f = r.filter((v) => Number.isFinite(v));
  if (f.length === 0) throw new Error(`method '${NAME}': the reward could score none of the ${r.length} candidates`);
  const m = Math.max(...f);
  const e = r.map((v) => (Number.isFinite(v) ? Math.exp((v - m) / lambda) : 0));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

export const free2guide: SamplingMethod = {
  name: NAME,
  description: 'Free²Guide (Kim et al. 2024): in the first steps, K candidate next states scored by a one-step look-ahead; keep the best (or the exp(r/λ)-weighted mean)',
  plan(model, opts) {
    return planOf(model, parseOptions(free2guideOptionsSchema, opts, NAME));
  },
  async sample(model, prompts, opts): Promise<SampleResult> {
    const o = parseOptions(free2guideOptionsSchema, opts, NAME);
    const plan = planOf(model, o);
    const reward = requireReward(o, NAME);
    const { K, guidedSteps: G, selection, lambda } = plan.settings as { K: number; guidedSteps: number; selection: string; lambda: number | null };
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
        if (i < G) {
          if (tp < 0) throw new Error(`method '${NAME}': step ${i} of ${ctx.timesteps.length} is already the last (a bug)`);
          const zs = own(torch.randn([K * B, ctx.C, ctx.size, ctx.size])); // [K·B, C, H, W]
          const cand = own(torch.tidy(() => ctx.step(eps.repeat(K, 1, 1, 1), t, x.repeat(K, 1, 1, 1), zs).prev)); // x_{t−1}^k
          const ec = own(ctx.predict(cand, tp, idx)); // look-ahead at t−1: K·B rows
          const images = own(torch.tidy(() => SamplingContext.toImages(ctx.predictX0(ec, cand, tp))));
          const r = await ctx.score(images, idx);
          drop(images);
          drop(eps);
          drop(x);
          if (selection === 'best') {
            const best = argmaxPerPrompt(r, B, NAME);
            const rows = best.map((k, b) => k * B + b);
            x = own(takeRows(cand, rows));
            eps = own(takeRows(ec, rows)); // the next step's call, already made
            trace.push({ step: i, t, meanCandidateScore: mean(r), meanChosenScore: mean(rows.map((q) => r[q]!)) });
          } else {
            const w = new Array<number>(K * B);
            for (let b = 0; b < B; b++) {
              softmaxWeights(Array.from({ length: K }, (_, k) => r[k * B + b]!), lambda!).forEach((v, k) => (w[k * B + b] = v));
            }
            x = own(
              torch.tidy(() =>
                cand.reshape([K, B, ...cand.shape.slice(1)]).mul(torch.tensor(w).reshape([K, B, 1, 1, 1])).sum([0]),
              ),
            );
            eps = own(ctx.predict(x, tp));
            trace.push({ step: i, t, meanCandidateScore: mean(r), maxWeight: Math.max(...w) });
          }
          drop(cand);
          drop(ec);
          drop(zs);
          continue;
        }
        const { prev, x0 } = ctx.step(eps, t, x);
        x0.dispose();
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
