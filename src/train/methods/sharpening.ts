// Diffusion-Sharpening (Tian et al. 2025, "Diffusion-Sharpening: Fine-tuning Diffusion Models with
// Denoising Trajectory Sharpening", arXiv 2502.12146), its two losses as pure functions over a
// model, a reward callback and a batch; the algorithm as implemented is in docs/methods.md §3.
//
// Both variants share one core: for every example (x0, c) draw t ~ U[0, T) and m' = min(m, 1 + ⌊t/Δ⌋),
// n noises ε_i, x_t^i = √ᾱ_t x0 + √(1−ᾱ_t) ε_i, and unroll m' DDIM steps from t with stride Δ = ⌊T/S⌋,
// keeping ε̂_{i,k} and x̂0_{i,k}; R_i = mean_k R(decode(x̂0_{i,k}), c), L_i = mean_k ‖ε̂_{i,k} − ε_i‖²
// (‖·‖² is the mean over C·H·W, as F.mse_loss, and the target is the original ε_i at every step).
//   SFT:  loss = mean_b L_{b,i*},  i* = argmax_i R_{b,i} per example (docs/methods.md §3, step 5: the authors'
//         code takes the argmax across the whole batch, which is only right at batch size 1).
//   RLHF: w = argmax R, l = argmin R per prompt; ref_i under the frozen reference;
//         loss = mean_b −log σ(β((ref_w − ref_l) − (L_w − L_l))); (R_w − R_l) is logged, not added.
//
// Decisions of "Choices that the authors' code leaves open":
// - Layout: the B·n trajectories are rows r = b·n + i (example-major) and go through the network
//   as one batch with per-sample timesteps. Examples have different m'; rows are active at step k
//   while k < m'_b and only active rows are run (a shrinking batch; this is the "mask": no row ever
//   sees a timestep below 0, and a finished row adds neither reward nor loss).
// - gradPath 'recompute' (default): every trajectory is rolled out under noGrad (storing t, ε_i,
//   the DDIM noises z when η > 0, and x at each step), the winners (and losers) are chosen, and
//   only those are unrolled again with a graph from x_t, replaying the same z. 'full' keeps the
//   graph of all n (the authors' way) and indexes the chosen rows; both give the same gradient.
//   With n = 1 there is nothing to choose, and 'recompute' runs as 'full' (one unroll, not two).
// - detachBetweenSteps: false (default, as the authors' code: the gradient runs through the whole
//   unrolled trajectory) or true (x is detached between steps: a truncated, per-step gradient).
// - v-prediction models: ε̂ is the ε implied by the output (schedule.predictX0AndEps), so the target
//   stays ε_i (docs/methods.md §3, step 3).
// - target: 'noise' (default, docs/methods.md §3, step 4) regresses every unrolled step on ε_i; 'x0' (this
//   project's option) on the ε that takes the step's x_k back to x0. Measured on the world's base
//   model, the unrolled steps with 'noise' lower the held-out score far more than 'x0' does
//   (results/sharpening/README.md).
// - Ties in R pick the lowest trajectory index (argmax and argmin alike). When all n rewards of a
//   prompt are equal, w = l and that prompt's RLHF term is log 2 with no gradient.
// - Rewards are only compared within an example (argmax/argmin), so their scale does not matter.
//   A non-finite reward is an Error naming the value, the example, the trajectory and the step.
// - The scheduler's S is set to o.S (setTimesteps) if it differs, so its stride is Δ = ⌊T/S⌋.
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';
import type { NoiseSchedule, Scheduler } from '../../diffusion/index.js';
import type { TextToImageModel } from '../../models/t2i.js';
import type { TextEncoding } from '../../models/text-encoder.js';
import { resolveSharpeningOptions, type SharpeningOptions } from './sharpening-options.js';
import { selectPerExample, type RewardFn } from '../rollout.js';

export { SHARPENING_DEFAULTS, type SharpeningOptions } from './sharpening-options.js';

