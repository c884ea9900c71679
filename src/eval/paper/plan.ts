// The plan of `sharpen paper`: every cell of the paper's experiments (Tian et al. 2025, arXiv
// 2502.12146: Table 1, Tables 2–3, Figures 3/9, 4, 5 and 6), built from a profile and from the
// results known so far. A cell whose configuration depends on another's result (a row's tuned
// learning rate, its equal-NFE step count) is `pending` until that result exists, so the plan is
// rebuilt after every cell. The recipe is the shipped preset configs/demo.yaml (the Diffusion-
// Sharpening recipe measured in results/sharpening/).
//
// Equal budgets: the reference is rlhf-sharpening at `profile.steps` steps; a probe run of each
// training row measures its training NFE per step, and the row gets the steps that spend the
// reference's training NFE (capped at maxStepsFactor × steps). Each row is tuned over the same
// learning rates on val (seed 0), and its best rate is run with `seeds` training seeds, each
// evaluated on the test prompts with the noises of evalSeed + seed. Rows without training (the
// base, the inference-time methods) are sampled with the same noise seeds; the inference-time
// methods also at 1× the plain NFE, for claim 3 of claims.ts.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { LoopConfigSchema, resolveFinetuneConfig } from '../../train/finetune-config.js';
import { ddpoVariantLabel } from '../../train/methods/ddpo.js';
import { cellKey, type CellResult, type CellSpec, type EvalSpec, type ModelRef, type TrainSpec } from './cells.js';
import type { Profile } from './profiles.js';

export type Planned = { spec: CellSpec; key: string } | { pending: string };

export interface TrainingRow {
  row: string;
  method: string;
  /** the reward it trains with (refl-iter: its differentiable reward) */
  trainedWith: string;
  /** what the row runs, where its name does not say it (DDPO: DDPO_IS or on-policy) */
  label?: string;
  config: Record<string, unknown>;
}

export const SEARCH_METHODS = ['best-of-n', 'zero-order', 'demon', 'free2guide'] as const;
export const VARIANTS = ['sft-sharpening', 'rlhf-sharpening'] as const;
/** The composite reward of Figures 3/9: compositional, CLIP and preference, each by its declared scale. */
export const COMPOSITE_OPTIONS = { terms: [{ name: 'compositional' }, { name: 'clip' }, { name: 'preference' }] };

export interface PlanContext {
  profile: Profile;
  /** the base checkpoint folder */
  base: string;
  /** NFE of one plain sample of the base (its sampling steps × 2 with guidance) */
  plainNfe: number;
  /** Figure 4's image folder */
  folder: string;
  /** the recipe's method options (configs/demo.yaml without the loop's keys) */
  recipe: Record<string, unknown>;
  /** the metrics of every test evaluation (the profile's, plus mllm when an endpoint is configured) */
  metrics: string[];
  /** the rewards of Figures 3/9 */
  rewards: string[];
  result: (key: string) => CellResult | null;
}

export interface Plan {
  rows: TrainingRow[];
  probes: Record<string, Planned>;
  /** steps each training row gets (null until its probe and the reference's are done) */
  steps: Record<string, number | null>;
  tuning: Record<string, { lr: number; train: Planned; val: Planned }[]>;
  best: Record<string, number | null>;
  seeds: Record<string, { train: Planned; test: Planned }[]>;
  base: Planned[];
  search: Record<string, Planned[]>;
  /** the inference-time methods at 1× the plain NFE over every noise seed (claim 3; seed 0 is Figure 5's 1× cell) */
  plain: Record<string, Planned[]>;
  grid: { variant: string; axis: 'n' | 'm'; value: number; train: Planned; test: Planned }[];
  rewards: { variant: string; reward: string; train: Planned; test: Planned }[];
  folder: Record<string, Planned>;
  budgets: { method: string; multiple: number; test: Planned }[];
}

/** The recipe's method options: configs/demo.yaml without the loop's keys. */
export function readRecipe(path = 'configs/demo.yaml'): Record<string, unknown> {
  const raw = parseYaml(readFileSync(path, 'utf8')) as Record<string, unknown>;
  return Object.fromEntries(Object.entries(raw).filter(([k]) => !(k in LoopConfigSchema.shape)));
}

