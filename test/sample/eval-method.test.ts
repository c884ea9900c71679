// evaluateModel with an inference-time method in place of generate().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { evaluateModel } from '../../src/eval/model-eval.js';
import { BrightnessReward, countedModel } from './helpers.js';

torch.setNumThreads(1);

test('evaluateModel: method plain gives what generate gives; a search method reports its NFE and stays in budget', async () => {
  const { model, rows, reset } = countedModel();
  const common = { perCategory: 1, imagesPerPrompt: 1, steps: 3, guidanceScale: 3, seed: 4 };
  const ref = await evaluateModel(model, common);
  const viaPlain = await evaluateModel(model, { ...common, method: { name: 'plain' } });
  assert.deepEqual(viaPlain, ref);
  const reward = new BrightnessReward();
  reset();
  const r = await evaluateModel(model, { ...common, method: { name: 'best-of-n', options: { reward, budgetNfe: 20 } } });
  assert.equal(r.nfePerImage, 18); // N = ⌊20 / 6⌋ = 3 samples of 3 guided steps
  assert.equal(rows() / r.samples.length, 18);
  assert.equal(reward.calls, 1); // one chunk of 6 prompts, one reward call
  await assert.rejects(evaluateModel(model, { ...common, method: { name: 'nope' } }), /unknown sampling method 'nope'/);
  await assert.rejects(evaluateModel(model, { ...common, unconditional: true, method: { name: 'plain' } }), /exclude each other/);
  model.dispose();
});
