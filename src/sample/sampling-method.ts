// Inference-time methods (docs/methods.md, "Inference-time methods"): one interface, a
// registry by name, and what the methods share: the options every method takes, a sampling context
// that makes every network call and counts it (the NFE), the reward calls, and budget sizing.
//
// NFE convention (docs/methods.md and diffusion/guidance.ts): one network evaluation of one image is
// 1 NFE, classifier-free guidance counts 2 (the unconditional and the conditional branch), and every
// call counts — the sampler's own steps, the look-aheads of candidates, the samples of a search that
// are thrown away. `nfePerImage` is the total over all calls divided by the number of prompts, so it
// equals (rows that went through the UNet) / B, which the tests check by wrapping the network.
// Reward calls are not NFE (Ma et al. 2025 count verifier cost apart); the log reports them.
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { TextToImageModel } from '../models/t2i.js';
import type { TextEncoding } from '../models/text-encoder.js';
import { guidedPrediction, makeModelScheduler, noiseSchedule } from '../models/generate.js';
import { nfePerStep, type NoiseSchedule, type Scheduler, type StepOptions } from '../diffusion/index.js';
import { checkOutput, type Reward } from '../rewards/reward.js';
import { formatZodIssue } from '../util/config.js';

// ---------------------------------------------------------------- options

function isReward(v: unknown): v is Reward {
  return typeof v === 'object' && v !== null && typeof (v as Reward).score === 'function' && typeof (v as Reward).name === 'string';
}

/** The options every method takes (each method extends them with its own and rejects unknown keys). */
export const commonOptionsFields = {
  /** the verifier R(x, c); required by every method that searches (not by plain) */
  reward: z.custom<Reward>(isReward, { message: 'must be a Reward (e.g. from makeReward(name))' }).optional(),
  /** the most NFE per image the method may spend; the method sizes itself to it and never exceeds it */
  budgetNfe: z.number().int().positive().optional(),
  /** S, the sampler's steps (default: the checkpoint's) */
  steps: z.number().int().positive().optional(),
  /** classifier-free guidance scale w (default: the checkpoint's); w = 1 costs 1 NFE a call, else 2 */
  guidanceScale: z.number().min(0).optional(),
  /** a registered scheduler: 'ddim' (default) or 'ddpm' */
  scheduler: z.string().optional(),
  /** DDIM's η (default: the method's; plain and search: the scheduler's, 0) */
  eta: z.number().min(0).max(1).optional(),
  /** seeds the global generator first (torch.manualSeed); absent: the generator is used as it stands */
  seed: z.number().int().nonnegative().optional(),
};

/** Options of the methods that run many rows at once. */
export const batchOptionFields = {
  /** the most images per network call (a guided call runs twice as many rows); default 64 */
  batchSize: z.number().int().positive().optional(),
};

export type CommonOptions = z.infer<z.ZodObject<typeof commonOptionsFields>>;

/** Parses a method's options with its strict schema; errors name the method and every bad field. */
export function parseOptions<S extends z.ZodType>(schema: S, opts: unknown, method: string): z.infer<S> {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new Error(`method '${method}': options must be an object`);
  const r = schema.safeParse(opts);
  if (!r.success) {
    const msg = r.error.issues
      .map((i) => {
        if (i.code === 'unrecognized_keys') {
          const valid = schema instanceof z.ZodObject ? Object.keys(schema.shape).sort().join(', ') : '';
          return `unknown option${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `'${k}'`).join(', ')} (valid: ${valid})`;
        }
        return formatZodIssue(i, '(options)');
      })
      .join('; ');
    throw new Error(`method '${method}': ${msg}`);
  }
  return r.data;
}

/** The sampler settings common to all methods, resolved against the model's defaults. */
export interface Resolved {
  steps: number;
  guidanceScale: number;
  scheduler: string;
  eta: number | undefined;
  /** NFE of one network call on one image: 2 with guidance, 1 without */
  nfePerCall: number;
  /** NFE of one ordinary sample: steps × nfePerCall */
  nfePerSample: number;
}

