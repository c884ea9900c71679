// Autograd against central finite differences (float64), and the autograd API's semantics.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { assertClose, f64, gradcheck, rand64, vals } from './helpers.js';

// Finite differences run thousands of tiny ops: one intra-op thread is fastest for them, and it
// avoids OpenMP's stalls when the machine's cores are busy (test files run in parallel).
torch.setNumThreads(1);

const F = torch.F;
type Fn = (...xs: torch.Tensor[]) => torch.Tensor;

/** One gradcheck test per [name, fn, inputs]. */
function checks(cases: [string, Fn, () => torch.Tensor[], { wrt?: number[]; tol?: number }?][]): void {
  for (const [name, fn, inputs, opts] of cases) {
    test(name, () => {
      torch.tidy(() => gradcheck(fn, inputs(), { name, ...opts }));
    });
  }
}

const pos = (shape: number[], seed: number): torch.Tensor => rand64(shape, seed, 0.5, 2);

describe('gradients of elementwise ops', () => {
  checks([
    ['add (broadcast [2,3] + [3])', (a, b) => a!.add(b!), () => [rand64([2, 3], 1), rand64([3], 2)]],
    ['add with alpha', (a, b) => a!.add(b!, -2.5), () => [rand64([2, 3], 1), rand64([2, 3], 2)]],
    ['sub (broadcast [2,1] - [3])', (a, b) => a!.sub(b!), () => [rand64([2, 1], 3), rand64([3], 4)]],
    ['mul (broadcast)', (a, b) => a!.mul(b!), () => [rand64([2, 3], 5), rand64([2, 1], 6)]],
    ['div', (a, b) => a!.div(b!), () => [rand64([2, 3], 7), pos([2, 3], 8)]],
    ['pow tensor^tensor', (a, b) => a!.pow(b!), () => [pos([2, 3], 9), rand64([2, 3], 10)]],
    ['pow tensor^scalar', (a) => a!.pow(2.5), () => [pos([2, 3], 11)]],
    ['scalar forms add/sub/mul/div', (a) => a!.add(2).sub(0.5).mul(3).div(-1.5), () => [rand64([4], 12)]],
    ['rsub', (a) => a!.rsub(2), () => [rand64([4], 13)]],
    ['rdiv', (a) => a!.rdiv(2), () => [pos([4], 14)]],
    ['rpow', (a) => a!.rpow(1.7), () => [rand64([4], 15)]],
    ['exp', (a) => a!.exp(), () => [rand64([2, 3], 16)]],
    ['log', (a) => a!.log(), () => [pos([2, 3], 17)]],
    ['sqrt', (a) => a!.sqrt(), () => [pos([2, 3], 18)]],
    ['tanh', (a) => a!.tanh(), () => [rand64([2, 3], 19, -2, 2)]],
    ['sigmoid', (a) => a!.sigmoid(), () => [rand64([2, 3], 20, -3, 3)]],
    ['silu', (a) => a!.silu(), () => [rand64([2, 3], 21, -3, 3)]],
    ['gelu', (a) => F.gelu(a!), () => [rand64([2, 3], 22, -3, 3)]],
    ['gelu tanh', (a) => F.gelu(a!, 'tanh'), () => [rand64([2, 3], 23, -3, 3)]],
    ['softplus', (a) => F.softplus(a!), () => [rand64([2, 3], 24, -3, 3)]],
    ['softplus beta 2', (a) => F.softplus(a!, 2), () => [rand64([2, 3], 25, -3, 3)]],
    ['logsigmoid', (a) => F.logsigmoid(a!), () => [rand64([2, 3], 26, -3, 3)]],
    ['relu, abs, clamp (away from kinks)', (a) => a!.relu().add(a!.abs()).add(a!.clamp(-0.5, 0.5)),
      () => [f64([-1.3, -0.7, -0.2, 0.3, 0.8, 1.9])]],
    ['square, reciprocal, rsqrt, sin, cos, log1p, expm1',
      (a) => a!.square().add(a!.reciprocal()).add(a!.rsqrt()).add(a!.sin()).add(a!.cos()).add(a!.log1p()).add(a!.expm1()),
      () => [pos([5], 27)]],
    ['lerp, maximum, where', (a, b) => a!.lerp(b!, 0.3).add(a!.maximum(b!)).add(torch.where(a!.gt(b!), a!, b!.mul(2))),
      () => [f64([0.1, 0.9, -0.5, 2]), f64([0.5, 0.2, -1, 3])]],
  ]);
});

