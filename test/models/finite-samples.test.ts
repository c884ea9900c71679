// A sample holding NaN or ±Inf is an Error naming the settings, never an image; eval counts that
// make no sense are refused by the library too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { TextToImageModel } from '../../src/models/t2i.js';
import { generate } from '../../src/models/generate.js';
import { evaluateModel, selectPrompts } from '../../src/eval/model-eval.js';
import { tinyConfig } from '../helpers/tiny-model.js';

test('generate: guidance 1e30 overflows the sample, which is an Error naming the guidance, not a black image', () => {
  torch.manualSeed(0);
  const m = new TextToImageModel(tinyConfig());
  assert.throws(() => generate(m, ['a red circle'], { guidanceScale: 1e30, steps: 2 }), /sampled images hold \d+ NaN or infinite values of 192 \(guidance scale 1e\+30, 2 steps\)/);
  assert.throws(() => generate(m, ['a red circle'], { guidanceScale: NaN, steps: 2 }), /guidance scale must be a finite number, got NaN/);
  assert.throws(() => generate(m, ['a red circle'], { steps: 0 }), /steps must be a positive integer, got 0/);
  const r = generate(m, ['a red circle'], { guidanceScale: 1e30, steps: 2, allowNonFinite: true });
  assert.deepEqual(r.images.shape, [1, 3, 8, 8]);
  r.images.dispose();
  m.dispose();
});

test('evaluateModel: perCategory and imagesPerPrompt below 1 are refused', async () => {
  assert.throws(() => selectPrompts('test', -1), /perCategory must be an integer ≥ 1 \(or absent for all prompts\), got -1/);
  assert.throws(() => selectPrompts('test', 0), /perCategory must be an integer ≥ 1/);
  const m = new TextToImageModel(tinyConfig());
  await assert.rejects(evaluateModel(m, { perCategory: 1, imagesPerPrompt: 0 }), /imagesPerPrompt must be an integer ≥ 1, got 0/);
  await assert.rejects(evaluateModel(m, { perCategory: 1, imagesPerPrompt: -2 }), /imagesPerPrompt must be an integer ≥ 1, got -2/);
  await assert.rejects(evaluateModel(m, { perCategory: 1, imagesPerPrompt: 1, steps: 2, guidanceScale: 1e30 }), /guidance scale 1e\+30/);
  m.dispose();
});