export function resolveCommon(model: TextToImageModel, o: CommonOptions, defaults: { eta?: number } = {}): Resolved {
  const steps = o.steps ?? model.config.sampling.steps;
  const guidanceScale = o.guidanceScale ?? model.config.sampling.guidanceScale;
  const nfePerCall = nfePerStep(guidanceScale);
  return {
    steps,
    guidanceScale,
    scheduler: o.scheduler ?? 'ddim',
    eta: o.eta ?? defaults.eta,
    nfePerCall,
    nfePerSample: steps * nfePerCall,
  };
}

/**
 * The η of a method that needs a stochastic step: the caller's when given; otherwise none for a
 * scheduler that is stochastic on its own (DDPM), and 1 for one that is not (DDIM η = 1, whose
 * variance is DDPM's posterior variance). Asks the scheduler, never its name.
 */
export function stochasticEta(model: TextToImageModel, o: CommonOptions): number | undefined {
  if (o.eta !== undefined) return o.eta;
  const schedule = noiseSchedule(model);
  try {
    return makeModelScheduler(model, o.scheduler ?? 'ddim', schedule).supportsLogProb ? undefined : 1;
  } finally {
    schedule.dispose();
  }
}

/** A method that searches needs a reward. */
export function requireReward(o: { reward?: Reward }, method: string): Reward {
  if (!o.reward) throw new Error(`method '${method}' needs a reward (option 'reward', e.g. --reward NAME)`);
  return o.reward;
}

/** The error of a budget that cannot pay for the method's smallest setting. */
/** A budget a method cannot work within: the configuration's own error (the same on every try). */
export class BudgetTooSmallError extends Error {}

export function budgetTooSmall(method: string, budget: number, need: number, what: string): Error {
  return new BudgetTooSmallError(`method '${method}': a budget of ${budget} NFE per image is too small: ${what} needs at least ${need} NFE`);
}

// ---------------------------------------------------------------- the interface

/** What a method spends and how it is set, once sized to the budget. */
export interface MethodPlan {
  /** NFE per image the method will spend (exactly) */
  nfePerImage: number;
  /** the resolved settings (e.g. N, K, iterations, steps, guidanceScale) */
  settings: Record<string, number | string | boolean | null>;
}

export interface SampleLog {
  method: string;
  budgetNfe: number | null;
  settings: MethodPlan['settings'];
  /** NFE per image actually spent (counted call by call) */
  nfePerImage: number;
  /** verifier cost: reward calls and the images they scored */
  rewardCalls: number;
  rewardImages: number;
  /** the reward of each returned image, when a reward was given (NaN where the reward could not score) */
  scores?: number[];
  /** method-specific trace (per iteration or per step) */
  trace?: Record<string, unknown>[];
}

export interface SampleResult {
  /** [B, 3, H, W] in [0, 1], one per prompt */
  images: Tensor;
  nfePerImage: number;
  log: SampleLog;
}

export interface SamplingMethod {
  readonly name: string;
  readonly description: string;
  /** Validates the options and sizes the method to the budget; throws on bad options or a budget too small. */
  plan(model: TextToImageModel, opts: Record<string, unknown>): MethodPlan;
  /** One image per prompt. */
  sample(model: TextToImageModel, prompts: string[], opts: Record<string, unknown>): Promise<SampleResult>;
}

// ---------------------------------------------------------------- the registry

const METHODS = new Map<string, SamplingMethod>();

/** Adds a method (names are unique). */
export function registerMethod(m: SamplingMethod): void {
  if (!m || typeof m.sample !== 'function' || typeof m.plan !== 'function') throw new Error('registerMethod: not a SamplingMethod');
  if (METHODS.has(m.name)) throw new Error(`registerMethod: a method named '${m.name}' is already registered`);
  METHODS.set(m.name, m);
}

