// The timing half of scripts/gpu-check.sh: one RLHF-Sharpening step through the fine-tuning loop
// and the sampling of a batch of images, on the device SHARPEN_DEVICE names (cpu or cuda), with a
// model of the base model's architecture (configs/base.yaml), randomly initialised.
//   SHARPEN_DEVICE=cuda node --import tsx bench/distributed-gpu.ts [--steps 3] [--S 10] [--images 16] [--bf16]
// Prints one JSON line: the device, the median ms per step after one warm-up step, and the median ms
// of sampling --images images with the configured sampling steps (after one warm-up run). CUDA runs
// asynchronously; every figure ends with reading a value back (loss.item(), the images' pixels), which
// waits for the device, so the wall-clock holds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../src/torch/index.js';
import { generate } from '../src/models/generate.js';
import { finetune } from '../src/train/loop.js';
import { median, saveRandomBase } from './util.js';

const args = process.argv.slice(2);
const num = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(args[i + 1]);
};
const steps = num('steps', 3);
const S = num('S', 10);
const nImages = num('images', 16);
const bf16 = args.includes('--bf16');
const device = torch.getDefaultDevice();
if (bf16) torch.setAutocast(device === 'cpu' ? 'cpu' : 'cuda', true, 'bfloat16');

const tmp = mkdtempSync(join(tmpdir(), 'sharpen-gpu-bench-'));
try {
  const base = join(tmp, 'base');
  const model = await saveRandomBase(base);

  const stepMs: number[] = [];
  let last = performance.now();
  await finetune(
    { method: 'rlhf-sharpening', reward: 'compositional', base, out: join(tmp, 'run'), store: join(tmp, 'store.sqlite'), seed: 0, steps: steps + 1, batch: 2, checkpointEvery: 1000, S },
    {
      progress: false, log: () => {},
      onStep: (info) => {
        const now = performance.now();
        if (info.step > 1) stepMs.push(now - last);
        last = now;
      },
    },
  );

  model.train(false);
  const prompts = Array.from({ length: nImages }, (_, i) => (i % 2 ? 'a red circle' : 'a blue square'));
  const sampleMs: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    const { images } = generate(model, prompts);
    images.toFloat32Array(); // waits for the device
    images.dispose();
    if (r > 0) sampleMs.push(performance.now() - t0);
  }
  const samplingSteps = model.config.sampling.steps;
  model.dispose();
  console.log(JSON.stringify({
    device, bf16, torch: torch.buildInfo().torch, stepMsMedian: median(stepMs), stepMs, S, batch: 2,
    sampleMsMedian: median(sampleMs), images: nImages, samplingSteps,
  }));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
