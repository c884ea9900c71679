// Shared pieces of the fine-tuning baselines' tests (DDPO, D3PO, Diffusion-DPO, ReFL): a tiny 8×8
// model that has learned solid colours (so its samples differ in colour and a colour reward can
// rank them), the toy reward "redness", and the measure "mean redness of samples from fixed noise".
import * as torch from '../../../src/torch/index.js';
import type { Tensor } from '../../../src/torch/index.js';
import { TextToImageModel } from '../../../src/models/t2i.js';
import { generate, noiseSchedule } from '../../../src/models/generate.js';
import { AdamW } from '../../../src/optim/index.js';
import { diffusionLoss } from '../../../src/train/pretrain.js';
import { tinyConfig } from '../../helpers/tiny-model.js';

export const PROMPTS = ['a red circle', 'a blue square', 'a small circle', 'a square above a circle'];

/** redness = mean R − mean(G, B) per image, [N] with a graph to the images (a differentiable toy reward). */
export function rednessTensor(images01: Tensor): Tensor {
  return torch.tidy(() => {
    const [r, g, b] = images01.chunk(3, 1) as [Tensor, Tensor, Tensor];
    return r.mean([1, 2, 3]).sub(g.add(b).div(2).mean([1, 2, 3]));
  });
}

/** The same as numbers (the non-differentiable RewardFn form). */
export async function redness(images01: Tensor): Promise<number[]> {
  return torch.noGrad(() => torch.tidy(() => Array.from(rednessTensor(images01).toFloat32Array())));
}

/**
 * A tiny model (tinyConfig: 8×8, 7 words, guidance 3) trained for `steps` steps of the diffusion
 * loss on solid colours of random hue under random tiny prompts, so that its samples vary in colour
 * for any prompt. The text encoder is frozen afterwards, as the fine-tuning loop freezes it.
 */
export function colourModel(seed = 0, steps = 60): TextToImageModel {
  torch.manualSeed(seed);
  const m = new TextToImageModel(tinyConfig());
  const schedule = noiseSchedule(m);
  const opt = new AdamW([...m.textEncoder.parameters(), ...m.unet.parameters()], { lr: 3e-3, weightDecay: 0 });
  const B = 16;
  for (let i = 0; i < steps; i++) {
    torch.tidy(() => {
      const x0 = torch.rand([B, 3, 1, 1]).mul(2).sub(1).expand([B, 3, 8, 8]).contiguous(); // solid colours in [−1, 1]
      const p = Array.from({ length: B }, (_, j) => PROMPTS[(i * B + j) % PROMPTS.length]!);
      diffusionLoss(m, schedule, x0, p).backward();
    });
    opt.step();
    opt.zeroGrad();
  }
  opt.zeroGrad();
  schedule.dispose();
  m.textEncoder.requiresGrad_(false);
  return m;
}

/** A frozen copy of a model (the reference of DPO-style methods). */
export function frozenCopy(m: TextToImageModel): TextToImageModel {
  const ref = new TextToImageModel(m.config);
  const sd = m.stateDict();
  ref.loadStateDict(sd);
  ref.textEncoder.requiresGrad_(false);
  ref.unet.requiresGrad_(false);
  return ref;
}

/**
 * Mean redness of 32 samples (8 per prompt, DDIM η = 0, `steps` steps, the model's guidance) from
 * fixed noise; the global generator's state is restored afterwards.
 */
export async function sampleRedness(m: TextToImageModel, steps = 6): Promise<number> {
  const rng = torch.getRngState();
  torch.manualSeed(12345);
  const prompts = PROMPTS.flatMap((p) => new Array<string>(8).fill(p));
  const { images } = generate(m, prompts, { steps });
  torch.setRngState(rng);
  const r = await redness(images);
  images.dispose();
  return r.reduce((a, b) => a + b, 0) / r.length;
}

export function grads(ps: Tensor[]): Float32Array[] {
  return ps.map((p) => (p.grad ? p.grad.toFloat32Array().slice() : new Float32Array(p.numel())));
}

/**
 * The gradient `backward` leaves on the model's trainable UNet parameters, flattened into one array
 * (zeros where a parameter got none); the gradients are cleared before and after.
 */
export function gradientOf(m: TextToImageModel, backward: () => void): Float32Array {
  const params = m.unet.trainableParameters();
  const clear = () => torch.tidy(() => params.forEach((p) => p.grad?.zero_()));
  clear();
  backward();
  const parts = torch.tidy(() => params.map((p) => (p.grad ? p.grad.to('float32').flatten().toFloat32Array() : new Float32Array(p.numel()))));
  clear();
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** max |a − b| / max |b|: how far a gradient is from a reference one, relative to its size */
export function relativeGap(a: Float32Array, b: Float32Array): number {
  let gap = 0;
  let size = 0;
  for (let i = 0; i < b.length; i++) {
    gap = Math.max(gap, Math.abs(a[i]! - b[i]!));
    size = Math.max(size, Math.abs(b[i]!));
  }
  return gap / size;
}
