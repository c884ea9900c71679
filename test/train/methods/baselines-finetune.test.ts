// The fine-tuning baselines through the shared loop (finetune()): each runs a few steps on a tiny
// base with a toy reward, logs finite numbers, counts the NFE its algorithm implies, and exports a
// model; their option and reward errors are clear.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as torch from '../../../src/torch/index.js';
import { TextToImageModel } from '../../../src/models/t2i.js';
import { finetune } from '../../../src/train/loop.js';
import { methodNames } from '../../../src/train/methods/index.js';
import { readJsonl } from '../../../src/util/jsonl.js';
import { preferenceLabelFile, registerToyRewards, saveTinyBase, tempDir } from '../finetune-helpers.js';

torch.setNumThreads(1); // a long job shares this machine; the models are tiny
registerToyRewards();

const quiet = { progress: false, log: () => {} };
// the tiny world base samples with S = 4 steps, guidance 1 (one NFE per image per step); with
// S = 4 dividing T the last DDIM step goes to x0 with σ = 0 and is not trained (3 stochastic steps)

test('the baselines are registered by name', () => {
  for (const n of ['diffusion-dpo', 'diffusion-dpo-labels', 'ddpo', 'd3po', 'refl-iter']) assert.ok(methodNames().includes(n), n);
});

test('DDPO through the loop: finite PPO losses, reward logs, NFE = B·S rolled out + B·3 recomputed; a buffer of 2 serves two steps', async () => {
  const base = await saveTinyBase(0, { size: 8 });
  const B = 3;
  const out = tempDir('ddpo');
  // one sample per prompt, one minibatch per buffer (the defaults' DDPO_IS: test/train/methods/ddpo.test.ts)
  const onPolicy = { bufferBatches: 1, samplesPerPrompt: 1 };
  const { summary } = await finetune({ method: 'ddpo', reward: 'toy-redness', base, out, store: join(out, 's.sqlite'), steps: 2, batch: B, lr: 1e-4, ...onPolicy }, quiet);
  const rows = readJsonl(join(out, 'metrics.jsonl'));
  for (const r of rows) {
    assert.ok(Number.isFinite(r.loss) && Number.isFinite(r.rewardMean) && Number.isFinite(r.clipFraction));
    assert.equal(r.clipFraction, 0); // fresh samples every step: ρ = 1
    assert.equal(r.nfe, B * 4 + B * 3);
  }
  assert.equal(summary.trainingNfe, 2 * (B * 4 + B * 3));
  // bufferBatches 2: step 1 samples 2B trajectories and trains on the first B, step 2 on the others
  const out2 = tempDir('ddpo-buf');
  await finetune({ method: 'ddpo', reward: 'toy-redness', base, out: out2, store: join(out2, 's.sqlite'), steps: 2, batch: B, lr: 1e-3, bufferBatches: 2, samplesPerPrompt: 1 }, quiet);
  const [s1, s2] = readJsonl(join(out2, 'metrics.jsonl'));
  assert.equal(s1!.nfe, 2 * B * 4 + B * 3);
  assert.equal(s2!.nfe, B * 3);
  assert.equal(s1!.clipFraction, 0);
  assert.ok((s2!.clipFraction as number) > 0, `the second minibatch of the buffer sees ρ ≠ 1 (clip fraction ${s2!.clipFraction})`);
  await assert.rejects(finetune({ method: 'ddpo', base, out: tempDir('ddpo-x'), steps: 1 }, quiet), /method ddpo needs a reward/);
  await assert.rejects(finetune({ method: 'ddpo', reward: 'toy-redness', base, out: tempDir('ddpo-y'), steps: 1, eta: 0 }, quiet), /eta/);
});

test('D3PO through the loop: NFE = 2B·S rolled out + 2P·3 policy + 2P·3 reference (P preferred pairs); the ratio within its clamp', async () => {
  const base = await saveTinyBase(1, { size: 8 });
  const B = 2;
  const out = tempDir('d3po');
  const { summary } = await finetune({ method: 'd3po', reward: 'toy-redness', base, out, store: join(out, 's.sqlite'), steps: 3, batch: B, lr: 1e-3 }, quiet);
  for (const r of readJsonl(join(out, 'metrics.jsonl'))) {
    assert.ok(Number.isFinite(r.loss));
    // P pairs with a preference (a random tiny model saturates some images to equal rewards: ties)
    const P = r.pairs as number;
    assert.ok(P >= 1 && P <= B);
    assert.equal(r.nfe, 2 * B * 4 + 2 * (2 * P * 3));
    assert.ok((r.ratioMin as number) >= 0.9 - 1e-6 && (r.ratioMax as number) <= 1.1 + 1e-6);
    assert.ok((r.rewardBest as number) >= (r.rewardWorst as number));
  }
  assert.equal(summary.steps, 3);
});

