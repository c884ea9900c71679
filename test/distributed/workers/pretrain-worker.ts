// A pretraining worker for the data-parallel tests (started by `sharpen launch`):
//   node --import tsx test/distributed/workers/pretrain-worker.ts <outDir> [stopAfter]
// A tiny 8×8 model on solid-colour batches, deterministic in the batch index; rank 0 prints the result.
import * as torch from '../../../src/torch/index.js';
import { pretrain, PretrainConfigSchema, type BatchSource } from '../../../src/train/pretrain.js';

torch.setNumThreads(1);
const [dir, stopArg] = process.argv.slice(2) as [string, string | undefined];

/** Batch k: red or blue solid 8×8 images by a hash of (k, i). */
const toy: BatchSource = {
  vocabulary: ['a', 'red', 'blue', 'circle', 'square'],
  batch(k, n) {
    const data = new Float32Array(n * 3 * 64);
    const prompts: string[] = [];
    for (let i = 0; i < n; i++) {
      const red = (k * 7 + i * 13) % 5 < 2;
      prompts.push(red ? 'a red square' : 'a blue circle');
      for (let p = 0; p < 64; p++) {
        data[i * 192 + p] = red ? 1 : -1;
        data[i * 192 + 64 + p] = -1;
        data[i * 192 + 128 + p] = red ? -1 : 1;
      }
    }
    return { images: torch.fromTypedArray(data, [n, 3, 8, 8]), prompts };
  },
};

const cfg = PretrainConfigSchema.parse({
  seed: 3,
  model: {
    textEncoder: { hiddenSize: 16, layers: 1, heads: 2, mlpRatio: 2, maxLength: 6 },
    unet: { blockOutChannels: [8, 16], crossAttention: [false, true], layersPerBlock: 1, attentionHeadDim: 8, normNumGroups: 4, predictionType: 'epsilon' },
    schedule: { numTrainTimesteps: 1000, betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 0.02 },
    sampling: { steps: 4, guidanceScale: 2 },
  },
  data: { imageSize: 8 },
  train: { batchSize: 2, steps: 5, lr: 1e-3, warmupSteps: 2, minLr: 1e-4, weightDecay: 0, condDropout: 0.25, gradClip: 1, emaDecay: 0.9 },
  output: { dir, logEvery: 1, checkpointEvery: 2, sampleEvery: 1000, samplePrompts: ['a red square'] },
});
const r = await pretrain(cfg, toy, { log: () => {}, ...(stopArg ? { stopAfter: Number(stopArg) } : {}) });
if ((process.env.RANK ?? '0') === '0') console.log(JSON.stringify(r));
