// `train-preference` and `train-aesthetic` end to end on tiny labels: each run is recorded in the
// run store (its kind, config, folder, status, and its held-out numbers as the summary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import * as torch from '../../src/torch/index.js';
import { registerLabelCommands } from '../../src/cli/labels.js';
import { TextToImageModel } from '../../src/models/t2i.js';
import { generateLabels, parseSamplingMix } from '../../src/rewards/label-generation.js';
import { RunStore } from '../../src/store/runs.js';
import { tinyConfig } from '../helpers/tiny-model.js';
import { tinyClip } from '../helpers/tiny-clip.js';

async function run(args: string[]): Promise<string[]> {
  const program = new Command().name('sharpen').exitOverride();
  registerLabelCommands(program);
  const out: string[] = [];
  const log = console.log;
  const error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = () => {};
  try {
    await program.parseAsync(['node', 'sharpen', ...args]);
  } finally {
    console.log = log;
    console.error = error;
  }
  return out;
}

let dir = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'labels-cli-'));
  torch.manualSeed(0);
  const model = new TextToImageModel(tinyConfig());
  await model.save(join(dir, 'base'));
  generateLabels(model, { pairs: 24, perPrompt: 3, prompts: ['a red circle', 'a blue square', 'a small red square', 'a blue circle', 'a small blue circle', 'a red square'], seed: 4, mix: parseSamplingMix('2:3'), batchSize: 4, out: join(dir, 'labels') });
  model.dispose();
  const clip = tinyClip(1);
  await clip.save(join(dir, 'clip'));
  clip.dispose();
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('train-preference and train-aesthetic record their runs in the run store', async () => {
  const store = join(dir, 'store.sqlite');
  await run(['train-preference', '--labels', join(dir, 'labels'), '--out', join(dir, 'pref'), '--text-ckpt', join(dir, 'base'), '--set', 'epochs=1', '--set', 'heldOut=0.4', '--set', 'conv.channels=[8,16]', '--set', 'conv.groups=4', '--set', 'head.hidden=16', '--store', store]);
  await run(['train-aesthetic', '--labels', join(dir, 'labels'), '--out', join(dir, 'aes'), '--clip', join(dir, 'clip'), '--set', 'epochs=10', '--set', 'heldOut=0.4', '--store', store]);
  const s = new RunStore(store);
  try {
    const [aes, pref] = s.listRuns();
    assert.deepEqual([pref!.method, pref!.status, pref!.outDir, (pref!.config as { epochs: number }).epochs], ['train-preference', 'finished', join(dir, 'pref'), 1]);
    assert.deepEqual([aes!.method, aes!.status, aes!.outDir, (aes!.config as { epochs: number }).epochs], ['train-aesthetic', 'finished', join(dir, 'aes'), 10]);
    assert.ok(s.metrics(pref!.id, 'loss').length >= 1);
    assert.ok(s.metrics(aes!.id, 'heldOutPearson').length >= 1);
  } finally {
    s.close();
  }
});
