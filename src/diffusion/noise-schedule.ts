// The DDPM noise schedule: β_t, α_t = 1 − β_t, ᾱ_t = ∏_{s≤t} α_s over T training timesteps,
// the forward process q(x_t | x0) (Ho et al. 2020, eq. 4), the conversions between a network's
// output (ε or v) and (x̂0, ε̂), and the inference timestep spacings named as in diffusers
// ('leading', 'trailing', 'linspace'; "Common Diffusion Noise Schedules and Sample Steps are
// Flawed", Lin et al. 2024, Table 2).
//
// All schedule arithmetic is done on the host in float64 (plain JS numbers). Per-sample
// coefficients are read off for the batch's timesteps and sent to the device as a [B, 1, …, 1]
// tensor of x's dtype, which keeps the tables exact, validates every timestep before it can reach
// an index kernel (an out-of-range index on CUDA is a device-side assert that kills the context),
// and costs one copy of B integers per call. diffusers computes its betas in float32; here they
// are float64, so values agree with diffusers to float32 rounding.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export const BETA_SCHEDULES = ['linear', 'scaled_linear', 'cosine'] as const;
export type BetaSchedule = (typeof BETA_SCHEDULES)[number];
/** diffusers' names accepted as aliases. */
const BETA_ALIASES: Record<string, BetaSchedule> = { squaredcos_cap_v2: 'cosine' };

export const PREDICTION_TYPES = ['epsilon', 'v_prediction'] as const;
export type PredictionType = (typeof PREDICTION_TYPES)[number];

export const TIMESTEP_SPACINGS = ['leading', 'trailing', 'linspace'] as const;
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];

export interface NoiseScheduleConfig {
  /** T, the number of training timesteps (default 1000). */
  numTrainTimesteps?: number;
  /** 'linear' (DDPM), 'scaled_linear' (Stable Diffusion) or 'cosine' (Nichol & Dhariwal 2021;
   *  diffusers' 'squaredcos_cap_v2' is accepted as an alias). Default 'linear'. */
  betaSchedule?: BetaSchedule | 'squaredcos_cap_v2';
  /** β_1; default 0.0001 for 'linear', 0.00085 for 'scaled_linear'; unused by 'cosine'. */
  betaStart?: number;
  /** β_T; default 0.02 for 'linear', 0.012 for 'scaled_linear'; unused by 'cosine'. */
  betaEnd?: number;
  /** What the network predicts: 'epsilon' (ε) or 'v_prediction' (v = √ᾱ ε − √(1−ᾱ) x0,
   *  Salimans & Ho 2022). Default 'epsilon'. */
  predictionType?: PredictionType;
}

export interface ResolvedNoiseScheduleConfig {
  numTrainTimesteps: number;
  betaSchedule: BetaSchedule;
  betaStart: number;
  betaEnd: number;
  predictionType: PredictionType;
}

const DEFAULT_BETAS: Record<BetaSchedule, [number, number]> = {
  linear: [0.0001, 0.02],
  scaled_linear: [0.00085, 0.012],
  cosine: [0, 0],
};

/** Cosine schedule's largest β (diffusers' max_beta, Nichol & Dhariwal 2021 §3.2). */
const COSINE_MAX_BETA = 0.999;

/** numpy's round (half to even), which diffusers' timestep spacings go through. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

function checkChoice<T extends string>(what: string, v: string, valid: readonly T[]): T {
  if (!(valid as readonly string[]).includes(v)) {
    throw new Error(`unknown ${what} '${v}': valid ones are ${valid.join(', ')}`);
  }
  return v as T;
}

function linspace64(a: number, b: number, n: number): number[] {
  if (n === 1) return [a];
  const step = (b - a) / (n - 1);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(i === n - 1 ? b : a + i * step);
  return out;
}

/** The timesteps of a batch as plain integers, checked against [0, T). */
export function readTimesteps(t: Tensor | number, batch: number, T: number, fn: string): number[] {
  let vals: number[];
  if (typeof t === 'number') {
    vals = new Array<number>(batch).fill(t);
  } else {
    if (t.isDisposed) throw new Error(`${fn}: the timestep tensor was disposed`);
    if (!['int64', 'int32', 'int16', 'int8', 'uint8'].includes(t.dtype)) {
      throw new Error(`${fn}: timesteps must be an integer tensor (e.g. int64), got ${t.dtype}; use t.long()`);
    }
    if (t.ndim === 0) {
      vals = new Array<number>(batch).fill(t.item());
    } else if (t.ndim === 1) {
      if (t.shape[0] !== batch) {
        throw new Error(`${fn}: ${t.shape[0]} timesteps for a batch of ${batch}: t must have shape [${batch}]`);
      }
      const raw = t.toTypedArray();
      vals = Array.from(raw as ArrayLike<number | bigint>, (v) => Number(v));
    } else {
      throw new Error(`${fn}: timesteps must have shape [B] (one per sample), got [${t.shape.join(', ')}]`);
    }
  }
  for (const v of vals) {
    if (!Number.isInteger(v) || v < 0 || v >= T) {
      throw new Error(`${fn}: timestep ${v} is outside [0, ${T - 1}]`);
    }
  }
  return vals;
}

