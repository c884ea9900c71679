// The shared fine-tuning loop: exact resume after SIGKILL, the non-finite guard, LoRA, the run
// folder rules, the run store, and the exported model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { TextToImageModel } from '../../src/models/t2i.js';
import { generate } from '../../src/models/generate.js';
import { finetune, type FinetuneInput } from '../../src/train/loop.js';
import { latestCheckpointDir, loadCheckpoint, disposeCheckpoint } from '../../src/train/checkpoint.js';
import { injectLoRA, loadLoRAStateDict, mergeLoRA } from '../../src/nn/lora.js';
import { readJsonl } from '../../src/util/jsonl.js';
import { RunStore } from '../../src/store/runs.js';
import { registerToyRewards, saveTinyBase, tempDir } from './finetune-helpers.js';

torch.setNumThreads(1); // a long job shares this machine; the models are tiny
registerToyRewards();

const quiet = { progress: false, log: () => {} };
const ROOT = new URL('../../', import.meta.url).pathname;
const CHILD = join(ROOT, 'test/train/finetune-child.ts');

/** A small RLHF-sharpening run on an 8×8 base: rollouts, a reference, EMA and accumulation in one. */
function rlhfConfig(base: string, out: string, extra: Record<string, unknown> = {}): FinetuneInput {
  return {
    method: 'rlhf-sharpening', reward: 'toy-redness', base, out, store: join(out, 'store.sqlite'), seed: 3,
    steps: 8, batch: 2, accumulation: 2, lr: 1e-3, emaDecay: 0.9, checkpointEvery: 2,
    n: 2, m: 2, S: 4, beta: 100, ...extra,
  };
}

function runChild(cfg: FinetuneInput, resume: boolean): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(cfg), resume ? 'resume' : 'new'], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (code, signal) => res({ code, signal, stdout, stderr }));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** metrics.jsonl without the wall-clock fields */
function metricsOf(out: string): Record<string, unknown>[] {
  return readJsonl(join(out, 'metrics.jsonl')).map(({ elapsedSec: _e, ...r }) => r);
}

test('a run SIGKILLed after its first checkpoint resumes to bit-identical weights and metrics', async () => {
  const base = await saveTinyBase(0, { size: 8 });
  const whole = tempDir('whole');
  const killed = tempDir('killed');
  const a = await runChild(rlhfConfig(base, whole), false);
  assert.equal(a.code, 0, a.stderr);

  // the same run, killed at a random moment after its first checkpoint (it sleeps 100 ms a step)
  const cfg = rlhfConfig(base, killed);
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(cfg), 'new', '100'], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.on('exit', (code, signal) => res({ code, signal })));
  const deadline = Date.now() + 60_000;
  while (!existsSync(join(killed, 'checkpoints', 'latest'))) {
    if (Date.now() > deadline || child.exitCode !== null) assert.fail(`no checkpoint appeared: ${stderr}`);
    await sleep(10);
  }
  await sleep(Math.floor(Math.random() * 150));
  child.kill('SIGKILL');
  const e = await exited;
  assert.equal(e.signal, 'SIGKILL', 'the child was killed, not finished');
  assert.ok(!existsSync(join(killed, 'summary.json')));
  const stepAtKill = (await loadCheckpoint(latestCheckpointDir(join(killed, 'checkpoints'))!)).step;
  assert.ok(stepAtKill >= 2 && stepAtKill < 8, `killed after step ${stepAtKill}`);

  const b = await runChild(cfg, true);
  assert.equal(b.code, 0, b.stderr);
  const wa = readFileSync(join(whole, 'model.safetensors'));
  const wb = readFileSync(join(killed, 'model.safetensors'));
  assert.ok(wa.equals(wb), 'the exported weights are byte-identical');
  assert.deepEqual(metricsOf(killed), metricsOf(whole), 'the same metrics, step by step');
  const sa = JSON.parse(a.stdout.trim().split('\n').at(-1)!);
  const sb = JSON.parse(b.stdout.trim().split('\n').at(-1)!);
  assert.equal(sb.trainingNfe, sa.trainingNfe);
  assert.equal(sb.steps, 8);

  // the store keeps one row for the resumed run, finished, with every step's metrics once
  const store = new RunStore(join(killed, 'store.sqlite'));
  const runs = store.listRuns();
  assert.equal(runs.length, 1);
  assert.equal(runs[0]!.status, 'finished');
  assert.equal(runs[0]!.method, 'rlhf-sharpening');
  assert.deepEqual(store.metrics(runs[0]!.id, 'loss').map((m) => m.step), [1, 2, 3, 4, 5, 6, 7, 8]);
  const rewards = store.metrics(runs[0]!.id, 'rewardMean');
  assert.equal(rewards.length, 8);
  assert.deepEqual(rewards.map((r) => r.value), readJsonl(join(killed, 'metrics.jsonl')).map((r) => r.rewardMean));
  store.close();
});

