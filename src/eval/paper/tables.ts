// The paper report's numbers, read from the cells' results: Table 1 (every row × every metric, mean
// and 95 % interval over seeds, with its training cost and NFE per image), Tables 2–3 (n and m),
// the reward-impact table (Figures 3/9), the differences to the base per seed (the report's text on
// wins and reward hacking), and the curves of Figures 4–6.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readJsonl } from '../../util/jsonl.js';
import { CATEGORIES } from '../../world/vocab.js';
import { meanInterval, type Interval } from '../stats.js';
import { cellDir, type CellFolders, type CellResult, type EvalCellResult, type TrainResult } from './cells.js';
import { cellState, failureOf, isSettled, SEARCH_METHODS, VARIANTS, type Plan, type PlanContext, type Planned } from './plan.js';

/** A number over seeds: its values and, with two or more, the 95 % interval. */
export interface OverSeeds {
  values: number[];
  interval: Interval | null;
}

export interface Table1Row {
  row: string;
  /** what the row runs, where its name does not say it */
  label: string | null;
  kind: 'base' | 'training' | 'inference';
  trainedWith: string;
  /** the tuned learning rate, or the NFE budget of an inference-time method */
  setting: string;
  /** 'compositional' (mean of the categories), each category, and each metric reward */
  scores: Record<string, OverSeeds>;
  /** training cost per seed: wall-clock seconds and training NFE (null for rows that do not train) */
  trainingSec: OverSeeds | null;
  trainingNfe: OverSeeds | null;
  steps: number | null;
  nfePerImage: number | null;
  /** cells of the row that are done / planned */
  done: number;
  planned: number;
  /** why a cell of the row has no number (n/a or pending) */
  notes: string[];
}

export function resultOf(ctx: PlanContext, p: Planned): CellResult | null {
  return 'key' in p ? ctx.result(p.key) : null;
}

function evalOf(ctx: PlanContext, p: Planned): EvalCellResult | null {
  const r = resultOf(ctx, p);
  return r?.kind === 'eval' ? r : null;
}

function trainOf(ctx: PlanContext, p: Planned): TrainResult | null {
  const r = resultOf(ctx, p);
  return r?.kind === 'train' ? r : null;
}

export function overSeeds(values: number[]): OverSeeds {
  const finite = values.filter((v) => Number.isFinite(v));
  return { values: finite, interval: finite.length >= 2 ? meanInterval(finite) : null };
}

/** The columns of every score table: the compositional mean, the six categories, then the metrics. */
export function scoreColumns(ctx: PlanContext): string[] {
  return ['compositional', ...CATEGORIES, ...ctx.metrics];
}

/** A score column of an evaluation: 'compositional' (the categories' mean), a category, or a metric (NaN if absent). */
function scoreOf(e: EvalCellResult, col: string): number {
  return col === 'compositional' ? e.mean : col in e.categories ? e.categories[col as keyof EvalCellResult['categories']] : (e.metrics[col] ?? NaN);
}

function scoresOf(ctx: PlanContext, evals: (EvalCellResult | null)[]): Record<string, OverSeeds> {
  const ok = evals.filter((e): e is EvalCellResult => e !== null);
  return Object.fromEntries(scoreColumns(ctx).map((c) => [c, overSeeds(ok.map((e) => scoreOf(e, c)))]));
}

function notesOf(ctx: PlanContext, cells: Planned[]): string[] {
  const notes = new Set<string>();
  for (const c of cells) {
    const state = cellState(ctx, c);
    if (!('key' in c)) notes.add(`pending: ${c.pending}`);
    else if (state === 'todo') notes.add('pending: not computed yet');
    else {
      const failure = failureOf(ctx, c);
      if (failure !== null) notes.add(`n/a: ${failure}`);
    }
  }
  return [...notes];
}

