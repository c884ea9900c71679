// SFT-Diffusion-Sharpening (Tian et al. 2025, arXiv 2502.12146, §3; docs/methods.md §3)
// as a fine-tuning method: from an image–caption dataset (the world's stream or an image folder,
// --data world|DIR), n short trajectories per example are unrolled from x_t, scored with the reward,
// and the model is trained on the denoising loss of the best one (sftSharpeningLoss). A share of
// the captions (captionDropout) is replaced by '' for the networks, as the authors' scripts do.
import { z } from 'zod';
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';
import type { FinetuneMethod } from '../finetune-method.js';
import { sftSharpeningLoss, type SharpeningDraws } from './sharpening.js';
import { dropCaptions, drawTimesteps, fullTimeRange, lossOptions, sftSharpeningFields, sharpeningLogs } from './sharpening-options.js';

export const sftSharpeningOptionsSchema = z.object(sftSharpeningFields).strict();
export type SftSharpeningOptions = z.infer<typeof sftSharpeningOptionsSchema>;

interface Batch {
  /** [B, 3, H, W] in [−1, 1] */
  x0: Tensor;
  prompts: string[];
}

export const sftSharpening: FinetuneMethod<SftSharpeningOptions, Batch> = {
  name: 'sft-sharpening',
  description: 'SFT-Diffusion-Sharpening: the denoising loss of the best of n short trajectories per image–caption pair (needs --data and --reward)',
  optionsSchema: sftSharpeningOptionsSchema,
  needsReference: () => false,
  needsData: true,
  needsReward: true,

  async makeBatch(ctx) {
    const { images, prompts } = ctx.data!.batchAt(ctx.position, ctx.batchSize); // [B, 3, H, W] in [−1, 1]
    return { x0: images, prompts };
  },

  async loss(ctx, batch) {
    const o = ctx.options;
    const B = batch.prompts.length;
    const T = ctx.schedule.numTrainTimesteps;
    // t and ε from [tMin, tMax) when narrowed; otherwise the loss draws them over [0, T)
    let draws: SharpeningDraws | undefined;
    if (!fullTimeRange(o, T)) {
      const t = drawTimesteps(o, T, B, this.name);
      draws = { t, noise: torch.randn([B * o.n, ...batch.x0.shape.slice(1)]) };
    }
    const conditionPrompts = dropCaptions(batch.prompts, o.captionDropout);
    try {
      const r = await sftSharpeningLoss(ctx.model, ctx.schedule, ctx.scheduler, { ...batch, conditionPrompts }, ctx.reward!, lossOptions(o), draws);
      return { loss: r.loss, logs: sharpeningLogs(r.logs) };
    } finally {
      draws?.noise.dispose();
    }
  },

  disposeBatch(batch) {
    batch.x0.dispose();
  },
};
