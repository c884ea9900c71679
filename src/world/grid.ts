// A grid of ground-truth renderings: one row per category, a few test prompts each (for the docs).
import { CATEGORIES, type Category } from './vocab.js';
import { loadSplit } from './splits.js';
import { renderScene } from './render.js';
import { makeGrid, upscaleNearest, type RgbImage } from './image.js';

export interface WorldGrid {
  image: RgbImage;
  /** rows[category] = the prompts of that row, left to right */
  rows: { category: Category; prompts: string[] }[];
}

export function makeWorldGrid(opts: { perCategory?: number; scale?: number; resolution?: number; seed?: number } = {}): WorldGrid {
  const per = opts.perCategory ?? 4;
  const scale = opts.scale ?? 3;
  const test = loadSplit('test');
  const rows = CATEGORIES.map((category) => {
    const recs = test.filter((r) => r.category === category);
    // spread the picks over the category's prompts
    const picks = Array.from({ length: per }, (_, k) => recs[Math.floor((k * recs.length) / per)]!);
    return { category, recs: picks };
  });
  const images = rows.flatMap((r) => r.recs.map((rec, k) => upscaleNearest(renderScene(rec.spec, (opts.seed ?? 0) + k, { resolution: opts.resolution ?? 32 }).image, scale)));
  return { image: makeGrid(images, per, 2 * scale), rows: rows.map((r) => ({ category: r.category, prompts: r.recs.map((x) => x.prompt) })) };
}