test('the exported model loads as a base does; the run folder has its config, summary, metrics and NFE', async () => {
  const base = await saveTinyBase(1, { size: 8 });
  const out = tempDir('export');
  const steps: number[] = [];
  const { outDir, summary } = await finetune(rlhfConfig(base, out, { steps: 3, accumulation: 1, m: 1, emaDecay: 0 }), {
    ...quiet, command: ['sharpen', 'finetune', '--test'], onStep: (s) => steps.push(s.step),
  });
  assert.equal(outDir, out);
  assert.deepEqual(steps, [1, 2, 3]);
  const m = await TextToImageModel.load(out);
  const { images } = generate(m, ['a red circle'], { steps: 2 });
  assert.deepEqual(images.shape, [1, 3, 8, 8]);
  images.dispose();
  m.dispose();
  const fc = JSON.parse(readFileSync(join(out, 'finetune-config.json'), 'utf8'));
  assert.equal(fc.config.method, 'rlhf-sharpening');
  assert.equal(fc.config.n, 2);
  assert.deepEqual(fc.command, ['sharpen', 'finetune', '--test']);
  const saved = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
  assert.deepEqual(saved, JSON.parse(JSON.stringify(summary)));
  assert.equal(summary.steps, 3);
  assert.equal(summary.skippedSteps, 0);
  // NFE per step with m = 1 and guidance 1: B·n·S (rollouts) + B·n (unroll) + 2B (winner and loser
  // recomputed) + 2B (reference, first step) = 2·2·4 + 4 + 4 + 4 = 28 network evaluations × images
  assert.equal(summary.trainingNfe, 3 * 28);
  for (const k of ['loss', 'rewardMean', 'rewardBest', 'rewardWorst', 'rewardGap']) assert.ok(Number.isFinite(summary.means[k]), k);
  assert.ok(summary.means.rewardBest! >= summary.means.rewardWorst!);
  const rows = readJsonl(join(out, 'metrics.jsonl'));
  assert.deepEqual(rows.map((r) => r.step), [1, 2, 3]);
  assert.deepEqual(rows.map((r) => r.nfe), [28, 28, 28]);
});

