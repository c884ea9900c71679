import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { NoiseSchedule, makeScheduler, schedulerNames, DDIMScheduler, DDPMScheduler } from '../../src/diffusion/index.js';

const schedule = new NoiseSchedule(); // linear, T = 1000, ε-prediction

function maxAbsDiff(a: torch.Tensor, b: torch.Tensor): number {
  return torch.tidy(() => a.sub(b).abs().max().item());
}
function col(values: number[], dtype: torch.DType = 'float64'): torch.Tensor {
  return torch.tensor(values, { dtype }).reshape([values.length, 1, 1, 1]);
}
function arr(t: torch.Tensor): number[] {
  return Array.from(t.dtype === 'float64' ? (t.toTypedArray() as Float64Array) : t.toFloat32Array());
}
const ab = (t: number) => (t < 0 ? 1 : schedule.alphasCumprod[t]!);

// Hand computations in float64 (Song et al. 2021 eq. 12/16; Ho et al. 2020 eq. 6–7).
function ddimHand(x: number, e: number, t: number, prev: number, eta: number, z = 0): { mean: number; sigma: number; x0: number; out: number } {
  const a = ab(t);
  const ap = ab(prev);
  const x0 = (x - Math.sqrt(1 - a) * e) / Math.sqrt(a);
  const sigma = eta * Math.sqrt((1 - ap) / (1 - a)) * Math.sqrt(1 - a / ap);
  const mean = Math.sqrt(ap) * x0 + Math.sqrt(1 - ap - sigma * sigma) * e;
  return { mean, sigma, x0, out: mean + sigma * z };
}
function ddpmHand(x: number, e: number, t: number, prev: number): { mean: number; sigma: number } {
  const a = ab(t);
  const ap = ab(prev);
  const x0 = (x - Math.sqrt(1 - a) * e) / Math.sqrt(a);
  const at = a / ap;
  const bt = 1 - at;
  const mean = ((Math.sqrt(ap) * bt) / (1 - a)) * x0 + ((Math.sqrt(at) * (1 - ap)) / (1 - a)) * x;
  return { mean, sigma: Math.sqrt(((1 - ap) / (1 - a)) * bt) };
}

const XS = [0.7, -1.3, 0.25, 2.0];
const ES = [-0.4, 0.9, 1.1, -0.2];
const TS = [999, 520, 41, 30]; // with S = 25 (Δ = 40): prev 959, 480, 1, −1 (→ x0, ᾱ_prev = 1)
const PREV = [959, 480, 1, -1];

