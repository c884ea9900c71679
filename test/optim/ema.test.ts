import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { EMA } from '../../src/optim/index.js';

const f64 = { dtype: 'float64' } as const;
const values = (t: torch.Tensor): number[] => [...(t.toTypedArray() as Float64Array)];
function assertClose(actual: number[], expected: number[], tol: number, msg = ''): void {
  assert.equal(actual.length, expected.length, msg);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]!) <= tol, `${msg}[${i}]: ${a} vs ${expected[i]} (tolerance ${tol})`));
}
function setValues(p: torch.Tensor, v: number[]): void {
  torch.tidy(() => torch.noGrad(() => p.copy_(torch.tensor(v, f64))));
}
/** The parameter's value at update k (k = 0: at construction). */
const theta = (k: number): number[] => [Math.sin(k), Math.cos(2 * k), 0.1 * k];

/** The averages, read by copying them into a fresh tensor. */
function averages(ema: EMA, shape: number[]): number[] {
  const out = torch.zeros(shape, f64);
  ema.copyTo([out]);
  const v = values(out);
  out.dispose();
  return v;
}

test('after n updates with a constant decay the EMA equals the closed form', () => {
  const d = 0.9;
  const n = 20;
  const p = torch.tensor(theta(0), { ...f64, requiresGrad: true });
  const ema = new EMA([p], { decay: d });
  for (let k = 1; k <= n; k++) {
    setValues(p, theta(k));
    ema.update();
  }
  // θ̄_n = dⁿ θ_0 + Σ_{k=1..n} (1 − d) d^{n−k} θ_k
  const expected = theta(0).map((t0, i) => {
    let s = d ** n * t0;
    for (let k = 1; k <= n; k++) s += (1 - d) * d ** (n - k) * theta(k)[i]!;
    return s;
  });
  assertClose(averages(ema, [3]), expected, 1e-12);
  assert.equal(ema.numUpdates, n);
  assert.equal(p.requiresGrad, true);
});

test('a constant parameter: θ̄_n = dⁿ θ̄_0 + (1 − dⁿ) θ', () => {
  const p = torch.tensor([1, -2, 3], f64);
  const ema = new EMA([p], { decay: 0.5 });
  setValues(p, [5, 5, 5]);
  for (let k = 0; k < 4; k++) ema.update();
  assertClose(averages(ema, [3]), [1, -2, 3].map((v) => 0.5 ** 4 * v + (1 - 0.5 ** 4) * 5), 1e-15);
});

test('warm-up of the decay: tf and inverse-gamma/power', () => {
  const p = torch.zeros([1], f64);
  const tf = new EMA([p], { decay: 0.999, warmup: 'tf' });
  const seen: number[] = [];
  for (let k = 0; k < 3; k++) {
    seen.push(tf.currentDecay());
    tf.update();
  }
  assert.deepEqual(seen, [1 / 10, 2 / 11, 3 / 12]);
  tf.numUpdates = 100_000;
  assert.equal(tf.currentDecay(), 0.999);

  const pw = new EMA([p], { decay: 0.9999, warmup: { invGamma: 1, power: 2 / 3 } });
  assert.equal(pw.currentDecay(), 0); // the first update copies the parameters
  pw.update();
  assert.equal(pw.currentDecay(), 1 - 2 ** (-2 / 3));
  assert.throws(() => new EMA([p], { decay: 1.5 }), /decay must be a number in \[0, 1\], got 1.5/);
  assert.throws(() => new EMA([p], { warmup: 'linear' as never }), /warmup must be 'none', 'tf' or \{ invGamma, power \}/);
});

test('store → copyTo → restore swaps the averages in and the weights back exactly', () => {
  const p = torch.tensor(theta(0), { ...f64, requiresGrad: true });
  const ema = new EMA([p], { decay: 0.8 });
  for (let k = 1; k <= 5; k++) {
    setValues(p, theta(k));
    ema.update();
  }
  const weights = values(p);
  const avg = averages(ema, [3]);
  ema.store();
  assert.throws(() => ema.store(), /already stored/);
  ema.copyTo();
  assert.deepEqual(values(p), avg);
  ema.restore();
  assert.deepEqual(values(p), weights);
  assert.throws(() => ema.restore(), /nothing is stored/);
  assert.throws(() => ema.copyTo([torch.zeros([4], f64)]), /tensor 0 has shape \[4\], the averaged parameter \[3\]/);
});

test('stateDict → loadStateDict → continue equals not stopping; mismatches are Errors', () => {
  const p = torch.tensor(theta(0), f64);
  const q = torch.ones([2, 2], f64);
  const a = new EMA([p, q], { decay: 0.7, warmup: 'tf' });
  for (let k = 1; k <= 3; k++) {
    setValues(p, theta(k));
    a.update();
  }
  const sd = a.stateDict();
  const bytes = torch.safetensors.toBytes(sd.tensors);
  const meta = JSON.parse(JSON.stringify(sd.meta)) as unknown;
  const b = torch.tidy(() => new EMA([p, q], { decay: 0.1 })); // its averages must survive the tidy
  const loaded = torch.safetensors.fromBytes(bytes).tensors;
  b.loadStateDict({ tensors: loaded, meta });
  for (const t of Object.values(loaded)) t.dispose();
  assert.equal(b.decay, 0.7);
  assert.equal(b.numUpdates, 3);
  for (let k = 4; k <= 6; k++) {
    setValues(p, theta(k));
    a.update();
    b.update();
  }
  const [sa, sb] = [a.stateDict().tensors, b.stateDict().tensors];
  for (const name of ['shadow.0', 'shadow.1']) assert.deepEqual(values(sb[name]!), values(sa[name]!), name);

  assert.throws(() => new EMA([p]).loadStateDict(sd), /the state dict has 2 parameter shapes, this EMA has 1 parameters/);
  assert.throws(() => new EMA([p, torch.ones([4], f64)]).loadStateDict(sd), /parameter 1 has shape \[4\] here but \[2, 2\] in the state dict/);
  assert.throws(() => b.loadStateDict({ tensors: { ...sd.tensors, 'shadow.1': torch.ones([3], f64) }, meta: sd.meta }),
    /tensor 'shadow.1' has shape \[3\], its parameter has \[2, 2\]/);
  assert.throws(() => b.loadStateDict({ tensors: { 'shadow.0': sd.tensors['shadow.0']! }, meta: sd.meta }), /tensor 'shadow.1' is missing/);
  assert.throws(() => b.loadStateDict({ tensors: { ...sd.tensors, extra: q }, meta: sd.meta }), /unexpected tensor 'extra'/);
});