test('NaN rewards: a step is skipped without touching the weights; K in a row stop the run with a clear message', async () => {
  const base = await saveTinyBase(2, { size: 8 });
  // NaN at the 2nd and 3rd calls (m = 1: one reward call per step): steps 2 and 3 are skipped
  const out = tempDir('nan-some');
  const { summary } = await finetune(rlhfConfig(base, out, {
    reward: 'toy-nan-calls', rewardOptions: { calls: [1, 2] }, steps: 5, accumulation: 1, m: 1, emaDecay: 0, maxNonFinite: 3,
  }), quiet);
  assert.equal(summary.skippedSteps, 2);
  assert.deepEqual(readJsonl(join(out, 'metrics.jsonl')).map((r) => r.skipped), [0, 1, 1, 0, 0]);

  // NaN always: the run stops after 3 in a row; the weights saved are still the base's
  const out2 = tempDir('nan-all');
  await assert.rejects(
    finetune(rlhfConfig(base, out2, { reward: 'toy-nan', steps: 10, accumulation: 1, m: 1, emaDecay: 0, maxNonFinite: 3 }), quiet),
    /3 steps in a row had a non-finite loss, reward or gradient \(the last: reward 'toy-nan' gave NaN for prompt .*\); stopping at step 3/,
  );
  const c = await loadCheckpoint(latestCheckpointDir(join(out2, 'checkpoints'))!);
  const b = await TextToImageModel.load(base);
  for (const [k, t] of Object.entries(b.unet.stateDict())) {
    assert.equal(torch.tidy(() => t.sub(c.tensors.unet![k]!).abs().max().item()), 0, k);
  }
  assert.equal(c.state.skipped, 3);
  assert.deepEqual(c.tensors.optimizer && Object.keys(c.tensors.optimizer), [], 'the optimizer never stepped');
  disposeCheckpoint(c);
  b.dispose();
  const store = new RunStore(join(out2, 'store.sqlite'));
  const run = store.listRuns()[0]!;
  assert.equal(run.status, 'failed');
  assert.match(run.error!, /3 steps in a row/);
  assert.deepEqual(store.metrics(run.id, 'skipped').map((m) => m.value), [1, 1, 1]);
  store.close();
});

test('a NaN loss (weights blown up by a huge lr) is caught, counted and stops the run', async () => {
  const base = await saveTinyBase(3, { size: 16 });
  const out = tempDir('nan-loss');
  await assert.rejects(
    finetune({ method: 'standard-ft', base, out, store: join(out, 's.sqlite'), steps: 20, batch: 2, lr: 1e30, gradClip: 0, maxNonFinite: 2 }, quiet),
    /2 steps in a row .*\(the last: the (loss|gradient norm) is (NaN|Infinity)\)/,
  );
  const rows = readJsonl(join(out, 'metrics.jsonl'));
  assert.ok(rows.length < 20);
  assert.deepEqual(rows.slice(-2).map((r) => r.skipped), [1, 1]);
});

test('LoRA (rank 2) trains only the adapters; the export is the base with the adapters merged', async () => {
  const base = await saveTinyBase(4, { size: 8 });
  const out = tempDir('lora');
  const { summary } = await finetune(rlhfConfig(base, out, { steps: 2, accumulation: 1, emaDecay: 0, loraRank: 2, loraTargets: 'attention', lr: 1e-2 }), quiet);
  const c = await loadCheckpoint(latestCheckpointDir(join(out, 'checkpoints'))!);
  assert.deepEqual(Object.keys(c.tensors).sort(), ['lora', 'optimizer']);
  const adapters = c.tensors.lora!;
  assert.ok(Object.keys(adapters).length > 0 && Object.keys(adapters).every((k) => /attn[12]\.to_(q|k|v|out\.0)\.lora_layer\.(down|up)\.weight$/.test(k)));
  assert.equal(summary.trainableParameters, Object.values(adapters).reduce((s, t) => s + t.numel(), 0));
  // rebuild: base + these adapters, merged, is the exported model, exactly
  const rebuilt = await TextToImageModel.load(base);
  const baseCopy = await TextToImageModel.load(base);
  injectLoRA(rebuilt.unet, { rank: 2, target: /(^|\.)attn[12]\.(to_q|to_k|to_v|to_out\.0)$/ });
  loadLoRAStateDict(rebuilt.unet, adapters);
  mergeLoRA(rebuilt.unet);
  const exported = await TextToImageModel.load(out);
  const ex = exported.stateDict();
  const bc = baseCopy.stateDict();
  let changed = 0;
  for (const [k, t] of Object.entries(rebuilt.stateDict())) {
    if (k.includes('lora_layer')) continue;
    assert.equal(torch.tidy(() => t.sub(ex[k]!).abs().max().item()), 0, k);
    const moved = torch.tidy(() => ex[k]!.sub(bc[k]!).abs().max().item());
    if (moved > 0) {
      changed++;
      assert.match(k, /attn[12]\.to_(q|k|v|out\.0)\.weight$/, `only adapted weights move (${k} did)`);
    }
  }
  assert.ok(changed > 0, 'the adapters learned something');
  disposeCheckpoint(c);
  for (const m of [rebuilt, baseCopy, exported]) m.dispose();
});