export interface SharpeningBatchResult {
  /** scalar, with the graph to the model's parameters */
  loss: Tensor;
  logs: {
    /** mean of R_i over all B·n trajectories */
    rewardMean: number;
    /** mean over examples of max_i R_i */
    rewardBest: number;
    /** mean over examples of min_i R_i */
    rewardWorst: number;
    /** i* (SFT) or w (RLHF) per example, in [0, n) */
    chosen: number[];
    /** l per prompt (RLHF) */
    rejected?: number[];
    /** mean over prompts of R_w − R_l (RLHF; logged only: it carries no gradient) */
    rewardGap?: number;
  };
}

/** What a loss trains on: images in [−1, 1] and their prompts. */
export interface SharpeningBatch {
  /** SFT: [B, C, H, W], one per prompt; RLHF: [B·n, C, H, W], rows b·n + i */
  x0: Tensor;
  /** the B prompts: what the reward scores against */
  prompts: string[];
  /** the B prompts the networks are conditioned on, when they differ (caption dropout: some are '');
   *  default: prompts */
  conditionPrompts?: string[];
}

function conditionOf(fn: string, batch: SharpeningBatch): string[] {
  const c = batch.conditionPrompts ?? batch.prompts;
  if (c.length !== batch.prompts.length) throw new Error(`${fn}: ${c.length} condition prompts for ${batch.prompts.length} prompts`);
  return c;
}

/** Fixed draws instead of the global generator's (tests, exact replays). */
export interface SharpeningDraws {
  /** t per example, integers in [0, T) */
  t: number[];
  /** ε per trajectory, [B·n, C, H, W], rows b·n + i */
  noise: Tensor;
}

// ------------------------------------------------------------------ the shared core

/** One unrolled step over the rows active at it. */
interface StepRecord {
  /** positions of the active rows in the unroll's row list */
  pos: number[];
  /** global trajectory ids (b·n + i) of the active rows */
  ids: number[];
  /** timesteps of the active rows */
  t: number[];
  /** ε̂ [A, C, H, W] (with a graph when recorded with one) */
  epsHat: Tensor;
  /** x̂0 [A, C, H, W], detached */
  x0Hat: Tensor;
  /** x the step started from [A, C, H, W], detached */
  xIn: Tensor;
  /** DDIM noise z of the step [A, C, H, W] (η > 0), detached */
  z: Tensor | null;
}

interface Plan {
  B: number;
  n: number;
  T: number;
  delta: number;
  /** t per example */
  t: number[];
  /** m' per example */
  mPrime: number[];
  /** ε per trajectory [B·n, C, H, W] */
  eps: Tensor;
  /** x_t per trajectory [B·n, C, H, W] */
  xt: Tensor;
  /** x0 per trajectory [B·n, C, H, W] */
  x0: Tensor;
  /** ᾱ by timestep (for the 'x0' target) */
  alphasCumprod: readonly number[];
  target: SharpeningOptions['target'];
}

function int64(values: number[]): Tensor {
  return torch.fromTypedArray(BigInt64Array.from(values.map((v) => BigInt(v))), [values.length]);
}

