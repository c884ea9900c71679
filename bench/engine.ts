// `npm run bench -- engine`: the engine against PyTorch on the same libtorch (where python3 has
// torch). Prints a table, then one JSON line. See bench/engine_torch.py for the PyTorch side.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/torch/index.js';
import { F, type Tensor } from '../src/torch/index.js';
import { median, printTable } from './util.js';

const THREADS = 2;

/** The reference network: weights, and one forward returning the MSE loss. */
function referenceNet(): { params: Tensor[]; forward: (x: Tensor, target: Tensor) => Tensor } {
  const w = (o: number, i: number) => torch.randn([o, i, 3, 3]).mul_(Math.sqrt(2 / (i * 9))).requiresGrad_();
  const params = [w(64, 3), w(64, 64), w(64, 64), w(64, 64), w(64, 64), w(128, 64), w(128, 128), w(128, 128), w(64, 128), w(3, 64)];
  const conv = (x: Tensor, k: number, stride = 1) => F.conv2d(x, params[k]!, null, { stride, padding: 1 });
  const res = (x: Tensor, k: number) => x.add(conv(conv(x.silu(), k).silu(), k + 1));
  const forward = (x: Tensor, target: Tensor) => {
    const h0 = conv(x, 0); // [8, 64, 32, 32]
    const h1 = res(res(h0, 1), 3); // two residual blocks at 64
    const d = res(conv(h1, 5, 2), 6); // [8, 128, 16, 16]
    const u = conv(F.interpolate(d, { scaleFactor: 2, mode: 'nearest' }), 8); // [8, 64, 32, 32]
    const out = conv(u.add(h1).silu(), 9); // [8, 3, 32, 32]
    return F.mseLoss(out, target);
  };
  return { params, forward };
}

function timeIt(fn: () => void, warmup: number, reps: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

function measureOurs() {
  torch.setNumThreads(THREADS);
  torch.manualSeed(0);
  const net = referenceNet();
  const x = torch.randn([8, 3, 32, 32]);
  const target = torch.randn([8, 3, 32, 32]);
  const refNetMs = timeIt(() => torch.tidy(() => {
    net.forward(x, target).backward();
    for (const p of net.params) p.grad = null;
  }), 5, 30);
  const refNetFwdMs = timeIt(() => torch.tidy(() => torch.noGrad(() => void net.forward(x, target))), 5, 30);

  const a = torch.ones([1]);
  const b = torch.ones([1]);
  const N = 200_000;
  const tinyRuns: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < N; i++) a.add(b).dispose();
    tinyRuns.push(((performance.now() - t0) / N) * 1000);
  }
  const tinyOpUs = median(tinyRuns.slice(2));

  const m1 = torch.randn([2048, 2048]);
  const m2 = torch.randn([2048, 2048]);
  const gemmMs = timeIt(() => torch.tidy(() => void m1.matmul(m2)), 2, 10);
  const sgemmGflops = (2 * 2048 ** 3) / (gemmMs / 1000) / 1e9;
  for (const t of [x, target, a, b, m1, m2, ...net.params]) t.dispose();
  return { refNetMs, refNetFwdMs, tinyOpUs, sgemmGflops };
}

/** The same measurements by PyTorch, where a python3 with torch exists (Debian's python3-torch). */
function measureTorch(): { ref_net_ms: number; ref_net_fwd_ms: number; tiny_op_us: number; sgemm_gflops: number; version: string } | null {
  const script = fileURLToPath(new URL('./engine_torch.py', import.meta.url));
  for (const py of ['/usr/bin/python3', 'python3']) {
    if (py.startsWith('/') && !existsSync(py)) continue;
    const r = spawnSync(py, [script, String(THREADS)], { encoding: 'utf8', timeout: 600_000 });
    if (r.status === 0) {
      const last = r.stdout.trim().split('\n').pop()!;
      return JSON.parse(last);
    }
  }
  return null;
}

export async function run(): Promise<void> {
  const info = torch.buildInfo();
  console.log(`engine benchmark: libtorch ${info.torch}, ${THREADS} threads, fp32, CPU`);
  const ours = measureOurs();
  const pt = measureTorch();
  const round = (v: number, d = 3) => Number(v.toFixed(d));
  const rows: (string | number)[][] = [
    ['ref_net fwd+bwd (ms)', round(ours.refNetMs, 2), pt ? round(pt.ref_net_ms, 2) : '-', pt ? round(ours.refNetMs / pt.ref_net_ms) : '-'],
    ['ref_net fwd (ms)', round(ours.refNetFwdMs, 2), pt ? round(pt.ref_net_fwd_ms, 2) : '-', pt ? round(ours.refNetFwdMs / pt.ref_net_fwd_ms) : '-'],
    ['tiny op a.add(b) (µs)', round(ours.tinyOpUs), pt ? round(pt.tiny_op_us) : '-', pt ? round(ours.tinyOpUs / pt.tiny_op_us) : '-'],
    ['sgemm 2048² (GFLOP/s)', round(ours.sgemmGflops, 1), pt ? round(pt.sgemm_gflops, 1) : '-', pt ? round(ours.sgemmGflops / pt.sgemm_gflops) : '-'],
  ];
  printTable(['measure', 'this engine', `PyTorch ${pt?.version ?? '(not found)'}`, 'ratio'], rows);
  const out: Record<string, number | string | null> = {
    bench: 'engine',
    ref_net_ms: round(ours.refNetMs, 2),
    ref_net_fwd_ms: round(ours.refNetFwdMs, 2),
    tiny_op_us: round(ours.tinyOpUs),
    sgemm_gflops: round(ours.sgemmGflops, 1),
  };
  if (pt) {
    Object.assign(out, {
      torch_ref_net_ms: round(pt.ref_net_ms, 2),
      torch_ref_net_fwd_ms: round(pt.ref_net_fwd_ms, 2),
      torch_tiny_op_us: round(pt.tiny_op_us),
      torch_sgemm_gflops: round(pt.sgemm_gflops, 1),
      ref_net_ratio: round(ours.refNetMs / pt.ref_net_ms),
      ref_net_fwd_ratio: round(ours.refNetFwdMs / pt.ref_net_fwd_ms),
      tiny_op_ratio: round(ours.tinyOpUs / pt.tiny_op_us),
    });
  }
  console.log(JSON.stringify(out));
}
