// The main job (`npx sharpen demo`, the README's `npm run demo`): from the shipped base checkpoint,
// RLHF-Diffusion-Sharpening (docs/methods.md) with the compositional reward on the embedded world, then
// the base and the fine-tuned model evaluated on the same held-out prompts and the same initial
// noises with every metric available, and a report: the metrics table with paired 95% intervals and
// the NFE per image, the reward curve of training, the evaluation images whose score changed most
// (base and fine-tuned side by side, with their scores) and before/after grids.
//
// With `seeds` (several training seeds) it trains one run per seed, evaluates each on the same
// prompts and noises, pools them in the table and adds each metric's difference per seed with its
// t interval over seeds (docs/architecture.md "Measuring": several seeds, mean and 95% interval).
//
// Run folder (default runs/demo): finetune/ (the run: checkpoints, metrics.jsonl, the model; with
// `seeds`, finetune-s<seed>/ per seed), pairs/ (the side-by-side images and pairs.json), grid-base.png,
// grid-finetuned.png, report.html, result.json.
// Re-running resumes the runs that are there (same settings; a finished run is only re-evaluated);
// `fresh` moves the folder aside first (runs/demo.<time>), so no run is ever overwritten.
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import * as torch from '../torch/index.js';
import { TextToImageModel } from '../models/t2i.js';
import { generate } from '../models/generate.js';
import { finetune, LoopConfigSchema, resolveFinetuneConfig, type FinetuneConfig, type FinetuneSummary } from '../train/loop.js';
import { availableMetricRewards, DEFAULT_METRICS, metricColumns } from './metrics.js';
import { CATEGORIES } from '../world/vocab.js';
import { evaluateModel, perPromptMeans, pooledPerPromptMeans, selectPrompts, type EvalResult } from './model-eval.js';
import { writeGrid } from './grid.js';
import { countChanges, orderByChange, PAIRS_SHOWN, writePairs } from './pairs.js';
import { meanInterval, meanOfValues, pairedDifference, type Interval } from './stats.js';
import { renderReport, type ReportBlock } from './report.js';
import { heldOutCurveBlock, heldOutCurveByTimeBlock } from './held-out-curve.js';
import { readJsonl } from '../util/jsonl.js';
import { repeatEach } from '../util/arrays.js';
import { formatZodError } from '../util/config.js';

/**
 * The demo's own settings. What it trains is not declared here: it is the fine-tuning preset
 * `config` (configs/demo.yaml, a flat `sharpen finetune` config over the same schemas as every run:
 * the loop's fields and the method's options), with any other key of the input as an override of
 * that preset. So `npx sharpen finetune --config configs/demo.yaml --out DIR` trains exactly what
 * the demo trains.
 */
export const DemoConfigSchema = z.object({
  /** the run folder */
  out: z.string().min(1).default('runs/demo'),
  /** the SQLite run store the fine-tuning run is recorded in */
  store: z.string().min(1).default('runs/store.sqlite'),
  /** the fine-tuning preset (YAML, flat finetune config keys) */
  config: z.string().min(1).default('configs/demo.yaml'),
  /** the training seed (null: the preset's) */
  seed: z.number().int().min(0).nullable().default(null),
  /** several training seeds instead of `seed` (a list, or "0,1,2" from the command line): one run per
   *  seed, the table pooled over them, each metric's difference per seed and its t interval over
   *  seeds; null: the one run of `seed` */
  seeds: z.preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((x) => (x.trim() === '' ? NaN : Number(x))) : typeof v === 'number' ? [v] : v),
    z.array(z.number().int().min(0)).min(2, 'at least two seeds (one run: use seed)')
      .refine((a) => new Set(a).size === a.length, 'the seeds must differ').nullable(),
  ).default(null),
  /** held-out prompts per category for the evaluation (the test split) */
  testPerCategory: z.number().int().positive().default(25),
  testImagesPerPrompt: z.number().int().positive().default(2),
  testSeed: z.number().int().min(0).default(1234),
  /** prompts per category in the before/after grids (4 seeds each) */
  gridPerCategory: z.number().int().positive().default(2),
}).strict();

export type DemoConfig = z.infer<typeof DemoConfigSchema>;

