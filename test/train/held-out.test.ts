// The held-out curve of the fine-tuning loop (evalEvery): the helper's numbers are evaluateModel's,
// training is unchanged by it (bit-identical weights), and a resumed run's eval.jsonl has every step once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import * as torch from '../../src/torch/index.js';
import { TextToImageModel } from '../../src/models/t2i.js';
import { injectLoRA } from '../../src/nn/lora.js';
import { finetune, type FinetuneInput } from '../../src/train/loop.js';
import { evaluateHeldOut, heldOutPrompts } from '../../src/train/held-out.js';
import { evaluateModel } from '../../src/eval/model-eval.js';
import { CATEGORIES } from '../../src/world/vocab.js';
import { loadSplit } from '../../src/world/splits.js';
import { readJsonl } from '../../src/util/jsonl.js';
import { RunStore } from '../../src/store/runs.js';
import { finetuneInputFromFlags, registerFinetuneCommands } from '../../src/cli/finetune.js';
import { registerToyRewards, saveTinyBase, tempDir } from './finetune-helpers.js';

torch.setNumThreads(1); // a long job shares this machine; the models are tiny
registerToyRewards();

const quiet = { progress: false, log: () => {} };
const EVAL = { evalPerCategory: 1, evalImagesPerPrompt: 1, evalSeed: 5 };
const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * The shipped base (checkpoints/base) sampling in 4 steps without guidance: a random tiny model scores
 * 0 on every prompt, which would make the comparisons of scores below prove nothing; this one scores
 * well above 0 and evaluates 6 images in about a second.
 */
