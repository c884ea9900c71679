// torch.F (neural-network functions) against plain-JS float64 references and known small cases.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import {
  assertClose, f32, f64, jsConv2d, jsConvTranspose2d, jsSoftmaxRows, rand64, randomValues, vals,
} from './helpers.js';

const F = torch.F;

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}
const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
const softplus = (v: number): number => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));

describe('convolutions and linear', () => {
  test('conv2d with bias, stride, padding, dilation and groups matches a JS convolution', () => {
    const xs = [2, 4, 5, 6];
    const ws = [6, 2, 3, 3];
    const x = rand64(xs, 11);
    const w = rand64(ws, 12);
    const b = rand64([6], 13);
    const y = F.conv2d(x, w, b, { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 });
    const ref = jsConv2d(vals(x), xs, vals(w), ws, vals(b), [2, 1], [1, 2], [1, 2], 2);
    assert.deepEqual(y.shape, ref.shape);
    assertClose(y, ref.out, 1e-12);
    // the plain case, float32, no bias
    const x2 = rand64([1, 2, 4, 4], 14);
    const w2 = rand64([3, 2, 3, 3], 15);
    const y2 = F.conv2d(x2.float(), w2.float());
    const ref2 = jsConv2d(vals(x2), [1, 2, 4, 4], vals(w2), [3, 2, 3, 3], null, [1, 1], [0, 0]);
    assert.deepEqual(y2.shape, [1, 3, 2, 2]);
    assertClose(y2, ref2.out, 1e-5);
  });

  test('conv2d of a hand-computed case', () => {
    // 3x3 image 1..9, 2x2 kernel [[1, 0], [0, -1]]: out[i][j] = x[i][j] - x[i+1][j+1] = -4
    const x = f32([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const w = f32([1, 0, 0, -1], [1, 1, 2, 2]);
    assert.deepEqual(F.conv2d(x, w).toArray(), [[[[-4, -4], [-4, -4]]]]);
    // with padding 1 and bias 10: corner out[0][0] = 0 - x[0][0] + 10 = 9
    const p = F.conv2d(x, w, f32([10]), { padding: 1 });
    assert.deepEqual(p.shape, [1, 1, 4, 4]);
    assert.equal(vals(p)[0], 9);
    assert.equal(vals(p)[15], 19);
  });

  test('convTranspose2d matches a JS transposed convolution (stride, padding, output padding, bias)', () => {
    const xs = [2, 3, 3, 4];
    const ws = [3, 2, 3, 3];
    const x = rand64(xs, 21);
    const w = rand64(ws, 22);
    const b = rand64([2], 23);
    const y = F.convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: [1, 0] });
    const ref = jsConvTranspose2d(vals(x), xs, vals(w), ws, vals(b), [2, 2], [1, 1], [1, 0]);
    assert.deepEqual(y.shape, ref.shape);
    assert.deepEqual(y.shape, [2, 2, 6, 7]);
    assertClose(y, ref.out, 1e-12);
  });

  test('convTranspose2d is the adjoint of conv2d: <conv(x), y> = <x, convT(y)>', () => {
    const x = rand64([2, 2, 5, 5], 31);
    const w = rand64([3, 2, 3, 3], 32); // conv: 2 → 3 channels; convT with the same weight: 3 → 2
    const cx = F.conv2d(x, w, null, { stride: 2, padding: 1 });
    assert.deepEqual(cx.shape, [2, 3, 3, 3]);
    const y = rand64(cx.shape, 33);
    const ty = F.convTranspose2d(y, w, null, { stride: 2, padding: 1 });
    assert.deepEqual(ty.shape, x.shape);
    const lhs = cx.mul(y).sum().item();
    const rhs = x.mul(ty).sum().item();
    assertClose(lhs, rhs, 1e-12);
  });

  test('linear: x · Wᵀ + b, with and without bias, over extra leading dims', () => {
    const x = f64([1, 2, 3, 4, 5, 6], [2, 3]);
    const W = f64([1, 0, -1, 2, 1, 0, 0, 0, 1, 1, 1, 1], [4, 3]);
    const b = f64([0.5, -0.5, 1, 0]);
    assert.deepEqual(F.linear(x, W, b).toArray(), [[-1.5, 3.5, 4, 6], [-1.5, 12.5, 7, 15]]);
    assert.deepEqual(F.linear(x, W).toArray(), [[-2, 4, 3, 6], [-2, 13, 6, 15]]);
    const x3 = x.reshape(2, 1, 3);
    assert.deepEqual(F.linear(x3, W, b).shape, [2, 1, 4]);
  });
});

