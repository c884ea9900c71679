// The labels the two learned rewards train on, loaded with their images (src/data/preferences.ts
// reads and checks the files): pairs over a table of images for the preference model, rated images
// for the aesthetic head; and the helpers both trainers use (a seeded permutation, batched CLIP
// image embeddings). Held-out = the pairs/images whose prompt hashes into the held-out fraction
// (isHeldOut), so no held-out prompt is ever trained on.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { ImageCache, isHeldOut, readPreferencePairs, readRatings, type PreferenceChoice } from '../data/preferences.js';
import type { RgbImage } from '../world/image.js';
import type { ImageTextEmbedder } from '../models/embedder.js';

/** Pairs over a table of images: images [M, 3, H, W] in [0, 1], pair k compares a[k] with b[k]. */
export interface PairData {
  images: Tensor;
  a: Int32Array;
  b: Int32Array;
  prompts: string[];
  choices: PreferenceChoice[];
  heldOut: boolean[];
}

/** Rated images: images [M, 3, H, W] in [0, 1] with their ratings. */
export interface RatingData {
  images: Tensor;
  prompts: string[];
  ratings: Float32Array;
  heldOut: boolean[];
}

function stackImages(list: RgbImage[]): Tensor {
  if (list.length === 0) throw new Error('no images');
  const { width: W, height: H } = list[0]!;
  const per = 3 * W * H;
  const all = new Float32Array(list.length * per);
  list.forEach((img, i) => all.set(img.data, i * per));
  return torch.fromTypedArray(all, [list.length, 3, H, W]);
}

/** Loads pairs files (e.g. `dir/pairs.jsonl` of several label directories) and their images. */
export function loadPairData(files: string | string[], heldOutFraction: number): PairData {
  const list0 = Array.isArray(files) ? files : [files];
  const pairs = list0.flatMap((f) => readPreferencePairs(f));
  if (pairs.length === 0) throw new Error(`${list0.join(', ')}: no pairs`);
  const cache = new ImageCache();
  const index = new Map<string, number>();
  const list: RgbImage[] = [];
  const idx = (p: string) => {
    let i = index.get(p);
    if (i === undefined) {
      i = list.length;
      index.set(p, i);
      list.push(cache.get(p));
    }
    return i;
  };
  const a = new Int32Array(pairs.length);
  const b = new Int32Array(pairs.length);
  pairs.forEach((p, k) => {
    a[k] = idx(p.pathA);
    b[k] = idx(p.pathB);
  });
  return {
    images: stackImages(list),
    a, b,
    prompts: pairs.map((p) => p.prompt),
    choices: pairs.map((p) => p.choice),
    heldOut: pairs.map((p) => isHeldOut(p.prompt, heldOutFraction)),
  };
}

/** Loads ratings files (e.g. `dir/ratings.jsonl` of several label directories) and their images. */
export function loadRatingData(files: string | string[], heldOutFraction: number): RatingData {
  const list0 = Array.isArray(files) ? files : [files];
  const recs = list0.flatMap((f) => readRatings(f));
  if (recs.length === 0) throw new Error(`${list0.join(', ')}: no ratings`);
  const cache = new ImageCache();
  return {
    images: stackImages(recs.map((r) => cache.get(r.path))),
    prompts: recs.map((r) => r.prompt),
    ratings: Float32Array.from(recs.map((r) => r.rating)),
    heldOut: recs.map((r) => isHeldOut(r.prompt, heldOutFraction)),
  };
}

/** A seeded Fisher–Yates permutation (the engine's generator, so torch.manualSeed fixes it). */
export function permutation(n: number): number[] {
  return Array.from(torch.tidy(() => torch.randperm(n).toFloat32Array()), (v) => v | 0);
}

/** Embeds images [M, 3, H, W] in batches without a graph → [M, D]. */
export function embedImages(clip: ImageTextEmbedder, images: Tensor, batch = 256): Tensor {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const parts: Tensor[] = [];
      for (let s = 0; s < images.shape[0]!; s += batch) parts.push(clip.encodeImages(images.narrow(0, s, Math.min(batch, images.shape[0]! - s))));
      return torch.cat(parts, 0);
    }),
  );
}

