// 'aesthetic': a LAION-aesthetics-style predictor (an MLP on the frozen CLIP image embedding,
// models/aesthetic.ts) trained on the scripted annotator's prompt-free 1–10 ratings of base-model
// samples (`sharpen train-aesthetic`). The prompt is not used. Scale: range [1, 10] (predictions
// are clamped to it). Differentiable with respect to the images (through the frozen CLIP).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AestheticHead } from '../models/aesthetic.js';
import type { ImageTextEmbedder } from '../models/embedder.js';
import { checkImages, type Reward, type RewardOutput, type RewardScale } from './reward.js';
import { loadHeadClip } from './preference.js';
import { formatZodError } from '../util/config.js';

/** The shipped checkpoint (repository root/checkpoints/aesthetic). */
export function defaultAestheticCheckpoint(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'checkpoints', 'aesthetic');
}

export const aestheticOptionsSchema = z
  .object({
    /** checkpoint directory (default: the shipped checkpoints/aesthetic) */
    ckpt: z.string().min(1).optional(),
    /** images per forward pass in score() */
    batchSize: z.number().int().positive().optional(),
  })
  .strict();
export type AestheticOptions = z.infer<typeof aestheticOptionsSchema>;

export class AestheticReward implements Reward {
  readonly name = 'aesthetic';
  readonly differentiable = true;
  readonly scale: RewardScale = { kind: 'range', min: 1, max: 10 };
  private readonly batchSize: number;

  constructor(readonly head: AestheticHead, readonly clip: ImageTextEmbedder, opts: { batchSize?: number } = {}) {
    if (clip.embedDim !== head.config.embedDim) {
      throw new Error(`aesthetic reward: the CLIP embeds in ${clip.embedDim} dimensions, the head expects ${head.config.embedDim}`);
    }
    this.batchSize = opts.batchSize ?? 64;
  }

  static async load(opts: AestheticOptions = {}): Promise<AestheticReward> {
    const parsed = aestheticOptionsSchema.safeParse(opts);
    if (!parsed.success) {
      throw new Error(formatZodError(parsed.error, 'aesthetic reward', '(options)'));
    }
    const dir = parsed.data.ckpt ?? defaultAestheticCheckpoint();
    const head = await AestheticHead.load(dir);
    let clip: ImageTextEmbedder;
    try {
      clip = await loadHeadClip(dir, head.config.clip, 'aesthetic checkpoint');
    } catch (e) {
      head.dispose();
      throw e;
    }
    return new AestheticReward(head, clip, parsed.data.batchSize !== undefined ? { batchSize: parsed.data.batchSize } : {});
  }

  /** Predicted ratings [N] (not clamped), with a graph to the images. */
  private predict(images: Tensor): Tensor {
    return torch.tidy(() => this.head.forward(this.clip.encodeImages(images)));
  }

  async score(images: Tensor, prompts: string[]): Promise<RewardOutput> {
    const n = checkImages(images, prompts, this.name, { unitRange: true });
    const scores: number[] = [];
    for (let s = 0; s < n; s += this.batchSize) {
      const m = Math.min(this.batchSize, n - s);
      const out = torch.noGrad(() => torch.tidy(() => this.predict(images.detach().narrow(0, s, m).cpu().float()).clamp(1, 10).toFloat32Array()));
      scores.push(...out);
    }
    return { scores };
  }

  scoreDifferentiable(images: Tensor, prompts: string[]): Tensor {
    checkImages(images, prompts, this.name);
    return torch.tidy(() => this.predict(images.cpu().float()).clamp(1, 10));
  }

  dispose(): void {
    this.head.dispose();
    this.clip.dispose?.();
  }
}