/**
 * A per-sample coefficient as a tensor of shape [B, 1, …, 1] (left-broadcast against `like`,
 * whose first dimension is the batch), with like's dtype and device.
 */
export function perSample(values: readonly number[], like: Tensor): Tensor {
  const shape = [values.length, ...new Array<number>(Math.max(like.ndim - 1, 0)).fill(1)];
  const device = like.device as torch.Device;
  if (like.dtype === 'float64') return torch.fromTypedArray(Float64Array.from(values), shape, { device });
  if (like.dtype === 'float32') return torch.fromTypedArray(Float32Array.from(values), shape, { device });
  return torch.tidy(() => torch.fromTypedArray(Float32Array.from(values), shape, { device }).to(like.dtype));
}

function checkBatch(fn: string, x: Tensor, ...others: [string, Tensor][]): number {
  if (x.ndim < 1) throw new Error(`${fn}: expected a batched tensor [B, …], got a 0-d tensor`);
  for (const [name, o] of others) {
    if (o.shape.length !== x.shape.length || o.shape.some((s, i) => s !== x.shape[i])) {
      throw new Error(`${fn}: ${name} has shape [${o.shape.join(', ')}], expected [${x.shape.join(', ')}]`);
    }
  }
  return x.shape[0]!;
}

export class NoiseSchedule {
  readonly config: Readonly<ResolvedNoiseScheduleConfig>;
  /** T */
  readonly numTrainTimesteps: number;
  readonly predictionType: PredictionType;
  /** β_t for t = 0 … T−1 (float64). */
  readonly betas: readonly number[];
  /** α_t = 1 − β_t */
  readonly alphas: readonly number[];
  /** ᾱ_t = ∏_{s=0..t} α_s */
  readonly alphasCumprod: readonly number[];
  private tables = new Map<string, Tensor>();

