// `sharpen paper`: runs the plan (plan.ts) cell by cell and writes the report (report.ts).
//
// - Resumable: a cell with a result in <out>/cells/<key>/result.json is never recomputed; a killed
//   train cell continues from its last checkpoint; an evaluation whose model folder is gone (the
//   work folder is not part of the report) trains its cell again first.
// - The plan is rebuilt after every cell, since tuned rates and equal-NFE step counts come from
//   results; the progress line counts the cells of the current plan (done / total) with an ETA
//   from the mean time of the cells this invocation ran.
// - With `isolate`, each cell runs in its own Node process (cell-worker.ts), so its peak memory is
//   its own; a cell that fails for a reason other than its configuration is reported, left without
//   result (so the next run retries it) and the plan goes on with the cells that do not need it.
// - With `jobs` > 1, that many cells run at once, each in its own process with
//   ⌊cores / jobs⌋ libtorch threads (OMP_NUM_THREADS), a cell starting as soon as its inputs exist:
//   for machines with many cores, where one cell's small convolutions cannot use them all (on 2
//   cores, two one-thread cells did only 1.09× the work of one two-thread cell). A cell's wall-clock
//   then shares the machine with the others, so its CPU time is recorded beside it.
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../torch/index.js';
import { TextToImageModel } from '../../models/t2i.js';
import { rewardUnavailableReason } from '../../rewards/index.js';
import { loadSplit } from '../../world/splits.js';
import { writeWorldFolder } from '../../world/folder.js';
import { tinyWorldConfig } from '../../models/tiny-world.js';
import { duration } from '../../util/progress.js';
import { cellKey, inWork, readResult, runCell, trainedModelExists, WORK, type CellFolders, type CellResult, type CellSpec } from './cells.js';
import { buildPlan, cellState, isSettled, planCells, readRecipe, type Plan, type PlanContext } from './plan.js';
import type { Profile } from './profiles.js';
import { writePaperReport } from './report.js';

export interface PaperOptions {
  profile: Profile;
  /** the report and the cells' results (committable) */
  out: string;
  /** run folders and models (large; default runs/paper-<profile>) */
  work: string;
  /** the SQLite run store of the training runs */
  store: string;
  /** the command line, shown in the report */
  command?: string[];
  log?: (m: string) => void;
  /** stop after this many computed cells (0: only write the report; default: all) */
  maxCells?: number;
  /** cells run at once, each in its own process (default 1) */
  jobs?: number;
}

export interface PaperResult {
  report: string;
  done: number;
  total: number;
  /** cells computed by this invocation */
  computed: string[];
  /** cells that failed this time (not cached: retried next time), with the error */
  errors: { key: string; error: string }[];
}

/** The plan's fixed inputs: the base (created for the tiny profile), its plain NFE, the image folder, the recipe and the available rewards. */
async function prepare(o: PaperOptions): Promise<Omit<PlanContext, 'result'>> {
  const p = o.profile;
  const f = { out: o.out, work: o.work, store: o.store };
  // the tiny base and the image folder live in the work folder; cells name them as <work>/… (inWork)
  const base = p.base === 'tiny' ? `${WORK}/tiny-base` : p.base;
  const baseDir = inWork(f, base);
  if (p.base === 'tiny' && !existsSync(join(baseDir, 'model.safetensors'))) {
    torch.manualSeed(0);
    const m = new TextToImageModel(tinyWorldConfig());
    await m.save(baseDir);
    m.dispose();
  } else if (!existsSync(join(baseDir, 'config.json'))) {
    throw new Error(`profile ${p.name}: the base checkpoint ${baseDir} has no config.json`);
  }
  const cfg = JSON.parse(readFileSync(join(baseDir, 'config.json'), 'utf8')) as { sampling: { steps: number; guidanceScale: number }; unet: { sampleSize: number } };
  const plainNfe = cfg.sampling.steps * (cfg.sampling.guidanceScale === 1 ? 1 : 2);
  const folder = `${WORK}/image-folder`;
  if (!existsSync(join(inWork(f, folder), 'metadata.jsonl'))) {
    writeWorldFolder(inWork(f, folder), loadSplit('train').slice(0, p.folderPrompts), { perPrompt: 1, seed: 0, resolution: cfg.unet.sampleSize });
  }
  const mllm = rewardUnavailableReason('mllm') === null;
  return {
    profile: p, base, plainNfe, folder, recipe: readRecipe(),
    metrics: [...p.metrics, ...(mllm ? ['mllm'] : [])], rewards: [...p.rewards, ...(mllm ? ['mllm'] : [])],
  };
}

