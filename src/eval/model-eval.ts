// Evaluates a text-to-image model on the world's held-out prompts: samples images for K prompts per
// category, scores each with the world's evaluator (pixels only), and reports per-category scores
// (seen and unseen attribute combinations apart), their mean, and the NFE per image. Other rewards
// (clip, aesthetic, preference, mllm …) join as metric columns: each image is scored by each.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { TextToImageModel } from '../models/t2i.js';
import { checkFiniteImages, generate } from '../models/generate.js';
import { getMethod } from '../sample/index.js';
import { evaluateImage } from '../world/evaluate.js';
import { CATEGORIES, type Category } from '../world/vocab.js';
import type { RgbImage } from '../world/image.js';
import { loadSplit, SPLITS, type SplitName } from '../world/splits.js';
import { Progress } from '../util/progress.js';
import { checkOutput, type Reward } from '../rewards/reward.js';
import { meanByKey } from './stats.js';
import { repeatEach } from '../util/arrays.js';
import { gatherSamples, SHARD_SEED_STRIDE, type EvalShard } from './eval-shard.js';

export interface EvalOptions {
  split?: string;
  /** prompts per category (default: all of the split's) */
  perCategory?: number;
  imagesPerPrompt?: number;
  steps?: number;
  guidanceScale?: number;
  seed?: number;
  batchSize?: number;
  /** sample with the empty prompt instead (the unconditional baseline), scoring against the same prompts */
  unconditional?: boolean;
  /** an inference-time method (src/sample) in place of plain generation: its registered name and its
   *  options (reward, budgetNfe, …; steps and guidanceScale come from here). Absent: plain generate(). */
  method?: { name: string; options?: Record<string, unknown> };
  /** rewards reported as metrics beside the world's categories (their means over all images;
   *  a sample a reward could not score is left out of that reward's mean and counted) */
  metrics?: Reward[];
  progress?: boolean;
  /** evaluate only this rank's share of the batches and gather every rank's scores (eval-shard.ts;
   *  `evalShardFromEnv()` under `sharpen launch`) */
  shard?: EvalShard | null;
  /** also return every sampled image (EvalResult.images, in the order of the samples), e.g. to show
   *  the base and a fine-tuned model side by side on the same prompts and noises */
  keepImages?: boolean;
}

export interface CategoryScore {
  score: number;
  seen: number | null;
  unseen: number | null;
  prompts: number;
  images: number;
}

export interface EvalResult {
  categories: Record<Category, CategoryScore>;
  /** mean of the six category scores */
  mean: number;
  nfePerImage: number;
  /** per metric reward: the mean over the images it scored, and how many it could not score */
  metrics: Record<string, { mean: number | null; unscored: number }>;
  /** every image's score, for intervals: { prompt, category, seen, score, metrics (NaN: unscored) } */
  samples: EvalSample[];
  /** with keepImages: every sampled image, images[i] the one samples[i] scores */
  images?: RgbImage[];
}

export interface EvalSample {
  prompt: string;
  category: Category;
  seen: boolean;
  /** the world's evaluator */
  score: number;
  /** each metric reward's score of this image (NaN where it could not score it) */
  metrics: Record<string, number>;
}

/** Per-prompt means of one column: 'compositional' (the evaluator's score), a category's score, or a
 *  metric reward; images it could not score (NaN) are left out. For paired differences (stats.ts). */
export function perPromptMeans(samples: readonly EvalSample[], metric: string): Map<string, number> {
  const rows = samples.filter((s) => metric === 'compositional' || s.category === metric || metric in s.metrics);
  const value = (s: EvalSample) => (metric === 'compositional' || s.category === metric ? s.score : s.metrics[metric]!);
  return meanByKey(rows.filter((s) => Number.isFinite(value(s))), (s) => s.prompt, value);
}

/** Several runs on the same prompts (e.g. training seeds): each prompt's mean over the runs of its
 *  per-run mean (perPromptMeans); the prompts are the first run's. */
export function pooledPerPromptMeans(runs: readonly (readonly EvalSample[])[], metric: string): Map<string, number> {
  const maps = runs.map((r) => perPromptMeans(r, metric));
  return new Map([...maps[0]!.keys()].map((p) => [p, maps.reduce((a, m) => a + m.get(p)!, 0) / maps.length]));
}

/** One image of a [B, 3, H, W] tensor in [0, 1] as the world's CHW image. */
export function tensorToRgbImages(images: Tensor): RgbImage[] {
  const [b, , h, w] = images.shape as [number, number, number, number];
  const all = images.toFloat32Array();
  const out: RgbImage[] = [];
  for (let i = 0; i < b; i++) out.push({ width: w, height: h, data: all.slice(i * 3 * h * w, (i + 1) * 3 * h * w) });
  return out;
}

