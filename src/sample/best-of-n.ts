// Best-of-N: random search over initial noises by a verifier (Ma et al. 2025, "Inference-Time Scaling
// for Diffusion Models beyond Scaling Denoising Steps", arXiv 2501.09732, §3.1 "Random Search").
// For each prompt, N initial noises x_T^1..x_T^N are each sampled to an image with the ordinary
// sampler, the verifier scores the N images, and the best is returned.
//
// Sizing: one sample costs S × (2 with guidance, else 1) NFE, so a budget B_NFE buys
// N = ⌊B_NFE / (S · NFE per call)⌋ samples; N < 1 is an error. Given both K (= N) and a budget, N·S·c
// must fit. The first candidate of every prompt is the noise plain sampling draws after the same
// seed (x_T = randn [B, C, H, W]), so with deterministic sampling (DDIM η = 0) best-of-N is never
// worse than plain sampling on its own reward.
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { TextToImageModel } from '../models/t2i.js';
import {
  SamplingContext, argmaxPerPrompt, batchOptionFields, budgetTooSmall, checkSpent, commonOptionsFields, mean, parseOptions,
  requireReward, resolveCommon, takeRows, type MethodPlan, type SampleResult, type SamplingMethod,
} from './sampling-method.js';

const NAME = 'best-of-n';
export const bestOfNOptionsSchema = z
  .object({
    ...commonOptionsFields,
    ...batchOptionFields,
    /** N, the number of initial noises per prompt (default: what the budget buys, else 4) */
    K: z.number().int().positive().optional(),
  })
  .strict();
export type BestOfNOptions = z.infer<typeof bestOfNOptionsSchema>;

function planOf(model: TextToImageModel, o: BestOfNOptions): MethodPlan {
  const r = resolveCommon(model, o);
  let N = o.K ?? 4;
  if (o.budgetNfe !== undefined) {
    const fits = Math.floor(o.budgetNfe / r.nfePerSample);
    if (fits < 1) throw budgetTooSmall(NAME, o.budgetNfe, r.nfePerSample, `one sample of ${r.steps} steps at ${r.nfePerCall} NFE a step`);
    if (o.K === undefined) N = fits;
    else if (o.K > fits) throw budgetTooSmall(NAME, o.budgetNfe, o.K * r.nfePerSample, `K = ${o.K} samples`);
  }
  return {
    nfePerImage: N * r.nfePerSample,
    settings: { N, steps: r.steps, guidanceScale: r.guidanceScale, scheduler: r.scheduler, eta: r.eta ?? null },
  };
}

export const bestOfN: SamplingMethod = {
  name: NAME,
  description: 'random search (Ma et al. 2025): N initial noises per prompt, keep the image the reward likes best',
  plan(model, opts) {
    return planOf(model, parseOptions(bestOfNOptionsSchema, opts, NAME));
  },
  async sample(model, prompts, opts): Promise<SampleResult> {
    const o = parseOptions(bestOfNOptionsSchema, opts, NAME);
    const plan = planOf(model, o);
    const reward = requireReward(o, NAME);
    const N = plan.settings.N as number;
    const ctx = new SamplingContext(model, prompts, resolveCommon(model, o), NAME, o.batchSize, reward);
    let images: Tensor | null = null;
    try {
      const B = ctx.B;
      if (o.seed !== undefined) torch.manualSeed(o.seed);
      // x_T of round 0 is plain sampling's; rounds 1..N−1 follow. Rows: k·B + b.
      const noise = torch.tidy(() => torch.cat(Array.from({ length: N }, () => ctx.initialNoise()))); // [N·B, C, H, W]
      const idx = ctx.tiledIndex(N);
      const x0 = ctx.denoise(noise, idx);
      noise.dispose();
      const all = SamplingContext.toImages(x0); // [N·B, 3, H, W]
      x0.dispose();
      let scores: number[];
      try {
        scores = await ctx.score(all, idx);
      } catch (e) {
        all.dispose();
        throw e;
      }
      const best = argmaxPerPrompt(scores, B, NAME); // candidate index per prompt
      const rows = best.map((k, b) => k * B + b);
      images = takeRows(all, rows);
      all.dispose();
      checkSpent(ctx, plan, o.budgetNfe);
      const chosen = rows.map((r) => scores[r]!);
      return {
        images,
        nfePerImage: ctx.nfePerImage,
        log: ctx.log(plan, o.budgetNfe, {
          scores: chosen,
          trace: [{ meanCandidateScore: mean(scores), meanFirstCandidateScore: mean(scores.slice(0, B)), meanChosenScore: mean(chosen), chosenIndex: best }],
        }),
      };
    } catch (e) {
      images?.dispose();
      throw e;
    } finally {
      ctx.dispose();
    }
  },
};