export interface MetricRow {
  metric: string;
  base: number | null;
  finetuned: number | null;
  /** paired difference finetuned − base over the prompts, with its 95% interval (with several
   *  seeds: finetuned is each prompt's mean over the seeds) */
  diff: Interval | null;
  /** with several seeds: each seed's difference of means to the base, and their mean with the 95% t
   *  interval over seeds */
  perSeed?: number[];
  overSeeds?: Interval | null;
}

/** One training seed's run: its fine-tuning summary and its metrics. */
export interface DemoSeedRun {
  seed: number;
  summary: FinetuneSummary;
  finetuned: Record<string, number | string | null>;
}

export interface DemoResult {
  base: Record<string, number | string | null>;
  /** with several seeds: the mean over the seeds of their metrics */
  finetuned: Record<string, number | string | null>;
  rows: MetricRow[];
  /** the (first) run's fine-tuning summary */
  summary: FinetuneSummary;
  /** with several seeds: every run */
  seeds?: DemoSeedRun[];
  report: string;
}

function metricLine(r: EvalResult, missing: Record<string, string>): Record<string, number | string | null> {
  const line: Record<string, number | string | null> = {};
  for (const c of CATEGORIES) line[c] = round(r.categories[c].score);
  line.compositional = round(r.mean);
  return { ...line, ...metricColumns(r.metrics, missing), nfe_per_image: r.nfePerImage };
}

function round(v: number | null): number | null {
  return v === null ? null : Number(v.toFixed(4));
}

/** The mean of several metric lines, field by field (a field that is not a number in all: the first's). */
function meanLine(lines: Record<string, number | string | null>[]): Record<string, number | string | null> {
  const out: Record<string, number | string | null> = {};
  for (const k of Object.keys(lines[0]!)) {
    const vs = lines.map((l) => l[k]);
    out[k] = vs.every((v): v is number => typeof v === 'number') ? round(vs.reduce((a, c) => a + c, 0) / vs.length) : lines[0]![k]!;
  }
  return out;
}

async function moveAside(dir: string, log: (m: string) => void): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const to = `${dir}.${stamp}`;
  await rename(dir, to);
  log(`demo: the previous run was moved to ${to}`);
}

export interface DemoOptions {
  /** move an existing run aside and start clean */
  fresh?: boolean;
  log?: (m: string) => void;
  command?: string[];
}

/** The held-out curves of the runs (their eval.jsonl, written when the preset sets evalEvery). */
function heldOutBlocks(dirs: string[], seeds: number[]): ReportBlock[] {
  const charts = dirs.flatMap((d, i) => {
    const title = `held-out compositional score during training (val prompts, fixed noises)${dirs.length > 1 ? `, seed ${seeds[i]}` : ''}`;
    return [heldOutCurveBlock(join(d, 'eval.jsonl'), { title }), heldOutCurveByTimeBlock(join(d, 'eval.jsonl'), { title })];
  }).filter((b): b is ReportBlock => b !== null);
  return charts.length ? [{ kind: 'heading', text: 'Held-out score during training' }, ...charts] : [];
}

/** The method's options of a resolved config, as "k = v, …" (the keys that are not the loop's). */
function methodOptionsText(train: FinetuneConfig): string {
  return Object.entries(train).filter(([k]) => !(k in LoopConfigSchema.shape)).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join(', ');
}

/** What runDemo takes: the demo's settings and, beside them, overrides of the preset's keys. */
export type DemoInput = Partial<DemoConfig> & Record<string, unknown>;

const DEMO_KEYS = Object.keys(DemoConfigSchema.shape);

/** The preset file with the overrides over it, checked as `sharpen finetune` checks its config. */
export function demoTrainingConfig(cfg: DemoConfig, overrides: Record<string, unknown>): FinetuneConfig {
  let preset: unknown;
  try {
    preset = parseYaml(readFileSync(cfg.config, 'utf8'));
  } catch (e) {
    throw new Error(`demo config: the preset ${cfg.config} cannot be read as YAML (${(e as Error).message})`);
  }
  if (typeof preset !== 'object' || preset === null || Array.isArray(preset)) throw new Error(`demo config: the preset ${cfg.config} is not a mapping of finetune config keys`);
  const raw: Record<string, unknown> = { ...(preset as Record<string, unknown>), ...overrides, out: cfg.out, store: cfg.store };
  if (cfg.seed !== null) raw.seed = cfg.seed;
  try {
    return resolveFinetuneConfig(raw).config;
  } catch (e) {
    throw new Error(`demo config (${cfg.config} with the overrides ${JSON.stringify(overrides)}): ${(e as Error).message.replace(/^finetune config: /, '')}`);
  }
}

