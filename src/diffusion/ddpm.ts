// DDPM ancestral sampling (Ho, Jain & Abbeel 2020, eq. 6–7), strided over the inference
// timesteps as diffusers' DDPMScheduler does: with α'_t = ᾱ_t/ᾱ_prev and β'_t = 1 − α'_t,
//   μ̃ = (√ᾱ_prev β'_t/(1 − ᾱ_t)) x̂0 + (√α'_t (1 − ᾱ_prev)/(1 − ᾱ_t)) x_t        (eq. 7)
//   σ² = β̃ = (1 − ᾱ_prev)/(1 − ᾱ_t) · β'_t ('fixed_small'), or β'_t ('fixed_large')
//   x_prev = μ̃ + σ z, and no noise on the last step (prev < 0, ᾱ_prev = 1).
// t is a batch of per-sample timesteps, as in ddim.ts.
import type { NoiseSchedule } from './noise-schedule.js';
import type { StepOptions } from './scheduler.js';
import { COMMON_OPTIONS, GaussianStepScheduler, type CommonSchedulerOptions, type StepCoefficients } from './gaussian-step.js';

export const DDPM_VARIANCE_TYPES = ['fixed_small', 'fixed_large'] as const;
export type DDPMVarianceType = (typeof DDPM_VARIANCE_TYPES)[number];

export interface DDPMOptions extends CommonSchedulerOptions {
  /** The reverse variance: 'fixed_small' β̃ (default; the posterior's) or 'fixed_large' β'. */
  varianceType?: DDPMVarianceType;
}
export const DDPM_OPTIONS: readonly string[] = [...COMMON_OPTIONS, 'varianceType'];

export class DDPMScheduler extends GaussianStepScheduler {
  readonly name = 'ddpm';
  readonly varianceType: DDPMVarianceType;

  constructor(schedule: NoiseSchedule, opts: DDPMOptions = {}) {
    super(schedule, opts);
    const v = opts.varianceType ?? 'fixed_small';
    if (!DDPM_VARIANCE_TYPES.includes(v)) {
      throw new Error(`unknown DDPM variance type '${v}': valid ones are ${DDPM_VARIANCE_TYPES.join(', ')}`);
    }
    this.varianceType = v;
  }

  get supportsLogProb(): boolean {
    return true;
  }

  protected isStochastic(opts: StepOptions): boolean {
    if (opts.eta !== undefined) throw new Error('ddpm.step: η is a DDIM option; DDPM has no η');
    return true;
  }

  protected coefficients(ab: number[], abPrev: number[], prev: number[]): StepCoefficients {
    const c: StepCoefficients = { cX0: [], cEps: [], cXt: [], sigma: [] };
    for (let i = 0; i < ab.length; i++) {
      const a = ab[i]!;
      const ap = abPrev[i]!;
      const alphaT = a / ap; // α'_t
      const betaT = 1 - alphaT; // β'_t
      c.cX0.push((Math.sqrt(ap) * betaT) / (1 - a));
      c.cXt.push((Math.sqrt(alphaT) * (1 - ap)) / (1 - a));
      c.cEps.push(0);
      const variance = this.varianceType === 'fixed_small' ? ((1 - ap) / (1 - a)) * betaT : betaT;
      c.sigma.push(prev[i]! < 0 ? 0 : Math.sqrt(Math.max(variance, 0)));
    }
    return c;
  }
}