describe('gradients of reductions', () => {
  checks([
    ['sum all / dim / keepdim', (a) => a!.sum().add(a!.sum(1).mul(a!.sum(0, true).sum())), () => [rand64([3, 4], 31)]],
    ['mean all / dims', (a) => a!.mean(0).add(a!.mean([0, 1])).mul(a!.mean(1, true).sum()), () => [rand64([3, 4], 32)]],
    ['std (unbiased) along a dim', (a) => a!.std(1), () => [rand64([3, 4], 33)]],
    ['std (biased) over all', (a) => a!.std(null, { unbiased: false }), () => [rand64([3, 4], 34)]],
    ['var (unbiased and not)', (a) => a!.var(0).add(a!.var(0, { unbiased: false }).mul(2)), () => [rand64([3, 4], 35)]],
    ['logsumexp', (a) => a!.logsumexp(1), () => [rand64([3, 4], 36, -3, 3)]],
    ['max over all', (a) => a!.max(), () => [rand64([3, 4], 37)]],
    ['max along a dim (values)', (a) => a!.max(1).values, () => [rand64([3, 4], 38)]],
    ['amax, min', (a) => a!.amax(0).add(a!.min(0).values), () => [rand64([3, 4], 39)]],
    ['prod, cumsum, norm', (a) => a!.prod(1).add(a!.cumsum(1).sum(1)).add(a!.norm(2, 1)), () => [pos([3, 4], 40)]],
  ]);
});

describe('gradients of shape ops', () => {
  checks([
    ['reshape, permute, transpose, flatten', (a) => a!.reshape(2, 3, 4).permute(2, 0, 1).transpose(0, 1).flatten(1).mul(a!.reshape(24).sum()),
      () => [rand64([6, 4], 41)]],
    ['cat and stack', (a, b) => torch.cat([a!, b!.mul(2)], 1).add(torch.stack([a!, a!], 0).sum(0).sum(1, true)),
      () => [rand64([2, 3], 42), rand64([2, 2], 43)]],
    ['slice, narrow, select', (a) => a!.slice(1, 1, 4, 2).sum(1).add(a!.narrow(0, 1, 2).sum()).add(a!.select(1, 0)),
      () => [rand64([3, 4], 44)]],
    ['split and chunk', (a) => { const [p, q] = a!.split([1, 3], 1); const [r] = a!.chunk(2, 0); return p!.mul(q!.sum(1, true)).sum().add(r!.sum()); },
      () => [rand64([4, 4], 45)]],
    ['gather', (a) => a!.gather(1, torch.tensor([[0, 2, 2], [1, 1, 0], [3, 0, 1]])), () => [rand64([3, 4], 46)]],
    ['indexSelect', (a) => a!.indexSelect(0, torch.tensor([2, 0, 2])), () => [rand64([3, 4], 47)]],
    ['index with tensors', (a) => a!.index([torch.tensor([0, 2, 2]), torch.tensor([1, 3, 3])]), () => [rand64([3, 4], 48)]],
    ['expand and repeat', (a) => a!.expand(3, 4).mul(a!.repeat(3, 1).add(1)), () => [rand64([1, 4], 49)]],
    ['unsqueeze, squeeze, maskedFill', (a) => a!.unsqueeze(0).squeeze(0).maskedFill(torch.tensor([true, false, true, false]), 0).mul(a!),
      () => [rand64([4], 50)]],
  ]);
});