export function trainingRows(ctx: PlanContext): TrainingRow[] {
  const r = ctx.recipe;
  const sharpening = { n: r.n, m: r.m, S: ctx.profile.S };
  return [
    { row: 'standard-ft', method: 'standard-ft', trainedWith: 'denoising loss', config: { method: 'standard-ft' } },
    { row: 'diffusion-dpo', method: 'diffusion-dpo', trainedWith: 'compositional', config: { method: 'diffusion-dpo', reward: 'compositional' } },
    { row: 'ddpo', method: 'ddpo', trainedWith: 'compositional', config: { method: 'ddpo', reward: 'compositional' }, label: ddpoVariantLabel({}) },
    { row: 'd3po', method: 'd3po', trainedWith: 'compositional', config: { method: 'd3po', reward: 'compositional' } },
    { row: 'refl-iter', method: 'refl-iter', trainedWith: 'clip (differentiable)', config: { method: 'refl-iter', reflReward: 'clip' } },
    { row: 'sft-sharpening', method: 'sft-sharpening', trainedWith: 'compositional', config: { method: 'sft-sharpening', reward: 'compositional', ...sharpening } },
    { row: 'rlhf-sharpening', method: 'rlhf-sharpening', trainedWith: 'compositional', config: { method: 'rlhf-sharpening', reward: 'compositional', ...r, S: ctx.profile.S } },
  ];
}

function planned(spec: CellSpec): Planned {
  return { spec, key: cellKey(spec) };
}

/** The loop settings every training cell shares (only method, reward, lr, steps, seed and data vary). */
function trainSpec(ctx: PlanContext, config: Record<string, unknown>, steps: number, lr: number, seed: number, curve = true): TrainSpec {
  const p = ctx.profile;
  return {
    kind: 'train',
    config: {
      base: ctx.base, batch: p.batch, loraRank: p.loraRank, seed, lr, steps, checkpointEvery: Math.max(1, Math.ceil(steps / 4)), keepCheckpoints: 1,
      evalEvery: curve ? Math.max(1, Math.ceil(steps / p.curvePoints)) : 0, evalPerCategory: p.curvePerCategory, ...config,
    },
  };
}

function testSpec(ctx: PlanContext, model: ModelRef, seed: number, method: EvalSpec['method'] = null): EvalSpec {
  const t = ctx.profile.test;
  return { kind: 'eval', model, split: 'test', perCategory: t.perCategory, imagesPerPrompt: t.imagesPerPrompt, seed: ctx.profile.evalSeed + seed, metrics: ctx.metrics, method };
}

/** The train cell and its test evaluation, or both pending. */
function trained(ctx: PlanContext, spec: TrainSpec | null, why: string, evalSeed = 0): { train: Planned; test: Planned } {
  if (!spec) return { train: { pending: why }, test: { pending: why } };
  const train = planned(spec);
  return { train, test: planned(testSpec(ctx, { train: cellKey(spec) }, evalSeed)) };
}

function nfePerStep(ctx: PlanContext, p: Planned): number | null {
  if (!('key' in p)) return null;
  const r = ctx.result(p.key);
  return r?.kind === 'train' && r.summary.steps > 0 ? r.summary.trainingNfe / r.summary.steps : null;
}

/** Steps of a probe: two, or one rollout buffer of DDPO (its sampling batches per update) when larger. */
function probeSteps(config: Record<string, unknown>): number {
  const opts = resolveFinetuneConfig({ ...config, out: 'unused' }).options;
  return Math.max(2, typeof opts.bufferBatches === 'number' ? opts.bufferBatches : 1);
}

