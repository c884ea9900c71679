// `npm run bench -- distributed [--steps 4] [--warmup 1] [--S 10] [--reps 10]`
//
// Data-parallel training on this machine, through `sharpen launch` and the fine-tuning loop as a
// user runs them (bench/distributed-worker.ts):
// 1. steps/s of an RLHF-Sharpening step (rlhf-sharpening, compositional reward, full fine-tuning of
//    a UNet of the base model's architecture, configs/base.yaml, randomly initialised: the bench
//    needs its size, not its weights) in three layouts:
//    - 1 process × 1 thread, batch 1: the work of one rank alone;
//    - 1 process × 2 threads, batch 2;
//    - 2 processes × 1 thread, batch 1 each (global batch 2), gradients all-reduced.
//    The last two do the same work per step on the same 2 cores. Weak-scaling efficiency is
//    t(1 × 1, batch 1) / t(2 × 1, batch 1 per rank): 1 when the second rank costs nothing. Each
//    figure is the median of --steps steps after --warmup ones (rollout length S = --S, the rest the
//    method's defaults);
// 2. all-reduce (sum) of float32 tensors of 4 KiB to 32 MiB between 2 processes over loopback
//    (Gloo): the median of --reps, as algorithm bandwidth (bytes / time) and bus bandwidth
//    (× 2(W − 1)/W, NCCL's convention: what each link carries in a ring);
// 3. the gradient buckets of one step (DataParallel's 25 MiB buckets over the trainable parameters)
//    and, from them, an estimate of the all-reduce time per step on 8 GPUs at a stated bus bandwidth.
// One JSON line last with every figure.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, printTable, saveRandomBase } from './util.js';
import { freePort } from '../src/util/free-port.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const SHARPEN = join(ROOT, 'bin', 'sharpen.js');
const WORKER = join(ROOT, 'bench', 'distributed-worker.ts');

