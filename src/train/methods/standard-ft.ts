// Standard fine-tuning: the plain diffusion loss ‖ε − ε_θ(x_t, t, c)‖² (Ho et al. 2020, eq. 14) on
// the same image–caption data as SFT-Diffusion-Sharpening (docs/methods.md §4): the
// baseline SFT-Sharpening is compared with (the paper's Fig. 4). No reward, no reference.
import { z } from 'zod';
import type { Tensor } from '../../torch/index.js';
import { diffusionLoss } from '../pretrain.js';
import type { FinetuneMethod } from '../finetune-method.js';
import { dropCaptions, methodFields } from './sharpening-options.js';

export const standardFtOptionsSchema = z.object({
  /** the share of captions replaced by '' (keeps the unconditional branch used by guidance trained),
   *  the same field and default as Diffusion-Sharpening's (sharpening-options.ts) */
  captionDropout: methodFields.captionDropout,
}).strict();
export type StandardFtOptions = z.infer<typeof standardFtOptionsSchema>;

interface Batch {
  /** [B, 3, H, W] in [−1, 1] */
  x0: Tensor;
  prompts: string[];
}

export const standardFt: FinetuneMethod<StandardFtOptions, Batch> = {
  name: 'standard-ft',
  description: 'standard fine-tuning: the plain diffusion loss on image–caption data (needs --data; no reward)',
  optionsSchema: standardFtOptionsSchema,
  needsReference: () => false,
  needsData: true,
  needsReward: false,

  async makeBatch(ctx) {
    const { images, prompts } = ctx.data!.batchAt(ctx.position, ctx.batchSize);
    return { x0: images, prompts };
  },

  async loss(ctx, batch) {
    const prompts = dropCaptions(batch.prompts, ctx.options.captionDropout);
    return { loss: diffusionLoss(ctx.model, ctx.schedule, batch.x0, prompts), logs: {} };
  },

  disposeBatch(batch) {
    batch.x0.dispose();
  },
};