/** Steps 1–2 (docs/methods.md §3): t, m' per example; ε_i and x_t^i per trajectory. The caller disposes eps, xt. */
function drawPlan(
  fn: string, schedule: NoiseSchedule, scheduler: Scheduler, x0Rows: Tensor, B: number, o: SharpeningOptions,
  draws?: SharpeningDraws,
): Plan {
  if (scheduler.schedule.numTrainTimesteps !== schedule.numTrainTimesteps) {
    throw new Error(`${fn}: the scheduler's schedule has T = ${scheduler.schedule.numTrainTimesteps}, the schedule T = ${schedule.numTrainTimesteps}`);
  }
  const T = schedule.numTrainTimesteps;
  if (o.S > T) throw new Error(`${fn}: S = ${o.S} exceeds T = ${T}`);
  if (scheduler.numInferenceSteps !== o.S) scheduler.setTimesteps(o.S);
  const delta = schedule.stride(o.S); // Δ = ⌊T/S⌋, the scheduler's stride too
  const n = o.n;
  let t: number[];
  if (draws) {
    t = [...draws.t];
    if (t.length !== B) throw new Error(`${fn}: draws.t has ${t.length} timesteps for ${B} examples`);
    for (const v of t) if (!Number.isInteger(v) || v < 0 || v >= T) throw new Error(`${fn}: draws.t holds ${v}, outside [0, ${T - 1}]`);
    const want = [B * n, ...x0Rows.shape.slice(1)];
    if (draws.noise.shape.join() !== want.join()) {
      throw new Error(`${fn}: draws.noise has shape [${draws.noise.shape.join(', ')}], expected [${want.join(', ')}]`);
    }
  } else {
    // step 1: t ~ U[0, T) per example
    const tt = torch.randint(0, T, [B]);
    t = Array.from(tt.toTypedArray() as BigInt64Array, (v) => Number(v));
    tt.dispose();
  }
  // m' = min(m, 1 + ⌊t/Δ⌋): the last step starts at t − (m'−1)Δ ≥ 0
  const mPrime = t.map((s) => Math.min(o.m, 1 + Math.floor(s / delta)));
  return torch.tidy(() => {
    // step 2: n noises per example; x_t^i = √ᾱ_t x0 + √(1−ᾱ_t) ε_i
    const eps = draws ? draws.noise.detach() : torch.randn([B * n, ...x0Rows.shape.slice(1)], { dtype: x0Rows.dtype });
    const tRows = int64(t.flatMap((s) => new Array<number>(n).fill(s)));
    const x0 = x0Rows.detach().clone();
    const xt = schedule.addNoise(x0, eps, tRows);
    return { B, n, T, delta, t, mPrime, eps, xt, x0, alphasCumprod: schedule.alphasCumprod, target: o.target };
  });
}

/**
 * Step 3 (docs/methods.md §3): unrolls the trajectories `ids` (global ids b·n + i) from x_t for m'_b DDIM
 * steps, one batched network call per step over the rows still active. With `replay`, the DDIM
 * noise of each step is taken from that earlier unroll (same ids), so the trajectory is the same.
 * Runs with the graph when gradients are enabled; x̂0, x and z are stored detached.
 */
function unroll(
  model: TextToImageModel, scheduler: Scheduler, text: TextEncoding, plan: Plan, ids: number[],
  o: SharpeningOptions, replay?: StepRecord[],
): StepRecord[] {
  return torch.tidy(() => {
    const records: StepRecord[] = [];
    let pos = ids.map((_, j) => j);
    let x = plan.xt.indexSelect(0, int64(ids)); // [R, C, H, W]
    for (let k = 0; pos.length > 0; k++) {
      const rowIds = pos.map((j) => ids[j]!);
      const examples = rowIds.map((id) => Math.floor(id / plan.n));
      const tk = examples.map((b) => plan.t[b]! - k * plan.delta); // t − kΔ ≥ 0 while k < m'_b
      const exIdx = int64(examples);
      const tTensor = int64(tk);
      const modelOut = model.predict(x, tTensor, {
        hidden: text.hidden.indexSelect(0, exIdx), pooled: text.pooled.indexSelect(0, exIdx), mask: text.mask.indexSelect(0, exIdx),
      });
      let z: Tensor | undefined;
      if (replay && o.eta > 0) {
        const rec = replay[k];
        if (!rec) throw new Error(`sharpening: internal: no step ${k} to replay`);
        z = rec.z!.indexSelect(0, int64(rowIds.map((id) => rec.ids.indexOf(id))));
      }
      const out = scheduler.step(modelOut, tTensor, x, { eta: o.eta, ...(z ? { noise: z } : {}) });
      // ε̂: the network's ε, or the one implied by a v output
      const epsHat = scheduler.schedule.predictionType === 'epsilon'
        ? modelOut
        : scheduler.schedule.predictX0AndEps(modelOut, x, tTensor).eps;
      records.push({
        pos, ids: rowIds, t: tk, epsHat, x0Hat: out.predOriginalSample.detach(), xIn: x.detach(),
        z: out.noise ? out.noise.detach() : null,
      });
      // the rows that take step k + 1
      const keep: number[] = [];
      pos.forEach((j, a) => { if (k + 1 < plan.mPrime[examples[a]!]!) keep.push(a); });
      if (keep.length === 0) break;
      const next = keep.length === pos.length ? out.prevSample : out.prevSample.indexSelect(0, int64(keep));
      x = o.detachBetweenSteps ? next.detach() : next;
      pos = keep.map((a) => pos[a]!);
    }
    return records;
  });
}

