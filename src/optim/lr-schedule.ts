// Learning-rate schedules: pure functions of the step, and a scheduler that sets each parameter
// group's lr from them. The formulas are those of Hugging Face's schedules
// (transformers.optimization / diffusers.optimization: get_constant_schedule,
// get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup and its min-lr variant), so
// that runs can be compared with the reference implementations step for step:
//
//   constant:  lr(s) = lr₀
//   warmup:    lr(s) = lr₀ · s / W  for s < W,  then lr₀
//   cosine:    lr(s) = lr₀ · s / W  for s < W,  then  lr_min + (lr₀ − lr_min) · ½ (1 + cos(π p)),
//              p = min(1, (s − W) / max(1, T − W))
//
// where s is the number of updates already made (0 for the first update), lr₀ the group's base lr,
// W the warm-up steps and T the total steps. As there, the first update of a warm-up has lr 0.
import type { GroupOptions } from './optimizer.js';

/** The lr of the update that follows `step` completed updates, for a group whose base lr is `baseLr`. */
export type Schedule = (step: number, baseLr: number) => number;

/** The options of every schedule; each reads the ones it needs. */
export interface ScheduleOptions {
  /** W: updates over which the lr rises linearly from 0 to the base lr */
  warmupSteps?: number;
  /** T: the length of the run; the cosine reaches minLr there and stays */
  totalSteps?: number;
  /** the cosine's final lr (default 0) */
  minLr?: number;
}

function checkStep(step: number): void {
  if (!Number.isSafeInteger(step) || step < 0) throw new Error(`schedule: step must be a non-negative integer, got ${step}`);
}

function count(v: number | undefined, name: string, schedule: string, required: boolean): number {
  if (v === undefined && !required) return 0;
  if (!Number.isSafeInteger(v) || v! < 0) {
    throw new Error(`${schedule} schedule: ${name} must be a non-negative integer, got ${String(v)}`);
  }
  return v!;
}

/** lr₀ throughout. */
export function constantSchedule(): Schedule {
  return (step, baseLr) => {
    checkStep(step);
    return baseLr;
  };
}

/** Linear warm-up from 0 over W updates, then lr₀. */
export function warmupSchedule(opts: ScheduleOptions): Schedule {
  const W = count(opts.warmupSteps, 'warmupSteps', 'warmup', true);
  return (step, baseLr) => {
    checkStep(step);
    return step < W ? (baseLr * step) / W : baseLr;
  };
}

/** Linear warm-up over W updates, then a half cosine from lr₀ down to minLr at update T. */
export function cosineSchedule(opts: ScheduleOptions): Schedule {
  const W = count(opts.warmupSteps, 'warmupSteps', 'cosine', false);
  const T = count(opts.totalSteps, 'totalSteps', 'cosine', true);
  const minLr = opts.minLr ?? 0;
  if (T < W) throw new Error(`cosine schedule: totalSteps (${T}) must be at least warmupSteps (${W})`);
  if (!(Number.isFinite(minLr) && minLr >= 0)) throw new Error(`cosine schedule: minLr must be a finite number ≥ 0, got ${minLr}`);
  return (step, baseLr) => {
    checkStep(step);
    if (step < W) return (baseLr * step) / W;
    const progress = Math.min(1, (step - W) / Math.max(1, T - W));
    return minLr + (baseLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

const SCHEDULES: Record<string, (opts: ScheduleOptions) => Schedule> = {
  constant: () => constantSchedule(),
  warmup: warmupSchedule,
  cosine: cosineSchedule,
};

/** The names makeSchedule knows. */
export const SCHEDULE_NAMES: readonly string[] = Object.keys(SCHEDULES);

/** A schedule by name (constant, warmup, cosine); an unknown name throws, listing the valid ones. */
export function makeSchedule(name: string, opts: ScheduleOptions = {}): Schedule {
  const make = Object.hasOwn(SCHEDULES, name) ? SCHEDULES[name] : undefined;
  if (!make) throw new Error(`unknown learning-rate schedule '${name}': expected one of ${SCHEDULE_NAMES.join(', ')}`);
  return make(opts);
}

/** What LRScheduler needs of an optimizer: groups with a writable lr. */
export interface HasParamGroups {
  readonly paramGroups: readonly GroupOptions[];
}

/**
 * Sets every group's lr from a schedule. It records each group's lr at construction as that
 * group's base lr₀ and sets the lr of the first update at once; call step() after each
 * optimizer.step() (as torch.optim.lr_scheduler.LambdaLR):
 *
 *   const sched = new LRScheduler(opt, makeSchedule('cosine', { warmupSteps: 100, totalSteps: 10_000 }));
 *   for (...) { loss.backward(); opt.step(); opt.zeroGrad(); sched.step(); }
 */
export class LRScheduler {
  /** each group's lr₀ */
  readonly baseLrs: number[];
  private done = 0;

  constructor(
    readonly optimizer: HasParamGroups,
    readonly schedule: Schedule,
  ) {
    this.baseLrs = optimizer.paramGroups.map((g) => g.lr);
    this.apply();
  }

  /** The number of updates made so far (the lrs now set are those of update `stepCount + 1`). */
  get stepCount(): number {
    return this.done;
  }

  /** Advances by one update and sets the lrs for the next one. */
  step(): void {
    this.done += 1;
    this.apply();
  }

  /** The lrs now set, one per group. */
  lrs(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  stateDict(): { step: number; baseLrs: number[] } {
    return { step: this.done, baseLrs: [...this.baseLrs] };
  }

  /** Restores the step and the base lrs (as saved by stateDict, possibly through JSON) and sets the lrs. */
  loadStateDict(sd: unknown): void {
    const s = sd as { step?: unknown; baseLrs?: unknown } | null;
    const n = this.optimizer.paramGroups.length;
    if (typeof s !== 'object' || s === null || !Number.isSafeInteger(s.step) || (s.step as number) < 0) {
      throw new Error('LRScheduler.loadStateDict: expected { step: a non-negative integer, baseLrs }');
    }
    if (!Array.isArray(s.baseLrs) || !s.baseLrs.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new Error('LRScheduler.loadStateDict: baseLrs must be an array of numbers');
    }
    if (s.baseLrs.length !== n) {
      throw new Error(`LRScheduler.loadStateDict: the state has base lrs for ${s.baseLrs.length} parameter groups, the optimizer has ${n}`);
    }
    this.done = s.step as number;
    this.baseLrs.splice(0, this.baseLrs.length, ...(s.baseLrs as number[]));
    this.apply();
  }

  private apply(): void {
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = this.schedule(this.done, this.baseLrs[i]!);
    });
  }
}
