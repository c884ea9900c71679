// The global RNG: seeding repeats draws; a saved state restores the exact sequence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { assertThrowsMsg, vals } from './helpers.js';

/** A sample of every random op, as plain numbers. */
function drawAll(): number[][] {
  return torch.tidy(() => [
    vals(torch.randn([5])),
    vals(torch.randn([3], { dtype: 'float64' })),
    vals(torch.rand([5])),
    vals(torch.randint(0, 1000, [5])),
    vals(torch.randperm(8)),
    vals(torch.multinomial(torch.ones([10]), 3)),
    vals(torch.F.dropout(torch.ones([16]), 0.5)),
    vals(torch.empty([4]).uniform_(-1, 1)),
    vals(torch.empty([4]).normal_(0, 1)),
  ]);
}

test('manualSeed makes every random op repeat; another seed gives other draws', () => {
  torch.manualSeed(42);
  const a = drawAll();
  torch.manualSeed(42);
  const b = drawAll();
  assert.deepEqual(b, a);
  torch.manualSeed(43);
  const c = drawAll();
  assert.notDeepEqual(c[0], a[0]);
  assert.notDeepEqual(c[2], a[2]);
  // draws after seeding are not a repeat of the first draws
  torch.manualSeed(42);
  drawAll();
  assert.notDeepEqual(drawAll()[0], a[0]);
});

test('getRngState / setRngState restore the exact sequence', () => {
  torch.manualSeed(7);
  drawAll();
  const state = torch.getRngState();
  assert.ok(state instanceof Uint8Array);
  assert.ok(state.length > 0);
  const first = drawAll();
  const second = drawAll();
  torch.setRngState(state);
  assert.deepEqual(drawAll(), first);
  assert.deepEqual(drawAll(), second);
  // the state is a copy: changing it or drawing does not change a saved state
  const saved = torch.getRngState();
  const copy = Uint8Array.from(saved);
  drawAll();
  assert.deepEqual(saved, copy);
  torch.setRngState(saved);
  const again = drawAll();
  torch.setRngState(copy);
  assert.deepEqual(drawAll(), again);
});

test('the state after manualSeed(s) equals the state after manualSeed(s) again', () => {
  torch.manualSeed(123);
  const s1 = torch.getRngState();
  drawAll();
  torch.manualSeed(123);
  assert.deepEqual(torch.getRngState(), s1);
  torch.manualSeed(124);
  assert.notDeepEqual(torch.getRngState(), s1);
});

test('a state from a Uint8Array view with an offset restores too', () => {
  torch.manualSeed(5);
  const state = torch.getRngState();
  const expected = drawAll();
  const padded = new Uint8Array(state.length + 16);
  padded.set(state, 8);
  torch.setRngState(padded.subarray(8, 8 + state.length));
  assert.deepEqual(drawAll(), expected);
});

test('a malformed state is an Error and leaves the generator working', () => {
  assertThrowsMsg(() => torch.setRngState(new Uint8Array(10)), /setRngState.*size/);
  assertThrowsMsg(() => torch.setRngState([1, 2] as unknown as Uint8Array), /setRngState: state must be a Uint8Array/);
  torch.manualSeed(9);
  const a = vals(torch.randn([3]));
  torch.manualSeed(9);
  assert.deepEqual(vals(torch.randn([3])), a);
});

test('randperm is a permutation; multinomial follows its probabilities', () => {
  torch.manualSeed(1);
  const p = vals(torch.randperm(50));
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  const probs = torch.tensor([0, 0.2, 0.8], { dtype: 'float64' });
  const draws = vals(torch.multinomial(probs, 10_000, true));
  assert.ok(!draws.includes(0), 'a zero-probability class is never drawn');
  const frac2 = draws.filter((v) => v === 2).length / draws.length;
  assert.ok(Math.abs(frac2 - 0.8) < 0.02, `frequency of class 2: ${frac2}`);
  // without replacement every index is distinct
  const once = vals(torch.multinomial(torch.ones([6]), 6));
  assert.equal(new Set(once).size, 6);
});