/** The regression target of the rows of one unrolled step (no graph): ε_r, or with target 'x0' the ε
 *  that takes the step's input x_k to the row's x0: (x_k − √ᾱ_k x0)/√(1−ᾱ_k). */
function stepTarget(rec: StepRecord, plan: Plan): Tensor {
  return torch.tidy(() => {
    const idx = int64(rec.ids);
    if (plan.target === 'noise') return plan.eps.indexSelect(0, idx);
    const col = (f: (ab: number) => number) =>
      torch.fromTypedArray(Float32Array.from(rec.t.map((t) => f(plan.alphasCumprod[t]!))), [rec.t.length, 1, 1, 1]).to(plan.x0.dtype);
    return rec.xIn.sub(plan.x0.indexSelect(0, idx).mul(col(Math.sqrt))).div(col((ab) => Math.sqrt(1 - ab)));
  });
}

/** Step 4: L_r = mean_k ‖ε̂_{r,k} − target_{r,k}‖² per row of the unroll ([R], with the records' graph);
 *  the target is ε_r (docs/methods.md §3, step 4) or, with target 'x0', stepTarget's. */
function trajectoryLoss(records: StepRecord[], plan: Plan, R: number, ids: number[]): Tensor {
  return torch.tidy(() => {
    let sum = torch.zeros([R], { dtype: plan.eps.dtype });
    for (const rec of records) {
      const target = stepTarget(rec, plan);
      const perRow = rec.epsHat.sub(target).square().mean([1, 2, 3]); // [A]
      sum = sum.scatterAdd(0, int64(rec.pos), perRow);
    }
    const mp = ids.map((id) => plan.mPrime[Math.floor(id / plan.n)]!);
    return sum.div(torch.fromTypedArray(Float32Array.from(mp), [R]).to(sum.dtype));
  });
}

/** RLHF step 3: ref_r = mean over the first (or all m') steps of ‖ε_ref(x, t, c) − ε_r‖², no graph. */
function referenceLoss(
  reference: TextToImageModel, schedule: NoiseSchedule, prompts: string[], records: StepRecord[], plan: Plan, R: number, ids: number[],
  over: 'first' | 'all',
): Tensor {
  return torch.noGrad(() => torch.tidy(() => {
    const text = reference.encode(prompts);
    const used = over === 'first' ? records.slice(0, 1) : records;
    let sum = torch.zeros([R], { dtype: plan.eps.dtype });
    for (const rec of used) {
      const exIdx = int64(rec.ids.map((id) => Math.floor(id / plan.n)));
      const out = reference.predict(rec.xIn, int64(rec.t), {
        hidden: text.hidden.indexSelect(0, exIdx), pooled: text.pooled.indexSelect(0, exIdx), mask: text.mask.indexSelect(0, exIdx),
      });
      const epsRef = schedule.predictionType === 'epsilon' ? out : schedule.predictX0AndEps(out, rec.xIn, int64(rec.t)).eps;
      const perRow = epsRef.sub(stepTarget(rec, plan)).square().mean([1, 2, 3]);
      sum = sum.scatterAdd(0, int64(rec.pos), perRow);
    }
    const steps = ids.map((id) => (over === 'first' ? 1 : plan.mPrime[Math.floor(id / plan.n)]!));
    return sum.div(torch.fromTypedArray(Float32Array.from(steps), [R]).to(sum.dtype));
  }));
}

