// Zero-order search over initial noises (Ma et al. 2025, arXiv 2501.09732, §3.1 "Zero-Order Search"):
//   1. start from a Gaussian noise n as the pivot (sampled and scored once);
//   2. draw N candidates in the pivot's neighbourhood S_n^λ = {y : d(y, n) = λ};
//   3. sample each candidate to an image with the ordinary sampler and score it with the verifier;
//   4. if the best candidate beats the pivot it becomes the pivot; repeat 2–4 for `iterations` rounds.
// The returned image is the final pivot's.
//
// The neighbourhood (our concrete choice of d; the paper leaves d open): candidates keep the pivot's
// norm and sit at a fixed angle θ from it, with λ = sin θ:
//   y = ‖n‖ (√(1 − λ²) u + λ w),   u = n / ‖n‖,   w = a uniformly random unit vector ⟂ u,
// so d(y, n) = sin∠(y, n) = λ exactly, and y stays on the shell where N(0, I) noise lives (as x_T
// must; a plain n + λε would drift off it as iterations accumulate). λ = 0.3 ⇔ cos θ ≈ 0.954.
//
// Sizing: every sample costs S × (2 with guidance, else 1) NFE; a budget buys M = ⌊budget / that⌋
// samples: the pivot plus `iterations` rounds of N: iterations = ⌊(M − 1) / N⌋ (≥ 1, or the budget is
// too small). The first pivot is the noise plain sampling draws after the same seed, and a pivot is
// only replaced by a better candidate, so with DDIM η = 0 the result never scores below plain's.
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { TextToImageModel } from '../models/t2i.js';
import {
  SamplingContext, argmaxPerPrompt, batchOptionFields, budgetTooSmall, checkSpent, commonOptionsFields, mean, parseOptions,
  requireReward, resolveCommon, type MethodPlan, type SampleResult, type SamplingMethod,
} from './sampling-method.js';

const NAME = 'zero-order';
export const zeroOrderOptionsSchema = z
  .object({
    ...commonOptionsFields,
    ...batchOptionFields,
    /** N, candidates per iteration (default 4) */
    K: z.number().int().positive().optional(),
    /** search rounds (default: what the budget buys, else 3) */
    iterations: z.number().int().positive().optional(),
    /** λ = sin of the angle between a candidate and the pivot, in (0, 1] (default 0.3) */
    lambda: z.number().gt(0).max(1).optional(),
  })
  .strict();
export type ZeroOrderOptions = z.infer<typeof zeroOrderOptionsSchema>;

function planOf(model: TextToImageModel, o: ZeroOrderOptions): MethodPlan {
  const r = resolveCommon(model, o);
  const N = o.K ?? 4;
  let iterations = o.iterations ?? 3;
  if (o.budgetNfe !== undefined) {
    const samples = Math.floor(o.budgetNfe / r.nfePerSample);
    const fits = Math.floor((samples - 1) / N);
    if (fits < 1) {
      throw budgetTooSmall(NAME, o.budgetNfe, (1 + N) * r.nfePerSample, `the pivot and one round of N = ${N} candidates (${r.nfePerSample} NFE a sample)`);
    }
    if (o.iterations === undefined) iterations = fits;
    else if (o.iterations > fits) {
      throw budgetTooSmall(NAME, o.budgetNfe, (1 + N * o.iterations) * r.nfePerSample, `${o.iterations} rounds of N = ${N}`);
    }
  }
  return {
    nfePerImage: (1 + N * iterations) * r.nfePerSample,
    settings: {
      N, iterations, lambda: o.lambda ?? 0.3, steps: r.steps, guidanceScale: r.guidanceScale, scheduler: r.scheduler, eta: r.eta ?? null,
    },
  };
}

/**
 * N neighbours of each pivot (rows k·B + b of the result are neighbour k of pivot b): same norm,
 * sin∠ = λ, direction uniformly random in the pivot's orthogonal complement.
 */