/** One fine-tuning run of the demo: its seed, folder and summary. */
interface DemoRun {
  seed: number;
  dir: string;
  summary: FinetuneSummary;
}

/** Splits the input into the demo's settings and the preset's overrides; checks both before any work. */
function resolveDemoInput(input: DemoInput): { cfg: DemoConfig; train: FinetuneConfig } {
  if (input.seed !== undefined && input.seed !== null && input.seeds !== undefined && input.seeds !== null) {
    throw new Error('demo config: seed and seeds exclude each other (seeds trains one run per seed in the list; give the list alone)');
  }
  const demoPart: Record<string, unknown> = {};
  const overrides: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) if (v !== undefined) (DEMO_KEYS.includes(k) ? demoPart : overrides)[k] = v;
  const parsed = DemoConfigSchema.safeParse(demoPart);
  if (!parsed.success) {
    throw new Error(formatZodError(parsed.error, 'demo config', '(config)'));
  }
  const cfg = parsed.data;
  const train = demoTrainingConfig(cfg, overrides); // checked whole before any work
  return { cfg, train };
}

/** Phase 1: fine-tuning from the base checkpoint with the preset, once per training seed (a run that is there resumes). */
async function trainDemoRuns(train: FinetuneConfig, seeds: number[], multi: boolean, out: string, opts: DemoOptions, log: (m: string) => void): Promise<DemoRun[]> {
  const runs: DemoRun[] = [];
  for (const [i, seed] of seeds.entries()) {
    const dir = multi ? join(out, `finetune-s${seed}`) : join(out, 'finetune');
    const resume = existsSync(join(dir, 'finetune-config.json'));
    if (multi) log(`demo: training seed ${seed} (${i + 1} of ${seeds.length})`);
    if (resume) log(`demo: resuming the run in ${dir} (pass --fresh to start clean; the old run is kept aside)`);
    const { summary } = await finetune({ ...train, out: dir, seed }, { resume, log, ...(opts.command ? { command: opts.command } : {}) });
    runs.push({ seed, dir, summary });
  }
  return runs;
}

type MetricRewards = Awaited<ReturnType<typeof availableMetricRewards>>['rewards'];

/**
 * Phase 2: the base and every fine-tuned model on the same prompts and initial noises, every metric
 * available. The first run's model is kept in `models.tuned` (for the grids; the caller disposes it).
 */
async function evaluateDemoModels(
  base: TextToImageModel, runs: DemoRun[], cfg: DemoConfig, rewards: MetricRewards, multi: boolean,
  models: { tuned: TextToImageModel | null }, log: (m: string) => void,
): Promise<{ rBase: EvalResult; rTuned: EvalResult[] }> {
  const evalOpts = {
    split: 'test', perCategory: cfg.testPerCategory, imagesPerPrompt: cfg.testImagesPerPrompt, seed: cfg.testSeed, metrics: rewards, progress: true,
    keepImages: true, // for the side-by-side pairs (phase 3)
  };
  log('demo: evaluating the base model');
  const rBase = await evaluateModel(base, evalOpts);
  const rTuned: EvalResult[] = [];
  for (const run of runs) {
    log(`demo: evaluating the fine-tuned model${multi ? ` of seed ${run.seed}` : ''}`);
    const model = await TextToImageModel.load(run.dir);
    if (models.tuned === null) models.tuned = model;
    try {
      rTuned.push(await evaluateModel(model, evalOpts));
    } finally {
      if (model !== models.tuned) model.dispose();
    }
  }
  return { rBase, rTuned };
}

