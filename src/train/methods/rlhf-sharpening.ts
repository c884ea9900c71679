// RLHF-Diffusion-Sharpening (Tian et al. 2025, arXiv 2502.12146, §3; METHOD.md
// "RLHF-Diffusion-Sharpening") as a fine-tuning method: online, from prompts only. Per prompt the
// current policy generates n images (S DDIM steps, no gradient, classifier-free guidance
// `rolloutGuidance`, by default the model's own), each is noised to a random t and unrolled for m'
// steps, the best and the worst trajectory by reward form a Diffusion-DPO pair against the frozen
// starting model (rlhfSharpeningLoss).
import { z } from 'zod';
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';
import { generate } from '../../models/generate.js';
import type { FinetuneMethod } from '../method.js';
import { rlhfSharpeningLoss, SHARPENING_DEFAULTS } from './sharpening.js';
import { lossOptions, sharpeningCoreShape, sharpeningDraws, sharpeningLogs, sharpeningRlhfShape } from './sharpening-options.js';
import { repeatEach } from '../../util/arrays.js';

export const rlhfSharpeningOptionsSchema = z.object({
  ...sharpeningCoreShape,
  ...sharpeningRlhfShape,
  /** n ≥ 2: a winner and a loser per prompt */
  n: z.number().int().min(2).default(SHARPENING_DEFAULTS.n),
}).strict();
export type RlhfSharpeningOptions = z.infer<typeof rlhfSharpeningOptionsSchema>;

interface Batch {
  /** the n rollouts of each prompt, [B·n, 3, H, W] in [−1, 1], rows b·n + i */
  x0: Tensor;
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
    // step 1: n images per prompt from the current policy (generate() runs under noGrad)
    const unet = ctx.model.unet;
    const wasTraining = unet.training;
    unet.train(false);
    let images: Tensor;
    try {
      ({ images } = generate(ctx.model, rows, {
        steps: o.S, guidanceScale: o.rolloutGuidance ?? ctx.model.config.sampling.guidanceScale, eta: 0,
      })); // [B·n, 3, H, W] in [0, 1]
    } finally {
      unet.train(wasTraining);
    }
    const x0 = torch.tidy(() => images.mul(2).sub(1)); // → [−1, 1]
    images.dispose();
    return { x0, prompts };
  },

  async loss(ctx, batch) {
    const { rolloutGuidance: _g, rankBy, ...o } = ctx.options;
    let rankRewards: number[] | undefined;
    if (rankBy === 'image') {
      // the reward of each generated image itself (rows b·n + i), instead of its trajectory's x̂0
      // (the trajectories are then not scored at all)
      const images = torch.tidy(() => batch.x0.add(1).div(2).clamp(0, 1));
      try {
        rankRewards = await ctx.reward!(images, repeatEach(batch.prompts, o.n));
      } finally {
        images.dispose();
      }
    }
    const draws = sharpeningDraws(o, ctx.schedule.numTrainTimesteps, batch.prompts.length, batch.x0.shape.slice(1), this.name);
    try {
      const r = await rlhfSharpeningLoss(ctx.model, ctx.reference!, ctx.schedule, ctx.scheduler, batch, ctx.reward!, lossOptions(o), draws, rankRewards);
      return { loss: r.loss, logs: sharpeningLogs(r.logs) };
    } finally {
      draws?.noise.dispose();
    }
  },

  disposeBatch(batch) {
    batch.x0.dispose();
  },
};