export function methodNames(): string[] {
  return [...METHODS.keys()].sort();
}

/** The method registered under `name`; an unknown name throws with the valid ones. */
export function getMethod(name: string): SamplingMethod {
  const m = METHODS.get(name);
  if (!m) throw new Error(`unknown sampling method '${name}': valid methods are ${methodNames().join(', ') || '(none registered)'}`);
  return m;
}

// ---------------------------------------------------------------- the sampling context

function checkPrompts(prompts: unknown, method: string): string[] {
  if (!Array.isArray(prompts) || prompts.length === 0) throw new Error(`method '${method}': prompts must be a non-empty array of strings`);
  const bad = prompts.findIndex((p) => typeof p !== 'string');
  if (bad >= 0) throw new Error(`method '${method}': prompts[${bad}] is not a string`);
  return prompts as string[];
}

/**
 * Everything a method needs to run the network on rows of images and to score them: the prompts'
 * encodings, the scheduler, the NFE counter and the reward counter. Rows carry the index of their
 * prompt (`promptIndex`), so K candidates of B prompts run as one batch of K·B rows.
 * Dispose when done.
 */
export class SamplingContext {
  readonly B: number;
  readonly C: number;
  readonly size: number;
  readonly scheduler: Scheduler;
  readonly schedule: NoiseSchedule;
  /** the sampling timesteps, descending */
  readonly timesteps: number[];
  /** network evaluations of single images (a guided call of n rows adds 2n) */
  nfeTotal = 0;
  rewardCalls = 0;
  rewardImages = 0;
  private readonly cond: TextEncoding;
  private readonly uncond: TextEncoding | null;
  private readonly stepOpts: StepOptions;

  constructor(
    readonly model: TextToImageModel,
    readonly prompts: string[],
    readonly r: Resolved,
    readonly method: string,
    readonly batchSize = 64,
    readonly reward: Reward | null = null,
  ) {
    checkPrompts(prompts, method);
    this.B = prompts.length;
    this.C = model.config.unet.inChannels;
    this.size = model.config.unet.sampleSize;
    this.schedule = noiseSchedule(model);
    try {
      this.scheduler = makeModelScheduler(model, r.scheduler, this.schedule);
      this.timesteps = this.scheduler.setTimesteps(r.steps);
      this.stepOpts = r.eta === undefined ? {} : { eta: r.eta };
      // fail now, not after the first network call, if η does not fit the scheduler
      torch.tidy(() => {
        const x = torch.zeros([1, this.C, 1, 1]);
        this.scheduler.step(x, this.timesteps[0]!, x, { ...this.stepOpts, noise: this.stochastic ? x : undefined });
      });
    } catch (e) {
      this.schedule.dispose();
      throw e instanceof Error ? new Error(`method '${method}': ${e.message}`) : e;
    }
    model.train(false);
    const { cond, uncond } = torch.noGrad(() =>
      torch.tidy(() => ({
        cond: model.encode(prompts),
        uncond: r.nfePerCall === 2 ? model.encode(new Array<string>(this.B).fill('')) : null,
      })),
    );
    this.cond = cond;
    this.uncond = uncond;
  }

  /** True when step() draws noise with these settings (DDIM η > 0, or DDPM). */
  get stochastic(): boolean {
    return this.scheduler.supportsLogProb || (this.r.eta ?? 0) > 0;
  }

  /** Methods that choose among noises need a stochastic step. */
  requireStochastic(): void {
    if (!this.stochastic) {
      throw new Error(
        `method '${this.method}' needs a stochastic sampler (DDIM with η > 0, or DDPM); ` +
          `scheduler '${this.scheduler.name}' with η = ${this.r.eta ?? 0} is deterministic`,
      );
    }
  }

  /** NFE per image spent so far. */
  get nfePerImage(): number {
    return this.nfeTotal / this.B;
  }