describe('gradients of linear algebra and nn functions', () => {
  checks([
    ['matmul batched with broadcasting', (a, b) => a!.matmul(b!), () => [rand64([2, 1, 2, 3], 51), rand64([3, 3, 2], 52)]],
    ['matmul matrix·vector', (a, b) => a!.matmul(b!), () => [rand64([3, 4], 53), rand64([4], 54)]],
    ['bmm', (a, b) => a!.bmm(b!), () => [rand64([2, 2, 3], 55), rand64([2, 3, 2], 56)]],
    ['conv2d (stride, padding, groups, bias)', (x, w, b) => F.conv2d(x!, w!, b!, { stride: 2, padding: 1, groups: 2 }),
      () => [rand64([1, 4, 4, 4], 57), rand64([4, 2, 3, 3], 58), rand64([4], 59)]],
    ['convTranspose2d (stride, padding, bias)', (x, w, b) => F.convTranspose2d(x!, w!, b!, { stride: 2, padding: 1, outputPadding: 1 }),
      () => [rand64([1, 2, 3, 3], 60), rand64([2, 3, 3, 3], 61), rand64([3], 62)]],
    ['linear', (x, w, b) => F.linear(x!, w!, b!), () => [rand64([2, 3], 63), rand64([4, 3], 64), rand64([4], 65)]],
    ['groupNorm', (x, w, b) => F.groupNorm(x!, 2, w!, b!), () => [rand64([2, 4, 2, 2], 66, -2, 2), rand64([4], 67), rand64([4], 68)]],
    ['layerNorm', (x, w, b) => F.layerNorm(x!, [4], w!, b!), () => [rand64([3, 4], 69, -2, 2), rand64([4], 70), rand64([4], 71)]],
    ['softmax', (a) => F.softmax(a!, 1), () => [rand64([3, 4], 72, -2, 2)]],
    ['logSoftmax', (a) => F.logSoftmax(a!, 0), () => [rand64([3, 4], 73, -2, 2)]],
    ['interpolate bilinear', (a) => F.interpolate(a!, { size: [5, 3], mode: 'bilinear' }), () => [rand64([1, 2, 3, 2], 74)]],
    ['interpolate bilinear, align corners', (a) => F.interpolate(a!, { size: 4, mode: 'bilinear', alignCorners: true }),
      () => [rand64([1, 1, 3, 3], 75)]],
    ['interpolate nearest', (a) => F.interpolate(a!, { scaleFactor: 2 }), () => [rand64([1, 1, 2, 3], 76)]],
    ['avgPool2d (padding)', (a) => F.avgPool2d(a!, 2, 2, 1), () => [rand64([1, 2, 4, 4], 77)]],
    ['maxPool2d', (a) => F.maxPool2d(a!, 2), () => [rand64([1, 2, 4, 4], 78)]],
    ['attention, no mask', (q, k, v) => F.attention(q!, k!, v!), () => [rand64([2, 3, 4], 79), rand64([2, 5, 4], 80), rand64([2, 5, 3], 81)]],
    ['attention, boolean mask with a fully masked row', (q, k, v) =>
      F.attention(q!, k!, v!, { mask: torch.tensor([[true, false, true], [false, false, false]]) }),
      () => [rand64([2, 2, 4], 82), rand64([2, 3, 4], 83), rand64([2, 3, 2], 84)]],
    ['attention, float mask', (q, k, v, m) => F.attention(q!, k!, v!, { mask: m! }),
      () => [rand64([1, 2, 3], 85), rand64([1, 4, 3], 86), rand64([1, 4, 2], 87), rand64([1, 2, 4], 88, -2, 0)]],
    ['mseLoss', (a, b) => F.mseLoss(a!, b!), () => [rand64([2, 3], 89), rand64([2, 3], 90)]],
    ['mseLoss sum', (a, b) => F.mseLoss(a!, b!, 'sum'), () => [rand64([2, 3], 91), rand64([2, 3], 92)]],
    ['crossEntropy (class indices)', (a, t) => F.crossEntropy(a!, t!), () => [rand64([3, 5], 93, -2, 2), torch.tensor([4, 0, 2])]],
    ['crossEntropy (label smoothing, none)', (a, t) => F.crossEntropy(a!, t!, { labelSmoothing: 0.2, reduction: 'none' }),
      () => [rand64([3, 5], 94, -2, 2), torch.tensor([1, 1, 3])]],
    ['binaryCrossEntropyWithLogits', (a, t) => F.binaryCrossEntropyWithLogits(a!, t!), () => [rand64([5], 95, -2, 2), rand64([5], 96, 0, 1)]],
    ['embedding (w.r.t. the weight, repeated indices)', (i, w) => F.embedding(i!, w!),
      () => [torch.tensor([[3, 0], [3, 1]]), rand64([4, 3], 97)]],
  ]);
});

