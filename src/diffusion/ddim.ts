// DDIM (Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models"), eq. 12 with eq. 16's σ:
//   σ_t    = η √((1 − ᾱ_prev)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_prev)
//   x_prev = √ᾱ_prev x̂0 + √(1 − ᾱ_prev − σ_t²) ε̂ + σ_t z,   z ~ N(0, I)
// η = 0 is the deterministic DDIM sampler; η = 1 has DDPM's posterior variance (the sampler DDPO
// uses, with the Gaussian log-probability of x_prev). Unlike diffusers' DDIMScheduler.step, t is a
// batch of per-sample timesteps (Diffusion-Sharpening steps every sample from its own t): ᾱ_t and
// ᾱ_prev are read per sample and left-broadcast to [B, 1, 1, 1]; prev = t − ⌊T/S⌋ as diffusers
// computes it, and where prev < 0 the step goes to x0 with ᾱ_prev = 1 (set_alpha_to_one) or ᾱ_0.
import type { NoiseSchedule } from './noise-schedule.js';
import type { StepOptions } from './scheduler.js';
import { COMMON_OPTIONS, GaussianStepScheduler, type CommonSchedulerOptions, type StepCoefficients } from './gaussian-step.js';

export interface DDIMOptions extends CommonSchedulerOptions {
  /** η ∈ [0, 1] of every step unless a step is given its own (default 0: deterministic). */
  eta?: number;
  /** ᾱ_prev of the last step: 1 (true, the default; diffusers' set_alpha_to_one) or ᾱ_0 (false,
   *  Stable Diffusion's DDIM config, where the last step keeps σ > 0 for η > 0). */
  setAlphaToOne?: boolean;
}
export const DDIM_OPTIONS: readonly string[] = [...COMMON_OPTIONS, 'eta', 'setAlphaToOne'];

function checkEta(eta: number, what: string): number {
  if (typeof eta !== 'number' || !(eta >= 0 && eta <= 1)) throw new Error(`${what}: η must be in [0, 1], got ${eta}`);
  return eta;
}

export class DDIMScheduler extends GaussianStepScheduler {
  readonly name = 'ddim';
  readonly eta: number;
  readonly setAlphaToOne: boolean;

  constructor(schedule: NoiseSchedule, opts: DDIMOptions = {}) {
    super(schedule, opts);
    this.eta = checkEta(opts.eta ?? 0, 'DDIMScheduler');
    this.setAlphaToOne = opts.setAlphaToOne ?? true;
  }

  get supportsLogProb(): boolean {
    return this.eta > 0;
  }

  private etaOf(opts: StepOptions): number {
    return opts.eta === undefined ? this.eta : checkEta(opts.eta, 'ddim.step');
  }

  protected isStochastic(opts: StepOptions): boolean {
    return this.etaOf(opts) > 0;
  }

  protected override deterministicHint(): string {
    return ' (DDIM with η = 0; use η > 0, e.g. η = 1 as DDPO does)';
  }

  protected override finalAlphaBar(): number {
    return this.setAlphaToOne ? 1 : this.schedule.alphasCumprod[0]!;
  }

  protected coefficients(ab: number[], abPrev: number[], _prev: number[], opts: StepOptions): StepCoefficients {
    const eta = this.etaOf(opts);
    const c: StepCoefficients = { cX0: [], cEps: [], cXt: [], sigma: [] };
    for (let i = 0; i < ab.length; i++) {
      const a = ab[i]!;
      const ap = abPrev[i]!;
      // eq. 16: σ² = η² (1 − ᾱ_prev)/(1 − ᾱ_t) · (1 − ᾱ_t/ᾱ_prev)
      const variance = ((1 - ap) / (1 - a)) * (1 - a / ap);
      const sigma = eta * Math.sqrt(Math.max(variance, 0));
      c.sigma.push(sigma);
      c.cX0.push(Math.sqrt(ap));
      c.cEps.push(Math.sqrt(Math.max(1 - ap - sigma * sigma, 0))); // "direction pointing to x_t"
      c.cXt.push(0);
    }
    return c;
  }
}