export function neighbours(pivots: Tensor, N: number, lambda: number): Tensor {
  return torch.tidy(() => {
    const B = pivots.shape[0]!;
    const flat = pivots.reshape(B, -1); // [B, D]
    const norm = flat.norm(2, [1], true); // [B, 1]
    const u = flat.div(norm.clamp(1e-12, null)).repeat(N, 1); // [N·B, D]
    const v = torch.randn(u.shape);
    const w0 = v.sub(u.mul(v.mul(u).sum([1], true))); // v − (v·u) u
    const w = w0.div(w0.norm(2, [1], true).clamp(1e-12, null));
    const y = u.mul(Math.sqrt(1 - lambda * lambda)).add(w.mul(lambda)).mul(norm.repeat(N, 1));
    return y.reshape([N * B, ...pivots.shape.slice(1)]);
  });
}

export const zeroOrder: SamplingMethod = {
  name: NAME,
  description: 'zero-order search (Ma et al. 2025): move each prompt\'s initial noise to the best of N neighbours, iteratively',
  plan(model, opts) {
    return planOf(model, parseOptions(zeroOrderOptionsSchema, opts, NAME));
  },
  async sample(model, prompts, opts): Promise<SampleResult> {
    const o = parseOptions(zeroOrderOptionsSchema, opts, NAME);
    const plan = planOf(model, o);
    const reward = requireReward(o, NAME);
    const { N, iterations, lambda } = plan.settings as { N: number; iterations: number; lambda: number };
    const ctx = new SamplingContext(model, prompts, resolveCommon(model, o), NAME, o.batchSize, reward);
    const B = ctx.B;
    let pivot: Tensor | null = null; // [B, C, H, W]
    let image: Tensor | null = null; // [B, 3, H, W]
    try {
      if (o.seed !== undefined) torch.manualSeed(o.seed);
      pivot = ctx.initialNoise(); // plain sampling's x_T
      const x0 = ctx.denoise(pivot);
      image = SamplingContext.toImages(x0);
      x0.dispose();
      const pivotScore = await ctx.score(image);
      const trace: Record<string, unknown>[] = [{ iteration: 0, meanPivotScore: mean(pivotScore) }];
      for (let it = 1; it <= iterations; it++) {
        const cand = neighbours(pivot, N, lambda); // [N·B, C, H, W]
        const idx = ctx.tiledIndex(N);
        let candImages: Tensor;
        let scores: number[];
        try {
          const cx0 = ctx.denoise(cand, idx);
          candImages = SamplingContext.toImages(cx0);
          cx0.dispose();
          scores = await ctx.score(candImages, idx).catch((e: unknown) => {
            candImages.dispose();
            throw e;
          });
        } catch (e) {
          cand.dispose();
          throw e;
        }
        const best = argmaxPerPrompt(scores, B, NAME);
        // a prompt moves its pivot only when its best candidate beats it (an unscored pivot always moves)
        const moved = best.map((k, b) => { const s = scores[k * B + b]!; return Number.isNaN(pivotScore[b]!) || s > pivotScore[b]!; });
        const rowsNoise: Tensor[] = [];
        const rowsImage: Tensor[] = [];
        const next = torch.tidy(() => {
          for (let b = 0; b < B; b++) {
            const r = best[b]! * B + b;
            rowsNoise.push(moved[b] ? cand.narrow(0, r, 1) : pivot!.narrow(0, b, 1));
            rowsImage.push(moved[b] ? candImages.narrow(0, r, 1) : image!.narrow(0, b, 1));
          }
          return { noise: torch.cat(rowsNoise), image: torch.cat(rowsImage) };
        });
        for (let b = 0; b < B; b++) if (moved[b]) pivotScore[b] = scores[best[b]! * B + b]!;
        cand.dispose();
        candImages.dispose();
        pivot.dispose();
        image.dispose();
        pivot = next.noise;
        image = next.image;
        trace.push({ iteration: it, meanCandidateScore: mean(scores), meanPivotScore: mean(pivotScore), moved: moved.filter(Boolean).length });
      }
      checkSpent(ctx, plan, o.budgetNfe);
      pivot.dispose();
      pivot = null;
      const out = image;
      image = null;
      return { images: out, nfePerImage: ctx.nfePerImage, log: ctx.log(plan, o.budgetNfe, { scores: pivotScore, trace }) };
    } finally {
      pivot?.dispose();
      image?.dispose();
      ctx.dispose();
    }
  },
};

