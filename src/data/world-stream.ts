// An endless, seeded stream of (image, prompt) batches from the embedded world's train split:
// each item is a random train prompt rendered with a fresh seed. Batch k depends only on
// (seed, k), so a resumed run continues exactly by setting `step`.
import { Rng } from '../world/rng.js';
import { renderScene } from '../world/render.js';
import { loadSplit, type PromptRecord, type SplitName } from '../world/splits.js';
import type { Category } from '../world/vocab.js';
import type { SceneSpec } from '../world/spec.js';
import { packImages, type ImageBatch, type PixelRange } from './batch.js';

export interface WorldStreamOptions {
  batchSize: number;
  /** the stream's seed (default 0) */
  seed?: number;
  /** image side (default 32) */
  resolution?: number;
  /** pixel range of the batches (default [-1, 1]) */
  range?: PixelRange;
  /** which split's prompts (default train) */
  split?: SplitName;
  /** only these categories (default all) */
  categories?: Category[];
  /** prompts to use instead of a committed split */
  records?: PromptRecord[];
}

export interface WorldBatch extends ImageBatch {
  specs: SceneSpec[];
  categories: Category[];
  /** render seed of each item */
  seeds: number[];
  /** index of this batch in the stream */
  step: number;
}

export class WorldStream implements Iterable<WorldBatch> {
  readonly records: PromptRecord[];
  readonly batchSize: number;
  readonly seed: number;
  readonly resolution: number;
  readonly range: PixelRange;
  /** index of the next batch `next()` returns */
  step = 0;

  constructor(opts: WorldStreamOptions) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new Error(`WorldStream: batchSize must be a positive integer, got ${opts.batchSize}`);
    this.batchSize = opts.batchSize;
    this.seed = opts.seed ?? 0;
    this.resolution = opts.resolution ?? 32;
    this.range = opts.range ?? '[-1,1]';
    let recs = opts.records ?? loadSplit(opts.split ?? 'train');
    if (opts.categories) recs = recs.filter((r) => opts.categories!.includes(r.category));
    if (recs.length === 0) throw new Error('WorldStream: no prompts to draw from');
    this.records = recs;
  }

  /** The batch at a given index (pure: the same index always gives the same batch). */
  batchAt(step: number): WorldBatch {
    const rng = new Rng(this.seed, 'world-stream', step);
    const picks = Array.from({ length: this.batchSize }, () => this.records[rng.int(this.records.length)]!);
    const seeds = picks.map(() => rng.u32());
    const rendered = picks.map((r, i) => renderScene(r.spec, seeds[i]!, { resolution: this.resolution }).image);
    const { images, shape } = packImages(rendered, this.range);
    return {
      images,
      shape,
      range: this.range,
      prompts: picks.map((r) => r.prompt),
      specs: picks.map((r) => r.spec),
      categories: picks.map((r) => r.category),
      seeds,
      step,
    };
  }

  next(): WorldBatch {
    return this.batchAt(this.step++);
  }

  *[Symbol.iterator](): Iterator<WorldBatch> {
    for (;;) yield this.next();
  }
}
