// The test-size text-to-image model on the world's vocabulary: 16×16 images, a one-layer text
// encoder, a two-level UNet. What the tests and `sharpen paper --profile tiny` train (it learns
// nothing useful in a few steps; it checks that every path runs).
import { worldWords } from '../world/vocab.js';
import type { ModelConfig } from './t2i.js';

export function tinyWorldConfig(): ModelConfig {
  const words = worldWords();
  return {
    format: 'sharpen-t2i/1',
    tokenizer: { words, maxLength: 24 },
    textEncoder: { vocabSize: words.length + 4, maxLength: 24, hiddenSize: 16, layers: 1, heads: 2, mlpRatio: 2 },
    unet: {
      sampleSize: 16, inChannels: 3, outChannels: 3, blockOutChannels: [8, 16], crossAttention: [false, true],
      layersPerBlock: 1, crossAttentionDim: 16, attentionHeadDim: 8, normNumGroups: 4, predictionType: 'epsilon',
    },
    schedule: { numTrainTimesteps: 1000, betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 0.02 },
    sampling: { steps: 4, guidanceScale: 1 },
  };
}
