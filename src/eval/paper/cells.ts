// The cells of `sharpen paper`: one cell is one unit of work with a cached result, named by the hash
// of its configuration, so that a cell shared by two tables runs once and a finished cell is never
// recomputed.
//
//   train  a fine-tuning run (finetune() with a flat config): its model, its metrics.jsonl (loss,
//          reward mean/best/worst per step) and its held-out curve (eval.jsonl)
//   eval   a model (the base, or a train cell's model) sampled and scored on the world's held-out
//          prompts with fixed noises, plainly or through an inference-time method at an NFE budget
//
// Layout: <out>/cells/<key>/ holds what is reported (cell.json, result.json, the copied curves, the
// per-image scores, a grid of the first prompt of each category); <work>/<key>/run holds the run
// folder (checkpoints, the exported model), which is large and not part of the report. A train cell
// killed midway resumes from its last checkpoint.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../torch/index.js';
import { TextToImageModel } from '../../models/t2i.js';
import { makeReward, type Reward } from '../../rewards/index.js';
import { finetune } from '../../train/loop.js';
import { resolveFinetuneConfig, type FinetuneSummary } from '../../train/finetune-config.js';
import { BudgetTooSmallError } from '../../sample/sampling-method.js';
import { writeFileAtomicSync } from '../../util/atomic-write.js';
import { CATEGORIES, type Category } from '../../world/vocab.js';
import { evaluateModel } from '../model-eval.js';
import { encodePng, makeGrid } from '../grid.js';

export type ModelRef = { base: string } | { train: string };

export interface TrainSpec {
  kind: 'train';
  /** the flat finetune() config, without out, store and name */
  config: Record<string, unknown>;
}

export interface EvalSpec {
  kind: 'eval';
  model: ModelRef;
  split: 'val' | 'test';
  perCategory: number;
  imagesPerPrompt: number;
  seed: number;
  /** rewards reported beside the compositional score */
  metrics: string[];
  /** an inference-time method (src/sample) at an NFE budget per image, searching with a reward */
  method: { name: string; budgetNfe: number; reward: string } | null;
}

export type CellSpec = TrainSpec | EvalSpec;

/** How a cell ran: its memory and CPU time, and how many cells ran at once. */
export interface CellCost {
  /** the most resident memory of the process that ran the cell, MiB (see memoryScope) */
  peakRssMb: number;
  /** 'cell': the cell had its own process; 'shared': it ran inside a process that also ran other cells */
  memoryScope: 'cell' | 'shared';
  /** CPU time (user + system, all threads) the cell took; absent in results written before it was recorded */
  cpuSec?: number;
  /** cells that ran at once (`sharpen paper --jobs`): above 1, wall-clock includes waiting for a core */
  jobs?: number;
}

export interface TrainResult extends CellCost {
  kind: 'train';
  summary: FinetuneSummary;
}

export interface EvalCellResult extends CellCost {
  kind: 'eval';
  /** mean of the six categories' compositional scores */
  mean: number;
  categories: Record<Category, number>;
  metrics: Record<string, number | null>;
  nfePerImage: number;
  images: number;
  wallClockSec: number;
}

/** A cell that could not run with its configuration (e.g. a budget too small for a method): a result, shown as n/a with the reason. */
export interface FailedResult {
  kind: 'failed';
  error: string;
}

export type CellResult = TrainResult | EvalCellResult | FailedResult;

/** JSON with sorted keys: equal configurations give equal text. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

export function cellKey(spec: CellSpec): string {
  return `${spec.kind}-${createHash('sha256').update(canonicalJson(spec)).digest('hex').slice(0, 16)}`;
}

/** Where a plan's cells live. */
export interface CellFolders {
  /** the report's folder: <out>/cells/<key>/ */
  out: string;
  /** the run folders: <work>/<key>/run */
  work: string;
  /** the SQLite run store the training runs are recorded in */
  store: string;
}

export const cellDir = (f: CellFolders, key: string) => join(f.out, 'cells', key);
export const runDir = (f: CellFolders, key: string) => join(f.work, key, 'run');

/**
 * A path inside the work folder as a cell's configuration names it (the tiny profile's base, Figure
 * 4's image folder): `<work>/…`, resolved when the cell runs, so that a cell's key does not depend
 * on where --work is.
 */
export const WORK = '<work>';
export function inWork(f: CellFolders, path: string): string {
  return path === WORK || path.startsWith(`${WORK}/`) ? join(f.work, path.slice(WORK.length)) : path;
}

export function readResult(f: CellFolders, key: string): CellResult | null {
  const p = join(cellDir(f, key), 'result.json');
  if (!existsSync(p)) return null;
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as CellResult;
  } catch (e) {
    throw new Error(`${p}: not a readable cell result (${(e as Error).message}); delete it to recompute the cell`);
  }
}

/** Whether a train cell's model is on disk (the run folder is not part of the report and may be gone). */
export function trainedModelExists(f: CellFolders, key: string): boolean {
  const d = runDir(f, key);
  return existsSync(join(d, 'summary.json')) && existsSync(join(d, 'model.safetensors'));
}

export function modelPath(f: CellFolders, ref: ModelRef): string {
  return 'base' in ref ? inWork(f, ref.base) : runDir(f, ref.train);
}

/** Peak resident memory (the process's own maximum with a process per cell, else sampled while the cell runs) and CPU time. */
class MemoryWatch {
  private peak = process.memoryUsage().rss;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly scope: 'cell' | 'shared') {
    this.timer = setInterval(() => { this.peak = Math.max(this.peak, process.memoryUsage().rss); }, 50);
    this.timer.unref();
  }
  private readonly cpu0 = process.cpuUsage();
  stop(jobs: number): CellCost {
    clearInterval(this.timer);
    const rss = this.scope === 'cell' ? process.resourceUsage().maxRSS * 1024 : Math.max(this.peak, process.memoryUsage().rss);
    const cpu = process.cpuUsage(this.cpu0);
    return { peakRssMb: rss / 2 ** 20, memoryScope: this.scope, cpuSec: (cpu.user + cpu.system) / 1e6, jobs };
  }
}