export function buildPlan(ctx: PlanContext): Plan {
  const p = ctx.profile;
  const rows = trainingRows(ctx);
  const plan: Plan = { rows, probes: {}, steps: {}, tuning: {}, best: {}, seeds: {}, base: [], search: {}, plain: {}, grid: [], rewards: [], folder: {}, budgets: [] };
  for (const r of rows) plan.probes[r.row] = planned(trainSpec(ctx, r.config, probeSteps(r.config), p.lrs[0]!, 0, false));
  const reference = nfePerStep(ctx, plan.probes['rlhf-sharpening']!);
  const budget = reference === null ? null : reference * p.steps;
  for (const r of rows) {
    const own = nfePerStep(ctx, plan.probes[r.row]!);
    plan.steps[r.row] = r.row === 'rlhf-sharpening' ? p.steps
      : budget === null || own === null ? null : Math.max(1, Math.min(Math.ceil(p.maxStepsFactor * p.steps), Math.round(budget / own)));
  }
  for (const r of rows) planRow(ctx, plan, r);
  for (let s = 0; s < p.seeds; s++) plan.base.push(planned(testSpec(ctx, { base: ctx.base }, s)));
  const searchBudget = (multiple: number) => ctx.plainNfe * multiple;
  for (const m of SEARCH_METHODS) {
    const overSeeds = (multiple: number) => Array.from({ length: p.seeds }, (_, s) => planned(testSpec(ctx, { base: ctx.base }, s, { name: m, budgetNfe: searchBudget(multiple), reward: 'compositional' })));
    plan.search[m] = overSeeds(p.searchMultiplier);
    plan.plain[m] = overSeeds(1);
    for (const k of p.budgets) plan.budgets.push({ method: m, multiple: k, test: planned(testSpec(ctx, { base: ctx.base }, 0, { name: m, budgetNfe: searchBudget(k), reward: 'compositional' })) });
  }
  planVariants(ctx, plan);
  return plan;
}

/** Tuning on val, then the best learning rate over the seeds (seed 0 is the tuning run itself). */
function planRow(ctx: PlanContext, plan: Plan, r: TrainingRow): void {
  const p = ctx.profile;
  const steps = plan.steps[r.row] ?? null;
  const why = `waiting for the probes (equal-NFE steps of ${r.row})`;
  plan.tuning[r.row] = p.lrs.map((lr) => {
    if (steps === null) return { lr, train: { pending: why }, val: { pending: why } };
    const spec = trainSpec(ctx, r.config, steps, lr, 0);
    const val: EvalSpec = { kind: 'eval', model: { train: cellKey(spec) }, split: 'val', perCategory: p.val.perCategory, imagesPerPrompt: p.val.imagesPerPrompt, seed: p.evalSeed, metrics: [], method: null };
    return { lr, train: planned(spec), val: planned(val) };
  });
  const scores = plan.tuning[r.row]!.map((t) => ('key' in t.val ? ctx.result(t.val.key) : null));
  const done = scores.every((s) => s !== null);
  let best: number | null = null;
  if (done) {
    let bestScore = -Infinity;
    scores.forEach((s, i) => {
      if (s!.kind === 'eval' && s!.mean > bestScore) [bestScore, best] = [s!.mean, p.lrs[i]!];
    });
  }
  plan.best[r.row] = best;
  plan.seeds[r.row] = Array.from({ length: p.seeds }, (_, s) =>
    trained(ctx, best === null || steps === null ? null : trainSpec(ctx, r.config, steps, best, s), `waiting for ${r.row}'s tuning on val`, s));
}

