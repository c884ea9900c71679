// The one interface every sampler implements (the registry that makes them by name is in
// index.ts). Shared code never switches on a scheduler's name: it asks `supportsLogProb`.
import type { Tensor } from '../torch/index.js';
import type { NoiseSchedule, TimestepSpacing } from './noise-schedule.js';

export interface StepOutput {
  /** x at the previous timestep (t − Δ), or x0 at the last step; [B, C, H, W]. When
   *  StepOptions.prevSample was given, a new handle on that tensor (detached). */
  prevSample: Tensor;
  /** x̂0 predicted at this step (clipped when clipSample is set); [B, C, H, W]. */
  predOriginalSample: Tensor;
  /** log p(prevSample | x_t): a Gaussian log-density averaged over the non-batch dimensions
   *  (DDPO's convention); [B]. Present when asked for, or when prevSample was given. */
  logProb?: Tensor;
  /** The standard-normal noise z of x_prev = μ + σ z, [B, C, H, W], when the step drew or
   *  replayed one (stochastic steps that were not given prevSample). */
  noise?: Tensor;
}

export interface StepOptions {
  /** DDIM's η for this call (overrides the scheduler's); DDIM only. */
  eta?: number;
  /** Evaluate log p(prevSample | x_t) of this given sample instead of sampling one. */
  prevSample?: Tensor;
  /** Use this z instead of drawing one (to replay a stored trajectory). */
  noise?: Tensor;
  /** Also return logProb of the sampled x_prev. */
  returnLogProb?: boolean;
  /** Clamp x̂0 to [−c, c] (overrides the scheduler's); null for none. */
  clipSample?: number | null;
}

export interface Scheduler {
  /** 'ddim' | 'ddpm' */
  readonly name: string;
  readonly schedule: NoiseSchedule;
  /** true when step() is stochastic with its default options, so it has a log-probability. */
  readonly supportsLogProb: boolean;
  /** S, set by setTimesteps (null before). */
  readonly numInferenceSteps: number | null;
  /** The sampling timesteps of the last setTimesteps, descending. */
  readonly timesteps: readonly number[];
  /** Sets S (and the stride Δ = ⌊T/S⌋) and returns the sampling timesteps, descending. */
  setTimesteps(numSteps: number, spacing?: TimestepSpacing): number[];
  /** The previous timestep of t: t − Δ, or −1 ("x0") when t − Δ < 0. */
  prevTimestep(t: number): number;
  /**
   * One step from per-sample timesteps t [B] (int64; a number or 0-d tensor applies to all) to
   * their previous timesteps t − Δ; where t − Δ < 0 the step goes to x0 with the final ᾱ
   * (1 by default: diffusers' set_alpha_to_one).
   */
  step(modelOutput: Tensor, t: Tensor | number, x: Tensor, opts?: StepOptions): StepOutput;
}