test('aborting saves a checkpoint; --resume with LoRA and EMA continues to the weights of an uninterrupted run', async () => {
  const base = await saveTinyBase(5, { size: 8 });
  const cfg = (out: string) => rlhfConfig(base, out, { steps: 4, accumulation: 1, loraRank: 2, emaDecay: 0.8, checkpointEvery: 100 });
  const whole = tempDir('abort-whole');
  await finetune(cfg(whole), quiet);
  const cut = tempDir('abort-cut');
  const ac = new AbortController();
  await assert.rejects(
    finetune(cfg(cut), { ...quiet, signal: ac.signal, onStep: (s) => s.step === 2 && ac.abort() }),
    (e: Error) => e.name === 'AbortError' && /stopped at step 2 \(checkpoint saved; continue with --resume\)/.test(e.message),
  );
  assert.equal((await loadCheckpoint(latestCheckpointDir(join(cut, 'checkpoints'))!)).step, 2);
  await finetune(cfg(cut), { ...quiet, resume: true });
  assert.ok(readFileSync(join(whole, 'model.safetensors')).equals(readFileSync(join(cut, 'model.safetensors'))));
});

test('run folder rules: a used --out is refused; --resume refuses a changed config but accepts more steps', async () => {
  const base = await saveTinyBase(6, { size: 8 });
  const out = tempDir('rules');
  const cfg = rlhfConfig(base, out, { steps: 2, accumulation: 1, m: 1, emaDecay: 0 });
  await finetune(cfg, quiet);
  await assert.rejects(finetune(cfg, quiet), /--out .* already holds a run \(finetune-config\.json, checkpoints, metrics\.jsonl, summary\.json, model\.safetensors\); pass --resume/);
  await assert.rejects(finetune({ ...cfg, lr: 0.5 }, { ...quiet, resume: true }), /--resume: the config differs from the run's in lr \(was 0\.001, now 0\.5\); only steps may change/);
  await assert.rejects(finetune({ ...cfg, out: tempDir('empty') }, { ...quiet, resume: true }), /holds no fine-tuning run to resume/);
  // a run written before an option existed (here: 'target') resumes: the option takes its default
  const cfgFile = join(out, 'finetune-config.json');
  const saved = JSON.parse(readFileSync(cfgFile, 'utf8'));
  assert.equal(saved.config.target, 'noise');
  delete saved.config.target;
  writeFileSync(cfgFile, JSON.stringify(saved));
  await assert.rejects(finetune({ ...cfg, steps: 3, target: 'x0' }, { ...quiet, resume: true }), /differs from the run's in target \(was "noise", now "x0"\)/);
  const { summary } = await finetune({ ...cfg, steps: 3 }, { ...quiet, resume: true });
  assert.equal(summary.steps, 3);
  assert.deepEqual(readJsonl(join(out, 'metrics.jsonl')).map((r) => r.step), [1, 2, 3]);
  const store = new RunStore(join(out, 'store.sqlite'));
  assert.equal(store.listRuns().length, 1, 'resumes keep the run row');
  store.close();
  // a folder with unrelated files is fine
  const other = tempDir('other');
  writeFileSync(join(other, 'notes.txt'), 'hello');
  await finetune({ ...cfg, out: other }, quiet);
});

test('config errors name what is wrong: unknown method, unknown option, missing reward, bad base', async () => {
  const base = await saveTinyBase(7, { size: 8 });
  const out = tempDir('errors');
  await assert.rejects(finetune({ method: 'nope', out }, quiet), /unknown fine-tuning method 'nope'; valid methods: .*rlhf-sharpening.*sft-sharpening.*standard-ft/);
  await assert.rejects(finetune({ method: 'rlhf-sharpening', reward: 'toy-redness', out, base, bogus: 1 }, quiet), /unknown option 'bogus' for method rlhf-sharpening; its options: n, m, S/);
  await assert.rejects(finetune({ method: 'standard-ft', out, base, beta: 5 }, quiet), /unknown option 'beta' for method standard-ft/);
  await assert.rejects(finetune({ method: 'rlhf-sharpening', out, base }, quiet), /method rlhf-sharpening needs a reward: pass --reward NAME \(registered: .*toy-redness/);
  await assert.rejects(finetune({ method: 'standard-ft', reward: 'toy-redness', out, base }, quiet), /method standard-ft uses no reward/);
  await assert.rejects(finetune({ method: 'rlhf-sharpening', reward: 'toy-redness', out, base, n: 1 }, quiet), /n: .*2/);
  await assert.rejects(finetune({ method: 'rlhf-sharpening', reward: 'nope', out, base, store: join(out, 's.sqlite'), steps: 1 }, quiet), /unknown reward 'nope'/);
  await assert.rejects(finetune({ method: 'rlhf-sharpening', reward: 'toy-redness', out, base: join(out, 'missing') }, quiet), /--base .*model\.safetensors is missing/);
  const unscored = tempDir('unscored');
  await assert.rejects(finetune({ method: 'rlhf-sharpening', reward: 'toy-unscored', out: unscored, store: join(unscored, 's.sqlite'), base, steps: 1, batch: 1, n: 2, m: 1, S: 2 }, quiet), /reward 'toy-unscored' could not score image 0/);
  assert.ok(!readdirSync(out).includes('summary.json'));
});

test('the CLI: sharpen finetune writes a model that sharpen sample reads; a used --out and an unknown method are clear errors', () => {
  const dir = tempDir('cli');
  mkdirSync(join(dir, 'base'));
  // the CLI cannot register the test's toy rewards, so it runs standard-ft (no reward) on the world
  const baseDone = spawnSync(process.execPath, ['--import', 'tsx', '-e',
    `import('${join(ROOT, 'test/train/finetune-helpers.ts')}').then((h) => h.saveTinyBase(0, { size: 16, dir: '${join(dir, 'base')}' }))`], { cwd: ROOT, timeout: 120_000 });
  assert.equal(baseDone.status, 0, String(baseDone.stderr));
  const sharpen = (...args: string[]) => spawnSync(process.execPath, [join(ROOT, 'bin/sharpen.js'), ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  const args = ['finetune', '--method', 'standard-ft', '--steps', '2', '--out', 'run', '--base', 'base', '--batch', '2', '--store', 'store.sqlite', '--set', 'captionDropout=0.5'];
  const r = sharpen(...args);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /config: \{"method":"standard-ft"/);
  assert.equal(JSON.parse(r.stdout.trim()).steps, 2);
  const again = sharpen(...args);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already holds a run/);
  const s = sharpen('sample', '--ckpt', 'run', '--prompt', 'a red circle', '--n', '2', '--steps', '2', '--out', 'grid.png');
  assert.equal(s.status, 0, s.stderr);
  assert.ok(existsSync(join(dir, 'grid.png')));
  const u = sharpen('finetune', '--method', 'ddpm-magic', '--out', 'x');
  assert.equal(u.status, 1);
  assert.match(u.stderr, /unknown fine-tuning method 'ddpm-magic'; valid methods: .*rlhf-sharpening, sft-sharpening, standard-ft/);
});
