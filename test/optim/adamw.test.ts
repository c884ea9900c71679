import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { AdamW } from '../../src/optim/index.js';

import { param, values, setGrad, assertClose } from './helpers.js';

/** AdamW by hand (the formulas of torch.optim.AdamW's documentation), element by element. */
function adamwByHand(
  theta0: number[], grads: number[][],
  o: { lr: number; beta1: number; beta2: number; eps: number; wd: number; amsgrad: boolean },
): number[] {
  const theta = [...theta0];
  const m = theta.map(() => 0);
  const v = theta.map(() => 0);
  const vMax = theta.map(() => 0);
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < theta.length; i++) {
      theta[i] = theta[i]! - o.lr * o.wd * theta[i]!;
      m[i] = o.beta1 * m[i]! + (1 - o.beta1) * g[i]!;
      v[i] = o.beta2 * v[i]! + (1 - o.beta2) * g[i]! * g[i]!;
      vMax[i] = Math.max(vMax[i]!, v[i]!);
      const mHat = m[i]! / (1 - o.beta1 ** t);
      const vHat = (o.amsgrad ? vMax[i]! : v[i]!) / (1 - o.beta2 ** t);
      theta[i] = theta[i]! - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
  });
  return theta;
}

// the third element's gradient shrinks, so that AMSGrad's maximum differs from v_t
const THETA0 = [0.5, -1.25, 2];
const GRADS = [[0.5, -1, 2], [0.1, 0.3, -0.7], [-0.2, 0.4, 0.01]];

for (const amsgrad of [false, true]) {
  test(`AdamW matches three steps by hand (weight decay, amsgrad ${amsgrad})`, () => {
    const o = { lr: 0.1, beta1: 0.8, beta2: 0.95, eps: 1e-8, wd: 0.1, amsgrad };
    const p = param(THETA0);
    const opt = new AdamW([p], { lr: o.lr, betas: [o.beta1, o.beta2], eps: o.eps, weightDecay: o.wd, amsgrad });
    for (const g of GRADS) {
      setGrad(p, g);
      opt.step();
    }
    assertClose(values(p), adamwByHand(THETA0, GRADS, o), 1e-12, 'θ_3');
    opt.dispose();
  });
}

test('AMSGrad changes the result where the second moment falls', () => {
  const o = { lr: 0.1, beta1: 0.8, beta2: 0.95, eps: 1e-8, wd: 0.1 };
  const a = adamwByHand(THETA0, GRADS, { ...o, amsgrad: false });
  const b = adamwByHand(THETA0, GRADS, { ...o, amsgrad: true });
  assert.ok(Math.abs(a[2]! - b[2]!) > 1e-6);
});

test('AdamW defaults are PyTorch\'s: lr 1e-3, betas [0.9, 0.999], eps 1e-8, weightDecay 1e-2', () => {
  const p = param(THETA0);
  const opt = new AdamW([p]);
  assert.deepEqual(
    { lr: opt.defaults.lr, betas: opt.defaults.betas, eps: opt.defaults.eps, weightDecay: opt.defaults.weightDecay, amsgrad: opt.defaults.amsgrad },
    { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false },
  );
  for (const g of GRADS) {
    setGrad(p, g);
    opt.step();
  }
  const expected = adamwByHand(THETA0, GRADS, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 1e-2, amsgrad: false });
  assertClose(values(p), expected, 1e-12);
  opt.dispose();
});

test('parameter groups take their own options; a parameter without a gradient is skipped', () => {
  const a = param([1, 2, 3]);
  const b = param([4, 5]);
  const c = param([6]);
  const opt = new AdamW([{ params: [a], lr: 0.1 }, { params: [b, c], weightDecay: 0 }], { lr: 0.01, weightDecay: 0.5 });
  assert.equal(opt.paramGroups[0]!.lr, 0.1);
  assert.equal(opt.paramGroups[0]!.weightDecay, 0.5);
  assert.equal(opt.paramGroups[1]!.lr, 0.01);
  assert.equal(opt.paramGroups[1]!.weightDecay, 0);
  setGrad(a, [1, 1, 1]);
  setGrad(b, [1, -1]);
  opt.step();
  assertClose(values(a), adamwByHand([1, 2, 3], [[1, 1, 1]], { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 0.5, amsgrad: false }), 1e-12);
  assertClose(values(b), adamwByHand([4, 5], [[1, -1]], { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 0, amsgrad: false }), 1e-12);
  assert.deepEqual(values(c), [6]);
  assert.deepEqual(Object.keys(opt.stateDict().meta.state), ['0', '1']);
  opt.dispose();
});

test('AdamW on float32 parameters agrees with the float64 computation', () => {
  const p = torch.tensor(THETA0, { requiresGrad: true });
  const opt = new AdamW([p], { lr: 0.1 });
  for (const g of GRADS) {
    torch.tidy(() => {
      p.grad = torch.tensor(g);
    });
    opt.step();
  }
  assert.equal(opt.stateDict().tensors['state.0.exp_avg']!.dtype, 'float32');
  const expected = adamwByHand(THETA0, GRADS, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, wd: 1e-2, amsgrad: false });
  assertClose([...p.toFloat32Array()], expected, 1e-6);
  opt.dispose();
});

test('bad options are Errors naming them', () => {
  const p = param([1]);
  assert.throws(() => new AdamW([p], { lr: -1 }), /lr must be a finite number ≥ 0, got -1/);
  assert.throws(() => new AdamW([p], { betas: [0.9, 1] }), /betas\[1\] must be a finite number in \[0, 1\)/);
  assert.throws(() => new AdamW([p], { eps: Number.NaN }), /eps/);
  assert.throws(() => new AdamW([{ params: [p], beta1: 0.5 } as never]), /unknown option 'beta1' \(valid: lr, betas, eps, weightDecay, amsgrad\)/);
});
