// What DDIM and DDPM share: both steps are x_prev = μ + σ z with a per-sample Gaussian
//   μ = c_x0 · x̂0 + c_ε · ε̂ + c_xt · x_t,
// so a scheduler only states its coefficients (computed on the host in float64 from ᾱ_t and
// ᾱ_prev of each sample) and this base does the rest: batched per-sample timesteps, x̂0 clipping,
// drawing or replaying z, and the log-probability of x_prev.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { perSample, readTimesteps, type NoiseSchedule, type TimestepSpacing, TIMESTEP_SPACINGS } from './noise-schedule.js';
import type { Scheduler, StepOptions, StepOutput } from './scheduler.js';

/** Options every Gaussian-step scheduler takes. */
export interface CommonSchedulerOptions {
  /** Clamp x̂0 to [−c, c] at every step (diffusers' clip_sample/clip_sample_range); null: off
   *  (the default, as Stable Diffusion and DDPO use). */
  clipSample?: number | null;
  /** Default spacing of setTimesteps (default 'leading', diffusers' default). */
  timestepSpacing?: TimestepSpacing;
  /** Added to 'leading' timesteps (Stable Diffusion's config uses 1; default 0). */
  stepsOffset?: number;
}
export const COMMON_OPTIONS = ['clipSample', 'timestepSpacing', 'stepsOffset'] as const;

/** Per-sample coefficients of one step (host numbers, one per sample). */
export interface StepCoefficients {
  cX0: number[];
  cEps: number[];
  cXt: number[];
  sigma: number[];
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

function sameShape(a: Tensor, b: Tensor): boolean {
  return a.shape.length === b.shape.length && a.shape.every((s, i) => s === b.shape[i]);
}

/**
 * log N(x; μ, σ² I) averaged over the non-batch dimensions, per sample (DDPO, Black et al. 2023:
 * mean over C, H, W of −(x − μ)²/(2σ²) − log σ − ½ log 2π) → [B] (float32, or float64 for
 * float64 inputs). x is detached: the gradient flows through μ only, as in DDPO's
 * ddim_step_with_logprob. A sample whose σ is 0 (a deterministic transition, e.g. the last step
 * to ᾱ_prev = 1) has no density; its logProb is reported as 0, a constant, so a likelihood ratio
 * there is 1 and carries no gradient.
 */
export function gaussianLogProb(x: Tensor, mean: Tensor, sigma: readonly number[]): Tensor {
  return torch.tidy(() => {
    let d = x.detach().sub(mean);
    if (d.dtype !== 'float64' && d.dtype !== 'float32') d = d.to('float32');
    const sq = d.square();
    const msq = sq.ndim > 1 ? sq.mean(Array.from({ length: sq.ndim - 1 }, (_, i) => i + 1)) : sq; // [B]
    const scale = perSample(sigma.map((s) => (s > 0 ? -1 / (2 * s * s) : 0)), msq);
    const shift = perSample(sigma.map((s) => (s > 0 ? -Math.log(s) - HALF_LOG_2PI : 0)), msq);
    return msq.mul(scale).add(shift);
  });
}

export abstract class GaussianStepScheduler implements Scheduler {
  abstract readonly name: string;
  readonly schedule: NoiseSchedule;
  readonly clipSample: number | null;
  readonly timestepSpacing: TimestepSpacing;
  readonly stepsOffset: number;
  private _numSteps: number | null = null;
  private _stride = 0;
  private _timesteps: number[] = [];

  constructor(schedule: NoiseSchedule, opts: CommonSchedulerOptions) {
    this.schedule = schedule;
    this.clipSample = checkClip(opts.clipSample ?? null, 'scheduler option clipSample');
    const spacing = opts.timestepSpacing ?? 'leading';
    if (!TIMESTEP_SPACINGS.includes(spacing)) {
      throw new Error(`unknown timestep spacing '${spacing}': valid ones are ${TIMESTEP_SPACINGS.join(', ')}`);
    }
    this.timestepSpacing = spacing;
    this.stepsOffset = opts.stepsOffset ?? 0;
  }

  abstract get supportsLogProb(): boolean;
  /** Whether this call of step() is stochastic (draws z, has a log-probability). */
  protected abstract isStochastic(opts: StepOptions): boolean;
  /** Why a step is deterministic, appended to the error of a log-probability asked of it. */
  protected deterministicHint(): string {
    return '';
  }
  /** ᾱ used where t − Δ < 0. */
  protected finalAlphaBar(): number {
    return 1;
  }
  /** The step's coefficients from ᾱ_t, ᾱ_prev and the prev timesteps (−1: final) per sample. */
  protected abstract coefficients(ab: number[], abPrev: number[], prev: number[], opts: StepOptions): StepCoefficients;