/** Step 3's scores: R_r = mean_k R(decode(x̂0_{r,k}), c) for every trajectory of the rollout. */
async function scoreTrajectories(
  fn: string, records: StepRecord[], plan: Plan, prompts: string[], reward: RewardFn,
): Promise<number[]> {
  const sums = new Array<number>(plan.B * plan.n).fill(0);
  for (let k = 0; k < records.length; k++) {
    const rec = records[k]!;
    const images = torch.tidy(() => rec.x0Hat.add(1).div(2).clamp(0, 1)); // decode: [-1, 1] → [0, 1]
    const rowPrompts = rec.ids.map((id) => prompts[Math.floor(id / plan.n)]!);
    let r: number[];
    try {
      r = await reward(images, rowPrompts);
    } finally {
      images.dispose();
    }
    if (!Array.isArray(r) || r.length !== rec.ids.length) {
      throw new Error(`${fn}: the reward returned ${Array.isArray(r) ? `${r.length} values` : String(r)} for ${rec.ids.length} images`);
    }
    rec.ids.forEach((id, a) => {
      const v = r[a]!;
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        const b = Math.floor(id / plan.n);
        throw new Error(
          `${fn}: the reward is ${String(v)} for example ${b} (prompt ${JSON.stringify(prompts[b])}), trajectory ${id % plan.n}, ` +
          `unrolled step ${k} (timestep ${rec.t[a]}); a reward must be a finite number`,
        );
      }
      sums[id]! += v;
    });
  }
  return sums.map((s, id) => s / plan.mPrime[Math.floor(id / plan.n)]!);
}

function rewardLogs(R: number[], B: number, n: number, best: number[], worst: number[]) {
  const mean = (v: number[]) => v.reduce((a, c) => a + c, 0) / v.length;
  return {
    rewardMean: mean(R),
    rewardBest: mean(best.map((i, b) => R[b * n + i]!)),
    rewardWorst: mean(worst.map((i, b) => R[b * n + i]!)),
  };
}

function disposeRecords(records: StepRecord[] | null): void {
  for (const r of records ?? []) for (const t of [r.epsHat, r.x0Hat, r.xIn, r.z]) t?.dispose();
}

/**
 * The rollout of all B·n trajectories, their rewards, and the unroll that carries the graph for the
 * rows `chosenIds(R)` ('full': the rollout itself; 'recompute': a replay of those rows only).
 * Returns the graph unroll and where each chosen id sits in it.
 */
async function rolloutAndChoose(
  fn: string, model: TextToImageModel, scheduler: Scheduler, plan: Plan, prompts: string[], condition: string[], reward: RewardFn,
  o: SharpeningOptions, chosenIds: (R: number[]) => number[],
  use: (graph: StepRecord[], graphIds: number[], at: (ids: number[]) => number[], R: number[]) => Tensor,
  /** rewards that rank the trajectories instead of their own (rows b·n + i); the trajectories are then
   *  not scored, and with 'recompute' only the chosen ones are unrolled */
  given?: number[],
): Promise<{ loss: Tensor; R: number[] }> {
  const all = Array.from({ length: plan.B * plan.n }, (_, j) => j);
  let rollout: StepRecord[] | null = null;
  let graph: StepRecord[] | null = null;
  try {
    if (given && o.gradPath === 'recompute') {
      // the ranking is given, so the unchosen trajectories are never looked at: unroll only the
      // chosen ones, with a graph (with η > 0 they draw their own DDIM noise; there is no rollout to replay)
      const ids = chosenIds(given);
      graph = torch.enableGrad(() => torch.tidy(() => unroll(model, scheduler, model.encode(condition), plan, ids, o)));
      return { loss: use(graph, ids, (want) => want.map((id) => ids.indexOf(id)), given), R: given };
    }
    // with n = 1 every trajectory is chosen whatever the rewards: a replay would only repeat the
    // rollout, so the rollout itself carries the graph (the same gradient, half the network calls)
    const full = o.gradPath === 'full' || plan.n === 1;
    if (full) {
      // the authors' way: the graph of all n trajectories (and every unrolled step)
      rollout = torch.tidy(() => unroll(model, scheduler, model.encode(condition), plan, all, o));
    } else {
      rollout = torch.noGrad(() => torch.tidy(() => unroll(model, scheduler, model.encode(condition), plan, all, o)));
    }
    const R = given ?? await scoreTrajectories(fn, rollout, plan, prompts, reward);
    const ids = chosenIds(R);
    if (full) {
      const loss = use(rollout, all, (want) => want, R);
      return { loss, R };
    }
    // recompute only the chosen trajectories with a graph, replaying the rollout's DDIM noise
    const rolled = rollout;
    graph = torch.enableGrad(() => torch.tidy(() => unroll(model, scheduler, model.encode(condition), plan, ids, o, rolled)));
    const loss = use(graph, ids, (want) => want.map((id) => ids.indexOf(id)), R);
    return { loss, R };
  } finally {
    disposeRecords(rollout);
    disposeRecords(graph);
  }
}

