// 'clip': the CLIP score of the world's small CLIP (src/models/clip-model.ts, trained by
// `sharpen train-clip`): 100 · cos(E_img(x), E_txt(c)) per image (the CLIPScore of Hessel et al.,
// 2021, eq. 1, without its w = 2.5 and clipping at 0, as the Diffusion-Sharpening paper's CLIP
// reward). Differentiable with respect to the images (the CLIP itself is frozen), so reward
// back-propagation methods can use it.
//
// Scale: the checkpoint's config.json carries `extra.scoreStats` {mean, std}, measured by
// train-clip on the base model's samples for held-out prompts (or on held-out renderings when no
// base model was there): the reward declares that normal. A checkpoint without it declares the
// exact range of 100·cos, [−100, 100].
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { ClipModel } from '../models/clip-model.js';
import { checkImages, checkScale, type Reward, type RewardOutput, type RewardScale } from './reward.js';
import { formatZodError } from '../util/config.js';

/** The shipped checkpoint (repository root/checkpoints/clip). */
export function defaultClipCheckpoint(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'checkpoints', 'clip');
}

export const clipRewardOptionsSchema = z
  .object({
    /** checkpoint directory (default: the shipped checkpoints/clip) */
    ckpt: z.string().min(1).optional(),
    /** images per forward pass in score() */
    batchSize: z.number().int().positive().optional(),
    /** the reward's name */
    name: z.string().min(1).default('clip'),
  })
  .strict();
export type ClipRewardOptions = z.input<typeof clipRewardOptionsSchema>;

/** The declared scale from a checkpoint's `extra` (see the header). */
export function clipScaleFromExtra(extra: Record<string, unknown> | undefined, where: string): RewardScale {
  const stats = extra?.scoreStats as { mean?: unknown; std?: unknown } | undefined;
  if (stats === undefined) return { kind: 'range', min: -100, max: 100 };
  const scale: RewardScale = { kind: 'normal', mean: Number(stats.mean), std: Number(stats.std) };
  try {
    checkScale(scale, 'clip');
  } catch (e) {
    throw new Error(`${where}: config.json extra.scoreStats is unusable (${(e as Error).message})`);
  }
  return scale;
}

export class ClipReward implements Reward {
  readonly name: string;
  readonly differentiable = true;
  private readonly batchSize: number;

  constructor(readonly clip: ClipModel, readonly scale: RewardScale, opts: { batchSize?: number; name?: string } = {}) {
    this.name = opts.name ?? 'clip';
    checkScale(scale, this.name);
    this.batchSize = opts.batchSize ?? 128;
    clip.requiresGrad_(false);
    clip.eval();
  }

  static async load(opts: ClipRewardOptions = {}): Promise<ClipReward> {
    const parsed = clipRewardOptionsSchema.safeParse(opts);
    if (!parsed.success) {
      throw new Error(formatZodError(parsed.error, 'clip reward', '(options)'));
    }
    const dir = parsed.data.ckpt ?? defaultClipCheckpoint();
    let clip: ClipModel;
    let scale: RewardScale;
    try {
      const { extra } = await ClipModel.readConfig(dir);
      scale = clipScaleFromExtra(extra, `CLIP checkpoint ${dir}`);
      clip = await ClipModel.load(dir);
    } catch (e) {
      throw new Error(`clip reward: ${(e as Error).message}`);
    }
    return new ClipReward(clip, scale, { name: parsed.data.name, ...(parsed.data.batchSize !== undefined ? { batchSize: parsed.data.batchSize } : {}) });
  }

  async score(images: Tensor, prompts: string[]): Promise<RewardOutput> {
    const n = checkImages(images, prompts, this.name, { unitRange: true });
    const scores: number[] = [];
    for (let s = 0; s < n; s += this.batchSize) {
      const m = Math.min(this.batchSize, n - s);
      const out = torch.noGrad(() => torch.tidy(() => this.clip.score(images.detach().narrow(0, s, m).cpu().float(), prompts.slice(s, s + m)).toFloat32Array()));
      scores.push(...out);
    }
    return { scores };
  }

  /** [N] CLIP scores with a gradient path to the images. */
  scoreDifferentiable(images: Tensor, prompts: string[]): Tensor {
    checkImages(images, prompts, this.name);
    return torch.tidy(() => this.clip.score(images.cpu().float(), prompts));
  }

  dispose(): void {
    this.clip.dispose();
  }
}
