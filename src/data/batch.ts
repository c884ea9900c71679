// The batch every dataset yields: plain typed arrays (no tensors; src/data/to-tensor.ts makes them).
import type { SceneSpec } from '../world/spec.js';
import type { RgbImage } from '../world/image.js';

/** Pixel range of batched images: diffusion models use [-1, 1] (the default). */
export type PixelRange = '[-1,1]' | '[0,1]';

export interface ImageBatch {
  /** [B, 3, H, W], row-major, values in `range` */
  images: Float32Array;
  shape: [number, number, number, number];
  range: PixelRange;
  prompts: string[];
  /** the parsed prompt of each item, or null where the text is not in the world's grammar */
  specs: (SceneSpec | null)[];
}

/** Packs CHW [0, 1] images of one size into a [B, 3, H, W] array in the given range. */
export function packImages(images: RgbImage[], range: PixelRange): { images: Float32Array; shape: [number, number, number, number] } {
  if (images.length === 0) throw new Error('packImages: empty batch');
  const { width: W, height: H } = images[0]!;
  const per = 3 * W * H;
  const out = new Float32Array(images.length * per);
  images.forEach((img, b) => {
    if (img.width !== W || img.height !== H) throw new Error(`packImages: image ${b} is ${img.width}×${img.height}, expected ${W}×${H}`);
    if (range === '[0,1]') out.set(img.data, b * per);
    else for (let i = 0; i < per; i++) out[b * per + i] = img.data[i]! * 2 - 1;
  });
  return { images: out, shape: [images.length, 3, H, W] };
}

/** The i-th image of a batch back as a CHW [0, 1] image. */
export function unpackImage(batch: Pick<ImageBatch, 'images' | 'shape' | 'range'>, i: number): RgbImage {
  const [, , H, W] = batch.shape;
  const per = 3 * H * W;
  const data = batch.images.slice(i * per, (i + 1) * per);
  if (batch.range === '[-1,1]') for (let k = 0; k < per; k++) data[k] = (data[k]! + 1) / 2;
  return { width: W, height: H, data };
}