// ------------------------------------------------------------------ SFT-Diffusion-Sharpening

/**
 * SFT-Diffusion-Sharpening (docs/methods.md §3, steps 1–5; Tian et al. 2025, §3): the loss of the best of n
 * short trajectories per example. batch.x0 is [B, 3, H, W] in [−1, 1], one prompt per image.
 * Draws t and ε from the global generator (seed it with torch.manualSeed), or uses `draws`.
 */
export async function sftSharpeningLoss(
  model: TextToImageModel, schedule: NoiseSchedule, scheduler: Scheduler,
  batch: SharpeningBatch, reward: RewardFn, opts: Partial<SharpeningOptions> = {},
  draws?: SharpeningDraws,
): Promise<SharpeningBatchResult> {
  const fn = 'sftSharpeningLoss';
  const o = resolveSharpeningOptions(fn, opts);
  const B = batch.x0.shape[0]!;
  if (batch.x0.ndim !== 4) throw new Error(`${fn}: batch.x0 must be [B, C, H, W], got [${batch.x0.shape.join(', ')}]`);
  if (batch.prompts.length !== B) throw new Error(`${fn}: ${batch.prompts.length} prompts for ${B} images`);
  const n = o.n;
  const x0Rows = torch.tidy(() => batch.x0.detach().repeatInterleave(n, 0)); // [B·n, C, H, W], rows b·n + i
  const plan = drawPlan(fn, schedule, scheduler, x0Rows, B, o, draws);
  x0Rows.dispose();
  try {
    let best: number[] = [];
    let worst: number[] = [];
    let chosen: number[] = [];
    const { loss, R } = await rolloutAndChoose(fn, model, scheduler, plan, batch.prompts, conditionOf(fn, batch), reward, o,
      (R) => {
        // step 5: i* = argmax_i R_i per example (not across the batch); argmin with select 'worst'
        ({ best, worst } = selectPerExample(R, B, n));
        chosen = o.select === 'worst' ? worst : best;
        return chosen.map((i, b) => b * n + i);
      },
      (graph, graphIds, at) => torch.tidy(() => {
        const L = trajectoryLoss(graph, plan, graphIds.length, graphIds); // [R]
        return L.indexSelect(0, int64(at(chosen.map((i, b) => b * n + i)))).mean(); // mean_b L_{b,i*}
      }),
    );
    return { loss, logs: { ...rewardLogs(R, B, n, best, worst), chosen } };
  } finally {
    plan.eps.dispose();
    plan.xt.dispose();
    plan.x0.dispose();
  }
}

// ------------------------------------------------------------------ RLHF-Diffusion-Sharpening

/**
 * RLHF-Diffusion-Sharpening (docs/methods.md §3; Tian et al. 2025, §3): a Diffusion-DPO-style loss between
 * the best and the worst of n trajectories per prompt, against a frozen reference.
 * batch.x0: the n images per prompt the caller generated with the current model, [B·n, 3, H, W] in
 * [−1, 1], rows b·n + i; batch.prompts: the B prompts.
 */
