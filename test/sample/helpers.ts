// Shared set-up of the sampling-method tests: a tiny model whose UNet calls are counted row by row.
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { TextToImageModel } from '../../src/models/t2i.js';
import { checkImages, type Reward, type RewardOutput } from '../../src/rewards/reward.js';
import { tinyConfig } from '../helpers/tiny-model.js';

/** Prompts in the tiny model's vocabulary. */
export const PROMPTS = ['a red circle', 'a blue square', 'a small red square', 'a blue circle', 'red above blue', 'a small blue circle', 'a square', 'a circle'];

/**
 * A tiny model whose UNet forward is wrapped: `rows()` is the number of image rows that went through
 * the network since the last `reset()` (a guided call runs 2 rows per image).
 */
export function countedModel(seed = 1): { model: TextToImageModel; rows: () => number; calls: () => number; reset: () => void } {
  torch.manualSeed(seed);
  const model = new TextToImageModel(tinyConfig());
  let rows = 0;
  let calls = 0;
  const forward = model.unet.forward.bind(model.unet);
  model.unet.forward = ((x: Tensor, t: Tensor, c: Parameters<typeof forward>[2]) => {
    rows += x.shape[0]!;
    calls++;
    return forward(x, t, c);
  }) as typeof model.unet.forward;
  return { model, rows: () => rows, calls: () => calls, reset: () => { rows = 0; calls = 0; } };
}

/** Brightness: the mean of the image in [0, 1]; counts its calls. */
export class BrightnessReward implements Reward {
  readonly name = 'test-brightness';
  readonly differentiable = false;
  readonly scale = { kind: 'range', min: 0, max: 1 } as const;
  calls = 0;
  images = 0;
  async score(images: Tensor, prompts: string[]): Promise<RewardOutput> {
    const n = checkImages(images, prompts, this.name, { unitRange: true });
    this.calls++;
    this.images += n;
    const v = torch.noGrad(() => torch.tidy(() => images.mean([1, 2, 3])));
    const scores = Array.from(v.toFloat32Array());
    v.dispose();
    return { scores };
  }
}

/** Paired differences a − b: mean, and the t statistic mean / (sd / √n). */
export function paired(a: number[], b: number[]): { mean: number; t: number; n: number } {
  const d = a.map((v, i) => v - b[i]!);
  const n = d.length;
  const mean = d.reduce((s, v) => s + v, 0) / n;
  const sd = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1));
  return { mean, t: mean / (sd / Math.sqrt(n)), n };
}