export function selectPrompts(split: string, perCategory?: number): { prompt: string; category: Category; seen: boolean }[] {
  if (!(SPLITS as readonly string[]).includes(split)) throw new Error(`unknown split '${split}' (accepted: ${SPLITS.join(', ')})`);
  if (perCategory !== undefined && !(Number.isSafeInteger(perCategory) && perCategory >= 1)) {
    throw new Error(`perCategory must be an integer ≥ 1 (or absent for all prompts), got ${perCategory}`);
  }
  const rows = loadSplit(split as SplitName);
  const out: { prompt: string; category: Category; seen: boolean }[] = [];
  for (const c of CATEGORIES) {
    const inCat = rows.filter((r) => r.category === c);
    if (inCat.length === 0) throw new Error(`split ${split} has no prompts of category ${c}`);
    for (const r of inCat.slice(0, perCategory ?? inCat.length)) out.push({ prompt: r.prompt, category: c, seen: r.seen });
  }
  return out;
}

export async function evaluateModel(model: TextToImageModel, opts: EvalOptions = {}): Promise<EvalResult> {
  if (opts.method && opts.unconditional) throw new Error('evaluateModel: method and unconditional exclude each other');
  const method = opts.method ? getMethod(opts.method.name) : null;
  const per = opts.imagesPerPrompt ?? 4;
  if (!(Number.isSafeInteger(per) && per >= 1)) throw new Error(`imagesPerPrompt must be an integer ≥ 1, got ${per}`);
  const bs = opts.batchSize ?? 32;
  const jobs = repeatEach(selectPrompts(opts.split ?? 'test', opts.perCategory), per);
  model.train(false);
  const shard = opts.shard ?? null;
  if (shard && opts.keepImages) throw new Error('evaluateModel: keepImages needs every image in one process; it cannot be used with a shard');
  torch.manualSeed((opts.seed ?? 0) + (shard ? SHARD_SEED_STRIDE * shard.rank : 0));
  const local: (EvalSample | undefined)[] = new Array(jobs.length);
  const localNfe: number[] = new Array<number>(jobs.length).fill(0);
  const kept: RgbImage[] | null = opts.keepImages ? [] : null;
  const progress = opts.progress ? new Progress({ total: jobs.length, label: shard ? `eval (rank ${shard.rank} of ${shard.worldSize})` : 'eval', unit: 'img' }) : null;
  for (let i = 0; i < jobs.length; i += bs) {
    if (shard && (i / bs) % shard.worldSize !== shard.rank) continue;
    const chunk = jobs.slice(i, i + bs);
    const prompts = chunk.map((j) => (opts.unconditional ? '' : j.prompt));
    const r = method
      ? await method.sample(model, prompts, { steps: opts.steps, guidanceScale: opts.guidanceScale, ...opts.method!.options })
      : generate(model, prompts, { steps: opts.steps, guidanceScale: opts.unconditional ? 1 : opts.guidanceScale });
    chunk.forEach((_, k) => { localNfe[i + k] = r.nfePerImage; });
    // generate() refuses a non-finite sample itself; a sampling method's images are checked here
    if (method) {
      try {
        checkFiniteImages(r.images, { guidanceScale: opts.guidanceScale ?? model.config.sampling.guidanceScale, steps: opts.steps ?? model.config.sampling.steps });
      } catch (e) {
        r.images.dispose();
        throw e;
      }
    }
    const imgs = tensorToRgbImages(r.images);
    const extra: Record<string, number>[] = chunk.map(() => ({}));
    try {
      for (const reward of opts.metrics ?? []) {
        // the metric rewards score the image against the prompt it should show (also when unconditional)
        const out = await reward.score(r.images, chunk.map((j) => j.prompt));
        checkOutput(out, chunk.length, reward.name);
        out.scores.forEach((v, k) => { extra[k]![reward.name] = out.unscored?.[k] ? NaN : v; });
      }
    } finally {
      r.images.dispose();
    }
    chunk.forEach((j, k) => { local[i + k] = { ...j, score: evaluateImage(imgs[k]!, j.prompt, j.category).score, metrics: extra[k]! }; });
    kept?.push(...imgs);
    progress?.update(Math.min(jobs.length, i + bs));
  }
  progress?.finish();
  const gathered = shard ? gatherSamples(shard, jobs, local, localNfe, (opts.metrics ?? []).map((m) => m.name)) : { samples: local as EvalSample[], nfe: localNfe };
  const samples = gathered.samples;
  const nfe = gathered.nfe.at(-1) ?? 0;
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  const categories = {} as Record<Category, CategoryScore>;
  for (const c of CATEGORIES) {
    const s = samples.filter((x) => x.category === c);
    categories[c] = {
      score: mean(s.map((x) => x.score)) ?? 0,
      seen: mean(s.filter((x) => x.seen).map((x) => x.score)),
      unseen: mean(s.filter((x) => !x.seen).map((x) => x.score)),
      prompts: new Set(s.map((x) => x.prompt)).size,
      images: s.length,
    };
  }
  const metrics: EvalResult['metrics'] = {};
  for (const reward of opts.metrics ?? []) {
    const vals = samples.map((x) => x.metrics[reward.name]!);
    const ok = vals.filter((v) => Number.isFinite(v));
    metrics[reward.name] = { mean: mean(ok), unscored: vals.length - ok.length };
  }
  return { categories, mean: mean(CATEGORIES.map((c) => categories[c].score)) ?? 0, nfePerImage: nfe, metrics, samples, ...(kept ? { images: kept } : {}) };
}
