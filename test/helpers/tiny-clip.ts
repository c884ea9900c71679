// A tiny CLIP over the world's words (16×16 images, 16-d embeddings): what CLIP tests run on.
import * as torch from '../../src/torch/index.js';
import { ClipModel, clipConfigFor, type ClipArchitecture } from '../../src/models/clip-model.js';
import { worldWords } from '../../src/world/vocab.js';

export const tinyClipArch: ClipArchitecture = {
  embedDim: 16,
  textEncoder: { maxLength: 22, hiddenSize: 16, layers: 1, heads: 2, mlpRatio: 2 },
  vision: { imageSize: 16, channels: [8, 16], blocksPerStage: 1, groups: 4 },
};

export function tinyClip(seed = 0): ClipModel {
  torch.manualSeed(seed);
  return new ClipModel(clipConfigFor(tinyClipArch, worldWords()));
}