describe('autograd API', () => {
  test('gradcheck itself rejects a wrong gradient and a vacuous check', () => {
    // x · detach(x): autograd gives x, finite differences 2x
    assert.throws(() => torch.tidy(() => gradcheck((x) => x!.mul(x!.detach()), [rand64([3], 1, 0.5, 1)])), /d\/d\(input 0\)/);
    assert.throws(() => torch.tidy(() => gradcheck((x) => x!.mul(0), [rand64([3], 2)])), /vacuous/);
  });

  test('torch.grad with createGraph gives second derivatives', () => {
    const xs = [0.3, -1.2, 2];
    const x = f64(xs).requiresGrad_();
    // f = Σ x² sin x; f' = 2x sin x + x² cos x; f'' = 2 sin x + 4x cos x − x² sin x
    const f = x.square().mul(x.sin()).sum();
    const [g] = torch.grad(f, x, { createGraph: true });
    assert.ok(g);
    assert.equal(g.requiresGrad, true, 'with createGraph the gradient is differentiable');
    assertClose(g, xs.map((v) => 2 * v * Math.sin(v) + v * v * Math.cos(v)), 1e-12);
    const [h] = torch.grad(g.sum(), x);
    assertClose(h!, xs.map((v) => 2 * Math.sin(v) + 4 * v * Math.cos(v) - v * v * Math.sin(v)), 1e-12);
    // x³: third derivative 6
    const y = f64([1.5]).requiresGrad_();
    const [d1] = torch.grad(y.pow(3).sum(), y, { createGraph: true });
    const [d2] = torch.grad(d1!.sum(), y, { createGraph: true });
    const [d3] = torch.grad(d2!.sum(), y);
    assertClose(d1!, [6.75], 1e-12);
    assertClose(d2!, [9], 1e-12);
    assertClose(d3!, [6], 1e-12);
  });

  test('torch.grad: several inputs, gradOutputs, allowUnused, and .grad left untouched', () => {
    const a = f64([1, 2]).requiresGrad_();
    const b = f64([3, 4]).requiresGrad_();
    const c = f64([5]).requiresGrad_();
    const y = a.mul(b); // not a scalar: needs gradOutputs
    const [ga, gb] = torch.grad(y, [a, b], { gradOutputs: [f64([1, 10])], retainGraph: true });
    assert.deepEqual(vals(ga!), [3, 40]);
    assert.deepEqual(vals(gb!), [1, 20]);
    assert.equal(a.grad, null, 'torch.grad does not accumulate into .grad');
    const r = torch.grad(y.sum(), [a, c], { allowUnused: true });
    assert.deepEqual(vals(r[0]!), [3, 4]);
    assert.equal(r[1], null);
  });

  test('noGrad records no graph; enableGrad re-enables it; the mode is restored after a throw', () => {
    const x = f64([1, 2]).requiresGrad_();
    assert.equal(torch.isGradEnabled(), true);
    const y = torch.noGrad(() => {
      assert.equal(torch.isGradEnabled(), false);
      const inner = torch.enableGrad(() => x.mul(2));
      assert.equal(inner.requiresGrad, true);
      return x.mul(3).add(1);
    });
    assert.equal(y.requiresGrad, false);
    assert.equal(torch.isGradEnabled(), true);
    assert.throws(() => torch.noGrad(() => { throw new Error('boom'); }), /boom/);
    assert.equal(torch.isGradEnabled(), true);
    assert.equal(x.mul(3).requiresGrad, true);
  });

  test('detach cuts the graph and shares memory', () => {
    const x = f64([2, 3]).requiresGrad_();
    const d = x.detach();
    assert.equal(d.requiresGrad, false);
    // z = x · detach(x): dz/dx = detach(x), not 2x
    x.mul(d).sum().backward();
    assert.deepEqual(vals(x.grad!), [2, 3]);
    torch.noGrad(() => d.add_(1));
    assert.deepEqual(vals(x), [3, 4], 'detach shares storage');
  });

  test('.grad accumulates over two backward calls and resets with p.grad = null', () => {
    const p = f64([1, -2, 3], [3]).requiresGrad_();
    assert.equal(p.isLeaf, true);
    assert.equal(p.grad, null);
    const loss = (): torch.Tensor => p.square().sum(); // d/dp = 2p
    loss().backward();
    assert.deepEqual(vals(p.grad!), [2, -4, 6]);
    loss().backward();
    assert.deepEqual(vals(p.grad!), [4, -8, 12]);
    p.grad = null;
    assert.equal(p.grad, null);
    loss().backward();
    assert.deepEqual(vals(p.grad!), [2, -4, 6]);
    // zero_ on the gradient also resets it in place
    p.grad!.zero_();
    assert.deepEqual(vals(p.grad!), [0, 0, 0]);
    p.grad = f64([1, 1, 1]);
    loss().backward();
    assert.deepEqual(vals(p.grad!), [3, -3, 7]);
  });

  test('backward: retainGraph, explicit gradient, non-leaf retainGrad, requiresGrad option', () => {
    const x = torch.tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    assert.equal(x.requiresGrad, true);
    const y = x.mul(x);
    assert.equal(y.isLeaf, false);
    y.retainGrad();
    y.backward(f64([1, 0.5]), { retainGraph: true });
    assert.deepEqual(vals(x.grad!), [2, 2]);
    assert.deepEqual(vals(y.grad!), [1, 0.5]);
    y.backward(f64([1, 1]));
    assert.deepEqual(vals(x.grad!), [4, 6]);
    // a freed graph cannot be walked twice
    const z = x.exp().sum();
    z.backward();
    assert.throws(() => z.backward(), /backward/);
  });
});
