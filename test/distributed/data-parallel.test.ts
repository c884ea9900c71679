// Data-parallel training with 2 processes on loopback, started by `sharpen launch`: the collectives;
// K steps leave identical weights on both ranks, equal (to float tolerance) to one process trained
// on the combined batch; a killed worker stops the launch with its error; a killed and resumed
// 2-process fine-tuning run ends with byte-identical weights; another world size is refused on resume.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { finetune, type FinetuneInput } from '../../src/train/loop.js';
import { saveTinyBase, tempDir, registerToyRewards } from '../train/finetune-helpers.js';
import { freePort } from '../../src/util/free-port.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHARPEN = join(ROOT, 'bin', 'sharpen.js');
const WORKERS = join(ROOT, 'test', 'distributed', 'workers');
/** the fine-tuning child of the single-process kill-and-resume test, as a worker (relative to WORKERS) */
const FINETUNE = join('..', '..', 'train', 'finetune-child.ts');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * `sharpen launch --nproc-per-node 2 -- <script> …args` with a 20 s collective time-out; `onStderr`
 * sees the launcher's stderr (the workers' too) as it comes.
 */
async function launch2(script: string, args: string[], opts: { env?: NodeJS.ProcessEnv; onStderr?: (all: string) => void } = {}): Promise<Ran> {
  const port = await freePort();
  return new Promise((res) => {
    const p = spawn(process.execPath, [SHARPEN, 'launch', '--nproc-per-node', '2', '--master-port', String(port), '--', join(WORKERS, script), ...args], {
      cwd: ROOT, env: { ...process.env, OMP_NUM_THREADS: '1', SHARPEN_DIST_TIMEOUT_MS: '20000', ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      opts.onStderr?.(stderr);
    });
    p.on('close', (code) => res({ code, stdout, stderr }));
  });
}

function runPlain(script: string, args: string[]): Promise<Ran> {
  return new Promise((res) => {
    const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '1' };
    delete env.RANK;
    const p = spawn(process.execPath, ['--import', 'tsx', join(WORKERS, script), ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => res({ code, stdout, stderr }));
  });
}

async function loadWeights(path: string): Promise<Record<string, Float32Array>> {
  const { tensors: sd } = await torch.safetensors.loadFile(path);
  return Object.fromEntries(Object.entries(sd).map(([k, t]) => {
    const a = t.toFloat32Array();
    t.dispose();
    return [k, a];
  }));
}

test('the collectives over 2 processes: all-reduce (sum, max), broadcast, all-gather, barrier', async () => {
  const r = await launch2('collectives.ts', []);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).sort((a, b) => a.rank - b.rank);
  assert.equal(lines.length, 2);
  for (const [rank, l] of lines.entries()) {
    assert.deepEqual(l, { rank, world: 2, summed: [3, 30], max: 1, broadcast: [7, 8, 9], gathered: [[0, 0], [1, 1]] });
  }
});

test('K data-parallel steps: identical weights on both ranks, equal to one process trained on the combined batch', async () => {
  const base = await saveTinyBase(1, { size: 8 });
  const dp = tempDir('dp-equiv');
  const one = tempDir('dp-one');
  const r = await launch2('ddp-step.ts', [base, dp, '2', '3']);
  assert.equal(r.code, 0, r.stderr);
  const single = await runPlain('ddp-step.ts', [base, one, '2', '3']);
  assert.equal(single.code, 0, single.stderr);
  assert.deepEqual(readFileSync(join(dp, 'rank-0.safetensors')), readFileSync(join(dp, 'rank-1.safetensors')));
  const a = await loadWeights(join(dp, 'rank-0.safetensors'));
  const b = await loadWeights(join(one, 'rank-0.safetensors'));
  const initial = await loadWeights(join(base, 'model.safetensors'));
  let maxDiff = 0;
  let moved = 0;
  for (const [k, v] of Object.entries(a)) {
    const w = b[k]!;
    const w0 = initial[`unet.${k}`]!;
    for (let i = 0; i < v.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(v[i]! - w[i]!));
      moved = Math.max(moved, Math.abs(v[i]! - w0[i]!));
    }
  }
  assert.ok(moved > 1e-3, `the weights moved by ${moved} in 3 steps`);
  assert.ok(maxDiff < 1e-5, `2 processes vs one on the combined batch: max |Δw| = ${maxDiff}`);
});

