// evaluateModel's keepImages: every sampled image comes back, in the order of the samples (across
// batches), each the image its sample's score was computed from; nothing else changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { evaluateModel, selectPrompts, tensorToRgbImages } from '../../src/eval/model-eval.js';
import { generate } from '../../src/models/generate.js';
import { repeatEach } from '../../src/util/arrays.js';
import { evaluateImage } from '../../src/world/evaluate.js';
import { countedModel } from '../sample/helpers.js';

torch.setNumThreads(1);

test('evaluateModel with keepImages returns the images its scores come from, and the same result otherwise', async () => {
  const { model } = countedModel();
  try {
    const common = { perCategory: 1, imagesPerPrompt: 2, steps: 2, seed: 7, batchSize: 5 }; // 12 images in batches of 5
    const plain = await evaluateModel(model, common);
    assert.equal(plain.images, undefined, 'no images unless asked for');
    const kept = await evaluateModel(model, { ...common, keepImages: true });
    const { images, ...rest } = kept;
    assert.deepEqual(rest, plain);
    assert.equal(images!.length, kept.samples.length);
    kept.samples.forEach((s, i) => {
      assert.equal(evaluateImage(images![i]!, s.prompt, s.category).score, s.score, `image ${i} is the one scored`);
    });
    // the first batch is what generate() draws from the same seed
    torch.manualSeed(7);
    const first = generate(model, repeatEach(selectPrompts('test', 1), 2).slice(0, 5).map((j) => j.prompt), { steps: 2 });
    try {
      assert.deepEqual(tensorToRgbImages(first.images), images!.slice(0, 5));
    } finally {
      first.images.dispose();
    }
    assert.ok(!images![0]!.data.every((v, k) => v === images![2]!.data[k]), 'different prompts, different images');
  } finally {
    model.dispose();
  }
});
