import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SGD } from '../../src/optim/index.js';

import { param, values, setGrad, assertClose } from './helpers.js';

/** SGD by hand (the formulas of torch.optim.SGD's documentation), element by element. */
function sgdByHand(
  theta0: number[], grads: number[][],
  o: { lr: number; momentum: number; dampening: number; wd: number; nesterov: boolean },
): number[] {
  const theta = [...theta0];
  const b = theta.map(() => 0);
  grads.forEach((grad, k) => {
    for (let i = 0; i < theta.length; i++) {
      let g = grad[i]! + o.wd * theta[i]!;
      if (o.momentum !== 0) {
        b[i] = k === 0 ? g : o.momentum * b[i]! + (1 - o.dampening) * g;
        g = o.nesterov ? g + o.momentum * b[i]! : b[i]!;
      }
      theta[i] = theta[i]! - o.lr * g;
    }
  });
  return theta;
}

const THETA0 = [0.5, -1.25, 2];
const GRADS = [[0.5, -1, 2], [0.1, 0.3, -0.7], [-0.2, 0.4, 0.01]];

const CASES = [
  { name: 'plain', lr: 0.1, momentum: 0, dampening: 0, wd: 0, nesterov: false },
  { name: 'weight decay', lr: 0.1, momentum: 0, dampening: 0, wd: 0.05, nesterov: false },
  { name: 'momentum, dampening, weight decay', lr: 0.1, momentum: 0.9, dampening: 0.1, wd: 0.05, nesterov: false },
  { name: 'nesterov, weight decay', lr: 0.1, momentum: 0.9, dampening: 0, wd: 0.05, nesterov: true },
];

for (const c of CASES) {
  test(`SGD matches three steps by hand (${c.name})`, () => {
    const p = param(THETA0);
    const opt = new SGD([p], { lr: c.lr, momentum: c.momentum, dampening: c.dampening, weightDecay: c.wd, nesterov: c.nesterov });
    for (const g of GRADS) {
      setGrad(p, g);
      opt.step();
    }
    assertClose(values(p), sgdByHand(THETA0, GRADS, c), 1e-12, 'θ_3');
    const sd = opt.stateDict();
    assert.deepEqual(Object.keys(sd.tensors), c.momentum ? ['state.0.momentum_buffer'] : []);
    assert.equal(sd.meta.state['0']!.step, 3);
    opt.dispose();
  });
}

test('nesterov needs momentum and no dampening', () => {
  const p = param([1]);
  assert.throws(() => new SGD([p], { nesterov: true }), /nesterov needs momentum > 0 and dampening 0/);
  assert.throws(() => new SGD([p], { nesterov: true, momentum: 0.9, dampening: 0.1 }), /nesterov needs momentum > 0 and dampening 0/);
  assert.throws(() => new SGD([p], { momentum: -0.5 }), /momentum must be a finite number ≥ 0/);
});

test('a group lr changed between steps is used by the next step', () => {
  const p = param([1, 2]);
  const opt = new SGD([p], { lr: 0.5 });
  setGrad(p, [1, 1]);
  opt.step();
  opt.paramGroups[0]!.lr = 0.25;
  opt.step();
  opt.setLr(0);
  opt.step();
  assertClose(values(p), [1 - 0.5 - 0.25, 2 - 0.5 - 0.25], 1e-15);
});
