// Base and fine-tuned side by side: the evaluation's images of the two models on the same prompts and
// initial noises, paired image by image, ordered by how much the world evaluator's score changed
// (largest |fine-tuned − base| first, gains and losses alike), and written as one enlarged PNG per
// image for the report's 'pairs' block (report.ts).
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { EvalSample } from './model-eval.js';
import type { Category } from '../world/vocab.js';
import { encodePng, upscaleNearest, type RgbImage } from '../world/image.js';

/** pairs shown in the demo report */
export const PAIRS_SHOWN = 24;

/** a score change no larger than this counts as none (float noise; the evaluator's scores are
 *  fractions of a few checks, so a real change is far larger) */
export const SAME_SCORE_TOLERANCE = 1e-9;

export interface ChangedPair {
  /** the images' position in both evaluations (samples[index], images[index]) */
  index: number;
  prompt: string;
  category: Category;
  base: number;
  finetuned: number;
  /** finetuned − base */
  change: number;
}

/**
 * Pairs two evaluations of the same prompts and noises sample by sample (evaluateModel draws them in
 * the same order) and orders them by |change|, largest first; equal changes keep the evaluation's
 * order. A different prompt at the same position means the evaluations do not match: an error.
 */
export function orderByChange(base: readonly EvalSample[], tuned: readonly EvalSample[]): ChangedPair[] {
  if (base.length !== tuned.length) throw new Error(`orderByChange: ${base.length} base samples but ${tuned.length} fine-tuned ones`);
  const pairs = base.map((b, index): ChangedPair => {
    const t = tuned[index]!;
    if (t.prompt !== b.prompt) throw new Error(`orderByChange: sample ${index} is '${b.prompt}' in the base evaluation but '${t.prompt}' in the fine-tuned one`);
    if (!Number.isFinite(b.score) || !Number.isFinite(t.score)) throw new Error(`orderByChange: sample ${index} has a non-finite score`);
    return { index, prompt: b.prompt, category: b.category, base: b.score, finetuned: t.score, change: t.score - b.score };
  });
  return pairs.sort((a, b) => Math.abs(b.change) - Math.abs(a.change) || a.index - b.index);
}

/** How many pairs improved, worsened and stayed (|change| ≤ tolerance). */
export function countChanges(pairs: readonly ChangedPair[], tolerance = SAME_SCORE_TOLERANCE): { improved: number; worsened: number; same: number } {
  let improved = 0;
  let worsened = 0;
  for (const p of pairs) {
    if (p.change > tolerance) improved++;
    else if (p.change < -tolerance) worsened++;
  }
  return { improved, worsened, same: pairs.length - improved - worsened };
}

/** The integer enlargement that shows an image of this width at about 128 pixels, at least ×3. */
export function displayScale(width: number): number {
  return Math.max(3, Math.ceil(128 / width));
}

export interface WrittenPair extends ChangedPair {
  /** 1 = the largest change */
  rank: number;
  /** file names inside the pairs folder */
  baseFile: string;
  finetunedFile: string;
}

/**
 * Writes the given pairs' images (enlarged, nearest neighbour) and pairs.json (the pairs, their files
 * and `summary`) into `dir`, replacing what was there. The folder is built beside it under a
 * temporary name and renamed into place when complete, so `dir` never holds half a set.
 * `base` and `tuned` are the evaluations' images, indexed like their samples.
 */
export async function writePairs(
  dir: string, pairs: readonly ChangedPair[], base: readonly RgbImage[], tuned: readonly RgbImage[],
  summary: Record<string, unknown> = {},
): Promise<{ pairs: WrittenPair[]; scale: number }> {
  const tmp = join(dirname(dir), `${basename(dir)}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { recursive: true });
  try {
    const r = await writeInto(tmp, pairs, base, tuned, summary);
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
    return r;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

async function writeInto(
  dir: string, pairs: readonly ChangedPair[], base: readonly RgbImage[], tuned: readonly RgbImage[], summary: Record<string, unknown>,
): Promise<{ pairs: WrittenPair[]; scale: number }> {
  const digits = String(pairs.length).length;
  let scale = 3;
  const written: WrittenPair[] = [];
  for (const [k, p] of pairs.entries()) {
    const b = base[p.index];
    const t = tuned[p.index];
    if (!b || !t) throw new Error(`writePairs: no image for sample ${p.index} (${base.length} base and ${tuned.length} fine-tuned images)`);
    if (b.width !== t.width || b.height !== t.height) throw new Error(`writePairs: sample ${p.index}: base ${b.width}×${b.height} but fine-tuned ${t.width}×${t.height}`);
    scale = displayScale(b.width);
    const name = String(k + 1).padStart(digits, '0');
    const w: WrittenPair = { ...p, rank: k + 1, baseFile: `${name}-base.png`, finetunedFile: `${name}-finetuned.png` };
    await writeFile(join(dir, w.baseFile), encodePng(upscaleNearest(b, scale)));
    await writeFile(join(dir, w.finetunedFile), encodePng(upscaleNearest(t, scale)));
    written.push(w);
  }
  await writeFile(join(dir, 'pairs.json'), JSON.stringify({ ...summary, scale, pairs: written }, null, 2) + '\n');
  return { pairs: written, scale };
}