  /** x_T for the B prompts, drawn from the global generator exactly as generate() draws it. */
  initialNoise(): Tensor {
    return torch.randn([this.B, this.C, this.size, this.size]);
  }

  /** The prompt index of each row when `copies` blocks of B rows are stacked (row k·B + b → b). */
  tiledIndex(copies: number): number[] {
    const idx: number[] = [];
    for (let k = 0; k < copies; k++) for (let b = 0; b < this.B; b++) idx.push(b);
    return idx;
  }

  /**
   * The guided network output at x [N, C, H, W] and timestep(s) t (one for all rows, or one per
   * row), for rows whose prompts are `promptIndex` (default: row i is prompt i, N = B). Runs in
   * chunks of batchSize images and adds N × nfePerCall to the count.
   */
  predict(x: Tensor, t: number | number[], promptIndex?: number[]): Tensor {
    const N = x.shape[0]!;
    const idx = promptIndex ?? (N === this.B ? null : undefined);
    if (idx === undefined) throw new Error(`SamplingContext.predict: ${N} rows need a promptIndex (B = ${this.B})`);
    if (idx && idx.length !== N) throw new Error(`SamplingContext.predict: promptIndex has ${idx.length} entries for ${N} rows`);
    const ts = typeof t === 'number' ? new Array<number>(N).fill(t) : t;
    if (ts.length !== N) throw new Error(`SamplingContext.predict: ${ts.length} timesteps for ${N} rows`);
    const out = torch.noGrad(() =>
      torch.tidy(() => {
        const parts: Tensor[] = [];
        for (let s = 0; s < N; s += this.batchSize) {
          const n = Math.min(this.batchSize, N - s);
          const rows = idx ? idx.slice(s, s + n) : Array.from({ length: n }, (_, i) => s + i);
          const sel = torch.tensor(rows, { dtype: 'int64' });
          const pick = (e: TextEncoding) => ({ hidden: e.hidden.indexSelect(0, sel), mask: e.mask.indexSelect(0, sel) });
          const cond = idx === null && n === N ? this.cond : pick(this.cond);
          const uncond = this.uncond ? (idx === null && n === N ? this.uncond : pick(this.uncond)) : null;
          const tt = torch.tensor(ts.slice(s, s + n), { dtype: 'int64' });
          parts.push(guidedPrediction(this.model, x.narrow(0, s, n), tt, cond, uncond, this.r.guidanceScale));
        }
        return parts.length === 1 ? parts[0]! : torch.cat(parts);
      }),
    );
    this.nfeTotal += N * this.r.nfePerCall;
    return out;
  }

  /** One sampler step from x at timestep t with the model output `eps`, replaying `noise` when given. */
  step(eps: Tensor, t: number, x: Tensor, noise?: Tensor): { prev: Tensor; x0: Tensor } {
    return torch.noGrad(() =>
      torch.tidy(() => {
        const o = this.scheduler.step(eps, t, x, noise ? { ...this.stepOpts, noise } : this.stepOpts);
        return { prev: o.prevSample, x0: o.predOriginalSample };
      }),
    );
  }

  /** The previous timestep of t (−1: the step to x0). */
  prevTimestep(t: number): number {
    return this.scheduler.prevTimestep(t);
  }

  /** x̂0 (Tweedie's one-step estimate) at x_t from the model output. */
  predictX0(modelOutput: Tensor, x: Tensor, t: number): Tensor {
    return torch.noGrad(() => torch.tidy(() => this.schedule.predictX0AndEps(modelOutput, x, t).x0));
  }

  /**
   * A whole ordinary sampling run from x_T [N, …] for rows of prompts `promptIndex` (default: the B
   * prompts): S steps with the scheduler (stochastic where η > 0 or DDPM). Returns x0 in [-1, 1];
   * xT stays the caller's.
   */
  denoise(xT: Tensor, promptIndex?: number[]): Tensor {
    let x = xT.view(xT.shape);
    for (let i = 0; i < this.timesteps.length; i++) {
      const t = this.timesteps[i]!;
      const eps = this.predict(x, t, promptIndex);
      const { prev, x0 } = this.step(eps, t, x);
      x0.dispose();
      eps.dispose();
      x.dispose();
      x = prev;
    }
    return x;
  }