/** Tables 2–3 (n and m), Figures 3/9 (the reward trained with) and Figure 4's image folder, for both variants at their tuned rate. */
function planVariants(ctx: PlanContext, plan: Plan): void {
  const p = ctx.profile;
  for (const variant of VARIANTS) {
    const row = plan.rows.find((r) => r.row === variant)!;
    const lr = plan.best[variant] ?? null;
    const steps = plan.steps[variant] ?? null;
    const ready = lr !== null && steps !== null;
    const why = `waiting for ${variant}'s tuning on val`;
    const spec = (over: Record<string, unknown>) => (ready ? trainSpec(ctx, { ...row.config, ...over }, steps!, lr!, 0) : null);
    for (const n of p.nValues) plan.grid.push({ variant, axis: 'n', value: n, ...trained(ctx, spec({ n, m: 3 }), why) });
    for (const m of p.mValues) plan.grid.push({ variant, axis: 'm', value: m, ...trained(ctx, spec({ n: 3, m }), why) });
    for (const reward of ctx.rewards) {
      const over = reward === 'composite' ? { reward, rewardOptions: COMPOSITE_OPTIONS } : { reward };
      plan.rewards.push({ variant, reward, ...trained(ctx, spec(over), why) });
    }
  }
  for (const name of ['sft-sharpening', 'standard-ft']) {
    const row = plan.rows.find((r) => r.row === name)!;
    const lr = plan.best[name] ?? null;
    const steps = plan.steps[name] ?? null;
    plan.folder[name] = lr === null || steps === null ? { pending: `waiting for ${name}'s tuning on val` } : planned(trainSpec(ctx, { ...row.config, data: ctx.folder }, steps, lr, 0));
  }
}

/**
 * Where a cell stands: 'done' (it has a result, possibly n/a), 'na' (an evaluation of a train cell
 * whose configuration was refused: it cannot exist), 'pending' (its configuration waits for other
 * results) or 'todo'.
 */
export function cellState(ctx: Pick<PlanContext, 'result'>, c: Planned): 'done' | 'na' | 'pending' | 'todo' {
  if (!('key' in c)) return 'pending';
  if (ctx.result(c.key) !== null) return 'done';
  return failureOf(ctx, c) !== null ? 'na' : 'todo';
}

/** Why a settled cell has no number: its own refusal, or that of the train cell it evaluates (null otherwise). */
export function failureOf(ctx: Pick<PlanContext, 'result'>, c: Planned): string | null {
  if (!('key' in c)) return null;
  const own = ctx.result(c.key);
  if (own?.kind === 'failed') return own.error;
  const train = c.spec.kind === 'eval' && 'train' in c.spec.model ? ctx.result(c.spec.model.train) : null;
  return train?.kind === 'failed' ? train.error : null;
}

/** Whether a cell is settled: it has a result, or it cannot exist (n/a); else it is pending or to do. */
export function isSettled(ctx: Pick<PlanContext, 'result'>, c: Planned): boolean {
  const state = cellState(ctx, c);
  return state === 'done' || state === 'na';
}

/**
 * The order the training rows run in: the reference first and the rows a reader compares it with,
 * then the rest; the two costliest per training NFE (DDPO_IS and D3PO hold whole trajectories) run
 * after every other cell of the plan, so a partial run already answers the most questions.
 */
const ROW_ORDER = ['rlhf-sharpening', 'standard-ft', 'sft-sharpening', 'diffusion-dpo', 'refl-iter'];
const LAST_ROWS = ['ddpo', 'd3po'];

/** Every cell of the plan once, in the order they should run (a train cell before its evaluations). */
export function planCells(plan: Plan): Planned[] {
  const list: Planned[] = [...Object.values(plan.probes), ...plan.base];
  const row = (name: string) => {
    for (const t of plan.tuning[name] ?? []) list.push(t.train, t.val);
    for (const s of plan.seeds[name] ?? []) list.push(s.train, s.test);
  };
  const named = new Set([...ROW_ORDER, ...LAST_ROWS]);
  const others = plan.rows.map((r) => r.row).filter((r) => !named.has(r));
  row(ROW_ORDER[0]!);
  list.push(...plan.search['best-of-n']!);
  for (const r of [...ROW_ORDER.slice(1), ...others]) row(r);
  for (const m of SEARCH_METHODS) list.push(...plan.search[m]!, ...plan.plain[m]!);
  for (const g of plan.grid) list.push(g.train, g.test);
  for (const r of plan.rewards) list.push(r.train, r.test);
  list.push(...Object.values(plan.folder));
  for (const b of plan.budgets) list.push(b.test);
  for (const r of LAST_ROWS) row(r);
  const seen = new Set<string>();
  return list.filter((c) => !('key' in c) || (seen.has(c.key) ? false : (seen.add(c.key), true)));
}
