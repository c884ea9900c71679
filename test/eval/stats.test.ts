import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tQuantile975, meanInterval, pairedDifference, meanByKey } from '../../src/eval/stats.js';

test('t quantiles match published values', () => {
  const known: [number, number][] = [[1, 12.7062], [5, 2.5706], [11, 2.2010], [20, 2.0860], [30, 2.0423], [60, 2.0003], [120, 1.9799]];
  for (const [df, q] of known) assert.ok(Math.abs(tQuantile975(df) - q) < 2e-3, `df ${df}: ${tQuantile975(df)} vs ${q}`);
  assert.throws(() => tQuantile975(0), /positive integer/);
});

test('meanInterval: mean, sample std and t half-width', () => {
  const r = meanInterval([1, 2, 3, 4, 5]);
  assert.equal(r.mean, 3);
  assert.ok(Math.abs(r.std - Math.sqrt(2.5)) < 1e-12);
  assert.ok(Math.abs(r.halfWidth - (2.7764 * Math.sqrt(2.5)) / Math.sqrt(5)) < 1e-9);
  assert.throws(() => meanInterval([1]), /at least 2/);
  assert.throws(() => meanInterval([1, NaN]), /value 1 is NaN/);
});

test('pairedDifference pairs by key and refuses unpaired sides', () => {
  const rows = [{ p: 'a', s: 0 }, { p: 'a', s: 1 }, { p: 'b', s: 1 }, { p: 'c', s: 0 }];
  const before = meanByKey(rows, (r) => r.p, (r) => r.s);
  assert.deepEqual([...before], [['a', 0.5], ['b', 1], ['c', 0]]);
  const after = new Map([['c', 0.5], ['a', 1], ['b', 1]]);
  const d = pairedDifference(before, after);
  assert.ok(Math.abs(d.mean - 1 / 3) < 1e-12);
  assert.ok(d.lo < d.mean && d.hi > d.mean);
  assert.throws(() => pairedDifference(before, new Map([['a', 1]])), /different keys/);
});
