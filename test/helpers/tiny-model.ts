// An 8×8 text-to-image model with a 7-word vocabulary: what model and method tests run on.
import type { ModelConfig } from '../../src/models/t2i.js';

export const tinyWords = ['a', 'red', 'blue', 'circle', 'square', 'above', 'small'];

export function tinyConfig(): ModelConfig {
  return {
    format: 'sharpen-t2i/1',
    tokenizer: { words: tinyWords, maxLength: 8 },
    textEncoder: { vocabSize: tinyWords.length + 4, maxLength: 8, hiddenSize: 16, layers: 1, heads: 2, mlpRatio: 2 },
    unet: {
      sampleSize: 8, inChannels: 3, outChannels: 3, blockOutChannels: [8, 16], crossAttention: [false, true],
      layersPerBlock: 1, crossAttentionDim: 16, attentionHeadDim: 8, normNumGroups: 4, predictionType: 'epsilon',
    },
    schedule: { numTrainTimesteps: 1000, betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 0.02 },
    sampling: { steps: 10, guidanceScale: 3 },
  };
}
