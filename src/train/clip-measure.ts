// Measuring the small CLIP (src/models/clip-model.ts) that train-clip.ts trains: top-1 accuracy of
// each image's true prompt against hard negatives focused on its category (world/negatives.ts), per
// category and overall.
// Measure: on test-split prompts (held-out combinations included), images rendered with seeds the
// training never uses, top-1 accuracy of the true prompt against 4 hard negatives focused on the
// prompt's category; the same on the base model's samples where a base checkpoint is given.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { ClipModel } from '../models/clip-model.js';
import { Rng, mixSeed } from '../world/rng.js';
import { parsePrompt } from '../world/grammar.js';
import { renderScene } from '../world/render.js';
import { degrade } from '../world/degrade.js';
import { evaluateImage } from '../world/evaluate.js';
import { hardNegatives } from '../world/negatives.js';
import { CATEGORIES, type Category } from '../world/vocab.js';
import type { PromptRecord } from '../world/splits.js';
import type { ClipTrainConfig } from './train-clip.js';

// ---------------------------------------------------------------------------------------------
// true prompt vs hard negatives

export interface AccuracyGroup {
  accuracy: number;
  n: number;
}
export interface HardNegativeReport {
  /** mean over all items */
  overall: AccuracyGroup;
  perCategory: Partial<Record<Category, AccuracyGroup>>;
  /** CLIP score (100·cos) of the true pairs: mean and std */
  trueScore: { mean: number; std: number };
  /** margin of the true prompt over its best negative (CLIP-score units): mean */
  margin: number;
  /** per item: did the true prompt win */
  correct: boolean[];
  /** per item: the true pair's CLIP score */
  scores: number[];
}

function group(flags: boolean[]): AccuracyGroup {
  return { accuracy: flags.length ? flags.filter(Boolean).length / flags.length : NaN, n: flags.length };
}

export function meanStd(xs: number[]): { mean: number; std: number } {
  const n = xs.length;
  if (n === 0) return { mean: NaN, std: NaN };
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const v = n > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { mean, std: Math.sqrt(v) };
}

/**
 * Top-1 accuracy of each image's true prompt against `negatives` hard negatives focused on its
 * category (world/negatives.ts), by CLIP score; per category and overall. Negatives are drawn from
 * Rng(seed, 'clip-eval-negatives', i), so two models are compared on the same candidates.
 */
export function hardNegativeAccuracy(
  model: ClipModel,
  images: Tensor,
  prompts: string[],
  categories: Category[],
  opts: { negatives: number; seed: number; batchSize?: number },
): HardNegativeReport {
  const n = prompts.length;
  if (images.shape[0] !== n || categories.length !== n) throw new Error(`hardNegativeAccuracy: ${images.shape[0]} images, ${n} prompts, ${categories.length} categories`);
  const bs = opts.batchSize ?? 128;
  const correct: boolean[] = [];
  const scores: number[] = [];
  const margins: number[] = [];
  for (let s = 0; s < n; s += bs) {
    const m = Math.min(bs, n - s);
    const cands = prompts.slice(s, s + m).map((p, i) => [p, ...hardNegatives(p, opts.negatives, new Rng(opts.seed, 'clip-eval-negatives', s + i), { category: categories[s + i]! }).map((x) => x.prompt)]);
    const K = Math.max(...cands.map((c) => c.length));
    for (const c of cands) while (c.length < K) c.push(c[1] ?? c[0]!);
    const sims = torch.noGrad(() =>
      torch.tidy(() => {
        const I = model.encodeImages(images.narrow(0, s, m).detach()); // [m, D]
        const T = model.encodeText(cands.flat()).reshape(m, K, -1); // [m, K, D]
        return T.mul(I.unsqueeze(1)).sum(2).mul(100).toFloat32Array(); // [m·K]
      }),
    );
    for (let i = 0; i < m; i++) {
      const row = sims.subarray(i * K, (i + 1) * K);
      const best = Math.max(...row.subarray(1));
      correct.push(K === 1 || row[0]! > best);
      scores.push(row[0]!);
      if (K > 1) margins.push(row[0]! - best);
    }
  }
  const perCategory: Partial<Record<Category, AccuracyGroup>> = {};
  for (const c of CATEGORIES) {
    const f = correct.filter((_, i) => categories[i] === c);
    if (f.length) perCategory[c] = group(f);
  }
  return { overall: group(correct), perCategory, trueScore: meanStd(scores), margin: meanStd(margins).mean, correct, scores };
}

