// Training batches from the embedded world as pretraining's BatchSource: batch k is a pure function
// of (seed, k), so a resumed run sees exactly the data it would have seen. Prompts come from the
// train split (or a run's saved copy of it); each image is rendered with its own derived seed.
// (data/world-stream.ts draws the same way with the world's own Rng; this one is kept because the
// shipped base model's pretraining run uses its seeds, and its resume must see the same data.)
import * as torch from '../torch/index.js';
import { parsePrompt } from '../world/grammar.js';
import { renderScene } from '../world/render.js';
import { worldWords } from '../world/vocab.js';
import type { SceneSpec } from '../world/spec.js';
import { loadSplit } from '../world/splits.js';
import type { BatchSource } from './source.js';

/** A 32-bit mix of integers (splitmix-style), for per-(k, i) seeds. */
function mix(...xs: number[]): number {
  let h = 0x9e3779b9;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

export function worldBatchSource(opts: { seed: number; imageSize?: number; prompts?: string[]; vocabulary?: string[] }): BatchSource {
  const prompts = opts.prompts ?? loadSplit('train').map((r) => r.prompt);
  if (prompts.length === 0) throw new Error('worldBatchSource: no prompts');
  const specs = new Map<number, SceneSpec>();
  const spec = (j: number) => {
    let s = specs.get(j);
    if (!s) specs.set(j, (s = parsePrompt(prompts[j]!)));
    return s;
  };
  const size = opts.imageSize ?? 32;
  return {
    vocabulary: opts.vocabulary ?? worldWords(),
    batch(k: number, n: number) {
      const plane = size * size;
      const data = new Float32Array(n * 3 * plane);
      const chosen: string[] = [];
      for (let i = 0; i < n; i++) {
        const j = mix(opts.seed, k, i, 1) % prompts.length;
        const { image } = renderScene(spec(j), mix(opts.seed, k, i, 2), { resolution: size });
        const src = image.data; // CHW in [0, 1]
        const off = i * 3 * plane;
        for (let p = 0; p < 3 * plane; p++) data[off + p] = src[p]! * 2 - 1; // → [−1, 1]
        chosen.push(prompts[j]!);
      }
      return { images: torch.fromTypedArray(data, [n, 3, size, size]), prompts: chosen };
    },
  };
}
