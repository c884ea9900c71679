// Batches as tensors: the one place where the datasets meet the engine.
import * as torch from '../torch/index.js';
import type { Device, Tensor } from '../torch/index.js';
import type { ImageBatch } from './batch.js';

export interface TensorBatch<B extends ImageBatch = ImageBatch> {
  /** float32 [B, 3, H, W] in the batch's range; the caller disposes it */
  images: Tensor;
  prompts: string[];
  specs: B['specs'];
  /** the batch it came from (its other fields: seeds, files, …) */
  source: B;
}

export function toTensorBatch<B extends ImageBatch>(batch: B, device?: Device): TensorBatch<B> {
  const images = torch.fromTypedArray(batch.images, [...batch.shape], device ? { device } : undefined);
  return { images, prompts: batch.prompts, specs: batch.specs, source: batch };
}
