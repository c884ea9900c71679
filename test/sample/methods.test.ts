// The sampling methods' pieces: registry and option errors, Demon's weights and noise combination,
// Free²Guide's softmax weights, the zero-order neighbourhood.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import {
  combineNoises, demonWeights, getMethod, neighbours, registerMethod, softmaxWeights, plain,
} from '../../src/sample/index.js';
import { FixedReward } from '../rewards/toy-rewards.js';
import { BrightnessReward, PROMPTS, countedModel } from './helpers.js';

torch.setNumThreads(1);

test('an unknown method name lists the valid ones; a name is registered once', () => {
  assert.throws(() => getMethod('beam'), /unknown sampling method 'beam': valid methods are best-of-n, demon, free2guide, plain, zero-order/);
  assert.throws(() => registerMethod(plain), /already registered/);
});

test('options: unknown keys, bad values, missing reward, deterministic sampler, bad scheduler', async () => {
  const { model } = countedModel();
  const reward = new BrightnessReward();
  assert.throws(() => getMethod('demon').plan(model, { reward, lamda: 2 }), /method 'demon': unknown option 'lamda' \(valid: .*K.*guidedSteps/);
  assert.throws(() => getMethod('plain').plan(model, { K: 3 }), /method 'plain': unknown option 'K'/);
  assert.throws(() => getMethod('best-of-n').plan(model, { reward, K: 0 }), /method 'best-of-n': K:/);
  assert.throws(() => getMethod('demon').plan(model, { reward, K: 1 }), /method 'demon': K:/);
  assert.throws(() => getMethod('zero-order').plan(model, { reward, lambda: 1.5 }), /method 'zero-order': lambda:/);
  assert.throws(() => getMethod('best-of-n').plan(model, { reward, budgetNfe: 10.5 }), /budgetNfe/);
  assert.throws(() => getMethod('best-of-n').plan(model, { reward: { name: 'x' } }), /reward: must be a Reward/);
  assert.throws(() => getMethod('free2guide').plan(model, { reward, lambda: 0.5 }), /lambda is an option of selection 'weighted'/);
  assert.throws(() => getMethod('free2guide').plan(model, { reward, selection: 'softmax' }), /selection/);
  assert.throws(() => getMethod('demon').plan(model, { reward, steps: 1 }), /at least 2 sampling steps/);
  await assert.rejects(getMethod('best-of-n').sample(model, ['a circle'], { steps: 2 }), /method 'best-of-n' needs a reward/);
  await assert.rejects(
    getMethod('demon').sample(model, ['a circle'], { reward, steps: 2, eta: 0 }),
    /method 'demon' needs a stochastic sampler \(DDIM with η > 0, or DDPM\)/,
  );
  await assert.rejects(getMethod('demon').sample(model, ['a circle'], { reward, steps: 2, scheduler: 'euler' }), /unknown scheduler 'euler'/);
  await assert.rejects(getMethod('demon').sample(model, ['a circle'], { reward, steps: 2, scheduler: 'ddpm', eta: 1 }), /DDPM has no η/);
  await assert.rejects(getMethod('demon').sample(model, [], { reward, steps: 2 }), /prompts must be a non-empty array/);
  assert.equal(reward.calls, 0);
  model.dispose();
});

test('Demon weights: b_k = tanh((r_k − mean)/std) with the population std', () => {
  const r = [1, 2, 3, 6];
  const m = 3;
  const std = Math.sqrt((4 + 1 + 0 + 9) / 4);
  const w = demonWeights(r);
  r.forEach((v, k) => assert.ok(Math.abs(w[k]! - Math.tanh((v - m) / std)) < 1e-12, `k=${k}: ${w[k]}`));
  assert.ok(Math.abs(w[0]! - Math.tanh(-2 / Math.sqrt(3.5))) < 1e-12);
  // invariant to the reward's units: shifting and scaling r changes nothing
  assert.deepEqual(demonWeights(r.map((v) => 100 * v - 7)).map((v) => v.toFixed(12)), w.map((v) => v.toFixed(12)));
  // all equal (std 0) → no preference; an unscored candidate gets 0 and is left out of mean and std
  assert.deepEqual(demonWeights([0.5, 0.5, 0.5]), [0, 0, 0]);
  const u = demonWeights([1, NaN, 3]);
  assert.equal(u[1], 0);
  assert.ok(Math.abs(u[0]! - Math.tanh(-1)) < 1e-12 && Math.abs(u[2]! - Math.tanh(1)) < 1e-12);
});

test('Demon noise combination: direction Σ b_k z_k, norm √D; all-zero weights keep the first candidate', () => {
  torch.manualSeed(0);
  const K = 3;
  const B = 2;
  const z = torch.randn([K * B, 3, 4, 4]); // rows k·B + b
  const w = [0.5, 0, -0.25, 0, 1, 0]; // prompt 0 (rows 0, 2, 4): 0.5 z_0 − 0.25 z_2 + z_4; prompt 1: all zero
  const out = combineNoises(z, w, B);
  assert.deepEqual(out.shape, [B, 3, 4, 4]);
  const D = 48;
  torch.tidy(() => {
    const n0 = out.narrow(0, 0, 1).norm().item();
    assert.ok(Math.abs(n0 - Math.sqrt(D)) < 1e-4, `‖z*‖ = ${n0}, √D = ${Math.sqrt(D)}`);
    const s = z.narrow(0, 0, 1).mul(0.5).sub(z.narrow(0, 2, 1).mul(0.25)).add(z.narrow(0, 4, 1));
    const expected = s.div(s.norm()).mul(Math.sqrt(D));
    assert.ok(out.narrow(0, 0, 1).sub(expected).abs().amax().item() < 1e-5);
    // prompt 1: every weight 0 → its first candidate, row 0·B + 1, unchanged
    assert.equal(out.narrow(0, 1, 1).sub(z.narrow(0, 1, 1)).abs().amax().item(), 0);
  });
  assert.throws(() => combineNoises(z, [1, 2], B), /combineNoises/);
  z.dispose();
  out.dispose();
});

test('Free²Guide weights: softmax(r/λ), unscored → 0, λ → 0 picks the best', () => {
  const w = softmaxWeights([1, 2, 3], 1);
  const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
  const s = e[0]! + e[1]! + e[2]!;
  w.forEach((v, k) => assert.ok(Math.abs(v - e[k]! / s) < 1e-12));
  assert.deepEqual(softmaxWeights([1, NaN, 3], 1e-3).map((v) => Math.round(v)), [0, 0, 1]);
  assert.throws(() => softmaxWeights([NaN, NaN], 1), /could score none/);
});

test('zero-order neighbours keep the pivot\'s norm at sin∠ = λ, in random directions', () => {
  torch.manualSeed(0);
  const pivots = torch.randn([2, 3, 8, 8]);
  const N = 5;
  const lambda = 0.3;
  const y = neighbours(pivots, N, lambda);
  assert.deepEqual(y.shape, [N * 2, 3, 8, 8]);
  torch.tidy(() => {
    const p = pivots.reshape(2, -1).repeat(N, 1); // row k·B + b ↔ pivot b
    const q = y.reshape(N * 2, -1);
    const np = p.norm(2, [1]);
    const nq = q.norm(2, [1]);
    assert.ok(np.sub(nq).abs().amax().item() < 1e-3, 'norms differ');
    const cos = p.mul(q).sum([1]).div(np.mul(nq)); // [N·B]
    const sin = cos.square().rsub(1).sqrt();
    assert.ok(sin.sub(lambda).abs().amax().item() < 1e-3, `sin∠ = ${Array.from(sin.toFloat32Array())}`);
    // the neighbours of one pivot point in different directions
    assert.ok(q.narrow(0, 0, 1).sub(q.narrow(0, 2, 1)).abs().amax().item() > 0.1);
  });
  pivots.dispose();
  y.dispose();
});

test('an unscored candidate never wins; a reward that scores nothing is an error', async () => {
  const { model } = countedModel();
  const B = 2;
  // best-of-n with N = 3 in one reward call: rows k·B + b, so prompt 0 has rows 0, 2, 4 and prompt 1
  // rows 1, 3, 5. Row 3 carries the highest number but is marked unscored.
  const reward = new FixedReward('fixed', { kind: 'range', min: 0, max: 100 }, [
    { scores: [1, 5, 9, 100, 3, 2], unscored: [false, false, false, true, false, false] },
  ]);
  const r = await getMethod('best-of-n').sample(model, PROMPTS.slice(0, B), { reward, steps: 2, K: 3, seed: 0 });
  assert.deepEqual(r.log.scores, [9, 5]);
  assert.deepEqual((r.log.trace![0] as { chosenIndex: number[] }).chosenIndex, [1, 0]);
  r.images.dispose();
  const none = new FixedReward('none', { kind: 'range', min: 0, max: 10 }, [
    { scores: [NaN, 1, NaN, 2], unscored: [true, false, true, false] },
  ]);
  await assert.rejects(
    getMethod('best-of-n').sample(model, PROMPTS.slice(0, B), { reward: none, steps: 2, K: 2, seed: 0 }),
    /could score none of the 2 candidates of prompt 0/,
  );
  model.dispose();
});
