// The held-out curve of a fine-tuning run: the policy, as it is at some step, sampled on a fixed set
// of the world's **val** prompts from fixed initial noises and scored by the world's evaluator
// (pixels only). The test split is never used here: it is kept for the final evaluation.
//
// The numbers are those of `evaluateModel(model, { split: 'val', perCategory, imagesPerPrompt, seed })`
// (src/eval/model-eval.ts; a test checks it): the same prompts, the same batches of 32, the same noises
// (the global generator seeded once with `seed`), the model's own sampling steps and guidance. This file
// calls the world's evaluator and generate() directly because eval/ imports train/ (the layers), never the reverse.
//
// It leaves the run as it found it: the global generators' states (CPU and every CUDA device) and the
// UNet's training flags are restored afterwards, so a run that evaluates produces the same weights,
// bit for bit, as one that does not.
import * as torch from '../torch/index.js';
import type { TextToImageModel } from '../models/t2i.js';
import { generate } from '../models/generate.js';
import { toRgbImages } from '../rewards/reward.js';
import { evaluateImage } from '../world/evaluate.js';
import { loadSplit } from '../world/splits.js';
import { CATEGORIES, type Category } from '../world/vocab.js';
import { repeatEach } from '../util/arrays.js';

/** The split the held-out curve uses (never 'test'). */
export const HELD_OUT_SPLIT = 'val';

export interface HeldOutOptions {
  /** prompts per category: the first K of the val split's prompts of each category */
  perCategory: number;
  /** images per prompt */
  imagesPerPrompt: number;
  /** seeds the initial noises (the same at every evaluation) */
  seed: number;
  /** images per generate() call (default 32, as evaluateModel; the noises depend on it) */
  batchSize?: number;
}

export interface HeldOutResult {
  /** mean of the category scores */
  compositional: number;
  /** per category: the mean evaluator score of its images */
  categories: Record<Category, number>;
  /** images sampled and scored */
  images: number;
  /** network evaluations per image */
  nfePerImage: number;
}

/** One line of <out>/eval.jsonl: the held-out scores at a step. */
export type HeldOutRecord = {
  /** optimizer steps done when the policy was evaluated (0: before training) */
  step: number;
  /** training wall-clock seconds so far (evaluations excluded) */
  wallClockSec: number;
  /** mean of the category scores */
  compositional: number;
  nfePerImage: number;
  /** images scored */
  images: number;
  /** seconds this evaluation took */
  evalSec: number;
} & Record<Category, number>;

/** The held-out prompts: the first `perCategory` val prompts of each category, in CATEGORIES order. */
export function heldOutPrompts(perCategory: number): { prompt: string; category: Category }[] {
  if (!Number.isSafeInteger(perCategory) || perCategory < 1) throw new Error(`held-out evaluation: perCategory must be an integer ≥ 1, got ${perCategory}`);
  const rows = loadSplit(HELD_OUT_SPLIT);
  return CATEGORIES.flatMap((c) => {
    const inCat = rows.filter((r) => r.category === c);
    if (inCat.length === 0) throw new Error(`held-out evaluation: the ${HELD_OUT_SPLIT} split has no prompts of category ${c}`);
    return inCat.slice(0, perCategory).map((r) => ({ prompt: r.prompt, category: c }));
  });
}

/** The global generators' states: the CPU's and every CUDA device's. */
function saveGenerators(): [string, Uint8Array][] {
  const devices = ['cpu', ...Array.from({ length: torch.cuda.isAvailable() ? torch.cuda.deviceCount() : 0 }, (_, i) => `cuda:${i}`)];
  return devices.map((d) => [d, torch.getRngState(d)]);
}

/**
 * Samples the held-out prompts with the model as it is (LoRA adapters active) in eval mode, and
 * scores every image with the world's evaluator. The global RNG states and the UNet's training flags
 * are restored before it returns (or throws).
 */
export function evaluateHeldOut(model: TextToImageModel, opts: HeldOutOptions): HeldOutResult {
  const per = opts.imagesPerPrompt;
  if (!Number.isSafeInteger(per) || per < 1) throw new Error(`held-out evaluation: imagesPerPrompt must be an integer ≥ 1, got ${per}`);
  const bs = opts.batchSize ?? 32;
  const jobs = repeatEach(heldOutPrompts(opts.perCategory), per);
  const generators = saveGenerators();
  const modes = model.unet.namedModules().map(([, m]) => [m, m.training] as const);
  const sums = Object.fromEntries(CATEGORIES.map((c) => [c, { sum: 0, n: 0 }])) as Record<Category, { sum: number; n: number }>;
  let nfePerImage = 0;
  try {
    model.unet.train(false);
    torch.manualSeed(opts.seed);
    for (let i = 0; i < jobs.length; i += bs) {
      const chunk = jobs.slice(i, i + bs);
      const r = generate(model, chunk.map((j) => j.prompt));
      nfePerImage = r.nfePerImage;
      let imgs;
      try {
        imgs = toRgbImages(r.images);
      } finally {
        r.images.dispose();
      }
      chunk.forEach((j, k) => {
        const s = sums[j.category];
        s.sum += evaluateImage(imgs[k]!, j.prompt, j.category).score;
        s.n++;
      });
    }
  } finally {
    for (const [m, training] of modes) m.training = training;
    for (const [d, state] of generators) torch.setRngState(state, d);
  }
  const categories = Object.fromEntries(CATEGORIES.map((c) => [c, sums[c].sum / sums[c].n])) as Record<Category, number>;
  const compositional = CATEGORIES.reduce((a, c) => a + categories[c], 0) / CATEGORIES.length;
  return { compositional, categories, images: jobs.length, nfePerImage };
}