/** The metrics table's rows: base, fine-tuned (pooled over seeds), the paired difference, and per seed; a missing metric as n/a. */
function demoMetricRows(rBase: EvalResult, rTuned: EvalResult[], rewards: MetricRewards, missing: Record<string, string>, multi: boolean): MetricRow[] {
  const metricNames = ['compositional', ...CATEGORIES, ...rewards.map((r) => r.name)];
  const rows: MetricRow[] = metricNames.map((metric) => {
    const b = perPromptMeans(rBase.samples, metric);
    const f = pooledPerPromptMeans(rTuned.map((r) => r.samples), metric);
    let diff: Interval | null = null;
    if (b.size >= 2 && b.size === f.size) diff = pairedDifference(b, f);
    const row: MetricRow = { metric, base: meanOfValues(b), finetuned: meanOfValues(f), diff };
    if (multi && row.base !== null) {
      row.perSeed = rTuned.map((r) => meanOfValues(perPromptMeans(r.samples, metric))! - row.base!);
      row.overSeeds = meanInterval(row.perSeed);
    }
    return row;
  });
  for (const name of Object.keys(missing)) rows.push({ metric: name, base: null, finetuned: null, diff: null });
  return rows;
}

/**
 * Phase 3, before/after: the evaluation's images whose score changed most, side by side (the same
 * prompt and initial noise; with several seeds, the first seed's model), and grids.
 */
async function writeBeforeAfter(out: string, cfg: DemoConfig, seeds: number[], rBase: EvalResult, rTuned0: EvalResult, base: TextToImageModel, tuned: TextToImageModel) {
  const changed = orderByChange(rBase.samples, rTuned0.samples);
  const counts = countChanges(changed);
  const written = await writePairs(join(out, 'pairs'), changed.slice(0, PAIRS_SHOWN), rBase.images!, rTuned0.images!, {
    ...counts, total: changed.length, seed: seeds[0], testSeed: cfg.testSeed,
  });
  const gridPrompts = selectPrompts('test', cfg.gridPerCategory).map((p) => p.prompt);
  const seedsPerPrompt = 4;
  const prompts = repeatEach(gridPrompts, seedsPerPrompt);
  const labels = prompts.map((p, i) => (i % seedsPerPrompt === 0 ? p : ''));
  for (const [name, model] of [['base', base], ['finetuned', tuned]] as const) {
    torch.manualSeed(cfg.testSeed);
    const g = generate(model, prompts);
    try {
      await writeGrid(join(out, `grid-${name}.png`), g.images, labels, { cols: seedsPerPrompt, labelLines: 'fit' });
    } finally {
      g.images.dispose();
    }
  }
  return { changed, counts, written };
}

/** What the report is made of. */
interface DemoReportInput {
  cfg: DemoConfig;
  train: FinetuneConfig;
  runs: DemoRun[];
  seeds: number[];
  multi: boolean;
  rows: MetricRow[];
  rBase: EvalResult;
  rTuned: EvalResult[];
  missing: Record<string, string>;
  beforeAfter: Awaited<ReturnType<typeof writeBeforeAfter>>;
  command: string[] | undefined;
}