function flag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--${name} must be an integer ≥ 1, got '${args[i + 1]}'`);
  return v;
}

/** `sharpen launch` of the worker; resolves with rank 0's JSON line. */
async function launch(procs: number, threads: number, args: string[]): Promise<Record<string, unknown>> {
  const port = await freePort();
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [
      SHARPEN, 'launch', '--nproc-per-node', String(procs), '--threads-per-worker', String(threads), '--master-port', String(port), '--', WORKER, ...args,
    ], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => {
      if (code !== 0) return rej(new Error(`bench distributed: the launch of ${procs} × ${threads} failed (exit ${code})`));
      res(JSON.parse(out.trim().split('\n').at(-1)!));
    });
  });
}

const MiB = 1024 * 1024;

export async function run(): Promise<void> {
  const args = process.argv.slice(3);
  const steps = flag(args, 'steps', 4);
  const warmup = flag(args, 'warmup', 1);
  const S = flag(args, 'S', 10);
  const reps = flag(args, 'reps', 10);
  const tmp = mkdtempSync(join(tmpdir(), 'sharpen-bench-dist-'));
  try {
    // a base of the shipped architecture (configs/base.yaml), randomly initialised
    const base = join(tmp, 'base');
    (await saveRandomBase(base)).dispose();
    const layouts = [
      { name: '1 process × 1 thread, batch 1', procs: 1, threads: 1, batch: 1 },
      { name: '1 process × 2 threads, batch 2', procs: 1, threads: 2, batch: 2 },
      { name: '2 processes × 1 thread, batch 1 each', procs: 2, threads: 1, batch: 1 },
    ];
    const results: { name: string; procs: number; globalBatch: number; medianMs: number; stepsPerSec: number; imagesPerSec: number }[] = [];
    let buckets: number[] = [];
    let trainable = 0;
    for (const [i, l] of layouts.entries()) {
      const out = join(tmp, `run-${i}`);
      const cfg = {
        method: 'rlhf-sharpening', reward: 'compositional', base, out, store: join(tmp, `store-${i}.sqlite`), seed: 0,
        steps: warmup + steps, batch: l.batch, checkpointEvery: 1000, S,
      };
      console.error(`bench distributed: ${l.name} …`);
      const r = await launch(l.procs, l.threads, ['step', JSON.stringify(cfg), String(warmup)]);
      const ms = median(r.stepMs as number[]);
      buckets = r.buckets as number[];
      trainable = r.trainable as number;
      const globalBatch = l.batch * l.procs;
      results.push({ name: l.name, procs: l.procs, globalBatch, medianMs: ms, stepsPerSec: 1000 / ms, imagesPerSec: (1000 / ms) * globalBatch });
    }
    console.log(`\nRLHF-Sharpening step (S = ${S}, n and m the defaults; full fine-tuning, ${trainable} trainable parameters); median of ${steps} steps after ${warmup}:`);
    printTable(['layout', 'global batch', 'ms/step', 'steps/s', 'prompts/s'], results.map((r) => [r.name, r.globalBatch, r.medianMs.toFixed(0), r.stepsPerSec.toFixed(3), r.imagesPerSec.toFixed(3)]));
    const weak = results[0]!.medianMs / results[2]!.medianMs;
    const sameCores = results[1]!.medianMs / results[2]!.medianMs;
    console.log(`weak-scaling efficiency t(1×1)/t(2×1) = ${weak.toFixed(3)}; 2 processes × 1 thread against 1 process × 2 threads at the same global batch: ${sameCores.toFixed(3)}× the steps/s`);

    const sizes = [4096, 65536, MiB, 4 * MiB, 16 * MiB, 32 * MiB];
    console.error('bench distributed: all-reduce …');
    const ar = (await launch(2, 1, ['allreduce', sizes.join(','), String(reps)])).allreduce as { bytes: number; ms: number }[];
    const W = 2;
    const rows = ar.map((a) => ({ ...a, algGBps: a.bytes / (a.ms / 1000) / 1e9, busGBps: (a.bytes / (a.ms / 1000) / 1e9) * ((2 * (W - 1)) / W) }));
    console.log(`\nall-reduce (sum, float32) between 2 processes on loopback, Gloo; median of ${reps}:`);
    printTable(['bytes', 'ms', 'algorithm GB/s', 'bus GB/s'], rows.map((r) => [r.bytes, r.ms.toFixed(3), r.algGBps.toFixed(3), r.busGBps.toFixed(3)]));

    // the 8-GPU estimate: a ring all-reduce moves 2(W − 1)/W of the bucket over each link, plus a latency per ring step
    const gradBytes = buckets.reduce((s, b) => s + b, 0);
    const busGBps = 150; // NCCL bus bandwidth of an all-reduce on 8 GPUs over NVLink, a conservative round figure for H100/H200 SXM nodes
    const latencyUs = 20; // per bucket all-reduce (NCCL's small-message latency on one node)
    const gpus = 8;
    const commMs = buckets.reduce((s, b) => s + ((2 * (gpus - 1)) / gpus) * b / (busGBps * 1e9) * 1000 + latencyUs / 1000, 0);
    console.log(
      `\ngradient buckets per step: ${buckets.length} (${buckets.map((b) => (b / MiB).toFixed(2) + ' MiB').join(', ')}), ${(gradBytes / MiB).toFixed(2)} MiB in all. ` +
      `On ${gpus} GPUs at ${busGBps} GB/s bus bandwidth and ${latencyUs} µs per all-reduce, their all-reduce takes about ${commMs.toFixed(3)} ms per step ` +
      '(not overlapped with backward in this implementation, so it adds to the step).',
    );
    console.log(JSON.stringify({ bench: 'distributed', S, steps, warmup, trainable, layouts: results, weakScaling: weak, twoProcsVsTwoThreads: sameCores, allreduce: rows, buckets, gradBytes, estimate8Gpu: { busGBps, latencyUs, commMs } }));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
