// RLHF-Diffusion-Sharpening (Tian et al. 2025, arXiv 2502.12146, §3;
// docs/methods.md §3) as a fine-tuning method: online, from prompts only. Per prompt the
// current policy generates n images from n initial noises x_T (S DDIM steps, η = 0, by default
// without guidance, as the authors' train_rlhf_diffusion_sharpen_sdxl.py); each image is re-noised
// to a random t with the noise that generated it (renoise 'generation', the authors' add_noise(latents,
// noise, t)) and unrolled for m' steps; the best and the worst trajectory by reward form a
// Diffusion-DPO pair against the frozen starting model (rlhfSharpeningLoss), whose target is x_T.
import { z } from 'zod';
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';
import { generate } from '../../models/generate.js';
import type { FinetuneMethod } from '../finetune-method.js';
import { rlhfSharpeningLoss, type SharpeningDraws } from './sharpening.js';
import { dropCaptions, drawTimesteps, fullTimeRange, lossOptions, rlhfSharpeningFields, sharpeningLogs } from './sharpening-options.js';
import { repeatEach } from '../../util/arrays.js';

export const rlhfSharpeningOptionsSchema = z.object(rlhfSharpeningFields).strict();
export type RlhfSharpeningOptions = z.infer<typeof rlhfSharpeningOptionsSchema>;

interface Batch {
  /** the n rollouts of each prompt, [B·n, 3, H, W] in [−1, 1], rows b·n + i */
  x0: Tensor;
  /** the initial noise each rollout was generated from, [B·n, 3, H, W] (same rows) */
  xT: Tensor;
  /** the B prompts */
  prompts: string[];
}

export const rlhfSharpening: FinetuneMethod<RlhfSharpeningOptions, Batch> = {
  name: 'rlhf-sharpening',
  description: 'RLHF-Diffusion-Sharpening: online, from prompts; a DPO loss between the best and worst of n trajectories against the frozen base (needs --reward)',
  optionsSchema: rlhfSharpeningOptionsSchema,
  needsReference: () => true,
  needsData: false,
  needsReward: true,

  async makeBatch(ctx) {
    const o = ctx.options;
    const prompts = ctx.prompts.promptsAt(ctx.position, ctx.batchSize);
    const rows = repeatEach(prompts, o.n); // b·n + i
    const { sampleSize: size, inChannels: C } = ctx.model.config.unet;
    // step 1: n initial noises per prompt and n images from the current policy (generate() runs under noGrad)
    const xT = torch.randn([rows.length, C, size, size]); // [B·n, C, H, W]
    const unet = ctx.model.unet;
    const wasTraining = unet.training;
    unet.train(false);
    let images: Tensor;
    try {
      ({ images } = generate(ctx.model, rows, {
        steps: o.S, guidanceScale: o.rolloutGuidance ?? ctx.model.config.sampling.guidanceScale, eta: 0, noise: xT,
      })); // [B·n, 3, H, W] in [0, 1]
    } catch (e) {
      xT.dispose();
      throw e;
    } finally {
      unet.train(wasTraining);
    }
    const x0 = torch.tidy(() => images.mul(2).sub(1)); // → [−1, 1]
    images.dispose();
    return { x0, xT, prompts };
  },

  async loss(ctx, batch) {
    const o = ctx.options;
    const B = batch.prompts.length;
    let rankRewards: number[] | undefined;
    if (o.rankBy === 'image') {
      // the reward of each generated image itself (rows b·n + i), instead of its trajectory's x̂0
      // (the trajectories are then not scored at all)
      const images = torch.tidy(() => batch.x0.add(1).div(2).clamp(0, 1));
      try {
        rankRewards = await ctx.reward!(images, repeatEach(batch.prompts, o.n));
      } finally {
        images.dispose();
      }
    }
    // step 2: t per prompt; x_t^i = √ᾱ_t x0^i + √(1−ᾱ_t) ε_i with ε_i = x_T^i (renoise 'generation')
    // or a fresh draw ('fresh': drawn by the loss itself when t spans the whole range)
    const T = ctx.schedule.numTrainTimesteps;
    let draws: SharpeningDraws | undefined;
    let owned: Tensor | null = null;
    if (o.renoise === 'generation') {
      draws = { t: drawTimesteps(o, T, B, this.name), noise: batch.xT };
    } else if (!fullTimeRange(o, T)) {
      const t = drawTimesteps(o, T, B, this.name);
      owned = torch.randn(batch.x0.shape);
      draws = { t, noise: owned };
    }
    // the networks see '' for a share of the prompts; the ranking keeps the real ones
    const conditionPrompts = dropCaptions(batch.prompts, o.captionDropout);
    try {
      const r = await rlhfSharpeningLoss(ctx.model, ctx.reference!, ctx.schedule, ctx.scheduler,
        { x0: batch.x0, prompts: batch.prompts, conditionPrompts }, ctx.reward!, lossOptions(o), draws, rankRewards);
      return { loss: r.loss, logs: sharpeningLogs(r.logs) };
    } finally {
      owned?.dispose();
    }
  },

  disposeBatch(batch) {
    batch.x0.dispose();
    batch.xT.dispose();
  },
};