/** Up to `perCategory` records of each category (0: all), in file order. */
export function takePerCategory<R extends { category: Category }>(records: R[], perCategory: number): R[] {
  if (perCategory <= 0) return [...records];
  const count = new Map<Category, number>();
  return records.filter((r) => {
    const c = count.get(r.category) ?? 0;
    count.set(r.category, c + 1);
    return c < perCategory;
  });
}

/** Renders each record once with a held-out seed (a label the training never uses): [N, 3, S, S] in [0, 1]. */
export function renderHeldOut(records: Pick<PromptRecord, 'prompt' | 'id'>[], seed: number, size: number): Tensor {
  const plane = 3 * size * size;
  const px = new Float32Array(records.length * plane);
  records.forEach((r, i) => px.set(renderScene(parsePrompt(r.prompt), mixSeed(seed, 'clip-eval-render', r.id), { resolution: size }).image.data, i * plane));
  return torch.fromTypedArray(px, [records.length, 3, size, size]);
}

// ---------------------------------------------------------------------------------------------
export interface BaseTransferReport {
  /** all sampled images */
  all: Omit<HardNegativeReport, 'correct' | 'scores'>;
  /** only the images the world's evaluator passes (they do show their prompt) */
  passing: { overall: AccuracyGroup; perCategory: Partial<Record<Category, AccuracyGroup>> };
  /** the evaluator's pass rate of the samples */
  evaluatorPassRate: number;
  /** Pearson correlation of the CLIP score with the evaluator's score over the samples */
  scoreCorrelation: number;
  images: number;
}

export function pearson(a: number[], b: number[]): number {
  const ma = meanStd(a).mean;
  const mb = meanStd(b).mean;
  let num = 0, da = 0, db = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - ma) * (b[i]! - mb);
    da += (a[i]! - ma) ** 2;
    db += (b[i]! - mb) ** 2;
  }
  return da > 0 && db > 0 ? num / Math.sqrt(da * db) : NaN;
}

/**
 * Hard-negative accuracy on images the base model generates for `records` (one each), with the
 * evaluator's verdict alongside: on a failed sample the "true" prompt is not what the image shows,
 * so the accuracy on passing samples is the transfer figure.
 */
export function baseTransfer(
  clip: ClipModel,
  images01: Tensor,
  records: Pick<PromptRecord, 'prompt' | 'category'>[],
  opts: { negatives: number; seed: number },
): BaseTransferReport {
  const prompts = records.map((r) => r.prompt);
  const cats = records.map((r) => r.category);
  const rep = hardNegativeAccuracy(clip, images01, prompts, cats, opts);
  const imgs = torch.noGrad(() => torch.tidy(() => images01.detach().contiguous().toFloat32Array()));
  const [, , H, W] = images01.shape as [number, number, number, number];
  const per = 3 * H * W;
  const evals = records.map((r, i) => evaluateImage({ width: W, height: H, data: imgs.slice(i * per, (i + 1) * per) }, r.prompt, r.category));
  const pass = evals.map((e) => e.pass);
  const passing: BaseTransferReport['passing'] = { overall: group(rep.correct.filter((_, i) => pass[i])), perCategory: {} };
  for (const c of CATEGORIES) {
    const f = rep.correct.filter((_, i) => pass[i] && cats[i] === c);
    if (f.length) passing.perCategory[c] = group(f);
  }
  const { correct: _c, scores, ...all } = rep;
  return {
    all,
    passing,
    evaluatorPassRate: pass.filter(Boolean).length / Math.max(1, pass.length),
    scoreCorrelation: pearson(scores, evals.map((e) => e.score)),
    images: records.length,
  };
}

// ---------------------------------------------------------------------------------------------
// the measurements train-clip prints and saves (metrics.json)

export interface ClipMetrics {
  /** hard negatives per true prompt */
  negatives: number;
  /** test prompts rendered with held-out seeds */
  groundTruth: Omit<HardNegativeReport, 'correct' | 'scores'>;
  /** the same renderings, corrupted like generated images (world/degrade.ts defaults) */
  degraded: Omit<HardNegativeReport, 'correct' | 'scores'>;
  /** the base model's samples (absent when no base checkpoint was given or found) */
  base?: BaseTransferReport;
  /** CLIP score of true pairs on the images the reward will mostly see: the base model's samples, else renderings */
  scoreStats: { mean: number; std: number; source: 'base-samples' | 'renderings' };
}