  get numInferenceSteps(): number | null {
    return this._numSteps;
  }
  get timesteps(): readonly number[] {
    return this._timesteps;
  }
  /** Δ = ⌊T / S⌋ of the last setTimesteps. */
  get stride(): number {
    this.requireTimesteps('stride');
    return this._stride;
  }

  setTimesteps(numSteps: number, spacing: TimestepSpacing = this.timestepSpacing): number[] {
    const ts = this.schedule.inferenceTimesteps(numSteps, spacing, this.stepsOffset);
    this._numSteps = numSteps;
    this._stride = this.schedule.stride(numSteps);
    this._timesteps = ts;
    return [...ts];
  }

  prevTimestep(t: number): number {
    this.requireTimesteps('prevTimestep');
    return this.schedule.prevTimestep(t, this._numSteps!);
  }

  private requireTimesteps(fn: string): void {
    if (this._numSteps === null) throw new Error(`${this.name}.${fn}: call setTimesteps(numSteps) first`);
  }

  step(modelOutput: Tensor, t: Tensor | number, x: Tensor, opts: StepOptions = {}): StepOutput {
    const fn = `${this.name}.step`;
    this.requireTimesteps('step');
    if (x.ndim < 1) throw new Error(`${fn}: x must be batched [B, …], got a 0-d tensor`);
    if (!sameShape(modelOutput, x)) {
      throw new Error(`${fn}: modelOutput has shape [${modelOutput.shape.join(', ')}], x has [${x.shape.join(', ')}]`);
    }
    const B = x.shape[0]!;
    const ts = readTimesteps(t, B, this.schedule.numTrainTimesteps, fn);
    const stochastic = this.isStochastic(opts);
    const evaluate = opts.prevSample !== undefined;
    if ((evaluate || opts.returnLogProb) && !stochastic) {
      throw new Error(
        `${fn}: a log-probability needs a stochastic step, and this one is deterministic${this.deterministicHint()}`,
      );
    }
    if (evaluate && opts.noise) throw new Error(`${fn}: give either prevSample (to evaluate) or noise (to replay), not both`);
    if (opts.prevSample && !sameShape(opts.prevSample, x)) {
      throw new Error(`${fn}: prevSample has shape [${opts.prevSample.shape.join(', ')}], x has [${x.shape.join(', ')}]`);
    }
    if (opts.noise && !sameShape(opts.noise, x)) {
      throw new Error(`${fn}: noise has shape [${opts.noise.shape.join(', ')}], x has [${x.shape.join(', ')}]`);
    }
    if (opts.noise && !stochastic) throw new Error(`${fn}: noise was given but this step is deterministic`);
    const clip = opts.clipSample !== undefined ? checkClip(opts.clipSample, `${fn}: clipSample`) : this.clipSample;

    const alphasCumprod = this.schedule.alphasCumprod;
    const prev = ts.map((s) => (s - this._stride < 0 ? -1 : s - this._stride));
    const ab = ts.map((s) => alphasCumprod[s]!);
    const abPrev = prev.map((p) => (p < 0 ? this.finalAlphaBar() : alphasCumprod[p]!));
    const c = this.coefficients(ab, abPrev, prev, opts);

    return torch.tidy(() => {
      const pred = this.schedule.predictX0AndEpsAt(modelOutput, x, ab);
      const x0 = clip === null ? pred.x0 : pred.x0.clamp(-clip, clip);
      let mean = x0.mul(perSample(c.cX0, x));
      if (c.cEps.some((v) => v !== 0)) mean = mean.add(pred.eps.mul(perSample(c.cEps, x)));
      if (c.cXt.some((v) => v !== 0)) mean = mean.add(x.mul(perSample(c.cXt, x)));

      const out: StepOutput = { prevSample: mean, predOriginalSample: x0 };
      if (evaluate) {
        out.prevSample = opts.prevSample!.detach();
      } else if (stochastic) {
        const z = opts.noise ? opts.noise.detach() : torch.randnLike(x);
        out.noise = z;
        out.prevSample = mean.add(z.mul(perSample(c.sigma, x)));
      }
      if (evaluate || opts.returnLogProb) out.logProb = gaussianLogProb(out.prevSample, mean, c.sigma);
      return out;
    });
  }
}

function checkClip(c: number | null, what: string): number | null {
  if (c === null) return null;
  if (typeof c !== 'number' || !(c > 0)) throw new Error(`${what} must be a positive number or null, got ${c}`);
  return c;
}