describe('normalizations', () => {
  function normalize(v: number[], eps: number): number[] {
    const m = v.reduce((a, c) => a + c, 0) / v.length;
    const va = v.reduce((a, c) => a + (c - m) ** 2, 0) / v.length;
    return v.map((c) => (c - m) / Math.sqrt(va + eps));
  }

  test('groupNorm matches the JS formula (biased variance, per-channel affine)', () => {
    const [N, C, H, W, G] = [2, 6, 3, 2, 3];
    const x = rand64([N, C, H, W], 41, -2, 3);
    const gamma = rand64([C], 42);
    const beta = rand64([C], 43);
    const xv = vals(x);
    const gv = vals(gamma);
    const bv = vals(beta);
    const per = (C / G) * H * W;
    const expected: number[] = [];
    const plain: number[] = [];
    for (let n = 0; n < N; n++)
      for (let g = 0; g < G; g++) {
        const start = (n * C + g * (C / G)) * H * W;
        const z = normalize(xv.slice(start, start + per), 1e-5);
        plain.push(...z);
        z.forEach((v, i) => {
          const c = g * (C / G) + Math.floor(i / (H * W));
          expected.push(v * gv[c]! + bv[c]!);
        });
      }
    assertClose(F.groupNorm(x, G, gamma, beta), expected, 1e-10);
    assertClose(F.groupNorm(x, G), plain, 1e-10);
  });

  test('layerNorm over the last one and last two dims matches the JS formula', () => {
    const x = rand64([2, 3, 4], 51, -1, 2);
    const xv = vals(x);
    const g = rand64([4], 52);
    const b = rand64([4], 53);
    const gv = vals(g);
    const bv = vals(b);
    const e1: number[] = [];
    for (let r = 0; r < 6; r++) e1.push(...normalize(xv.slice(4 * r, 4 * r + 4), 1e-5).map((v, i) => v * gv[i]! + bv[i]!));
    assertClose(F.layerNorm(x, [4], g, b), e1, 1e-10);
    const e2: number[] = [];
    for (let r = 0; r < 2; r++) e2.push(...normalize(xv.slice(12 * r, 12 * r + 12), 0.1));
    assertClose(F.layerNorm(x, [3, 4], null, null, 0.1), e2, 1e-10);
  });
});

describe('activations', () => {
  const xs = [-5, -1.5, -0.3, 0, 0.2, 1, 3, 25];
  const x = (): torch.Tensor => f64(xs);

  test('relu, silu, sigmoid, tanh, leakyRelu, softplus, logsigmoid', () => {
    assertClose(F.relu(x()), xs.map((v) => Math.max(0, v)), 0, 'relu');
    assertClose(F.silu(x()), xs.map((v) => v * sigmoid(v)), 1e-12, 'silu');
    assertClose(F.sigmoid(x()), xs.map(sigmoid), 1e-12, 'sigmoid');
    assertClose(F.tanh(x()), xs.map(Math.tanh), 1e-12, 'tanh');
    assertClose(F.leakyRelu(x(), 0.1), xs.map((v) => (v > 0 ? v : 0.1 * v)), 1e-12, 'leakyRelu');
    assertClose(F.softplus(x()), xs.map(softplus), 1e-12, 'softplus');
    // beta 2, threshold 4: linear where beta·x > threshold
    assertClose(F.softplus(x(), 2, 4), xs.map((v) => (2 * v > 4 ? v : softplus(2 * v) / 2)), 1e-12, 'softplus β');
    assertClose(F.logsigmoid(x()), xs.map((v) => -softplus(-v)), 1e-12, 'logsigmoid');
    // logsigmoid stays finite far in the tail
    assertClose(F.logsigmoid(f64([-800])), [-800], 1e-12, 'logsigmoid tail');
  });

  test('gelu exact (erf) and tanh approximation', () => {
    assertClose(F.gelu(x()), xs.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))), 1e-6, 'gelu');
    const c = Math.sqrt(2 / Math.PI);
    assertClose(F.gelu(x(), 'tanh'), xs.map((v) => 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v ** 3)))), 1e-12, 'gelu tanh');
  });

  test('softmax and logSoftmax along either dim', () => {
    const data = [1, 2, 3, -1, 0, 1000];
    const t = f64(data, [2, 3]);
    const rows = jsSoftmaxRows(data, 3);
    assertClose(F.softmax(t, 1), rows, 1e-12);
    assertClose(F.softmax(t, -1), rows, 1e-12);
    assertClose(F.logSoftmax(t, 1), rows.map(Math.log).map((v, i) => (i === 3 || i === 4 ? data[i]! - 1000 : v)), 1e-12);
    const cols = jsSoftmaxRows(vals(t.transpose(0, 1)), 2); // [3, 2]
    assertClose(F.softmax(t, 0).transpose(0, 1), cols, 1e-12);
    assertClose(vals(F.softmax(t, 1).sum(1)), [1, 1], 1e-12);
  });

  test('dropout: training zeroes ~p and scales the rest by 1/(1-p); eval is the identity', () => {
    const x = torch.ones([20_000]);
    const d = vals(F.dropout(x, 0.25, true));
    const zeros = d.filter((v) => v === 0).length;
    assert.ok(d.every((v) => v === 0 || Math.abs(v - 1 / 0.75) < 1e-6), 'kept values are scaled by 1/(1-p)');
    assert.ok(Math.abs(zeros / d.length - 0.25) < 0.02, `dropped fraction ${zeros / d.length}`);
    const mean = d.reduce((a, b) => a + b, 0) / d.length;
    assert.ok(Math.abs(mean - 1) < 0.03, `mean ${mean}`);
    const r = randomValues(10, 3);
    assert.deepEqual(vals(F.dropout(f64(r), 0.5, false)), r);
    assert.deepEqual(vals(F.dropout(f64(r), 0, true)), r);
    assertClose(F.dropout(f64(r), 1, true), r.map(() => 0), 0);
    assert.throws(() => F.dropout(x, 1.5), /dropout.*p/);
  });
});

