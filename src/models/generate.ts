// Text-to-image generation with a TextToImageModel: classifier-free guidance (Ho & Salimans, 2022)
// over any registered scheduler, reporting the NFE used (guidance counts 2 per step).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { NoiseSchedule, makeScheduler, sampleLoop, cfg, nfePerStep, type Scheduler, type TimestepSpacing } from '../diffusion/index.js';
import type { TextToImageModel } from './t2i.js';

export interface GenerateOptions {
  steps?: number;
  /** guidance scale w: ε̂ = ε_u + w (ε_c − ε_u); 1 (or 0) means no guidance (one network call a step) */
  guidanceScale?: number;
  /** 'ddim' (default) or 'ddpm' */
  scheduler?: string;
  /** DDIM's η (default 0: deterministic) */
  eta?: number;
  spacing?: TimestepSpacing;
  /** x_T [B, C, H, W]; drawn from the global generator when absent (seed it with torch.manualSeed) */
  noise?: Tensor;
  /** return images even when the sample holds NaN or ±Inf (default false: that is an Error) */
  allowNonFinite?: boolean;
}

export interface GenerateResult {
  /** [B, 3, H, W] in [0, 1] */
  images: Tensor;
  /** network evaluations per image */
  nfePerImage: number;
}

export function noiseSchedule(model: TextToImageModel): NoiseSchedule {
  return new NoiseSchedule({ ...model.config.schedule, predictionType: model.config.unet.predictionType });
}

export function makeModelScheduler(model: TextToImageModel, name = 'ddim', schedule?: NoiseSchedule): Scheduler {
  return makeScheduler(name, schedule ?? noiseSchedule(model), { timestepSpacing: 'trailing' });
}

/**
 * The guided network output for x at per-sample timesteps t: one call over [uncond; cond] stacked
 * in the batch when guidance is on. `cond` and `uncond` are the prompts' and the empty prompt's encodings.
 */
export function guidedPrediction(
  model: TextToImageModel, x: Tensor, t: Tensor,
  cond: { hidden: Tensor; mask: Tensor }, uncond: { hidden: Tensor; mask: Tensor } | null, scale: number,
): Tensor {
  return torch.tidy(() => {
    if (!uncond || nfePerStep(scale) === 1) return model.unet.forward(x, t, { context: cond.hidden, mask: cond.mask });
    const out = model.unet.forward(torch.cat([x, x]), torch.cat([t, t]), {
      context: torch.cat([uncond.hidden, cond.hidden]),
      mask: torch.cat([uncond.mask, cond.mask]),
    });
    const [u, c] = out.chunk(2, 0) as [Tensor, Tensor];
    return cfg(u, c, scale);
  });
}

/** What produced a sample, for the message of checkFiniteImages. */
export interface SampleSettings {
  guidanceScale?: number | undefined;
  steps?: number | undefined;
}

/** How many values of `x` are NaN or ±Inf (0 when all are finite; one native reduction). */
export function countNonFinite(x: Tensor): number {
  return torch.tidy(() => {
    const ok = x.isfinite();
    if (ok.all().item() !== 0) return 0;
    return x.numel() - ok.sum().item();
  });
}

/**
 * Throws when a sampled batch holds NaN or ±Inf, naming how many values and the settings that
 * produced it, so that a broken sample never becomes an image. Check before any clamp to [0, 1],
 * which would turn ±Inf into a plain white or black pixel.
 */
export function checkFiniteImages(x: Tensor, settings: SampleSettings = {}, what = 'sampled images'): void {
  const bad = countNonFinite(x);
  if (bad === 0) return;
  const parts: string[] = [];
  if (settings.guidanceScale !== undefined) parts.push(`guidance scale ${settings.guidanceScale}`);
  if (settings.steps !== undefined) parts.push(`${settings.steps} steps`);
  throw new Error(
    `${what} hold ${bad} NaN or infinite values of ${x.numel()}${parts.length ? ` (${parts.join(', ')})` : ''}: ` +
      'the model weights or the sampling settings are broken; no image was written',
  );
}

/** Samples one image per prompt. */
export function generate(model: TextToImageModel, prompts: string[], opts: GenerateOptions = {}): GenerateResult {
  const steps = opts.steps ?? model.config.sampling.steps;
  const scale = opts.guidanceScale ?? model.config.sampling.guidanceScale;
  if (!Number.isFinite(scale)) throw new Error(`generate: guidance scale must be a finite number, got ${scale}`);
  if (!Number.isSafeInteger(steps) || steps < 1) throw new Error(`generate: steps must be a positive integer, got ${steps}`);
  const { sampleSize: size, inChannels: C } = model.config.unet;
  const B = prompts.length;
  const schedule = noiseSchedule(model);
  try {
    const scheduler = makeModelScheduler(model, opts.scheduler ?? 'ddim', schedule);
    return torch.tidy(() =>
      torch.noGrad(() => {
        const cond = model.encode(prompts);
        const guided = nfePerStep(scale) === 2;
        const uncond = guided ? model.encode(new Array(B).fill('')) : null;
        const r = sampleLoop({
          scheduler, numSteps: steps, shape: [B, C, size, size], generatorNoise: opts.noise,
          eta: opts.eta, nfePerCall: nfePerStep(scale),
          denoise: (x, t) => guidedPrediction(model, x, t, cond, uncond, scale),
        });
        if (!opts.allowNonFinite) checkFiniteImages(r.x0, { guidanceScale: scale, steps });
        const images = r.x0.add(1).div(2).clamp(0, 1); // [-1, 1] → [0, 1]
        return { images, nfePerImage: r.nfe };
      }),
    );
  } finally {
    schedule.dispose();
  }
}
