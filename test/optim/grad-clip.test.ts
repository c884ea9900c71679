import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { clipGradNorm } from '../../src/optim/index.js';


/** Parameters with the given gradients (null: no gradient). */
function withGrads(grads: (number[] | null)[], dtype: 'float64' | 'float32' = 'float64'): torch.Tensor[] {
  return grads.map((g, i) => {
    const p = torch.zeros([g ? g.length : i + 1], { dtype, requiresGrad: true });
    if (g) torch.tidy(() => { p.grad = torch.tensor(g, { dtype }); });
    return p;
  });
}
const gradValues = (ps: torch.Tensor[]): number[][] =>
  ps.map((p) => torch.tidy(() => (p.grad ? [...(p.grad.toTypedArray() as Float64Array | Float32Array)] : [])));
const norm2 = (gs: number[][]): number => Math.sqrt(gs.flat().reduce((s, v) => s + v * v, 0));

test('clips to maxNorm and returns the total norm before clipping (parameters without a gradient left out)', () => {
  const ps = withGrads([[3, 4], null, [12]]);
  const total = clipGradNorm(ps, 6.5);
  assert.equal(total, 13);
  const after = gradValues(ps);
  assert.ok(Math.abs(norm2(after) - 6.5) <= 1e-6, `clipped norm ${norm2(after)}`);
  const c = 6.5 / (13 + 1e-6);
  assert.deepEqual(after, [[3 * c, 4 * c], [], [12 * c]]);
});

test('gradients within maxNorm are left as they are', () => {
  const ps = withGrads([[3, 4], [12]]);
  assert.equal(clipGradNorm(ps, 100), 13);
  assert.deepEqual(gradValues(ps), [[3, 4], [12]]);
  assert.equal(clipGradNorm(withGrads([null, null]), 1), 0);
  assert.equal(clipGradNorm(ps[0]!, 100), 5); // a single tensor
});

test('other norms: 1 and infinity', () => {
  assert.equal(clipGradNorm(withGrads([[3, -4], [12]]), 100, 1), 19);
  const ps = withGrads([[3, -4], [2]]);
  assert.equal(clipGradNorm(ps, 2, Infinity), 4);
  const maxAbs = Math.max(...gradValues(ps).flat().map(Math.abs));
  assert.ok(Math.abs(maxAbs - 2) <= 1e-6, `clipped max-norm ${maxAbs}`);
});

test('float32 gradients clip to maxNorm too', () => {
  const ps = withGrads([[0.3, -2.5, 7], [1.25, 1e-3]], 'float32');
  const before = norm2(gradValues(ps));
  const total = clipGradNorm(ps, 1);
  assert.ok(Math.abs(total - before) <= 1e-5);
  assert.ok(Math.abs(norm2(gradValues(ps)) - 1) <= 1e-6);
});

test('a non-finite total norm throws, or with errorIfNonfinite false leaves the gradients and returns it', () => {
  assert.throws(() => clipGradNorm(withGrads([[1, Number.NaN], [2]]), 1), /total 2-norm of the gradients of 2 parameters is NaN/);
  assert.throws(() => clipGradNorm(withGrads([[Infinity]]), 1), /is Infinity/);
  const ps = withGrads([[1, Number.NaN], [20]]);
  assert.ok(Number.isNaN(clipGradNorm(ps, 1, 2, { errorIfNonfinite: false })));
  assert.deepEqual(gradValues(ps), [[1, Number.NaN], [20]]);
  const inf = withGrads([[-Infinity], [20]]);
  assert.equal(clipGradNorm(inf, 1, 2, { errorIfNonfinite: false }), Infinity);
  assert.deepEqual(gradValues(inf), [[-Infinity], [20]]);
});

test('bad arguments are Errors', () => {
  const ps = withGrads([[1]]);
  assert.throws(() => clipGradNorm(ps, -1), /maxNorm must be a number ≥ 0/);
  assert.throws(() => clipGradNorm(ps, 1, 0), /normType must be a number > 0/);
});
