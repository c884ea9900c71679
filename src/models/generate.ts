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

/** Samples one image per prompt. */
export function generate(model: TextToImageModel, prompts: string[], opts: GenerateOptions = {}): GenerateResult {
  const steps = opts.steps ?? model.config.sampling.steps;
  const scale = opts.guidanceScale ?? model.config.sampling.guidanceScale;
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
        const images = r.x0.add(1).div(2).clamp(0, 1); // [-1, 1] → [0, 1]
        return { images, nfePerImage: r.nfe };
      }),
    );
  } finally {
    schedule.dispose();
  }
}
