// `npm run bench -- model`: the base model's training throughput, sampling time per image at 20
// steps with and without guidance, and the peak RSS of pretraining steps. One JSON line last.
import * as torch from '../src/torch/index.js';
import { loadConfig } from '../src/util/config.js';
import { PretrainConfigSchema, modelConfigFor, diffusionLoss } from '../src/train/pretrain.js';
import { TextToImageModel } from '../src/models/t2i.js';
import { generate } from '../src/models/generate.js';
import { NoiseSchedule } from '../src/diffusion/index.js';
import { AdamW } from '../src/optim/index.js';
import { worldBatchSource } from '../src/data/world-source.js';
import { median, printTable } from './util.js';

const PROMPTS = ['a red circle', 'a blue square left of a green triangle', 'a small yellow striped circle', 'two purple diamonds'];

export async function run(): Promise<void> {
  const cfg = loadConfig(PretrainConfigSchema, { path: 'configs/base.yaml' });
  const data = worldBatchSource({ seed: 0, prompts: PROMPTS });
  torch.manualSeed(0);
  const model = new TextToImageModel(modelConfigFor(cfg, data.vocabulary));
  const schedule = new NoiseSchedule({ ...cfg.model.schedule, predictionType: cfg.model.unet.predictionType });
  const params = [...model.textEncoder.parameters(), ...model.unet.parameters()];
  const opt = new AdamW(params, { lr: 1e-4 });
  const B = cfg.train.batchSize;
  const stepMs: number[] = [];
  let peakRss = process.memoryUsage().rss;
  for (let i = 0; i < 8; i++) {
    const t0 = performance.now();
    torch.tidy(() => {
      const { images, prompts } = data.batch(i, B);
      diffusionLoss(model, schedule, images, prompts).backward();
    });
    opt.step();
    opt.zeroGrad();
    if (i >= 2) stepMs.push(performance.now() - t0);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  const trainImgPerSec = (B / median(stepMs)) * 1000;

  model.train(false);
  const nSample = 16;
  const prompts = Array.from({ length: nSample }, (_, i) => PROMPTS[i % PROMPTS.length]!);
  const sampleMs = (scale: number) => {
    const ms: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      const out = generate(model, prompts, { steps: 20, guidanceScale: scale });
      ms.push((performance.now() - t0) / nSample);
      out.images.dispose();
    }
    return median(ms);
  };
  const guided = sampleMs(cfg.model.sampling.guidanceScale);
  const unguided = sampleMs(1);
  printTable(['measure', 'value'], [
    ['parameters (text encoder + UNet)', model.numParameters().textEncoder + model.numParameters().unet],
    [`training images/s (batch ${B})`, trainImgPerSec.toFixed(1)],
    [`sampling ms/image, 20 steps, guidance ${cfg.model.sampling.guidanceScale} (40 NFE)`, guided.toFixed(1)],
    ['sampling ms/image, 20 steps, no guidance (20 NFE)', unguided.toFixed(1)],
    ['peak RSS of training steps (MiB)', (peakRss / 2 ** 20).toFixed(0)],
  ]);
  console.log(JSON.stringify({
    bench: 'model', train_images_per_sec: Number(trainImgPerSec.toFixed(1)),
    sample_ms_per_image_cfg: Number(guided.toFixed(1)), sample_ms_per_image_nocfg: Number(unguided.toFixed(1)),
    peak_rss_mib: Math.round(peakRss / 2 ** 20), threads: torch.getNumThreads(),
  }));
  model.dispose();
  schedule.dispose();
}