export async function rlhfSharpeningLoss(
  model: TextToImageModel, reference: TextToImageModel, schedule: NoiseSchedule, scheduler: Scheduler,
  batch: SharpeningBatch, reward: RewardFn, opts: Partial<SharpeningOptions> = {},
  draws?: SharpeningDraws, rankRewards?: number[],
): Promise<SharpeningBatchResult> {
  const fn = 'rlhfSharpeningLoss';
  const o = resolveSharpeningOptions(fn, opts);
  const n = o.n;
  if (n < 2) throw new Error(`${fn}: needs n ≥ 2 trajectories per prompt (a winner and a loser), got n = ${n}`);
  const B = batch.prompts.length;
  if (batch.x0.ndim !== 4) throw new Error(`${fn}: batch.x0 must be [B·n, C, H, W], got [${batch.x0.shape.join(', ')}]`);
  if (batch.x0.shape[0] !== B * n) {
    throw new Error(`${fn}: batch.x0 holds ${batch.x0.shape[0]} images for ${B} prompts × n = ${n}: expected ${B * n} (rows b·n + i)`);
  }
  if (rankRewards !== undefined && (rankRewards.length !== B * n || !rankRewards.every(Number.isFinite))) {
    throw new Error(`${fn}: rankRewards must be ${B * n} finite numbers (one per rollout, rows b·n + i), got ${rankRewards.length}: ${rankRewards.slice(0, 4).join(', ')}…`);
  }
  const plan = drawPlan(fn, schedule, scheduler, batch.x0, B, o, draws);
  try {
    let w: number[] = [];
    let l: number[] = [];
    // R is the trajectories' rewards (docs/methods.md §3, step 4) unless the caller ranks by others (rankBy 'image':
    // the generated images' own), which the logs then describe too
    const { loss, R } = await rolloutAndChoose(fn, model, scheduler, plan, batch.prompts, conditionOf(fn, batch), reward, o,
      (R) => {
        // step 5: w = argmax R, l = argmin R per prompt
        ({ best: w, worst: l } = selectPerExample(R, B, n));
        return [...w.map((i, b) => b * n + i), ...l.map((i, b) => b * n + i)];
      },
      (graph, graphIds, at) => torch.tidy(() => {
        const L = trajectoryLoss(graph, plan, graphIds.length, graphIds); // [R], policy, with graph
        const ref = referenceLoss(reference, schedule, conditionOf(fn, batch), graph, plan, graphIds.length, graphIds, o.referenceOver); // [R]
        const wIdx = int64(at(w.map((i, b) => b * n + i)));
        const lIdx = int64(at(l.map((i, b) => b * n + i)));
        const refDiff = ref.indexSelect(0, wIdx).sub(ref.indexSelect(0, lIdx)); // ref_w − ref_l
        const modelDiff = L.indexSelect(0, wIdx).sub(L.indexSelect(0, lIdx)); // L_w − L_l
        // −log σ(β((ref_w − ref_l) − (L_w − L_l))), mean over prompts
        const dpo = torch.F.logsigmoid(refDiff.sub(modelDiff).mul(o.beta)).neg().mean();
        // + λ · mean_b L_w (winnerWeight, this project's option; 0 by default): the winner's own
        // denoising loss, as SFT-Sharpening trains it, anchors the policy where the DPO term alone
        // can lower the loser's likelihood without bound (the DPO + NLL form of Pang et al. 2024,
        // "Iterative Reasoning Preference Optimization", arXiv 2404.19733, eq. 2)
        return o.winnerWeight > 0 ? dpo.add(L.indexSelect(0, wIdx).mean().mul(o.winnerWeight)) : dpo;
      }),
      rankRewards,
    );
    const gaps = w.map((i, b) => R[b * n + i]! - R[b * n + l[b]!]!);
    return {
      loss,
      logs: { ...rewardLogs(R, B, n, w, l), chosen: w, rejected: l, rewardGap: gaps.reduce((a, c) => a + c, 0) / B },
    };
  } finally {
    plan.eps.dispose();
    plan.xt.dispose();
    plan.x0.dispose();
  }
}