export function table1(plan: Plan, ctx: PlanContext): Table1Row[] {
  const rows: Table1Row[] = [];
  const count = (cells: Planned[]) => ({ done: cells.filter((c) => isSettled(ctx, c)).length, planned: cells.length });
  const baseEvals = plan.base.map((c) => evalOf(ctx, c));
  rows.push({
    row: 'base', label: null, kind: 'base', trainedWith: '—', setting: `${ctx.plainNfe} NFE`, scores: scoresOf(ctx, baseEvals), trainingSec: null, trainingNfe: null, steps: null,
    nfePerImage: baseEvals.find((e) => e)?.nfePerImage ?? null, ...count(plan.base), notes: notesOf(ctx, plan.base),
  });
  for (const r of plan.rows) {
    const seeds = plan.seeds[r.row]!;
    const trains = seeds.map((s) => trainOf(ctx, s.train)).filter((t): t is TrainResult => t !== null);
    const evals = seeds.map((s) => evalOf(ctx, s.test));
    const cells = seeds.flatMap((s) => [s.train, s.test]);
    rows.push({
      row: r.row, label: r.label ?? null, kind: 'training', trainedWith: r.trainedWith, setting: plan.best[r.row] != null ? `lr ${plan.best[r.row]}` : 'lr: tuning',
      scores: scoresOf(ctx, evals), trainingSec: overSeeds(trains.map((t) => t.summary.wallClockSec)), trainingNfe: overSeeds(trains.map((t) => t.summary.trainingNfe)),
      steps: plan.steps[r.row] ?? null, nfePerImage: evals.find((e) => e)?.nfePerImage ?? null, ...count(cells), notes: notesOf(ctx, cells),
    });
  }
  for (const m of SEARCH_METHODS) {
    const cells = plan.search[m]!;
    const evals = cells.map((c) => evalOf(ctx, c));
    rows.push({
      row: m, label: null, kind: 'inference', trainedWith: 'compositional (verifier)', setting: `${ctx.plainNfe * ctx.profile.searchMultiplier} NFE budget`,
      scores: scoresOf(ctx, evals), trainingSec: null, trainingNfe: null, steps: null, nfePerImage: evals.find((e) => e)?.nfePerImage ?? null,
      ...count(cells), notes: notesOf(ctx, cells),
    });
  }
  return rows;
}

/** The test cells of a Table 1 row, seed by seed (training seeds, or noise seeds for the base and the inference-time rows). */
function rowTestCells(plan: Plan, row: Pick<Table1Row, 'row' | 'kind'>): Planned[] {
  return row.kind === 'training' ? plan.seeds[row.row]!.map((s) => s.test) : row.kind === 'inference' ? plan.search[row.row]! : plan.base;
}

/** a − b per seed on one column (seed i of both sampled the same prompts and noises), as an interval over the seeds both have. */
export function pairedDifference(ctx: PlanContext, a: Planned[], b: Planned[], col: string): OverSeeds {
  const diffs: number[] = [];
  a.forEach((c, i) => {
    const x = evalOf(ctx, c);
    const y = b[i] ? evalOf(ctx, b[i]) : null;
    if (x && y) diffs.push(scoreOf(x, col) - scoreOf(y, col));
  });
  return overSeeds(diffs);
}

/** Row − base per seed, every score column. */
export function differenceToBase(ctx: PlanContext, plan: Plan, row: Table1Row): Record<string, OverSeeds> {
  const cells = rowTestCells(plan, row);
  return Object.fromEntries(scoreColumns(ctx).map((col) => [col, pairedDifference(ctx, cells, plan.base, col)]));
}

export interface GridCell {
  variant: string;
  axis: 'n' | 'm';
  value: number;
  score: number | null;
  trainingSec: number | null;
  /** CPU time of the training cell (null where not recorded) */
  cpuSec: number | null;
  /** cells that ran at once while it trained (null where not recorded) */
  jobs: number | null;
  trainingNfe: number | null;
  peakRssMb: number | null;
  memoryScope: string | null;
  note: string | null;
}

/** Tables 2–3: one training seed per cell. */
export function nmTables(plan: Plan, ctx: PlanContext): GridCell[] {
  return plan.grid.map((g) => {
    const t = trainOf(ctx, g.train);
    const e = evalOf(ctx, g.test);
    return {
      variant: g.variant, axis: g.axis, value: g.value, score: e?.mean ?? null, trainingSec: t?.summary.wallClockSec ?? null, cpuSec: t?.cpuSec ?? null, jobs: t?.jobs ?? null, trainingNfe: t?.summary.trainingNfe ?? null,
      peakRssMb: t?.peakRssMb ?? null, memoryScope: t?.memoryScope ?? null, note: notesOf(ctx, [g.train, g.test])[0] ?? null,
    };
  });
}

/** Figures 3/9 as a table: each variant trained with each reward, every metric. */
export function rewardTable(plan: Plan, ctx: PlanContext): { variant: string; reward: string; scores: Record<string, number | null>; note: string | null }[] {
  return plan.rewards.map((r) => {
    const e = evalOf(ctx, r.test);
    const s = scoresOf(ctx, [e]);
    return { variant: r.variant, reward: r.reward, scores: Object.fromEntries(Object.entries(s).map(([k, v]) => [k, v.values[0] ?? null])), note: notesOf(ctx, [r.train, r.test])[0] ?? null };
  });
}

/** A train cell's metrics.jsonl and eval.jsonl (copied into its cell folder). */
export function curvesOf(f: CellFolders, p: Planned): { metrics: Record<string, unknown>[]; heldOut: Record<string, unknown>[] } | null {
  if (!('key' in p)) return null;
  const d = cellDir(f, p.key);
  if (!existsSync(join(d, 'metrics.jsonl'))) return null;
  return { metrics: readJsonl(join(d, 'metrics.jsonl')), heldOut: existsSync(join(d, 'eval.jsonl')) ? readJsonl(join(d, 'eval.jsonl')) : [] };
}

export { VARIANTS };
