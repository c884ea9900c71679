// Exact resume for every registered method: a run of N steps and the same run stopped after step k
// (the checkpoint written on abort) and resumed to N export byte-identical weights. The methods come
// from the registry, so a method added later is covered by this test; METHOD_OPTIONS only makes
// the known ones small. For DDPO the rollout buffer serves two steps and the run stops after the
// first of them, so the resumed run must continue from the checkpointed buffer (its method state).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { finetune, type FinetuneInput } from '../../src/train/loop.js';
import { getMethod, methodNames } from '../../src/train/methods/index.js';
import { latestCheckpointDir } from '../../src/train/checkpoint.js';
import { preferenceLabelFile, registerToyRewards, saveTinyBase, tempDir } from './finetune-helpers.js';

torch.setNumThreads(1); // a long job shares this machine; the models are tiny
registerToyRewards();

const quiet = { progress: false, log: () => {} };
/** steps of the whole run, and the step after which the interrupted one stops */
const N = 3;
const K = 1;


/** Options that keep the known methods small; a method not listed runs with its defaults. */
function methodOptions(name: string): Record<string, unknown> {
  switch (name) {
    case 'rlhf-sharpening':
    case 'sft-sharpening':
      return { n: 2, m: 2, S: 4 };
    case 'diffusion-dpo':
      return { k: 2 };
    case 'diffusion-dpo-labels':
      return { pairs: preferenceLabelFile('resume-labels') };
    case 'ddpo':
      // one buffer per two steps; per-prompt statistics from the second reward of a prompt on
      return { bufferBatches: 2, samplesPerPrompt: 2, statMinCount: 2, statBufferSize: 4 };
    case 'refl-iter':
      return { reflReward: 'toy-redness-diff', S: 4, lateSteps: 2, lambda: 1 };
    default:
      return {};
  }
}

test(`every registered method: stopped after step ${K} of ${N} and resumed, it ends with the weights of an uninterrupted run`, async (t) => {
  const bases = { 8: await saveTinyBase(11, { size: 8 }), 16: await saveTinyBase(11, { size: 16 }) };
  for (const name of methodNames()) {
    await t.test(name, async () => {
      const method = getMethod(name);
      const options = methodOptions(name);
      const cfg = (out: string): FinetuneInput => ({
        method: name, ...(method.needsReward ? { reward: 'toy-redness' } : {}), base: bases[method.needsData ? 16 : 8], out,
        store: join(out, 'store.sqlite'), seed: 5, steps: N, batch: 2, lr: 1e-3, checkpointEvery: 100, ...options,
      });
      const whole = tempDir(`${name}-whole`);
      await finetune(cfg(whole), quiet);
      const cut = tempDir(`${name}-cut`);
      const ac = new AbortController();
      await assert.rejects(
        finetune(cfg(cut), { ...quiet, signal: ac.signal, onStep: (s) => s.step === K && ac.abort() }),
        (e: Error) => e.name === 'AbortError',
      );
      assert.match(latestCheckpointDir(join(cut, 'checkpoints'))!, new RegExp(`checkpoint-0*${K}$`));
      await finetune(cfg(cut), { ...quiet, resume: true });
      const a = readFileSync(join(whole, 'model.safetensors'));
      const b = readFileSync(join(cut, 'model.safetensors'));
      assert.ok(a.equals(b), `${name}: the resumed run's model.safetensors differs from the uninterrupted run's`);
    });
  }
});

test('a checkpoint without the state its method keeps is refused with a clear error', async () => {
  const base = await saveTinyBase(12, { size: 8 });
  const out = tempDir('ddpo-no-state');
  const cfg: FinetuneInput = {
    method: 'ddpo', reward: 'toy-redness', base, out, store: join(out, 'store.sqlite'), steps: 3, batch: 2, checkpointEvery: 1, bufferBatches: 2,
  };
  const ac = new AbortController();
  await assert.rejects(finetune(cfg, { ...quiet, signal: ac.signal, onStep: (s) => s.step === 1 && ac.abort() }), (e: Error) => e.name === 'AbortError');
  const dir = latestCheckpointDir(join(out, 'checkpoints'))!;
  const statePath = join(dir, 'state.json');
  const state = JSON.parse(readFileSync(statePath, 'utf8'));
  assert.ok(state.methodState, 'the checkpoint holds the method state');
  delete state.methodState;
  writeFileSync(statePath, JSON.stringify(state));
  await assert.rejects(finetune(cfg, { ...quiet, resume: true }), /no state of method ddpo/);
});
