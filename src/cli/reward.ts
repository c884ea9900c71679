// Commands over rewards: `train-clip` (the world's small CLIP, checkpoints/clip) and
// `reward score` (any registered reward on a folder of images with their prompts).
import type { Command } from 'commander';
import { resolve, relative } from 'node:path';
import { CATEGORIES, type Category } from '../world/vocab.js';
import { collect, count } from './args.js';
import { checkOutputDir } from '../util/output-path.js';


const DEFAULT_CLIP_CONFIG = 'configs/clip.yaml';

export function registerRewardCommands(program: Command): void {
  program
    .command('train-clip')
    .description('train the small CLIP on the world (contrastive + hard negatives), measure it on held-out prompts, export it (resumes when interrupted)')
    .option('--config <file>', 'YAML config', DEFAULT_CLIP_CONFIG)
    .option('--set <key=value>', 'override a config field, e.g. --set train.steps=100 (repeatable)', collect, [])
    .option('--out <dir>', 'where the trained CLIP goes (config.json, model.safetensors, metrics.json)', 'checkpoints/clip')
    .option('--base <dir>', "base model whose samples measure the transfer ('none' to skip)", 'checkpoints/base')
    .option('--threads <n>', 'libtorch threads, 1–1024 (1 is faster on a machine shared with other jobs)', count('threads', 1024))
    .option('--no-progress', 'no progress bar')
    .option('--resume-from <checkpoint>', 'continue from this checkpoint (checkpoint-N or N) instead of latest, e.g. when latest is broken')
    .option('--store <file>', 'the SQLite run store where the run is recorded (default runs/store.sqlite)')
    .action(async (opts: { config: string; set: string[]; out: string; base: string; progress: boolean; threads?: number; resumeFrom?: string; store?: string }) => {
      checkOutputDir(opts.out, '--out');
      if (opts.threads !== undefined) (await import('../torch/index.js')).setNumThreads(opts.threads);
      const { loadConfig } = await import('../util/config.js');
      const { ClipTrainConfigSchema, trainClip, exportRunFiles } = await import('../train/train-clip.js');
      const { measureClip } = await import('../train/clip-measure.js');
      const { loadSplit } = await import('../world/splits.js');
      const { worldWords } = await import('../world/vocab.js');
      const { existsSync, readFileSync, writeFileSync, mkdirSync } = await import('node:fs');
      const { join } = await import('node:path');
      const cfg = loadConfig(ClipTrainConfigSchema, { path: opts.config, overrides: opts.set });
      console.error(`config: ${JSON.stringify(cfg)}`);
      // the run keeps its own copy of the train prompts and the vocabulary, so a resumed run sees
      // the same data and token ids even if the committed split changes meanwhile
      mkdirSync(cfg.output.dir, { recursive: true });
      const promptsPath = join(cfg.output.dir, 'train-prompts.json');
      if (!existsSync(promptsPath)) writeFileSync(promptsPath, JSON.stringify(loadSplit('train').map((r) => ({ prompt: r.prompt, category: r.category }))));
      const records = JSON.parse(readFileSync(promptsPath, 'utf8')) as { prompt: string; category: Category }[];
      const vocabPath = join(cfg.output.dir, 'vocabulary.json');
      if (!existsSync(vocabPath)) writeFileSync(vocabPath, JSON.stringify(worldWords()));
      const words = JSON.parse(readFileSync(vocabPath, 'utf8')) as string[];

      const store = opts.store ?? (await import('../store/runs.js')).DEFAULT_STORE_PATH;
      const r = await trainClip(cfg, records, words, { progress: opts.progress, resumeFrom: opts.resumeFrom, store });
      try {
        if (!r.finished) {
          console.log(JSON.stringify({ finished: false, step: r.step }));
          return;
        }
        const base = opts.base === 'none' ? null : opts.base;
        const m = await measureClip(r.model, cfg, { base, log: (s) => console.error(s) });
        await r.model.save(opts.out, { extra: { trainedSteps: r.step, seed: cfg.seed, trainSeconds: Math.round(r.seconds), scoreStats: m.scoreStats } });
        await exportRunFiles(cfg.output.dir, opts.out);
        const metrics = { steps: r.step, trainSeconds: Math.round(r.seconds), ...m };
        writeFileSync(join(opts.out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
        console.error(formatClipMetrics(metrics));
        console.error(`exported the CLIP to ${opts.out}`);
        console.log(JSON.stringify({ finished: true, step: r.step, out: opts.out, hardNegativeAccuracy: m.groundTruth.overall.accuracy }));
      } finally {
        r.model.dispose();
      }
    });

  const reward = program.command('reward').description('rewards: score images');

  reward
    .command('score')
    .description('score a folder of images against their prompts with a reward; per-image scores and a summary (mean, std, n, per category)')
    .requiredOption('--reward <name>', 'a registered reward (e.g. clip, compositional)')
    .requiredOption('--images <dir>', 'folder of PNG/JPEG images (paired with the prompts as `sharpen world eval` pairs them)')
    .requiredOption('--prompts <file>', 'JSONL prompt file: a "prompt" per line, or "text" (its synonym, as in an image folder\'s metadata.jsonl); optional "category", "id", "file_name"')
    .option('--opt <key=value>', "a reward option, e.g. --opt ckpt=checkpoints/clip (repeatable)", collect, [])
    .option('--batch <n>', 'images per call of the reward (1–4096)', count('batch', 4096), 64)
    .option('--json', 'print one JSON object instead of the table')
    .action(async (opts: { reward: string; images: string; prompts: string; opt: string[]; batch: number; json?: boolean }) => {
      const r = await scoreFolder({ reward: opts.reward, images: opts.images, prompts: opts.prompts, options: opts.opt, batchSize: opts.batch });
      if (opts.json) console.log(JSON.stringify(r));
      else {
        const cwd = process.cwd();
        console.log(formatScoreTable({ ...r, images: r.images.map((x) => ({ ...x, file: relative(cwd, resolve(x.file)) })) }));
      }
    });
}

/** A short table of train-clip's measurements. */
export function formatClipMetrics(m: import('../train/clip-measure.js').ClipMetrics & { steps: number; trainSeconds: number }): string {
  const pct = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? '   –  ' : (100 * x).toFixed(1).padStart(5) + '%');
  const rows = [`top-1 accuracy of the true prompt against ${m.negatives} hard negatives (${m.steps} steps, ${m.trainSeconds} s)`];
  rows.push(`${'category'.padEnd(12)} ${'rendered'.padStart(9)} ${'base: all'.padStart(10)} ${'base: pass'.padStart(11)}`);
  for (const c of [...CATEGORIES, 'overall' as const]) {
    const g = c === 'overall' ? m.groundTruth.overall : m.groundTruth.perCategory[c];
    const b = m.base ? (c === 'overall' ? m.base.all.overall : m.base.all.perCategory[c]) : undefined;
    const p = m.base ? (c === 'overall' ? m.base.passing.overall : m.base.passing.perCategory[c]) : undefined;
    rows.push(`${c.padEnd(12)} ${pct(g?.accuracy).padStart(9)} ${pct(b?.accuracy).padStart(10)} ${(pct(p?.accuracy) + (p ? ` n=${p.n}` : '')).padStart(11)}`);
  }
  if (m.base) rows.push(`base samples: ${m.base.images}, evaluator pass rate ${pct(m.base.evaluatorPassRate)}, corr(CLIP score, evaluator score) ${m.base.scoreCorrelation.toFixed(3)}`);
  rows.push(`CLIP score of true pairs: ${m.scoreStats.mean.toFixed(2)} ± ${m.scoreStats.std.toFixed(2)} (on ${m.scoreStats.source})`);
  return rows.join('\n');
}

// ---------------------------------------------------------------------------------------------
// reward score

export interface ScoredFile {
  file: string;
  id: string;
  prompt: string;
  category: Category;
  /** NaN when unscored */
  score: number;
  unscored?: boolean;
}

export interface ScoreSummaryGroup {
  n: number;
  mean: number;
  std: number;
}

export interface ScoreFolderResult {
  reward: string;
  scale: import('../rewards/reward.js').RewardScale;
  images: ScoredFile[];
  summary: ScoreSummaryGroup & { unscored: number; perCategory: Partial<Record<Category, ScoreSummaryGroup>> };
}

function summaryOf(xs: number[]): ScoreSummaryGroup {
  const n = xs.length;
  const mean = n ? xs.reduce((a, b) => a + b, 0) / n : NaN;
  const std = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : n === 1 ? 0 : NaN;
  return { n, mean, std };
}

/**
 * Scores the images of a folder against their prompts with a reward by name. Images and prompts are
 * paired as `sharpen world eval` pairs them (data/eval-folder.ts pairImages); all images must have
 * one size. `options`: reward options as key=value (values parsed as YAML).
 */
export async function scoreFolder(o: { reward: string; images: string; prompts: string; options?: string[]; batchSize?: number }): Promise<ScoreFolderResult> {
  const torch = await import('../torch/index.js');
  const { pairImages, readCaptionFile } = await import('../data/eval-folder.js');
  const { readImage } = await import('../world/image.js');
  const { applyOverride } = await import('../util/config.js');
  const { makeReward, checkOutput } = await import('../rewards/index.js');
  const ropts: Record<string, unknown> = {};
  for (const a of o.options ?? []) applyOverride(ropts, a);
  const pairs = pairImages(o.images, readCaptionFile(o.prompts));
  if (pairs.length === 0) throw new Error(`${o.prompts}: no prompts`);
  const reward = await makeReward(o.reward, ropts);
  try {
    const bs = o.batchSize ?? 64;
    const images: ScoredFile[] = [];
    let size: [number, number] | null = null;
    for (let s = 0; s < pairs.length; s += bs) {
      const chunk = pairs.slice(s, s + bs);
      const imgs = chunk.map(({ file }) => readImage(file));
      for (const [k, im] of imgs.entries()) {
        size ??= [im.width, im.height];
        if (im.width !== size[0] || im.height !== size[1]) {
          throw new Error(`${chunk[k]!.file}: ${im.width}×${im.height}, but the first image is ${size[0]}×${size[1]}; score images of one size`);
        }
      }
      const [W, H] = size!;
      const px = new Float32Array(imgs.length * 3 * W * H);
      imgs.forEach((im, i) => px.set(im.data, i * 3 * W * H));
      const x = torch.fromTypedArray(px, [imgs.length, 3, H, W]);
      const prompts = chunk.map((p) => p.rec.prompt);
      let out;
      try {
        out = await reward.score(x, prompts);
      } finally {
        x.dispose();
      }
      checkOutput(out, chunk.length, reward.name);
      chunk.forEach(({ file, rec }, i) => {
        const un = out.unscored?.[i] ?? false;
        images.push({ file, id: rec.id, prompt: rec.prompt, category: rec.category, score: out.scores[i]!, ...(un ? { unscored: true } : {}) });
      });
    }
    const ok = images.filter((x) => !x.unscored);
    const perCategory: Partial<Record<Category, ScoreSummaryGroup>> = {};
    for (const c of CATEGORIES) {
      const xs = ok.filter((x) => x.category === c).map((x) => x.score);
      if (xs.length) perCategory[c] = summaryOf(xs);
    }
    return { reward: reward.name, scale: reward.scale, images, summary: { ...summaryOf(ok.map((x) => x.score)), unscored: images.length - ok.length, perCategory } };
  } finally {
    reward.dispose?.();
  }
}

/** The human-readable form: one line per image, then the summary. */
export function formatScoreTable(r: ScoreFolderResult): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : 'NaN');
  const lines = r.images.map((x) => `${x.unscored ? 'unscored' : f(x.score)}\t${x.category}\t${x.file}\t${x.prompt}`);
  lines.push('');
  lines.push(`reward ${r.reward}: mean ${f(r.summary.mean)}  std ${f(r.summary.std)}  n ${r.summary.n}${r.summary.unscored ? `  unscored ${r.summary.unscored}` : ''}`);
  for (const [c, g] of Object.entries(r.summary.perCategory)) lines.push(`  ${c.padEnd(12)} mean ${f(g.mean)}  std ${f(g.std)}  n ${g.n}`);
  return lines.join('\n');
}