/** Phase 4: the report's blocks (the training, the metrics table, per seed, the curves, the pairs and grids, the command). */
function demoReportBlocks(d: DemoReportInput): ReportBlock[] {
  const { cfg, train, runs, seeds, multi, rows, rBase, rTuned, missing, beforeAfter: { changed, counts, written } } = d;
  const curves = runs.map((r) => readJsonl(join(r.dir, 'metrics.jsonl')) as Record<string, number>[]);
  const series = (key: string, curve = curves[0]!) => curve.filter((r) => Number.isFinite(r[key])).map((r) => [r.step!, r[key]!] as [number, number]);
  const smooth = (pts: [number, number][], k = 10) =>
    pts.map(([x], i) => {
      const w = pts.slice(Math.max(0, i - k + 1), i + 1);
      return [x, w.reduce((a, c) => a + c[1], 0) / w.length] as [number, number];
    });
  const fmt = (v: number | null) => (v === null ? null : Number(v.toFixed(4)));
  const summary = runs[0]!.summary;
  const cost = multi
    ? `training seeds ${seeds.join(', ')}; ${runs.map((r) => r.summary.wallClockSec.toFixed(0)).join(' + ')} s of training, ${runs.map((r) => r.summary.trainingNfe).join(' + ')} training NFE.`
    : `seed ${seeds[0]}; ${summary.wallClockSec.toFixed(0)} s of training, ${summary.trainingNfe} training NFE.`;
  const seedBlocks: ReportBlock[] = multi ? [
    { kind: 'heading', text: 'Over training seeds' },
    {
      kind: 'table',
      columns: ['metric', ...seeds.map((s) => `difference, seed ${s}`), 'mean', '95% interval over seeds'],
      rows: rows.filter((r) => r.perSeed).map((r) => [r.metric, ...r.perSeed!.map(fmt), fmt(r.overSeeds!.mean), `[${r.overSeeds!.lo.toFixed(4)}, ${r.overSeeds!.hi.toFixed(4)}]`]),
      caption: `each seed's fine-tuned model minus the base on the same prompts and noises; the interval: t over the ${seeds.length} seeds (it holds the training's variation, not the prompts')`,
    },
  ] : [];
  const rewardSeries = multi
    ? curves.map((c, i) => ({ name: `mean, seed ${seeds[i]}`, points: smooth(series('rewardMean', c)) }))
    : [
      { name: 'mean', points: smooth(series('rewardMean')) },
      { name: 'best of n', points: smooth(series('rewardBest')) },
      { name: 'worst of n', points: smooth(series('rewardWorst')) },
    ];
  const tunedName = multi ? `fine-tuned (seed ${seeds[0]})` : 'fine-tuned';
  return [
    { kind: 'paragraph', text: `${train.method} of ${train.base} with the '${train.reward}' reward (preset ${cfg.config}): ${summary.steps} steps of ${train.batch} prompts, ${train.loraRank ? `LoRA rank ${train.loraRank}` : 'full fine-tuning'}, lr ${train.lr}; the method's options: ${methodOptionsText(train)}. ${cost}` },
    { kind: 'heading', text: 'Held-out metrics (test split, same prompts and initial noises)' },
    {
      kind: 'table',
      columns: ['metric', 'base', 'fine-tuned', 'difference', '95% interval'],
      rows: [
        ...rows.map((r) => [r.metric, r.base === null ? 'n/a' : fmt(r.base), r.finetuned === null ? 'n/a' : fmt(r.finetuned),
          r.diff ? fmt(r.diff.mean) : null, r.diff ? `[${r.diff.lo.toFixed(4)}, ${r.diff.hi.toFixed(4)}]` : null]),
        ['NFE per image', rBase.nfePerImage, rTuned[0]!.nfePerImage, null, null],
      ],
      caption: `${cfg.testPerCategory} test prompts per category × ${cfg.testImagesPerPrompt} images, seed ${cfg.testSeed}; intervals: paired t over prompts. ` +
        (multi ? `Fine-tuned: each prompt's mean over the ${seeds.length} training seeds. ` : '') +
        (Object.keys(missing).length ? `n/a: ${Object.entries(missing).map(([k, v]) => `${k} (${v})`).join('; ')}` : ''),
    },
    ...seedBlocks,
    ...heldOutBlocks(runs.map((r) => r.dir), seeds),
    { kind: 'heading', text: 'Reward during training' },
    {
      kind: 'chart',
      series: rewardSeries,
      options: { title: `${train.reward} reward of the rollouts (moving average of 10 steps)`, xLabel: 'step', yLabel: 'reward' },
    },
    { kind: 'chart', series: [{ name: 'loss', points: smooth(series('loss')) }], options: { title: 'training loss (moving average of 10 steps)', xLabel: 'step', yLabel: 'loss' } },
    { kind: 'heading', text: 'Samples: what fine-tuning changed (the same prompts and initial noises, before and after)' },
    {
      kind: 'pairs', left: 'base', right: tunedName,
      rows: written.pairs.map((p) => ({
        label: p.prompt, note: p.category,
        left: { src: `pairs/${p.baseFile}`, score: p.base }, right: { src: `pairs/${p.finetunedFile}`, score: p.finetuned },
      })),
      caption: `The ${written.pairs.length} of the ${changed.length} evaluation images (${cfg.testPerCategory} test prompts per category, ` +
        `${cfg.testImagesPerPrompt} image${cfg.testImagesPerPrompt === 1 ? '' : 's'} each, seed ${cfg.testSeed}) whose compositional score (the world's evaluator) changed most, the largest ` +
        `|change| first, gains and losses alike: ${counts.improved} improved, ${counts.worsened} worsened, ${counts.same} stayed the same. ` +
        `Each row: the same prompt and initial noise; images enlarged ×${written.scale}.`,
    },
    {
      kind: 'images',
      items: [
        { src: 'grid-base.png', caption: `base: ${cfg.gridPerCategory} test prompts per category (rows), 4 initial noises each` },
        { src: 'grid-finetuned.png', caption: `${tunedName}: the same prompts and initial noises` },
      ],
    },
    { kind: 'code', text: `${(d.command ?? ['npx', 'sharpen', 'demo']).join(' ')}\n${JSON.stringify(cfg, null, 2)}` },
  ];
}