test('Diffusion-DPO through the loop: pairs from k base samples (NFE B·k·S), then 2B policy + 2B reference evaluations', async () => {
  const base = await saveTinyBase(2, { size: 8 });
  const B = 2;
  const out = tempDir('dpo');
  await finetune({ method: 'diffusion-dpo', reward: 'toy-redness', base, out, store: join(out, 's.sqlite'), steps: 2, batch: B, k: 3, lr: 1e-4 }, quiet);
  const rows = readJsonl(join(out, 'metrics.jsonl'));
  // the first step: policy = reference, so the loss is log 2
  assert.ok(Math.abs((rows[0]!.loss as number) - Math.log(2)) < 1e-5, `${rows[0]!.loss}`);
  for (const r of rows) {
    assert.equal(r.nfe, B * 3 * 4 + 2 * B + 2 * B);
    assert.ok((r.rewardBest as number) > (r.rewardWorst as number));
    assert.equal(r.pairs, B);
  }
  await assert.rejects(finetune({ method: 'diffusion-dpo', reward: 'toy-redness', base, out: tempDir('dpo-x'), k: 1, steps: 1 }, quiet), /k/);
});

test('Diffusion-DPO on a label file through the loop: no reward; pairs read by position', async () => {
  const base = await saveTinyBase(3, { size: 8 });
  const pairs = preferenceLabelFile('labels');
  const out = tempDir('dpo-labels');
  await finetune({ method: 'diffusion-dpo-labels', pairs, base, out, store: join(out, 's.sqlite'), steps: 2, batch: 2 }, quiet);
  const rows = readJsonl(join(out, 'metrics.jsonl'));
  for (const r of rows) {
    assert.ok(Number.isFinite(r.loss));
    assert.equal(r.nfe, 2 * 2 + 2 * 2);
  }
  await assert.rejects(
    finetune({ method: 'diffusion-dpo-labels', reward: 'toy-redness', base, out: tempDir('dpo-l-x'), steps: 1 }, quiet), /uses no reward/);
  const noPairs = tempDir('dpo-l-y');
  await assert.rejects(
    finetune({ method: 'diffusion-dpo-labels', pairs: join(dirname(pairs), 'none.jsonl'), base, out: noPairs, store: join(noPairs, 's.sqlite'), steps: 1 }, quiet), /none\.jsonl: file not found/);
});

test('IterComp-style ReFL through the loop: a differentiable reward by name, NFE = B·(k + 1) + B; a non-differentiable one is refused', async () => {
  const base = await saveTinyBase(4, { size: 16 });
  const B = 2;
  const out = tempDir('refl');
  const { outDir } = await finetune({
    method: 'refl-iter', reflReward: 'toy-redness-diff', base, out, store: join(out, 's.sqlite'), steps: 3, batch: B, lr: 1e-3, S: 40, lateSteps: 2, lambda: 1,
  }, quiet);
  for (const r of readJsonl(join(out, 'metrics.jsonl'))) {
    assert.ok(Number.isFinite(r.loss) && Number.isFinite(r.rewardMean) && (r.pretrainLoss as number) > 0);
    const k = r.stopStep as number;
    assert.ok(k >= 38 && k <= 39); // the last 2 of 40 steps
    assert.equal(r.nfe, B * (k + 1) + B);
  }
  const m = await TextToImageModel.load(outDir);
  m.dispose();
  const notDiff = tempDir('refl-x');
  await assert.rejects(
    finetune({ method: 'refl-iter', reflReward: 'toy-redness', base, out: notDiff, store: join(notDiff, 's.sqlite'), steps: 1, batch: 1 }, quiet),
    /reward 'toy-redness' is not differentiable/,
  );
});

test('DDPO and D3PO: a run aborted at step 2 and resumed ends with the weights of an uninterrupted run', async () => {
  const base = await saveTinyBase(6, { size: 8 });
  for (const method of ['ddpo', 'd3po']) {
    const cfg = (out: string) => ({ method, reward: 'toy-redness', base, out, store: join(out, 's.sqlite'), steps: 4, batch: 2, lr: 1e-3, checkpointEvery: 100 });
    const whole = tempDir(`${method}-whole`);
    await finetune(cfg(whole), quiet);
    const cut = tempDir(`${method}-cut`);
    const ac = new AbortController();
    await assert.rejects(finetune(cfg(cut), { ...quiet, signal: ac.signal, onStep: (s) => s.step === 2 && ac.abort() }), (e: Error) => e.name === 'AbortError');
    await finetune(cfg(cut), { ...quiet, resume: true });
    assert.ok(readFileSync(join(whole, 'model.safetensors')).equals(readFileSync(join(cut, 'model.safetensors'))), method);
  }
});
