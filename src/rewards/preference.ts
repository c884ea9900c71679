// 'preference': the learned human-preference reward (the ImageReward analogue; Xu et al., 2023),
// trained on the scripted annotator's pairwise labels with the Bradley–Terry loss
// (models/preference.ts, `sharpen train-preference`). Scores are standardised over base-model
// samples, so the scale is ≈ N(0, 1) as ImageReward's. Differentiable with respect to the images.
// The model runs on the CPU; images on another device are copied there.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { PreferenceModel } from '../models/preference.js';
import { loadClipEmbedder, weightsFingerprint, type ImageTextEmbedder } from '../models/embedder.js';
import { checkImages, type Reward, type RewardOutput, type RewardScale } from './reward.js';
import { formatZodError } from '../util/config.js';

/** The shipped checkpoint (repository root/checkpoints/preference). */
export function defaultPreferenceCheckpoint(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'checkpoints', 'preference');
}

export const preferenceOptionsSchema = z
  .object({
    /** checkpoint directory (default: the shipped checkpoints/preference) */
    ckpt: z.string().min(1).optional(),
    /** images per forward pass in score() */
    batchSize: z.number().int().positive().optional(),
  })
  .strict();
export type PreferenceOptions = z.infer<typeof preferenceOptionsSchema>;

/**
 * Loads the CLIP a head was trained on (its directory relative to the head's checkpoint) and checks
 * that the weights are the same ones (SHA-256); a different CLIP is an Error.
 */
export async function loadHeadClip(ckpt: string, clip: { dir: string; sha256: string }, what: string): Promise<ImageTextEmbedder> {
  const dir = resolve(ckpt, clip.dir);
  const sha = weightsFingerprint(dir);
  if (sha !== clip.sha256) {
    throw new Error(`${what} ${ckpt}: it was trained on the CLIP weights with SHA-256 ${clip.sha256.slice(0, 12)}…, but ${dir} holds ${sha.slice(0, 12)}…; retrain the head on this CLIP`);
  }
  return loadClipEmbedder(dir);
}

export class PreferenceReward implements Reward {
  readonly name = 'preference';
  readonly differentiable = true;
  readonly scale: RewardScale = { kind: 'normal', mean: 0, std: 1 };
  private readonly batchSize: number;

  constructor(readonly model: PreferenceModel, opts: { batchSize?: number } = {}) {
    this.batchSize = opts.batchSize ?? 64;
  }

  static async load(opts: PreferenceOptions = {}): Promise<PreferenceReward> {
    const parsed = preferenceOptionsSchema.safeParse(opts);
    if (!parsed.success) {
      throw new Error(formatZodError(parsed.error, 'preference reward', '(options)'));
    }
    const dir = parsed.data.ckpt ?? defaultPreferenceCheckpoint();
    const { config } = await PreferenceModel.readConfig(dir);
    const clip = config.encoder === 'clip' ? await loadHeadClip(dir, config.clip!, 'preference checkpoint') : null;
    const model = await PreferenceModel.load(dir, clip);
    return new PreferenceReward(model, parsed.data.batchSize !== undefined ? { batchSize: parsed.data.batchSize } : {});
  }

  async score(images: Tensor, prompts: string[]): Promise<RewardOutput> {
    const n = checkImages(images, prompts, this.name, { unitRange: true });
    const scores: number[] = [];
    for (let s = 0; s < n; s += this.batchSize) {
      const m = Math.min(this.batchSize, n - s);
      const out = torch.noGrad(() =>
        torch.tidy(() => this.model.standardize(this.model.forward(images.detach().narrow(0, s, m).cpu().float(), prompts.slice(s, s + m))).toFloat32Array()),
      );
      scores.push(...out);
    }
    return { scores };
  }

  scoreDifferentiable(images: Tensor, prompts: string[]): Tensor {
    checkImages(images, prompts, this.name);
    return torch.tidy(() => this.model.standardize(this.model.forward(images.cpu().float(), prompts)));
  }

  dispose(): void {
    this.model.dispose();
    this.model.clip?.dispose?.();
  }
}