export async function runDemo(input: DemoInput, opts: DemoOptions = {}): Promise<DemoResult> {
  const { cfg, train } = resolveDemoInput(input);
  const log = opts.log ?? ((m: string) => console.error(m));
  const out = resolve(cfg.out);
  if (!existsSync(join(train.base, 'model.safetensors'))) throw new Error(`demo: no base checkpoint at ${train.base} (model.safetensors missing)`);
  if (opts.fresh && existsSync(out)) await moveAside(out, log);
  await mkdir(out, { recursive: true });
  const seeds = cfg.seeds ?? [train.seed];
  const multi = cfg.seeds !== null;
  log(`demo: config ${JSON.stringify(cfg)}; training ${JSON.stringify(train)}`);

  const runs = await trainDemoRuns(train, seeds, multi, out, opts, log);
  const { rewards, missing } = await availableMetricRewards(DEFAULT_METRICS, (m) => log(`demo: ${m}`));
  const base = await TextToImageModel.load(train.base);
  const models: { tuned: TextToImageModel | null } = { tuned: null }; // the first run's model, for the grids
  try {
    const { rBase, rTuned } = await evaluateDemoModels(base, runs, cfg, rewards, multi, models, log);
    const rows = demoMetricRows(rBase, rTuned, rewards, missing, multi);
    const beforeAfter = await writeBeforeAfter(out, cfg, seeds, rBase, rTuned[0]!, base, models.tuned!);
    const blocks = demoReportBlocks({ cfg, train, runs, seeds, multi, rows, rBase, rTuned, missing, beforeAfter, command: opts.command });
    const report = join(out, 'report.html');
    await writeFile(report, renderReport('Diffusion-Sharpening demo', blocks));
    const lines = rTuned.map((r) => metricLine(r, missing));
    const result: DemoResult = {
      base: metricLine(rBase, missing), finetuned: multi ? meanLine(lines) : lines[0]!, rows, summary: runs[0]!.summary,
      ...(multi ? { seeds: runs.map((r, i) => ({ seed: r.seed, summary: r.summary, finetuned: lines[i]! })) } : {}), report,
    };
    await writeFile(join(out, 'result.json'), JSON.stringify(result, null, 2) + '\n');
    return result;
  } finally {
    base.dispose();
    models.tuned?.dispose();
    for (const r of rewards) r.dispose?.();
  }
}

/** The metrics table as Markdown, for the terminal. */
export function formatDemoTable(rows: MetricRow[], nfe: { base: number; finetuned: number }): string {
  const f = (v: number | null) => (v === null ? 'n/a' : v.toFixed(4));
  const lines = ['| metric | base | fine-tuned | difference [95% interval] |', '|---|---|---|---|'];
  for (const r of rows) {
    lines.push(`| ${r.metric} | ${f(r.base)} | ${f(r.finetuned)} | ${r.diff ? `${r.diff.mean >= 0 ? '+' : ''}${r.diff.mean.toFixed(4)} [${r.diff.lo.toFixed(4)}, ${r.diff.hi.toFixed(4)}]` : '–'} |`);
  }
  lines.push(`| NFE per image | ${nfe.base} | ${nfe.finetuned} | |`);
  const bySeed = rows.filter((r) => r.perSeed && r.overSeeds);
  if (bySeed.length > 0) {
    const s = (v: number) => `${v >= 0 ? '+' : ''}${v.toFixed(4)}`;
    lines.push('', 'over training seeds (fine-tuned above: the mean over the seeds)', '', '| metric | difference per seed | mean [95% t interval over seeds] |', '|---|---|---|');
    for (const r of bySeed) lines.push(`| ${r.metric} | ${r.perSeed!.map(s).join(', ')} | ${s(r.overSeeds!.mean)} [${r.overSeeds!.lo.toFixed(4)}, ${r.overSeeds!.hi.toFixed(4)}] |`);
  }
  return lines.join('\n');
}

export async function readDemoResult(out: string): Promise<DemoResult> {
  return JSON.parse(await readFile(join(out, 'result.json'), 'utf8')) as DemoResult;
}