test('DDIM η = 0 equals the float64 hand computation, per-sample timesteps, and is deterministic', () => {
  const ddim = makeScheduler('ddim', schedule) as DDIMScheduler;
  assert.deepEqual(ddim.setTimesteps(25), Array.from({ length: 25 }, (_, k) => 960 - 40 * k));
  assert.equal(ddim.supportsLogProb, false);
  for (const dtype of ['float64', 'float32'] as const) {
    const x = col(XS, dtype);
    const e = col(ES, dtype);
    const out = ddim.step(e, torch.tensor(TS), x);
    const got = arr(out.prevSample);
    const gotX0 = arr(out.predOriginalSample);
    const tol = dtype === 'float64' ? 1e-12 : 2e-5;
    TS.forEach((t, i) => {
      const h = ddimHand(XS[i]!, ES[i]!, t, PREV[i]!, 0);
      assert.ok(Math.abs(got[i]! - h.out) <= tol * Math.max(1, Math.abs(h.out)), `${dtype} t=${t}: ${got[i]} vs ${h.out}`);
      assert.ok(Math.abs(gotX0[i]! - h.x0) <= tol * Math.max(1, Math.abs(h.x0)), `${dtype} x0 t=${t}`);
    });
    assert.equal(out.noise, undefined);
    assert.equal(out.logProb, undefined);
    // the last step (prev < 0) lands on x̂0
    assert.ok(Math.abs(got[3]! - gotX0[3]!) < 1e-12);
  }
  torch.manualSeed(1);
  const x = torch.randn([3, 4, 8, 8]);
  const e = torch.randn([3, 4, 8, 8]);
  const a = ddim.step(e, torch.tensor([999, 500, 20]), x);
  const b = ddim.step(e, torch.tensor([999, 500, 20]), x);
  assert.equal(maxAbsDiff(a.prevSample, b.prevSample), 0);
  assert.throws(() => ddim.step(e, torch.tensor([999, 500, 20]), x, { returnLogProb: true }), /deterministic \(DDIM with η = 0/);
  assert.throws(() => ddim.step(e, 999, x, { prevSample: x }), /deterministic/);
});

test('DDIM η = 1 and DDPM: mean and σ match the formulas; noise replay; no DDPM noise on the last step', () => {
  const ddim = new DDIMScheduler(schedule, { eta: 1 });
  const ddpm = new DDPMScheduler(schedule);
  ddim.setTimesteps(25);
  ddpm.setTimesteps(25);
  assert.equal(ddim.supportsLogProb, true);
  assert.equal(ddpm.supportsLogProb, true);
  const x = col(XS);
  const e = col(ES);
  const t = torch.tensor(TS);
  const zero = torch.zeros([4, 1, 1, 1], { dtype: 'float64' });
  const one = torch.ones([4, 1, 1, 1], { dtype: 'float64' });
  for (const [sch, hand] of [
    [ddim, (i: number) => ddimHand(XS[i]!, ES[i]!, TS[i]!, PREV[i]!, 1)],
    [ddpm, (i: number) => ddpmHand(XS[i]!, ES[i]!, TS[i]!, PREV[i]!)],
  ] as const) {
    const m = arr(sch.step(e, t, x, { noise: zero }).prevSample); // μ
    const ms = arr(sch.step(e, t, x, { noise: one }).prevSample); // μ + σ
    TS.forEach((ti, i) => {
      const h = hand(i);
      assert.ok(Math.abs(m[i]! - h.mean) < 1e-12, `${sch.name} mean t=${ti}: ${m[i]} vs ${h.mean}`);
      assert.ok(Math.abs(ms[i]! - m[i]! - h.sigma) < 1e-12, `${sch.name} σ t=${ti}: ${ms[i]! - m[i]!} vs ${h.sigma}`);
    });
    assert.equal(ms[3], m[3], `${sch.name}: no noise on the last step`);
  }
  // DDIM with η = 1 is DDPM's posterior (same μ and σ) when x̂0 is not clipped
  torch.manualSeed(2);
  const xr = torch.randn([3, 2, 4, 4], { dtype: 'float64' });
  const er = torch.randn([3, 2, 4, 4], { dtype: 'float64' });
  const z = torch.randn([3, 2, 4, 4], { dtype: 'float64' });
  const tr = torch.tensor([999, 600, 10]);
  const a = ddim.step(er, tr, xr, { noise: z, returnLogProb: true });
  const b = ddpm.step(er, tr, xr, { noise: z, returnLogProb: true });
  assert.ok(maxAbsDiff(a.prevSample, b.prevSample) < 1e-10);
  assert.ok(maxAbsDiff(a.logProb!, b.logProb!) < 1e-8);
  assert.ok(maxAbsDiff(a.noise!, z) === 0);
  // a drawn z is returned, and replaying it reproduces the sample
  const drawn = ddim.step(er, tr, xr);
  assert.deepEqual(drawn.noise!.shape, [3, 2, 4, 4]);
  assert.equal(maxAbsDiff(ddim.step(er, tr, xr, { noise: drawn.noise! }).prevSample, drawn.prevSample), 0);
  // σ statistics over many draws: std of x_prev − μ ≈ σ
  const big = torch.zeros([1, 4, 64, 64]);
  const out = ddpm.step(big, 500, big);
  const hand = ddpmHand(0, 0, 500, 460).sigma;
  const std = out.prevSample.std().item();
  assert.ok(Math.abs(std / hand - 1) < 0.03, `std ${std} vs σ ${hand}`);
});

test('batched per-sample timesteps give the same result as stepping each sample alone', () => {
  torch.manualSeed(3);
  const x = torch.randn([4, 3, 6, 6]);
  const e = torch.randn([4, 3, 6, 6]);
  const z = torch.randn([4, 3, 6, 6]);
  const ts = [999, 520, 41, 7];
  for (const sch of [makeScheduler('ddim', schedule), makeScheduler('ddim', schedule, { eta: 0.7 }), makeScheduler('ddpm', schedule)]) {
    sch.setTimesteps(25);
    const stochastic = sch.supportsLogProb;
    const batched = sch.step(e, torch.tensor(ts), x, stochastic ? { noise: z, returnLogProb: true } : {});
    ts.forEach((t, i) => {
      const one = sch.step(e.narrow(0, i, 1), torch.tensor([t]), x.narrow(0, i, 1), stochastic ? { noise: z.narrow(0, i, 1), returnLogProb: true } : {});
      assert.equal(maxAbsDiff(one.prevSample, batched.prevSample.narrow(0, i, 1)), 0, `${sch.name} sample ${i}`);
      assert.equal(maxAbsDiff(one.predOriginalSample, batched.predOriginalSample.narrow(0, i, 1)), 0);
      if (stochastic) assert.equal(maxAbsDiff(one.logProb!, batched.logProb!.narrow(0, i, 1)), 0);
    });
  }
});

test('logProb is the Gaussian log-density averaged over dimensions; prevSample evaluates it', () => {
  torch.manualSeed(4);
  const ddim = makeScheduler('ddim', schedule, { eta: 1 });
  ddim.setTimesteps(25);
  const x = torch.randn([3, 2, 3, 3], { dtype: 'float64' });
  const e = torch.randn([3, 2, 3, 3], { dtype: 'float64' });
  const ts = [999, 400, 45];
  const t = torch.tensor(ts);
  const s = ddim.step(e, t, x, { returnLogProb: true });
  assert.deepEqual(s.logProb!.shape, [3]);
  const mu = ddim.step(e, t, x, { noise: torch.zerosLike(x) }).prevSample;
  const xs = s.prevSample.toTypedArray() as Float64Array;
  const ms = mu.toTypedArray() as Float64Array;
  const lp = s.logProb!.toTypedArray() as Float64Array;
  const D = 2 * 3 * 3;
  ts.forEach((ti, i) => {
    const sigma = ddimHand(0, 0, ti, ti - 40, 1).sigma;
    let sum = 0;
    for (let k = 0; k < D; k++) {
      const d = xs[i * D + k]! - ms[i * D + k]!;
      sum += -(d * d) / (2 * sigma * sigma) - Math.log(sigma) - 0.5 * Math.log(2 * Math.PI);
    }
    assert.ok(Math.abs(lp[i]! - sum / D) < 1e-9, `t=${ti}: ${lp[i]} vs ${sum / D}`);
  });
  // evaluating the sample just drawn gives the logProb returned when sampling
  const ev = ddim.step(e, t, x, { prevSample: s.prevSample });
  assert.ok(maxAbsDiff(ev.logProb!, s.logProb!) < 1e-12);
  assert.equal(maxAbsDiff(ev.prevSample, s.prevSample), 0);
  assert.equal(ev.noise, undefined);
  ev.prevSample.dispose();
  assert.ok(!s.prevSample.isDisposed, 'the returned prevSample is a new handle');
  // float32, as used in training
  const e32 = e.float();
  const x32 = x.float();
  const s32 = ddim.step(e32, t, x32, { returnLogProb: true });
  const ev32 = ddim.step(e32, t, x32, { prevSample: s32.prevSample });
  assert.equal(s32.logProb!.dtype, 'float32');
  assert.ok(maxAbsDiff(ev32.logProb!, s32.logProb!) < 1e-5);
  // a σ = 0 transition (the last step to ᾱ_prev = 1) has logProb 0 by convention
  const last = ddim.step(e, torch.tensor([10, 500, 39]), x, { returnLogProb: true });
  const l = last.logProb!.toTypedArray() as Float64Array;
  assert.equal(l[0], 0);
  assert.equal(l[2], 0);
  assert.ok(l[1]! !== 0);
  // with setAlphaToOne = false the last step keeps σ > 0 (Stable Diffusion's DDIM config)
  const sd = makeScheduler('ddim', schedule, { eta: 1, setAlphaToOne: false });
  sd.setTimesteps(25);
  assert.ok((sd.step(e, 10, x, { returnLogProb: true }).logProb!.toTypedArray() as Float64Array)[0] !== 0);
});

test('gradients flow from prevSample and logProb to the model output', () => {
  const ddim = makeScheduler('ddim', schedule, { eta: 1 });
  ddim.setTimesteps(25);
  torch.manualSeed(5);
  const x = torch.randn([2, 1, 2, 2], { dtype: 'float64' });
  const e = torch.randn([2, 1, 2, 2], { dtype: 'float64' }).requiresGrad_();
  const ts = [999, 300];
  const out = ddim.step(e, torch.tensor(ts), x, { returnLogProb: true });
  out.prevSample.sum().backward();
  const g = e.grad!.toTypedArray() as Float64Array;
  ts.forEach((t, i) => {
    const a = ab(t);
    const ap = ab(t - 40);
    const sigma = ddimHand(0, 0, t, t - 40, 1).sigma;
    // d x_prev / d ε̂ = √(1 − ᾱ_prev − σ²) − √ᾱ_prev √(1 − ᾱ_t)/√ᾱ_t
    const want = Math.sqrt(1 - ap - sigma * sigma) - (Math.sqrt(ap) * Math.sqrt(1 - a)) / Math.sqrt(a);
    for (let k = 0; k < 4; k++) assert.ok(Math.abs(g[i * 4 + k]! - want) < 1e-10, `t=${t}`);
  });
  // log p(x_prev | x_t) with x_prev fixed: its gradient goes through μ
  e.grad = null;
  const ev = ddim.step(e, torch.tensor(ts), x, { prevSample: out.prevSample.detach().add(0.1) });
  ev.logProb!.sum().backward();
  assert.ok(e.grad!.abs().sum().item() > 0);
  // no graph under noGrad
  const ng = torch.noGrad(() => ddim.step(e, torch.tensor(ts), x));
  assert.equal(ng.prevSample.requiresGrad, false);
});

test('clipSample clamps x̂0', () => {
  const ddim = makeScheduler('ddim', schedule, { clipSample: 1 });
  ddim.setTimesteps(10);
  const x = col([3, -3]);
  const e = col([0, 0]);
  const out = ddim.step(e, 900, x);
  assert.deepEqual(arr(out.predOriginalSample), [1, -1]);
  assert.ok(Math.abs(arr(ddim.step(e, 900, x, { clipSample: null }).predOriginalSample)[0]! - 3 / Math.sqrt(ab(900))) < 1e-9);
});

test('scheduler errors: unknown names and options, numSteps, batches, shapes, order of calls', () => {
  assert.deepEqual(schedulerNames(), ['ddim', 'ddpm']);
  assert.throws(() => makeScheduler('euler', schedule), /unknown scheduler 'euler': valid ones are ddim, ddpm/);
  assert.throws(() => makeScheduler('ddpm', schedule, { eta: 1 }), /scheduler 'ddpm' has no option 'eta'/);
  assert.throws(() => makeScheduler('ddim', schedule, { eta: 2 }), /η must be in \[0, 1\]/);
  assert.throws(() => makeScheduler('ddpm', schedule, { varianceType: 'learned' as 'fixed_small' }), /fixed_small, fixed_large/);
  const ddim = makeScheduler('ddim', schedule);
  const x = torch.zeros([2, 1, 2, 2]);
  assert.throws(() => ddim.step(x, torch.tensor([1, 2]), x), /call setTimesteps\(numSteps\) first/);
  assert.throws(() => ddim.setTimesteps(0), /numSteps must be an integer in \[1, 1000\], got 0/);
  assert.throws(() => ddim.setTimesteps(1001), /got 1001/);
  ddim.setTimesteps(10);
  assert.throws(() => ddim.step(x, torch.tensor([1, 2, 3]), x), /3 timesteps for a batch of 2/);
  assert.throws(() => ddim.step(x, torch.tensor([[1, 2]]), x), /shape \[B\]/);
  assert.throws(() => ddim.step(torch.zeros([3, 1, 2, 2]), torch.tensor([1, 2]), x), /modelOutput has shape \[3, 1, 2, 2\], x has \[2, 1, 2, 2\]/);
  assert.throws(() => ddim.step(x, torch.tensor([1, -1]), x), /timestep -1 is outside/);
  assert.throws(() => ddim.step(x, 1, x, { eta: 1, noise: torch.zeros([2, 1, 2, 3]) }), /noise has shape/);
  assert.throws(() => ddim.step(x, 1, x, { eta: 1, noise: x, prevSample: x }), /either prevSample .* or noise/);
  assert.throws(() => ddim.step(x, 1, x, { noise: x }), /noise was given but this step is deterministic/);
  const ddpm = makeScheduler('ddpm', schedule);
  ddpm.setTimesteps(10);
  assert.throws(() => ddpm.step(x, 1, x, { eta: 1 }), /DDPM has no η/);
});

test('half-precision inputs: the step keeps their dtype, the log-prob is float32', () => {
  const ddim = makeScheduler('ddim', schedule, { eta: 1 });
  ddim.setTimesteps(25);
  torch.manualSeed(6);
  const [x, e, z] = [0, 1, 2].map(() => torch.randn([2, 3, 4, 4]));
  const t = torch.tensor([999, 300]);
  const ref = ddim.step(e!, t, x!, { noise: z, returnLogProb: true });
  const half = ddim.step(e!.half(), t, x!.half(), { noise: z!.half(), returnLogProb: true });
  assert.equal(half.prevSample.dtype, 'float16');
  assert.equal(half.logProb!.dtype, 'float32');
  assert.ok(maxAbsDiff(half.prevSample.float(), ref.prevSample) < 2e-2);
  assert.ok(maxAbsDiff(half.logProb!, ref.logProb!) < 2e-2);
});
