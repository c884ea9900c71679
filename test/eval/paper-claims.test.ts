// The verdicts of the paper report's claims (src/eval/paper/claims.ts), on numbers whose answer is
// known; the tiny-profile test (paper.test.ts) checks them against the report's own tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combine, judge, spearman } from '../../src/eval/paper/claims.js';
import { overSeeds } from '../../src/eval/paper/tables.js';

test('judge: holds, fails or not resolved by where the 95 % interval over seeds lies; pending while a cell is missing', () => {
  assert.equal(judge(overSeeds([0.02, 0.03, 0.025]), false), 'holds');
  assert.equal(judge(overSeeds([-0.02, -0.03, -0.025]), false), 'fails');
  assert.equal(judge(overSeeds([0.04, -0.01, 0.02]), false), 'not resolved', 'the interval includes 0');
  assert.equal(judge(overSeeds([0.5]), false), 'not resolved', 'one seed gives no interval');
  assert.equal(judge(overSeeds([0.02, 0.03, 0.025]), true), 'pending');
});

test('combine: one failure fails the claim, one pending comparison keeps it pending, all that apply must hold', () => {
  assert.equal(combine(['holds', 'holds']), 'holds');
  assert.equal(combine(['holds', 'not resolved']), 'not resolved');
  assert.equal(combine(['holds', 'pending', 'not resolved']), 'pending');
  assert.equal(combine(['pending', 'fails']), 'fails');
  assert.equal(combine(['holds', 'n/a']), 'holds', 'a comparison that cannot exist does not count');
  assert.equal(combine(['n/a', 'n/a']), 'n/a');
  assert.equal(combine([]), 'not resolved');
});

test('spearman: ±1 for monotone series, average ranks for ties, null without enough points or spread', () => {
  assert.equal(spearman([1, 2, 3, 4, 8], [0.1, 0.2, 0.25, 0.3, 0.9]), 1);
  assert.equal(spearman([1, 2, 3, 4, 8], [0.9, 0.5, 0.4, 0.3, 0.1]), -1);
  // ranks x 1..4, y (1.5, 1.5, 3, 4): ρ = 4.5 / √(5 · 4.5)
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [0.2, 0.2, 0.3, 0.4])! - 4.5 / Math.sqrt(5 * 4.5)) < 1e-12);
  assert.equal(spearman([1, 2], [0.1, 0.2]), null);
  assert.equal(spearman([1, 2, 3], [0.5, 0.5, 0.5]), null);
});