  constructor(cfg: NoiseScheduleConfig = {}) {
    const T = cfg.numTrainTimesteps ?? 1000;
    if (!Number.isSafeInteger(T) || T < 1) throw new Error(`NoiseSchedule: numTrainTimesteps must be a positive integer, got ${T}`);
    const rawName = cfg.betaSchedule ?? 'linear';
    const betaSchedule = BETA_ALIASES[rawName] ?? checkChoice('beta schedule', rawName, BETA_SCHEDULES);
    const predictionType = checkChoice('prediction type', cfg.predictionType ?? 'epsilon', PREDICTION_TYPES);
    const [b0, b1] = DEFAULT_BETAS[betaSchedule];
    const betaStart = cfg.betaStart ?? b0;
    const betaEnd = cfg.betaEnd ?? b1;
    if (betaSchedule !== 'cosine' && !(betaStart > 0 && betaEnd >= betaStart && betaEnd < 1)) {
      throw new Error(`NoiseSchedule: need 0 < betaStart ≤ betaEnd < 1, got ${betaStart}, ${betaEnd}`);
    }
    this.config = Object.freeze({ numTrainTimesteps: T, betaSchedule, betaStart, betaEnd, predictionType });
    this.numTrainTimesteps = T;
    this.predictionType = predictionType;

    let betas: number[];
    if (betaSchedule === 'linear') {
      // Ho et al. 2020 §4: β linear from 1e-4 to 0.02.
      betas = linspace64(betaStart, betaEnd, T);
    } else if (betaSchedule === 'scaled_linear') {
      // Stable Diffusion: linear in √β, then squared.
      betas = linspace64(Math.sqrt(betaStart), Math.sqrt(betaEnd), T).map((s) => s * s);
    } else {
      // Nichol & Dhariwal 2021 eq. 17: ᾱ(τ) = cos²((τ + s)/(1 + s) · π/2), s = 0.008,
      // β_t = min(1 − ᾱ((t+1)/T) / ᾱ(t/T), 0.999).
      const f = (tau: number): number => Math.cos(((tau + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      betas = [];
      for (let i = 0; i < T; i++) betas.push(Math.min(1 - f((i + 1) / T) / f(i / T), COSINE_MAX_BETA));
    }
    const alphas = betas.map((b) => 1 - b);
    const cum: number[] = [];
    let p = 1;
    for (const a of alphas) cum.push((p *= a));
    this.betas = Object.freeze(betas);
    this.alphas = Object.freeze(alphas);
    this.alphasCumprod = Object.freeze(cum);
  }

  /** ᾱ_t of one integer timestep in [0, T). */
  alphaBarAt(t: number): number {
    if (!Number.isInteger(t) || t < 0 || t >= this.numTrainTimesteps) {
      throw new Error(`alphaBarAt: timestep ${t} is outside [0, ${this.numTrainTimesteps - 1}]`);
    }
    return this.alphasCumprod[t]!;
  }

  /**
   * ᾱ as a 1-d tensor on `device` (float64 by default), for callers that gather on the device.
   * It is cached per device and dtype and lives until `dispose()`.
   */
  alphasCumprodTensor(device: torch.Device = 'cpu', dtype: 'float32' | 'float64' = 'float64'): Tensor {
    const key = `${device}/${dtype}`;
    let t = this.tables.get(key);
    if (!t || t.isDisposed) {
      const data = dtype === 'float64' ? Float64Array.from(this.alphasCumprod) : Float32Array.from(this.alphasCumprod);
      t = torch.keep(torch.fromTypedArray(data, undefined, { device }));
      this.tables.set(key, t);
    }
    return t;
  }

  /** Frees the cached tensors of alphasCumprodTensor. */
  dispose(): void {
    for (const t of this.tables.values()) t.dispose();
    this.tables.clear();
  }

  /** ᾱ_t for a batch of integer timesteps t [B] → [B] (float32 by default). */
  alphaBar(t: Tensor, dtype: 'float32' | 'float64' = 'float32'): Tensor {
    const n = t.ndim === 0 ? 1 : t.shape[0]!;
    const ts = readTimesteps(t, n, this.numTrainTimesteps, 'alphaBar');
    const vals = ts.map((s) => this.alphasCumprod[s]!);
    const data = dtype === 'float64' ? Float64Array.from(vals) : Float32Array.from(vals);
    return torch.fromTypedArray(data, [n], { device: t.device as torch.Device });
  }

  /** q(x_t | x0) sample: √ᾱ_t x0 + √(1−ᾱ_t) ε (Ho et al. 2020, eq. 4), ᾱ broadcast as [B,1,1,1]. */
  addNoise(x0: Tensor, noise: Tensor, t: Tensor | number): Tensor {
    const B = checkBatch('addNoise', x0, ['noise', noise]);
    const ab = readTimesteps(t, B, this.numTrainTimesteps, 'addNoise').map((s) => this.alphasCumprod[s]!);
    return torch.tidy(() =>
      x0.mul(perSample(ab.map(Math.sqrt), x0)).add(noise.mul(perSample(ab.map((a) => Math.sqrt(1 - a)), x0))),
    );
  }

  /** The v target: √ᾱ_t ε − √(1−ᾱ_t) x0 (Salimans & Ho 2022, §4). */
  velocity(x0: Tensor, noise: Tensor, t: Tensor | number): Tensor {
    const B = checkBatch('velocity', x0, ['noise', noise]);
    const ab = readTimesteps(t, B, this.numTrainTimesteps, 'velocity').map((s) => this.alphasCumprod[s]!);
    return torch.tidy(() =>
      noise.mul(perSample(ab.map(Math.sqrt), x0)).sub(x0.mul(perSample(ab.map((a) => Math.sqrt(1 - a)), x0))),
    );
  }

  /** The regression target of the training loss for this schedule's prediction type (ε or v). */
  trainingTarget(x0: Tensor, noise: Tensor, t: Tensor | number): Tensor {
    return this.predictionType === 'epsilon' ? noise.clone() : this.velocity(x0, noise, t);
  }

  /**
   * (x̂0, ε̂) from the network output at x_t:
   * ε-prediction: x̂0 = (x_t − √(1−ᾱ) ε̂) / √ᾱ (Ho et al. 2020, eq. 15);
   * v-prediction: x̂0 = √ᾱ x_t − √(1−ᾱ) v̂, ε̂ = √ᾱ v̂ + √(1−ᾱ) x_t (Salimans & Ho 2022).
   */
  predictX0AndEps(modelOutput: Tensor, xt: Tensor, t: Tensor | number): { x0: Tensor; eps: Tensor } {
    const B = checkBatch('predictX0AndEps', xt, ['modelOutput', modelOutput]);
    const ab = readTimesteps(t, B, this.numTrainTimesteps, 'predictX0AndEps').map((s) => this.alphasCumprod[s]!);
    return this.predictX0AndEpsAt(modelOutput, xt, ab);
  }

  /** @internal predictX0AndEps with ᾱ per sample already read. */
  predictX0AndEpsAt(modelOutput: Tensor, xt: Tensor, alphaBars: readonly number[]): { x0: Tensor; eps: Tensor } {
    return torch.tidy(() => {
      const sa = perSample(alphaBars.map(Math.sqrt), xt);
      const s1 = perSample(alphaBars.map((a) => Math.sqrt(1 - a)), xt);
      if (this.predictionType === 'epsilon') {
        const eps = modelOutput.view(modelOutput.shape); // a new handle the caller owns (keeps the graph)
        return { x0: xt.sub(s1.mul(modelOutput)).div(sa), eps };
      }
      return { x0: xt.mul(sa).sub(modelOutput.mul(s1)), eps: modelOutput.mul(sa).add(xt.mul(s1)) };
    });
  }

  /** Δ = ⌊T / S⌋, the stride between inference timesteps (diffusers' step_ratio). */
  stride(numSteps: number): number {
    this.checkNumSteps(numSteps, 'stride');
    return Math.floor(this.numTrainTimesteps / numSteps);
  }

  /** t − Δ, or −1 (meaning "x0": ᾱ_prev is the final ᾱ) when t − Δ < 0. */
  prevTimestep(t: number, numSteps: number): number {
    this.alphaBarAt(t);
    const p = t - this.stride(numSteps);
    return p < 0 ? -1 : p;
  }

  checkNumSteps(numSteps: number, fn: string): void {
    const T = this.numTrainTimesteps;
    if (!Number.isSafeInteger(numSteps) || numSteps < 1 || numSteps > T) {
      throw new Error(`${fn}: numSteps must be an integer in [1, ${T}], got ${numSteps}`);
    }
  }

  /**
   * The S sampling timesteps, descending, as diffusers' DDIM/DDPM set_timesteps computes them:
   * - 'leading':  (0, Δ, 2Δ, …, (S−1)Δ) + stepsOffset with Δ = ⌊T/S⌋ (SD uses stepsOffset 1);
   * - 'trailing': round(T − k·T/S) − 1 for k = 0 … S−1 (always exactly S values; numpy's
   *   arange(T, 0, −T/S) would give S+1 for 62 values of S at T = 1000, ending at −1);
   * - 'linspace': round(linspace(0, T−1, S)), numpy's half-to-even rounding.
   * stepsOffset only applies to 'leading', as in diffusers.
   */
  inferenceTimesteps(numSteps: number, spacing: TimestepSpacing = 'leading', stepsOffset = 0): number[] {
    this.checkNumSteps(numSteps, 'inferenceTimesteps');
    checkChoice('timestep spacing', spacing, TIMESTEP_SPACINGS);
    const T = this.numTrainTimesteps;
    const S = numSteps;
    let ts: number[];
    if (spacing === 'leading') {
      if (!Number.isSafeInteger(stepsOffset) || stepsOffset < 0) {
        throw new Error(`inferenceTimesteps: stepsOffset must be a non-negative integer, got ${stepsOffset}`);
      }
      const d = Math.floor(T / S);
      ts = [];
      for (let k = S - 1; k >= 0; k--) ts.push(k * d + stepsOffset);
      if (ts[0]! >= T) {
        throw new Error(`inferenceTimesteps: stepsOffset ${stepsOffset} puts the first timestep at ${ts[0]} ≥ T = ${T}`);
      }
    } else if (spacing === 'trailing') {
      const ratio = T / S;
      ts = [];
      for (let k = 0; k < S; k++) ts.push(roundHalfEven(T - k * ratio) - 1);
    } else {
      ts = linspace64(0, T - 1, S).map(roundHalfEven).reverse();
    }
    return ts;
  }
}
