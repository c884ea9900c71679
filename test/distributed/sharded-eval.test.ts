// Sharded evaluation: `sharpen launch --nproc-per-node 2 -- eval …` samples each rank's share of the
// held-out batches and rank 0 reports all of them: the same prompts in the same order as one process,
// every image scored, and means that are the means of the gathered per-image scores.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { saveTinyBase, tempDir } from '../train/finetune-helpers.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHARPEN = join(ROOT, 'bin', 'sharpen.js');

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const p = spawn(process.execPath, [SHARPEN, ...args], { cwd: ROOT, env: { ...process.env, OMP_NUM_THREADS: '1', SHARPEN_DIST_TIMEOUT_MS: '20000' } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('close', (code) => res({ code, stdout, stderr }));
  });
}

test('eval under launch with 2 processes: every held-out image once, in one process\'s order, reported by rank 0', { timeout: 180_000 }, async () => {
  const base = await saveTinyBase(0);
  const dir = tempDir('sharded-eval');
  // 3 prompts per category × 2 images = 36 images in batches of 32: batch 0 on rank 0, batch 1 on rank 1
  const evalArgs = (samples: string) => ['eval', '--ckpt', base, '--per-category', '3', '--images-per-prompt', '2', '--metrics', 'clip', '--json', '--samples', samples];
  const one = await run(evalArgs(join(dir, 'one.jsonl')));
  assert.equal(one.code, 0, one.stderr);
  const two = await run(['launch', '--nproc-per-node', '2', '--', ...evalArgs(join(dir, 'two.jsonl'))]);
  assert.equal(two.code, 0, two.stderr);
  const lines = two.stdout.trim().split('\n').filter((l) => l.startsWith('{'));
  assert.equal(lines.length, 1, `rank 0 alone prints the result:\n${two.stdout}`);
  const read = (f: string) => readFileSync(join(dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { prompt: string; score: number; metrics: { clip: number | null } });
  const a = read('one.jsonl');
  const b = read('two.jsonl');
  assert.equal(b.length, 36);
  assert.deepEqual(b.map((s) => s.prompt), a.map((s) => s.prompt));
  assert.ok(b.every((s) => typeof s.metrics.clip === 'number' && Number.isFinite(s.metrics.clip)), 'every image scored by the metric');
  const result = JSON.parse(lines[0]!) as { clip: number; nfe_per_image: number };
  const meanClip = b.reduce((x, s) => x + s.metrics.clip!, 0) / b.length;
  assert.ok(Math.abs(result.clip - meanClip) < 1e-3, `${result.clip} vs ${meanClip}`);
  assert.equal(result.nfe_per_image, JSON.parse(one.stdout.trim().split('\n').at(-1)!).nfe_per_image);
  // rank 1's half was sampled from its own noises: the images differ from one process's
  assert.notDeepEqual(b.slice(32).map((s) => s.metrics.clip), a.slice(32).map((s) => s.metrics.clip));
});