function rlhfConfig(base: string, out: string, steps: number): FinetuneInput {
  return {
    method: 'rlhf-sharpening', reward: 'toy-redness', base, out, store: join(out, 'store.sqlite'), seed: 3,
    steps, batch: 1, lr: 1e-3, checkpointEvery: 1, n: 2, m: 1, S: 2, beta: 100,
  };
}

test('killing one worker stops the launch with that worker named, within the time-out', async () => {
  const base = await saveTinyBase(2, { size: 8 });
  const out = tempDir('dp-kill');
  let killed = false;
  const r = await launch2(FINETUNE, [JSON.stringify(rlhfConfig(base, out, 200)), 'new', '200'], {
    env: { PRINT_STEPS: '1' },
    onStderr: (all) => {
      const m = /rank 1 pid (\d+) step 2\n/.exec(all);
      if (m && !killed) {
        killed = true;
        process.kill(Number(m[1]), 'SIGKILL');
      }
    },
  });
  assert.ok(killed, r.stderr);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /launch: worker rank 1 \(local rank 1, pid \d+\) was killed by SIGKILL; the other workers were stopped/);
});

/**
 * DDPO: its state (a rollout buffer filled over two steps, per-prompt reward statistics) differs
 * between the ranks, so a checkpoint taken mid-buffer must hold every rank's.
 */
function ddpoConfig(base: string, out: string, steps: number): FinetuneInput {
  return {
    method: 'ddpo', reward: 'toy-redness', base, out, store: join(out, 'store.sqlite'), seed: 1,
    steps, batch: 2, checkpointEvery: 1, bufferBatches: 2, samplesPerPrompt: 2, statMinCount: 2, statBufferSize: 4,
  };
}

test('a 2-process run killed and resumed ends with the weights of an uninterrupted one, byte for byte; another world size is refused', async () => {
  const base = await saveTinyBase(3, { size: 8 });
  const whole = tempDir('dp-whole');
  const full = await launch2(FINETUNE, [JSON.stringify(ddpoConfig(base, whole, 4))]);
  assert.equal(full.code, 0, full.stderr);

  // killed while it sleeps after step 2, before that step's checkpoint: it resumes from step 1, mid-buffer
  const out = tempDir('dp-resume');
  let killed = false;
  const first = await launch2(FINETUNE, [JSON.stringify(ddpoConfig(base, out, 4)), 'new', '300'], {
    env: { PRINT_STEPS: '1' },
    onStderr: (all) => {
      const m = /rank 0 pid (\d+) step 2\n/.exec(all);
      if (m && !killed) {
        killed = true;
        process.kill(Number(m[1]), 'SIGKILL');
      }
    },
  });
  assert.ok(killed && first.code !== 0, first.stderr);
  const state = JSON.parse(readFileSync(join(out, 'checkpoints', 'checkpoint-00000001', 'state.json'), 'utf8'));
  assert.equal(state.worldSize, 2);
  assert.equal(state.rngByRank.length, 2);
  assert.ok(state.methodStateByRank[1].meta.buffer, 'rank 1\'s rollout buffer is in the checkpoint');
  const resumed = await launch2(FINETUNE, [JSON.stringify(ddpoConfig(base, out, 4)), 'resume']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(JSON.parse(resumed.stdout.trim()).steps, 4);
  assert.deepEqual(readFileSync(join(out, 'model.safetensors')), readFileSync(join(whole, 'model.safetensors')));

  registerToyRewards();
  await assert.rejects(
    finetune(ddpoConfig(base, whole, 5), { resume: true, progress: false, log: () => {} }),
    /was written by a run of 2 processes, and this one has 1; resume it with the same number of processes/,
  );
});

test('data-parallel pretraining: stopped after 3 steps and resumed, it ends with the weights of an uninterrupted 2-process run', async () => {
  const whole = tempDir('dp-pre-whole');
  const r = await launch2('pretrain-worker.ts', [whole]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout.trim()), { finished: true, step: 5, dir: join(whole, 'final') });
  const cut = tempDir('dp-pre-cut');
  assert.equal((await launch2('pretrain-worker.ts', [cut, '3'])).code, 0);
  const resumed = await launch2('pretrain-worker.ts', [cut]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.deepEqual(readFileSync(join(cut, 'final', 'model.safetensors')), readFileSync(join(whole, 'final', 'model.safetensors')));
  assert.equal(JSON.parse(readFileSync(join(cut, 'checkpoints', 'checkpoint-00000005', 'state.json'), 'utf8')).worldSize, 2);
});
