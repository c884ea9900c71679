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
import { fork } from 'node:child_process';
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
import { cellKey, readResult, runCell, trainedModelExists, type CellFolders, type CellResult, type CellSpec } from './cells.js';
import { buildPlan, cellState, planCells, readRecipe, type Plan, type PlanContext } from './plan.js';
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
  let base = p.base;
  if (base === 'tiny') {
    base = join(o.work, 'tiny-base');
    if (!existsSync(join(base, 'model.safetensors'))) {
      torch.manualSeed(0);
      const m = new TextToImageModel(tinyWorldConfig());
      await m.save(base);
      m.dispose();
    }
  } else if (!existsSync(join(base, 'config.json'))) {
    throw new Error(`profile ${p.name}: the base checkpoint ${base} has no config.json`);
  }
  const cfg = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8')) as { sampling: { steps: number; guidanceScale: number }; unet: { sampleSize: number } };
  const plainNfe = cfg.sampling.steps * (cfg.sampling.guidanceScale === 1 ? 1 : 2);
  const folder = join(o.work, 'image-folder');
  if (!existsSync(join(folder, 'metadata.jsonl'))) {
    writeWorldFolder(folder, loadSplit('train').slice(0, p.folderPrompts), { perPrompt: 1, seed: 0, resolution: cfg.unet.sampleSize });
  }
  const mllm = rewardUnavailableReason('mllm') === null;
  return {
    profile: p, base, plainNfe, folder, recipe: readRecipe(),
    metrics: [...p.metrics, ...(mllm ? ['mllm'] : [])], rewards: [...p.rewards, ...(mllm ? ['mllm'] : [])],
  };
}

/** Runs a cell in this process or in a child process (isolate). */
async function execute(spec: CellSpec, f: CellFolders, isolate: boolean, log: (m: string) => void): Promise<CellResult> {
  if (!isolate) return runCell(spec, f, 'shared', log);
  const worker = fileURLToPath(new URL('./cell-worker.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = fork(worker, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
    child.send({ spec, folders: f });
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
  const t0 = performance.now();
  let plan: Plan = buildPlan(ctx);
  for (;;) {
    if (o.maxCells !== undefined && computed.length >= o.maxCells) break;
    const cells = planCells(plan);
    const next = nextCell(cells, f, failedKeys, ctx);
    if (!next) break;
    const done = cells.filter((c) => ['done', 'na'].includes(cellState(ctx, c))).length;
    log(`[paper] cell ${done + 1}/${cells.length}: ${describe(next)}`);
    try {
      const r = await execute(next, f, o.profile.isolate, log);
      computed.push(cellKey(next));
      if (r.kind === 'failed') log(`[paper]   n/a: ${r.error}`);
    } catch (e) {
      failedKeys.add(cellKey(next));
      errors.push({ key: cellKey(next), error: (e as Error).message });
      log(`[paper]   FAILED (retried on the next run): ${(e as Error).message}`);
    }
    const elapsed = (performance.now() - t0) / 1000;
    const remaining = cells.length - done - 1;
    log(`[paper] ${done + 1}/${cells.length} cells done · ${duration(elapsed)} this run · ETA ~${duration((elapsed / Math.max(1, computed.length + errors.length)) * remaining)}`);
    plan = buildPlan(ctx);
  }
  const cells = planCells(plan);
  const done = cells.filter((c) => ['done', 'na'].includes(cellState(ctx, c))).length;
  const report = await writePaperReport(plan, ctx, f, { command: o.command ?? [], done, total: cells.length });
  log(`[paper] ${done}/${cells.length} cells done; report: ${report}`);
  return { report, done, total: cells.length, computed, errors };
}

/** The first cell without a result whose inputs exist; an evaluation of a train cell whose model is gone runs that train cell again first. */
function nextCell(cells: ReturnType<typeof planCells>, f: CellFolders, failed: Set<string>, ctx: PlanContext): CellSpec | null {
  for (const c of cells) {
    if (!('key' in c) || failed.has(c.key) || cellState(ctx, c) !== 'todo') continue;
    const spec = c.spec;
    if (spec.kind === 'eval' && 'train' in spec.model) {
      const trainKey = spec.model.train;
      const tr = ctx.result(trainKey);
      if (tr === null || failed.has(trainKey)) continue;
      if (tr.kind === 'failed') continue;
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