/**
 * Measures a trained CLIP on the test split (see the header of this file). `base`: a text-to-image
 * checkpoint directory whose samples measure the transfer (skipped when null or missing).
 */
export async function measureClip(
  model: ClipModel,
  cfg: Pick<ClipTrainConfig, 'eval' | 'model'>,
  opts: { base?: string | null; log?: (m: string) => void; testRecords?: PromptRecord[] } = {},
): Promise<ClipMetrics> {
  const log = opts.log ?? (() => {});
  const { loadSplit } = await import('../world/splits.js');
  const test = opts.testRecords ?? loadSplit('test');
  const recs = takePerCategory(test, cfg.eval.perCategory);
  const S = cfg.model.vision.imageSize;
  const negOpts = { negatives: cfg.eval.negatives, seed: cfg.eval.seed };
  model.eval();

  const images = renderHeldOut(recs, cfg.eval.seed, S);
  const prompts = recs.map((r) => r.prompt);
  const cats = recs.map((r) => r.category);
  const gt = hardNegativeAccuracy(model, images, prompts, cats, negOpts);
  // degraded copies of the same renderings
  const flat = images.toFloat32Array();
  const plane = 3 * S * S;
  const drng = new Rng(cfg.eval.seed, 'clip-eval-degrade');
  const dpx = new Float32Array(flat.length);
  for (let i = 0; i < recs.length; i++) dpx.set(degrade({ width: S, height: S, data: flat.slice(i * plane, (i + 1) * plane) }, drng).data, i * plane);
  images.dispose();
  const dimg = torch.fromTypedArray(dpx, [recs.length, 3, S, S]);
  const dg = hardNegativeAccuracy(model, dimg, prompts, cats, negOpts);
  dimg.dispose();
  log(`held-out renderings: ${recs.length}, hard-negative accuracy ${gt.overall.accuracy.toFixed(3)} (degraded ${dg.overall.accuracy.toFixed(3)})`);
  const strip = ({ correct: _c, scores: _s, ...rest }: HardNegativeReport) => rest;

  let base: BaseTransferReport | undefined;
  if (opts.base && existsSync(join(opts.base, 'model.safetensors'))) {
    const { TextToImageModel } = await import('../models/t2i.js');
    const { generate } = await import('../models/generate.js');
    const t2i = await TextToImageModel.load(opts.base);
    try {
      t2i.train(false);
      const brecs = takePerCategory(test, cfg.eval.basePerCategory);
      const rng = torch.getRngState();
      torch.manualSeed(cfg.eval.seed);
      const parts: Tensor[] = [];
      for (let s = 0; s < brecs.length; s += 30) {
        const chunk = brecs.slice(s, s + 30).map((r) => r.prompt);
        parts.push(generate(t2i, chunk, cfg.eval.baseSteps !== undefined ? { steps: cfg.eval.baseSteps } : {}).images);
        log(`base samples: ${Math.min(s + 30, brecs.length)}/${brecs.length}`);
      }
      torch.setRngState(rng);
      const imgs = torch.cat(parts, 0);
      for (const p of parts) p.dispose();
      const sized = imgs.shape[2] === S ? imgs : torch.F.interpolate(imgs, { size: S, mode: 'bilinear' });
      base = baseTransfer(model, sized, brecs, negOpts);
      if (sized !== imgs) sized.dispose();
      imgs.dispose();
      log(`base samples: hard-negative accuracy ${base.all.overall.accuracy.toFixed(3)} on all, ${base.passing.overall.accuracy.toFixed(3)} on the ${base.passing.overall.n} the evaluator passes`);
    } finally {
      t2i.dispose();
    }
  } else if (opts.base) {
    log(`no base model at ${opts.base}: the transfer to its samples is not measured`);
  }
  const scoreStats = base
    ? { ...base.all.trueScore, source: 'base-samples' as const }
    : { ...gt.trueScore, source: 'renderings' as const };
  return { negatives: cfg.eval.negatives, groundTruth: strip(gt), degraded: strip(dg), ...(base ? { base } : {}), scoreStats };
}

