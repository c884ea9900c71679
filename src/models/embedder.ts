// A frozen image–text embedder (the project's small CLIP) as the reward heads see it, and a
// fingerprint of a checkpoint's weights so that a head trained on one CLIP refuses another.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../torch/index.js';
import { ClipModel } from './clip-model.js';

export interface ImageTextEmbedder {
  /** width of the embeddings */
  readonly embedDim: number;
  /** images [N, 3, H, W] in [0, 1] → [N, D]; differentiable with respect to the images */
  encodeImages(images01: Tensor): Tensor;
  /** prompts → [N, D] */
  encodeText(prompts: string[]): Tensor;
  dispose?(): void;
}

/** SHA-256 (hex) of a checkpoint directory's model.safetensors: which weights a head was trained on. */
export function weightsFingerprint(dir: string): string {
  const p = join(dir, 'model.safetensors');
  if (!existsSync(p)) throw new Error(`checkpoint ${dir}: ${p} is missing`);
  return createHash('sha256').update(readFileSync(p)).digest('hex');
}

/** Loads the small CLIP (src/models/clip-model.ts) from a checkpoint directory as a frozen embedder. */
export async function loadClipEmbedder(dir: string): Promise<ImageTextEmbedder> {
  const clip = await ClipModel.load(dir);
  clip.requiresGrad_(false);
  clip.eval();
  return clip;
}