/** Runs one cell and writes its result (and what the report shows of it) into <out>/cells/<key>/. */
export async function runCell(spec: CellSpec, f: CellFolders, how: { scope: 'cell' | 'shared'; jobs: number }, log: (m: string) => void): Promise<CellResult> {
  const key = cellKey(spec);
  const dir = cellDir(f, key);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cell.json'), JSON.stringify(spec, null, 2) + '\n');
  const watch = new MemoryWatch(how.scope);
  let result: CellResult;
  try {
    result = spec.kind === 'train' ? { ...(await runTrain(spec, key, f, log)), ...watch.stop(how.jobs) } : { ...(await runEval(spec, f, dir)), ...watch.stop(how.jobs) };
  } catch (e) {
    watch.stop(how.jobs);
    if (!(e instanceof ConfigurationError || e instanceof BudgetTooSmallError)) throw e;
    result = { kind: 'failed', error: e.message };
  }
  writeFileAtomicSync(join(dir, 'result.json'), JSON.stringify(result, null, 2) + '\n');
  return result;
}

/** A cell whose configuration the method refuses (e.g. Diffusion-Sharpening's RLHF variant with n = 1): the same on every
 *  rerun, so it is the cell's result; any other error propagates and the cell is retried on the next run. */
export class ConfigurationError extends Error {}

async function runTrain(spec: TrainSpec, key: string, f: CellFolders, log: (m: string) => void): Promise<Omit<TrainResult, keyof CellCost>> {
  const config = { ...spec.config };
  for (const k of ['base', 'data']) if (typeof config[k] === 'string') config[k] = inWork(f, config[k]);
  try {
    resolveFinetuneConfig({ ...config, out: 'unused' });
  } catch (e) {
    throw new ConfigurationError((e as Error).message);
  }
  const out = runDir(f, key);
  let summary: FinetuneSummary;
  if (existsSync(join(out, 'summary.json')) && existsSync(join(out, 'model.safetensors'))) {
    summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as FinetuneSummary;
  } else {
    const resume = existsSync(join(out, 'checkpoints', 'latest'));
    if (!resume && existsSync(out)) rmSync(out, { recursive: true, force: true });
    mkdirSync(join(f.work, key), { recursive: true });
    ({ summary } = await finetune({ ...config, out, store: f.store, name: `paper/${key}` } as Parameters<typeof finetune>[0], {
      resume, progress: false, log: (m) => log(`  ${m}`),
    }));
  }
  const dir = cellDir(f, key);
  for (const file of ['metrics.jsonl', 'eval.jsonl', 'finetune-config.json']) {
    if (existsSync(join(out, file))) copyFileSync(join(out, file), join(dir, file));
  }
  return { kind: 'train', summary };
}

async function runEval(spec: EvalSpec, f: CellFolders, dir: string): Promise<Omit<EvalCellResult, keyof CellCost>> {
  const t0 = performance.now();
  const model = await TextToImageModel.load(modelPath(f, spec.model));
  const rewards: Reward[] = [];
  try {
    for (const name of spec.metrics) rewards.push(await makeReward(name));
    const searchReward = spec.method ? await makeReward(spec.method.reward) : null;
    if (searchReward) rewards.push(searchReward);
    const r = await evaluateModel(model, {
      split: spec.split, perCategory: spec.perCategory, imagesPerPrompt: spec.imagesPerPrompt, seed: spec.seed,
      metrics: rewards.slice(0, spec.metrics.length), keepImages: true,
      ...(spec.method ? { method: { name: spec.method.name, options: { reward: searchReward, budgetNfe: spec.method.budgetNfe } } } : {}),
    });
    writeFileSync(join(dir, 'samples.jsonl'), r.samples.map((s) => JSON.stringify(s)).join('\n') + '\n');
    writeGrid(join(dir, 'grid.png'), r);
    const categories = Object.fromEntries(CATEGORIES.map((c) => [c, r.categories[c].score])) as Record<Category, number>;
    const metrics = Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, v.mean]));
    return { kind: 'eval', mean: r.mean, categories, metrics, nfePerImage: r.nfePerImage, images: r.samples.length, wallClockSec: (performance.now() - t0) / 1000 };
  } finally {
    for (const rw of rewards) rw.dispose?.();
    model.dispose();
  }
}

/** The first image of each category (the same prompts and noises in every eval cell of a split and seed), labelled with its score. */
function writeGrid(path: string, r: Awaited<ReturnType<typeof evaluateModel>>): void {
  const picks = CATEGORIES.map((c) => r.samples.findIndex((s) => s.category === c)).filter((i) => i >= 0);
  const imgs = picks.map((i) => r.images![i]!);
  const { width: w, height: h } = imgs[0]!;
  const data = new Float32Array(imgs.length * 3 * h * w);
  imgs.forEach((im, k) => data.set(im.data, k * 3 * h * w));
  const t = torch.fromTypedArray(data, [imgs.length, 3, h, w]);
  try {
    const grid = makeGrid(t, picks.map((i) => `${r.samples[i]!.score.toFixed(2)} ${r.samples[i]!.prompt}`), { cols: imgs.length, scale: Math.max(2, Math.round(96 / w)), labelLines: 'fit' });
    writeFileSync(path, encodePng(grid));
  } finally {
    t.dispose();
  }
}
