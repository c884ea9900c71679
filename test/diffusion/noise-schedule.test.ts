import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { NoiseSchedule, roundHalfEven } from '../../src/diffusion/index.js';

const T = 1000;

function close(a: number, b: number, tol: number, msg = ''): void {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${msg}: ${a} vs ${b} (tol ${tol})`);
}
function maxAbsDiff(a: torch.Tensor, b: torch.Tensor): number {
  return torch.tidy(() => a.sub(b).abs().max().item());
}

// Independent float64 references, written from the papers' formulas.
function refBetas(kind: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < T; i++) {
    if (kind === 'linear') out.push(0.0001 + (i * (0.02 - 0.0001)) / (T - 1));
    else if (kind === 'scaled_linear') {
      const s = Math.sqrt(0.00085) + (i * (Math.sqrt(0.012) - Math.sqrt(0.00085))) / (T - 1);
      out.push(s * s);
    } else {
      const ab = (u: number) => Math.cos((((u + 0.008) / 1.008) * Math.PI) / 2) ** 2;
      out.push(Math.min(1 - ab((i + 1) / T) / ab(i / T), 0.999));
    }
  }
  return out;
}

// numpy float64 values (np.linspace / np.cumprod), at t = 0, 1, 499, 999.
const NUMPY: Record<string, { betas: number[]; ac: number[] }> = {
  linear: {
    betas: [0.0001, 0.00011991991991991993, 0.010040040040040039, 0.02],
    ac: [0.9999, 0.9997800920720721, 0.07858724288177824, 4.035829765375676e-5],
  },
  scaled_linear: {
    betas: [0.00085, 0.0008546986554056862, 0.004803792980550717, 0.012],
    ac: [0.99915, 0.9982960278384514, 0.27766965045646763, 0.004660098513077238],
  },
  cosine: {
    betas: [4.128422482196914e-5, 4.614175273665033e-5, 0.0031458862304780677, 0.999],
    ac: [0.999958715775178, 0.9999125759273678, 0.4938435904406382, 2.4287669070348567e-9],
  },
};

test('betas and alphasCumprod match the formulas (float64) and numpy at t = 0, 1, 499, 999', () => {
  for (const kind of ['linear', 'scaled_linear', 'cosine'] as const) {
    const s = new NoiseSchedule({ betaSchedule: kind });
    const betas = refBetas(kind);
    let p = 1;
    const ac = betas.map((b) => (p *= 1 - b));
    assert.equal(s.betas.length, T);
    for (const [k, t] of [0, 1, 499, 999].entries()) {
      close(s.betas[t]!, betas[t]!, 1e-14, `${kind} beta ${t}`);
      close(s.alphas[t]!, 1 - betas[t]!, 1e-14, `${kind} alpha ${t}`);
      close(s.alphasCumprod[t]!, ac[t]!, 1e-12, `${kind} alphaBar ${t}`);
      close(s.betas[t]!, NUMPY[kind]!.betas[k]!, 1e-12, `${kind} beta ${t} vs numpy`);
      assert.ok(Math.abs(s.alphasCumprod[t]! - NUMPY[kind]!.ac[k]!) <= 1e-12 * NUMPY[kind]!.ac[k]!, `${kind} ᾱ ${t} vs numpy`);
    }
  }
  assert.equal(new NoiseSchedule({ betaSchedule: 'squaredcos_cap_v2' }).config.betaSchedule, 'cosine');
});

test('alphaBar gathers per-sample ᾱ as float32 [B]', () => {
  const s = new NoiseSchedule();
  const t = torch.tensor([999, 0, 500]);
  const ab = s.alphaBar(t);
  assert.equal(ab.dtype, 'float32');
  assert.deepEqual(ab.shape, [3]);
  const v = ab.toArray() as number[];
  [999, 0, 500].forEach((ti, i) => close(v[i]!, s.alphasCumprod[ti]!, 1e-6, `t=${ti}`));
  assert.equal(s.alphaBar(t, 'float64').dtype, 'float64');
  const table = s.alphasCumprodTensor();
  assert.deepEqual(table.shape, [T]);
  close(table.select(0, 500).item(), s.alphasCumprod[500]!, 1e-15);
  s.dispose();
  assert.ok(table.isDisposed);
});

test("inferenceTimesteps follow diffusers' leading, trailing and linspace spacings", () => {
  const s = new NoiseSchedule();
  const range = (n: number, f: (k: number) => number) => Array.from({ length: n }, (_, k) => f(k));
  assert.deepEqual(s.inferenceTimesteps(10, 'leading'), [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]);
  assert.deepEqual(s.inferenceTimesteps(10, 'leading', 1), [901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  assert.deepEqual(s.inferenceTimesteps(10, 'trailing'), [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  assert.deepEqual(s.inferenceTimesteps(10, 'linspace'), [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
  assert.deepEqual(s.inferenceTimesteps(25, 'leading'), range(25, (k) => 960 - 40 * k));
  assert.deepEqual(s.inferenceTimesteps(25, 'trailing'), range(25, (k) => 999 - 40 * k));
  // np.linspace(0, 999, 25).round()[::-1] (half to even: 166.5 → 166, 499.5 → 500, 832.5 → 832)
  assert.deepEqual(s.inferenceTimesteps(25, 'linspace'), [
    999, 957, 916, 874, 832, 791, 749, 708, 666, 624, 583, 541, 500, 458, 416, 375, 333, 291, 250, 208, 166, 125, 83, 42, 0,
  ]);
  // np.round(np.arange(1000, 0, -62.5)) - 1, half to even
  assert.deepEqual(s.inferenceTimesteps(16, 'trailing'), [999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61]);
  // exactly S values where numpy's float arange would give S + 1 (e.g. S = 61)
  const t61 = s.inferenceTimesteps(61, 'trailing');
  assert.equal(t61.length, 61);
  assert.ok(t61.every((t) => t >= 0 && t < T));
  assert.deepEqual(s.inferenceTimesteps(1, 'leading'), [0]);
  assert.deepEqual(s.inferenceTimesteps(1, 'trailing'), [999]);
  assert.deepEqual(s.inferenceTimesteps(1000, 'trailing'), range(1000, (k) => 999 - k));
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(3.5), 4);
  assert.ok(roundHalfEven(-0.5) === 0 && roundHalfEven(-1.5) === -2);
});

test('prevTimestep is t − ⌊T/S⌋, and −1 (x0) below zero', () => {
  const s = new NoiseSchedule();
  assert.equal(s.stride(25), 40);
  assert.equal(s.stride(3), 333);
  assert.equal(s.prevTimestep(999, 25), 959);
  assert.equal(s.prevTimestep(40, 25), 0);
  assert.equal(s.prevTimestep(39, 25), -1);
  assert.equal(s.prevTimestep(0, 10), -1);
});

test('addNoise, velocity and predictX0AndEps round-trip (ε and v prediction)', () => {
  torch.manualSeed(0);
  const x0 = torch.randn([4, 3, 5, 5]);
  const eps = torch.randn([4, 3, 5, 5]);
  const t = torch.tensor([0, 250, 500, 750]);
  const s = new NoiseSchedule();
  const xt = s.addNoise(x0, eps, t);
  // by hand, per sample
  const hand = torch.tidy(() =>
    torch.cat([0, 250, 500, 750].map((ti, i) => {
      const a = s.alphasCumprod[ti]!;
      return x0.narrow(0, i, 1).mul(Math.sqrt(a)).add(eps.narrow(0, i, 1).mul(Math.sqrt(1 - a)));
    })),
  );
  assert.ok(maxAbsDiff(xt, hand) < 1e-6);
  const r = s.predictX0AndEps(eps, xt, t);
  assert.ok(maxAbsDiff(r.x0, x0) < 1e-5, `x0 error ${maxAbsDiff(r.x0, x0)}`);
  assert.ok(maxAbsDiff(r.eps, eps) === 0);

  const sv = new NoiseSchedule({ predictionType: 'v_prediction' });
  const v = sv.velocity(x0, eps, t);
  const vHand = torch.tidy(() =>
    torch.cat([0, 250, 500, 750].map((ti, i) => {
      const a = s.alphasCumprod[ti]!;
      return eps.narrow(0, i, 1).mul(Math.sqrt(a)).sub(x0.narrow(0, i, 1).mul(Math.sqrt(1 - a)));
    })),
  );
  assert.ok(maxAbsDiff(v, vHand) < 1e-6);
  const rv = sv.predictX0AndEps(v, xt, t);
  assert.ok(maxAbsDiff(rv.x0, x0) < 1e-5, `v: x0 error ${maxAbsDiff(rv.x0, x0)}`);
  assert.ok(maxAbsDiff(rv.eps, eps) < 1e-5, `v: eps error ${maxAbsDiff(rv.eps, eps)}`);
  assert.ok(maxAbsDiff(sv.trainingTarget(x0, eps, t), v) === 0);
  assert.ok(maxAbsDiff(s.trainingTarget(x0, eps, t), eps) === 0);

  // float64 at the noisiest timestep: exact to rounding
  const x64 = x0.double();
  const e64 = eps.double();
  const xt64 = s.addNoise(x64, e64, 999);
  assert.equal(xt64.dtype, 'float64');
  assert.ok(maxAbsDiff(s.predictX0AndEps(e64, xt64, 999).x0, x64) < 1e-10);
});

test('schedule validation: unknown names, bad numSteps, bad timesteps, mismatched batches', () => {
  assert.throws(() => new NoiseSchedule({ betaSchedule: 'quadratic' as 'linear' }), /unknown beta schedule 'quadratic'.*linear, scaled_linear, cosine/);
  assert.throws(() => new NoiseSchedule({ predictionType: 'sample' as 'epsilon' }), /epsilon, v_prediction/);
  const s = new NoiseSchedule();
  assert.throws(() => s.inferenceTimesteps(0), /numSteps must be an integer in \[1, 1000\], got 0/);
  assert.throws(() => s.inferenceTimesteps(1001), /\[1, 1000\], got 1001/);
  assert.throws(() => s.inferenceTimesteps(2.5), /got 2.5/);
  assert.throws(() => s.inferenceTimesteps(10, 'uniform' as 'leading'), /leading, trailing, linspace/);
  assert.throws(() => s.inferenceTimesteps(10, 'leading', 100), /stepsOffset 100/);
  const x = torch.zeros([2, 1, 2, 2]);
  assert.throws(() => s.addNoise(x, x, torch.tensor([1, 2, 3])), /3 timesteps for a batch of 2/);
  assert.throws(() => s.addNoise(x, x, torch.tensor([1, 1000])), /timestep 1000 is outside \[0, 999\]/);
  assert.throws(() => s.addNoise(x, x, torch.tensor([1.5, 2])), /integer tensor/);
  assert.throws(() => s.addNoise(x, torch.zeros([2, 1, 2, 3]), 5), /noise has shape/);
});