  /** [-1, 1] → [0, 1], clamped (what generate() returns and rewards take). */
  static toImages(x0: Tensor): Tensor {
    return torch.tidy(() => x0.add(1).div(2).clamp(0, 1));
  }

  /**
   * Scores images [N, 3, H, W] in [0, 1] of rows whose prompts are promptIndex; NaN where the reward
   * could not score a row (it never wins a selection and gets no weight).
   */
  async score(images: Tensor, promptIndex?: number[]): Promise<number[]> {
    if (!this.reward) throw new Error(`method '${this.method}' needs a reward`);
    const N = images.shape[0]!;
    const idx = promptIndex ?? Array.from({ length: N }, (_, i) => i);
    const prompts = idx.map((b) => this.prompts[b]!);
    const out = await this.reward.score(images, prompts);
    checkOutput(out, N, this.reward.name);
    this.rewardCalls++;
    this.rewardImages += N;
    return out.scores.map((s, i) => (out.unscored?.[i] || !Number.isFinite(s) ? NaN : s));
  }

  /** The log every method returns, with its own additions. */
  log(plan: MethodPlan, budgetNfe: number | undefined, extra: Partial<SampleLog> = {}): SampleLog {
    return {
      method: this.method,
      budgetNfe: budgetNfe ?? null,
      settings: plan.settings,
      nfePerImage: this.nfePerImage,
      rewardCalls: this.rewardCalls,
      rewardImages: this.rewardImages,
      ...extra,
    };
  }

  dispose(): void {
    for (const e of [this.cond, this.uncond]) {
      if (!e) continue;
      for (const t of [e.hidden, e.pooled, e.mask]) t.dispose();
    }
    this.schedule.dispose();
  }
}

/** Checks that a method spent exactly what it planned (a bug otherwise, never a user error). */
export function checkSpent(ctx: SamplingContext, plan: MethodPlan, budget?: number): void {
  if (Math.abs(ctx.nfePerImage - plan.nfePerImage) > 1e-9) {
    throw new Error(`method '${ctx.method}': spent ${ctx.nfePerImage} NFE per image but planned ${plan.nfePerImage} (a bug)`);
  }
  if (budget !== undefined && ctx.nfePerImage > budget) {
    throw new Error(`method '${ctx.method}': spent ${ctx.nfePerImage} NFE per image, over the budget of ${budget} (a bug)`);
  }
}

// ---------------------------------------------------------------- small helpers shared by methods

/** Per prompt b, the row k·B + b with the highest score (NaN never wins; all NaN → error). */
export function argmaxPerPrompt(scores: number[], B: number, method: string): number[] {
  const K = scores.length / B;
  const best: number[] = [];
  for (let b = 0; b < B; b++) {
    let arg = -1;
    for (let k = 0; k < K; k++) {
      const s = scores[k * B + b]!;
      if (!Number.isNaN(s) && (arg < 0 || s > scores[arg * B + b]!)) arg = k;
    }
    if (arg < 0) throw new Error(`method '${method}': the reward could score none of the ${K} candidates of prompt ${b}`);
    best.push(arg);
  }
  return best;
}

/** Rows `rows` of a [N, …] tensor, as a new [rows.length, …] tensor. */
export function takeRows(x: Tensor, rows: number[]): Tensor {
  return torch.tidy(() => x.indexSelect(0, torch.tensor(rows, { dtype: 'int64' })));
}

export function mean(xs: number[]): number {
  const f = xs.filter((v) => !Number.isNaN(v));
  return f.length ? f.reduce((a, b) => a + b, 0) / f.length : NaN;
}