describe('resampling and pooling', () => {
  test('interpolate nearest: upsampling by size and scale factor, downsampling', () => {
    const x = f32([1, 2, 3, 4], [1, 1, 2, 2]);
    const up = F.interpolate(x, { size: 4 });
    assert.deepEqual(up.toArray(), [[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]]]);
    assert.deepEqual(vals(F.interpolate(x, { scaleFactor: 2 })), vals(up));
    assert.deepEqual(F.interpolate(x, { size: [2, 3], mode: 'nearest' }).toArray(), [[[[1, 1, 2], [3, 3, 4]]]]);
    // 3 → 2: source index floor(i · 3/2) = 0, 1
    const y = f32([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    assert.deepEqual(F.interpolate(y, { size: 2 }).toArray(), [[[[1, 2], [4, 5]]]]);
  });

  test('interpolate bilinear: half-pixel centres, and align corners', () => {
    const x = f32([1, 2, 3, 4], [1, 1, 2, 2]);
    const b = F.interpolate(x, { size: 4, mode: 'bilinear' });
    assertClose(b, [
      1, 1.25, 1.75, 2,
      1.5, 1.75, 2.25, 2.5,
      2.5, 2.75, 3.25, 3.5,
      3, 3.25, 3.75, 4,
    ]);
    const a = F.interpolate(x, { size: 3, mode: 'bilinear', alignCorners: true });
    assertClose(a, [1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]);
    // downsampling 4 → 2 without align corners averages neighbour pairs (sample at 0.5, 2.5)
    const r = f32([0, 1, 2, 3], [1, 1, 1, 4]);
    assertClose(F.interpolate(r, { size: [1, 2], mode: 'bilinear' }), [0.5, 2.5]);
  });

  test('interpolate by a fractional scaleFactor samples with the factor itself, as PyTorch does', () => {
    // PyTorch (recompute_scale_factor unset): source x = (x_out + 0.5) / scale - 0.5, not · in/out.
    // Width 3 · 1.5 → 4; sources 0 (clamped), 0.5, 7/6, 11/6 over the values 0, 1, 2.
    const x = f64([0, 1, 2], [1, 1, 1, 3]);
    const y = F.interpolate(x, { scaleFactor: 1.5, mode: 'bilinear' });
    assert.deepEqual(y.shape, [1, 1, 1, 4]);
    assertClose(y, [0, 0.5, 7 / 6, 11 / 6], 1e-12);
  });

  test('avgPool2d and maxPool2d: kernel, stride, padding', () => {
    const x = torch.arange(16, undefined, 1, { dtype: 'float32' }).reshape(1, 1, 4, 4);
    assert.deepEqual(F.avgPool2d(x, 2).toArray(), [[[[2.5, 4.5], [10.5, 12.5]]]]);
    assert.deepEqual(F.maxPool2d(x, 2).toArray(), [[[[5, 7], [13, 15]]]]);
    const s1 = F.avgPool2d(x, 2, 1);
    assert.deepEqual(s1.shape, [1, 1, 3, 3]);
    assert.deepEqual(vals(s1), [2.5, 3.5, 4.5, 6.5, 7.5, 8.5, 10.5, 11.5, 12.5]);
    // padding 1, kernel 2, stride 2: corner window holds only x[0][0] = 0 and 3 pads, counted (÷4)
    const p = F.avgPool2d(x, 2, 2, 1);
    assert.deepEqual(p.shape, [1, 1, 3, 3]);
    assert.deepEqual(vals(p).slice(0, 3), [0, (1 + 2) / 4, 3 / 4]);
    const mp = F.maxPool2d(x.neg(), 2, 2, 1);
    assertClose(vals(mp).slice(0, 3), [0, -1, -3], 0);
    const mp3 = F.maxPool2d(x, [3, 2], [1, 2]);
    assert.deepEqual(mp3.toArray(), [[[[9, 11], [13, 15]]]]);
  });
});

describe('attention', () => {
  /** softmax(q kᵀ · scale + mask) v per batch, JS; mask: boolean (keep), number (added) or none. */
  function jsAttention(
    q: number[], k: number[], v: number[], B: number, Lq: number, Lk: number, d: number, dv: number,
    mask: ((b: number, i: number, j: number) => boolean | number) | null, scale = 1 / Math.sqrt(d),
  ): number[] {
    const out: number[] = [];
    for (let b = 0; b < B; b++)
      for (let i = 0; i < Lq; i++) {
        const s: number[] = [];
        for (let j = 0; j < Lk; j++) {
          let dot = 0;
          for (let c = 0; c < d; c++) dot += q[(b * Lq + i) * d + c]! * k[(b * Lk + j) * d + c]!;
          let score = dot * scale;
          const m = mask ? mask(b, i, j) : 0;
          if (m === false) score = -Infinity;
          else if (typeof m === 'number') score += m;
          s.push(score);
        }
        const allMasked = s.every((x) => x === -Infinity);
        const p = allMasked ? s.map(() => 0) : jsSoftmaxRows(s, Lk);
        for (let c = 0; c < dv; c++) {
          let acc = 0;
          for (let j = 0; j < Lk; j++) acc += p[j]! * v[(b * Lk + j) * dv + c]!;
          out.push(acc);
        }
      }
    return out;
  }
  const [B, Lq, Lk, d, dv] = [2, 3, 5, 4, 6];
  const q = (): torch.Tensor => rand64([B, Lq, d], 61, -2, 2);
  const k = (): torch.Tensor => rand64([B, Lk, d], 62, -2, 2);
  const v = (): torch.Tensor => rand64([B, Lk, dv], 63);

  test('no mask, and an explicit scale', () => {
    const out = F.attention(q(), k(), v());
    assert.deepEqual(out.shape, [B, Lq, dv]);
    assertClose(out, jsAttention(vals(q()), vals(k()), vals(v()), B, Lq, Lk, d, dv, null), 1e-12);
    assertClose(F.attention(q(), k(), v(), { scale: 0.7 }),
      jsAttention(vals(q()), vals(k()), vals(v()), B, Lq, Lk, d, dv, null, 0.7), 1e-12);
  });

  test('a boolean mask keeps where true; a fully masked row gives zeros, not NaN', () => {
    // mask [Lq, Lk] broadcast over the batch; row 1 is fully masked
    const keep = [
      [true, false, true, true, false],
      [false, false, false, false, false],
      [false, false, false, false, true],
    ];
    const mask = torch.tensor(keep);
    const out = F.attention(q(), k(), v(), { mask });
    const ref = jsAttention(vals(q()), vals(k()), vals(v()), B, Lq, Lk, d, dv, (_b, i, j) => keep[i]![j]!);
    assertClose(out, ref, 1e-12);
    const ov = vals(out);
    assert.ok(ov.every(Number.isFinite), 'no NaN');
    // row 1 of each batch is zero; row 2 attends only key 4: it equals v[b, 4]
    for (let b = 0; b < B; b++) {
      assert.deepEqual(ov.slice((b * Lq + 1) * dv, (b * Lq + 2) * dv), new Array(dv).fill(0));
      assertClose(ov.slice((b * Lq + 2) * dv, (b * Lq + 3) * dv), vals(v()).slice((b * Lk + 4) * dv, (b * Lk + 5) * dv), 1e-12);
    }
  });

  test('a float mask is added to the scores', () => {
    const mv = randomValues(B * Lq * Lk, 64, -3, 1);
    const mask = f64(mv, [B, Lq, Lk]);
    const out = F.attention(q(), k(), v(), { mask });
    const ref = jsAttention(vals(q()), vals(k()), vals(v()), B, Lq, Lk, d, dv, (b, i, j) => mv[(b * Lq + i) * Lk + j]!);
    assertClose(out, ref, 1e-12);
  });
});

describe('embedding and losses', () => {
  test('embedding looks rows up by index', () => {
    const W = f32([0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32], [4, 3]);
    const e = F.embedding(torch.tensor([[3, 0], [1, 1]]), W);
    assert.deepEqual(e.shape, [2, 2, 3]);
    assert.deepEqual(e.toArray(), [[[30, 31, 32], [0, 1, 2]], [[10, 11, 12], [10, 11, 12]]]);
  });

  test('mseLoss with mean, sum and none', () => {
    const a = f64([1, 2, 3, 4]);
    const b = f64([1.5, 0, 3, 7]);
    assertClose(F.mseLoss(a, b), (0.25 + 4 + 0 + 9) / 4, 1e-12);
    assertClose(F.mseLoss(a, b, 'sum'), 13.25, 1e-12);
    assertClose(F.mseLoss(a, b, 'none'), [0.25, 4, 0, 9], 1e-12);
  });

  test('crossEntropy equals the NLL of JS log-softmax (mean, sum, none, ignoreIndex, smoothing, probabilities)', () => {
    const [N, C] = [4, 5];
    const lv = randomValues(N * C, 71, -3, 3);
    const logits = f64(lv, [N, C]);
    const tv = [2, 0, 4, 2];
    const target = torch.tensor(tv);
    const logp = jsSoftmaxRows(lv, C).map(Math.log);
    const nll = tv.map((t, n) => -logp[n * C + t]!);
    assertClose(F.crossEntropy(logits, target), nll.reduce((a, b) => a + b, 0) / N, 1e-12);
    assertClose(F.crossEntropy(logits, target, { reduction: 'sum' }), nll.reduce((a, b) => a + b, 0), 1e-12);
    assertClose(F.crossEntropy(logits, target, { reduction: 'none' }), nll, 1e-12);
    // ignoreIndex: the ignored sample leaves both the sum and the count
    const ig = torch.tensor([2, -100, 4, 2]);
    assertClose(F.crossEntropy(logits, ig), (nll[0]! + nll[2]! + nll[3]!) / 3, 1e-12);
    assertClose(F.crossEntropy(logits, torch.tensor([2, 7, 4, 7]), { ignoreIndex: 7 }), (nll[0]! + nll[2]!) / 2, 1e-12);
    // label smoothing ε: (1-ε)·nll + ε·mean_c(-log p_c)
    const eps = 0.1;
    const smooth = tv.map((t, n) => {
      let u = 0;
      for (let c = 0; c < C; c++) u -= logp[n * C + c]!;
      return (1 - eps) * nll[n]! + (eps * u) / C;
    });
    assertClose(F.crossEntropy(logits, target, { labelSmoothing: eps }), smooth.reduce((a, b) => a + b, 0) / N, 1e-12);
    // probability targets
    const pv = jsSoftmaxRows(randomValues(N * C, 72), C);
    const probs = f64(pv, [N, C]);
    let soft = 0;
    for (let i = 0; i < N * C; i++) soft -= pv[i]! * logp[i]!;
    assertClose(F.crossEntropy(logits, probs), soft / N, 1e-12);
  });

  test('binaryCrossEntropyWithLogits and oneHot', () => {
    const z = [-2, 0.5, 3];
    const y = [0, 1, 0.25];
    const ref = z.map((v, i) => softplus(v) - y[i]! * v);
    assertClose(F.binaryCrossEntropyWithLogits(f64(z), f64(y), 'none'), ref, 1e-12);
    assertClose(F.binaryCrossEntropyWithLogits(f64(z), f64(y)), ref.reduce((a, b) => a + b, 0) / 3, 1e-12);
    assert.deepEqual(F.oneHot(torch.tensor([2, 0]), 3).toArray(), [[0, 0, 1], [1, 0, 0]]);
  });
});