function fastRealBase(): string {
  const dir = tempDir('fast-base');
  copyFileSync(join(ROOT, 'checkpoints/base/model.safetensors'), join(dir, 'model.safetensors'));
  const cfg = JSON.parse(readFileSync(join(ROOT, 'checkpoints/base/config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, sampling: { steps: 4, guidanceScale: 1 } }));
  return dir;
}

/** A small RLHF-sharpening run (lr 1e-5 moves the real base's scores without wrecking it). */
function config(base: string, out: string, extra: Record<string, unknown> = {}): FinetuneInput {
  return {
    method: 'rlhf-sharpening', reward: 'toy-redness', base, out, store: join(out, 'store.sqlite'), seed: 4,
    steps: 5, batch: 1, lr: 1e-5, checkpointEvery: 2, n: 2, m: 1, S: 2, ...EVAL, ...extra,
  };
}

const evalLines = (out: string) => readJsonl(join(out, 'eval.jsonl'));
const withoutTimes = (rows: Record<string, unknown>[]) => rows.map(({ elapsedSec: _e, wallClockSec: _w, evalSec: _s, heldOut: _h, ...r }) => r);

test('evaluateHeldOut: the val prompts, the numbers of evaluateModel on them, and the RNG and training flags left as they were', async () => {
  const model = await TextToImageModel.load(fastRealBase());
  try {
    const prompts = heldOutPrompts(2);
    assert.equal(prompts.length, 2 * CATEGORIES.length);
    const val = new Set(loadSplit('val').map((r) => r.prompt));
    const testSplit = new Set(loadSplit('test').map((r) => r.prompt));
    assert.ok(prompts.every((p) => val.has(p.prompt) && !testSplit.has(p.prompt)), 'val prompts only, never test');

    injectLoRA(model.unet, { rank: 2, target: () => true });
    model.unet.train(true);
    torch.manualSeed(123);
    const before = torch.getRngState();
    const r = evaluateHeldOut(model, { perCategory: 1, imagesPerPrompt: 2, seed: 9 });
    assert.deepEqual(torch.getRngState(), before, 'the global generator is restored');
    assert.ok(model.unet.namedModules().every(([, m]) => m.training), 'the UNet is back in train mode');
    assert.equal(r.images, 2 * CATEGORIES.length);
    assert.equal(r.nfePerImage, model.config.sampling.steps); // guidance 1: one call a step
    assert.deepEqual(Object.keys(r.categories), [...CATEGORIES]);
    assert.ok(Math.abs(r.compositional - CATEGORIES.reduce((a, c) => a + r.categories[c], 0) / CATEGORIES.length) < 1e-12);
    assert.ok(r.compositional > 0.2, `the base scores above 0 (${r.compositional})`);

    const ref = await evaluateModel(model, { split: 'val', perCategory: 1, imagesPerPrompt: 2, seed: 9, progress: false });
    assert.equal(r.compositional, ref.mean);
    for (const c of CATEGORIES) assert.equal(r.categories[c], ref.categories[c].score, c);
    assert.equal(r.nfePerImage, ref.nfePerImage);
    assert.throws(() => evaluateHeldOut(model, { perCategory: 0, imagesPerPrompt: 1, seed: 0 }), /perCategory must be an integer ≥ 1/);
  } finally {
    model.dispose();
  }
});

test('evalEvery does not change training: LoRA and EMA weights byte-identical to a run without it; lines at 0, every K and the last step', async () => {
  const base = await saveTinyBase(2); // only the weights are compared here: a tiny model will do
  const cfg = (out: string, evalEvery: number) => config(base, out, { loraRank: 2, emaDecay: 0.8, lr: 1e-3, evalEvery, evalPerCategory: 2 });
  const plain = tempDir('heldout-off');
  const withEval = tempDir('heldout-on');
  const a = await finetune(cfg(plain, 0), quiet);
  const logs: string[] = [];
  const b = await finetune(cfg(withEval, 2), { progress: false, log: (m) => logs.push(m) });

  assert.ok(readFileSync(join(plain, 'model.safetensors')).equals(readFileSync(join(withEval, 'model.safetensors'))), 'same weights, bit for bit');
  assert.ok(!existsSync(join(plain, 'eval.jsonl')), 'no eval.jsonl without evalEvery');
  assert.deepEqual(withoutTimes(readJsonl(join(withEval, 'metrics.jsonl'))), withoutTimes(readJsonl(join(plain, 'metrics.jsonl'))));
  assert.equal(a.summary.trainingNfe, b.summary.trainingNfe, 'the evaluations are not training NFE');
  assert.equal(a.summary.heldOut, null);

  const lines = evalLines(withEval);
  assert.deepEqual(lines.map((l) => l.step), [0, 2, 4, 5]);
  for (const l of lines) {
    assert.deepEqual(Object.keys(l).sort(), ['step', 'wallClockSec', 'compositional', ...CATEGORIES, 'nfePerImage', 'images', 'evalSec'].sort());
    assert.equal(l.images, 2 * CATEGORIES.length);
    assert.ok((l.compositional as number) >= 0 && (l.compositional as number) <= 1);
  }
  assert.ok(lines.every((l, i) => i === 0 || (l.wallClockSec as number) >= (lines[i - 1]!.wallClockSec as number)), 'wall-clock ascends');
  assert.equal(b.summary.heldOut, lines.at(-1)!.compositional);
  assert.ok(b.summary.evalWallClockSec > 0);
  assert.deepEqual(logs.filter((m) => m.startsWith('eval step')).map((m) => /^eval step (\d+): compositional \d\.\d{4} \(val, 12 images\)$/.exec(m)?.[1]), ['0', '2', '4', '5']);
  // heldOut in the metrics rows of the evaluated steps, and in the run store (step 0 too)
  const rows = readJsonl(join(withEval, 'metrics.jsonl'));
  assert.deepEqual(rows.filter((r) => 'heldOut' in r).map((r) => [r.step, r.heldOut]), lines.slice(1).map((l) => [l.step, l.compositional]));
  const store = new RunStore(join(withEval, 'store.sqlite'));
  try {
    const run = store.listRuns()[0]!;
    assert.deepEqual(store.metrics(run.id, 'heldOut').map((m) => [m.step, m.value]), lines.map((l) => [l.step, l.compositional]));
  } finally {
    store.close();
  }
});

test('the curve scores the policy as it is: step 0 is the base, the last step the exported model', async () => {
  const base = fastRealBase();
  const out = tempDir('heldout-ends');
  await finetune(config(base, out, { evalEvery: 10, steps: 2 }), quiet);
  const lines = evalLines(out);
  assert.deepEqual(lines.map((l) => l.step), [0, 2]);
  assert.notEqual(lines[0]!.compositional, lines[1]!.compositional, 'training moved the score (else this test proves nothing)');
  const opts = { perCategory: EVAL.evalPerCategory, imagesPerPrompt: EVAL.evalImagesPerPrompt, seed: EVAL.evalSeed };
  for (const [dir, line] of [[base, lines[0]!], [out, lines[1]!]] as const) {
    const m = await TextToImageModel.load(dir);
    try {
      const r = evaluateHeldOut(m, opts);
      assert.equal(line.compositional, r.compositional, dir);
      for (const c of CATEGORIES) assert.equal(line[c], r.categories[c], `${dir} ${c}`);
    } finally {
      m.dispose();
    }
  }
});

test('resume: eval.jsonl keeps the lines up to the restored step (step 0 not recomputed), drops later ones, and ends as an uninterrupted run', async () => {
  const base = fastRealBase();
  const cfg = (out: string, steps: number) => config(base, out, { steps, evalEvery: 1, checkpointEvery: 2 });
  const whole = tempDir('heldout-whole');
  await finetune(cfg(whole, 4), quiet);

  // a run that dies after step 3's evaluation, before its checkpoint (the last one is step 2's)
  const cut = tempDir('heldout-cut');
  await assert.rejects(finetune(cfg(cut, 4), { ...quiet, onStep: (s) => { if (s.step === 3) throw new Error('killed'); } }), /killed/);
  assert.deepEqual(evalLines(cut).map((l) => l.step), [0, 1, 2, 3]);
  const firstLines = readFileSync(join(cut, 'eval.jsonl'), 'utf8').split('\n').slice(0, 3);

  // resumed with fewer steps than planned (3), then again with more (4)
  const logs: string[] = [];
  await finetune(cfg(cut, 3), { progress: false, log: (m) => logs.push(m), resume: true });
  assert.ok(logs.some((m) => /resumed from .*checkpoint-00000002 at step 2/.test(m)));
  assert.deepEqual(logs.filter((m) => m.startsWith('eval step')).map((m) => /^eval step (\d+)/.exec(m)![1]), ['3'], 'steps 0–2 are not evaluated again');
  assert.deepEqual(readFileSync(join(cut, 'eval.jsonl'), 'utf8').split('\n').slice(0, 3), firstLines, 'the lines up to step 2 are kept as written');
  await finetune(cfg(cut, 4), { ...quiet, resume: true });

  const lines = evalLines(cut);
  assert.deepEqual(lines.map((l) => l.step), [0, 1, 2, 3, 4], 'every step once');
  assert.ok(new Set(lines.map((l) => l.compositional)).size > 1, 'the scores move (else the comparison below proves nothing)');
  assert.deepEqual(withoutTimes(lines), withoutTimes(evalLines(whole)));
  assert.ok(readFileSync(join(whole, 'model.safetensors')).equals(readFileSync(join(cut, 'model.safetensors'))));
  assert.deepEqual(readdirSync(cut).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');
});

test('sharpen finetune --eval-every K sets evalEvery; the config checks it', async () => {
  const program = new Command();
  registerFinetuneCommands(program);
  const cmd = program.commands.find((c) => c.name() === 'finetune')!;
  const opt = cmd.options.find((o) => o.long === '--eval-every');
  assert.ok(opt, '--eval-every is an option');
  assert.equal(opt.parseArg!('40', undefined), 40);
  assert.equal((await finetuneInputFromFlags({ method: 'standard-ft', out: 'x', evalEvery: 40, set: [] })).evalEvery, 40);
  const base = await saveTinyBase(5, { size: 8 });
  await assert.rejects(finetune(config(base, tempDir('heldout-bad'), { evalEvery: -1 }), quiet), /evalEvery/);
  await assert.rejects(finetune(config(base, tempDir('heldout-bad'), { evalPerCategory: 0 }), quiet), /evalPerCategory/);
});