/** Runs a cell in this process, or in a child process with `threads` libtorch threads (null: the parent's setting). */
async function execute(spec: CellSpec, f: CellFolders, isolate: boolean, threads: number | null, jobs: number, log: (m: string) => void): Promise<CellResult> {
  if (!isolate) return runCell(spec, f, { scope: 'shared', jobs }, log);
  const worker = fileURLToPath(new URL('./cell-worker.ts', import.meta.url));
  const env = threads === null ? process.env : { ...process.env, OMP_NUM_THREADS: String(threads) };
  return new Promise((resolve, reject) => {
    const child = fork(worker, [], { execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let settled = false;
    child.on('message', (m: { result?: CellResult; error?: string; log?: string }) => {
      if (m.log !== undefined) {
        log(m.log);
      } else if (m.result) {
        settled = true;
        resolve(m.result);
      } else if (m.error !== undefined) {
        settled = true;
        reject(new Error(m.error));
      }
    });
    child.on('exit', (code, signal) => {
      if (!settled) reject(new Error(`the cell's process ended (${signal ?? `exit code ${code}`}) without a result`));
    });
    child.send({ spec, folders: f, jobs });
  });
}

export async function runPaper(o: PaperOptions): Promise<PaperResult> {
  const log = o.log ?? ((m: string) => console.error(m));
  const f: CellFolders = { out: o.out, work: o.work, store: o.store };
  mkdirSync(join(o.out, 'cells'), { recursive: true });
  mkdirSync(o.work, { recursive: true });
  const fixed = await prepare(o);
  const ctx: PlanContext = { ...fixed, result: (key) => readResult(f, key) };
  writeFileSync(join(o.out, 'plan.json'), JSON.stringify({ profile: o.profile, command: o.command ?? null, base: ctx.base, plainNfe: ctx.plainNfe, metrics: ctx.metrics, rewards: ctx.rewards, recipe: ctx.recipe }, null, 2) + '\n');
  const computed: string[] = [];
  const errors: PaperResult['errors'] = [];
  const failedKeys = new Set<string>();
  const jobs = o.jobs ?? 1;
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`jobs must be a positive integer, got ${jobs}`);
  const isolate = o.profile.isolate || jobs > 1; // cells running at once need their own processes (one generator, one thread pool each)
  const threads = jobs > 1 ? Math.max(1, Math.floor(availableParallelism() / jobs)) : null;
  const running = new Map<string, Promise<void>>();
  const t0 = performance.now();
  let started = 0;
  let plan: Plan = buildPlan(ctx);
  for (;;) {
    // start cells while there is room and a cell whose inputs exist
    while (running.size < jobs && (o.maxCells === undefined || started < o.maxCells)) {
      const cells = planCells(plan);
      const next = nextCell(cells, f, new Set([...failedKeys, ...running.keys()]), ctx);
      if (!next) break;
      const key = cellKey(next);
      started++;
      log(`[paper] cell ${countDone(cells, ctx) + 1 + running.size}/${cells.length}: ${describe(next)}`);
      const run = execute(next, f, isolate, threads, jobs, log).then(
        (r) => {
          computed.push(key);
          if (r.kind === 'failed') log(`[paper]   n/a: ${r.error}`);
        },
        (e: unknown) => {
          failedKeys.add(key);
          errors.push({ key, error: (e as Error).message });
          log(`[paper]   FAILED (retried on the next run): ${(e as Error).message}`);
        },
      ).finally(() => running.delete(key));
      running.set(key, run);
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
    plan = buildPlan(ctx);
    const cells = planCells(plan);
    const done = countDone(cells, ctx);
    const elapsed = (performance.now() - t0) / 1000;
    const perCell = elapsed / Math.max(1, computed.length + errors.length);
    log(`[paper] ${done}/${cells.length} cells done · ${duration(elapsed)} this run · ETA ~${duration(perCell * (cells.length - done))}`);
  }
  const cells = planCells(plan);
  const done = countDone(cells, ctx);
  const report = await writePaperReport(plan, ctx, f, { command: o.command ?? [], done, total: cells.length });
  log(`[paper] ${done}/${cells.length} cells done; report: ${report}`);
  return { report, done, total: cells.length, computed, errors };
}

/** Cells with a result or that cannot exist (n/a). */
function countDone(cells: ReturnType<typeof planCells>, ctx: PlanContext): number {
  return cells.filter((c) => isSettled(ctx, c)).length;
}

/**
 * The first cell without a result whose inputs exist, skipping `busy` (failed this time, or running);
 * an evaluation of a train cell whose model is gone runs that train cell again first.
 */
function nextCell(cells: ReturnType<typeof planCells>, f: CellFolders, busy: Set<string>, ctx: PlanContext): CellSpec | null {
  for (const c of cells) {
    if (!('key' in c) || busy.has(c.key) || cellState(ctx, c) !== 'todo') continue;
    const spec = c.spec;
    if (spec.kind === 'eval' && 'train' in spec.model) {
      const trainKey = spec.model.train;
      const tr = ctx.result(trainKey);
      if (tr === null || busy.has(trainKey)) continue; // a refused train cell makes its evaluation 'na', not 'todo'
      if (!trainedModelExists(f, trainKey)) {
        const trainSpec = cells.find((x) => 'key' in x && x.key === trainKey);
        if (trainSpec && 'spec' in trainSpec) return trainSpec.spec; // runs again: its result is rewritten with the model
        continue;
      }
    }
    return spec;
  }
  return null;
}

function describe(spec: CellSpec): string {
  if (spec.kind === 'train') {
    const c = spec.config;
    return `train ${c.method}${c.reward ? ` (${c.reward})` : ''} lr ${c.lr} seed ${c.seed} steps ${c.steps}${c.data ? ' on the image folder' : ''}`;
  }
  const model = 'base' in spec.model ? 'base' : spec.model.train;
  return `eval ${model} on ${spec.split} seed ${spec.seed}${spec.method ? ` with ${spec.method.name} at ${spec.method.budgetNfe} NFE` : ''}`;
}
