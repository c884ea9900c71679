import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { pretrain, PretrainConfigSchema, type BatchSource, type PretrainConfig } from '../../src/train/pretrain.js';
import { readJsonl } from '../../src/util/jsonl.js';
import { loadConfig } from '../../src/util/config.js';
import { RunStore } from '../../src/store/runs.js';

const words = ['a', 'red', 'blue', 'circle', 'square'];

/** Batch k: solid-colour 8×8 images, red or blue by a hash of (k, i); deterministic in k. */
const toy: BatchSource = {
  vocabulary: words,
  batch(k, n) {
    const data = new Float32Array(n * 3 * 8 * 8);
    const prompts: string[] = [];
    for (let i = 0; i < n; i++) {
      const red = ((k * 7 + i * 13) % 5) < 2;
      prompts.push(red ? 'a red square' : 'a blue circle');
      for (let p = 0; p < 64; p++) {
        data[i * 192 + p] = red ? 1 : -1;
        data[i * 192 + 128 + p] = red ? -1 : 1;
        data[i * 192 + 64 + p] = -1;
      }
    }
    return { images: torch.fromTypedArray(data, [n, 3, 8, 8]), prompts };
  },
};

function config(dir: string, steps = 6): PretrainConfig {
  return PretrainConfigSchema.parse({
    seed: 3,
    model: {
      textEncoder: { hiddenSize: 16, layers: 1, heads: 2, mlpRatio: 2, maxLength: 6 },
      unet: { blockOutChannels: [8, 16], crossAttention: [false, true], layersPerBlock: 1, attentionHeadDim: 8, normNumGroups: 4, predictionType: 'epsilon' },
      schedule: { numTrainTimesteps: 1000, betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 0.02 },
      sampling: { steps: 4, guidanceScale: 2 },
    },
    data: { imageSize: 8 },
    train: { batchSize: 4, steps, lr: 1e-3, warmupSteps: 2, minLr: 1e-4, weightDecay: 0, condDropout: 0.25, gradClip: 1, emaDecay: 0.9 },
    output: { dir, logEvery: 1, checkpointEvery: 2, sampleEvery: 1000, samplePrompts: ['a red square'] },
  });
}

const quiet = { log: () => {} };

test('a killed pretraining run resumes exactly: same loss curve, same final weights', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pretrain-'));
  const a = join(root, 'a');
  const b = join(root, 'b');
  const ra = await pretrain(config(a), toy, quiet);
  assert.equal(ra.finished, true);
  // b: stop after 3 steps (the last checkpoint is at step 2), then resume in a "new process"
  const first = await pretrain(config(b), toy, { ...quiet, stopAfter: 3 });
  assert.equal(first.finished, false);
  const rb = await pretrain(config(b), toy, quiet);
  assert.equal(rb.finished, true);
  const la = readJsonl(join(a, 'metrics.jsonl')).map((r) => r.loss);
  const lb = readJsonl(join(b, 'metrics.jsonl')).map((r) => r.loss);
  assert.equal(la.length, 6);
  assert.deepEqual(lb, la);
  const wa = (await torch.safetensors.loadFile(join(a, 'final', 'model.safetensors'))).tensors;
  const wb = (await torch.safetensors.loadFile(join(b, 'final', 'model.safetensors'))).tensors;
  for (const k of Object.keys(wa)) assert.deepEqual(wb[k]!.toArray(), wa[k]!.toArray(), k);
});

test('invalid config values are rejected with the field name', () => {
  assert.throws(() => loadConfig(PretrainConfigSchema, { base: config('x'), overrides: ['train.lr=-1'] }), /train\.lr/);
  assert.throws(() => loadConfig(PretrainConfigSchema, { base: config('x'), overrides: ['train.bogus=1'] }), /train.*bogus|Unrecognized key/);
  assert.throws(() => loadConfig(PretrainConfigSchema, { base: config('x'), overrides: ['model.unet.predictionType=x0'] }), /model\.unet\.predictionType/);
});

test('a broken latest pretraining checkpoint is named with the newest intact one; resumeFrom takes it with a warning', async () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'pretrain-broken-')), 'run');
  await pretrain(config(dir), toy, { ...quiet, stopAfter: 5 });
  truncateSync(join(dir, 'checkpoints', 'checkpoint-00000004', 'state.json'), 10);
  await assert.rejects(
    pretrain(config(dir), toy, quiet),
    /latest points at checkpoint-00000004, whose state\.json is not valid JSON.*newest intact checkpoint is checkpoint-00000002 \(step 2\): pass resumeFrom checkpoint-00000002/,
  );
  const logs: string[] = [];
  const r = await pretrain(config(dir), toy, { log: (m) => logs.push(m), resumeFrom: 'checkpoint-2' });
  assert.equal(r.finished, true);
  assert.ok(logs.some((m) => /warning: resuming from .*checkpoint-00000002; skipped .*checkpoint-00000004/.test(m)), logs.join('\n'));
  assert.ok(logs.some((m) => /resumed from .*checkpoint-00000002 at step 2/.test(m)));
});

test('a pretraining run gets a row in the run store; its resume keeps the row', async () => {
  const root = mkdtempSync(join(tmpdir(), 'pretrain-store-'));
  const out = join(root, 'run');
  const storePath = join(root, 'store.sqlite');
  const first = await pretrain(config(out, 4), toy, { ...quiet, store: storePath, stopAfter: 3 });
  assert.equal(first.finished, false);
  let store = new RunStore(storePath);
  let runs = store.listRuns();
  assert.equal(runs.length, 1);
  assert.equal(runs[0]!.method, 'pretrain');
  assert.equal(runs[0]!.status, 'running');
  assert.equal(runs[0]!.outDir, out);
  assert.deepEqual(store.metrics(runs[0]!.id, 'loss').map((m) => m.step), [1, 2, 3]);
  store.close();
  const second = await pretrain(config(out, 4), toy, { ...quiet, store: storePath });
  assert.equal(second.finished, true);
  store = new RunStore(storePath);
  runs = store.listRuns();
  assert.equal(runs.length, 1, 'the resumed run keeps its row');
  assert.equal(runs[0]!.status, 'finished');
  assert.equal((runs[0]!.config as { seed: number }).seed, 3);
  const losses = readJsonl(join(out, 'metrics.jsonl')).map((r) => r.loss);
  assert.deepEqual(store.metrics(runs[0]!.id, 'loss').map((m) => m.value), losses);
  store.close();
});
