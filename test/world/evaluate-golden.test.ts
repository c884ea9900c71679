// The world's evaluator and the 'compositional' reward, pinned bit for bit on a fixed set of images
// (test/helpers/evaluator-fixtures.ts: renders of every category, degraded, drowned in noise, scored
// against another prompt, other resolutions, noise and flat images). The scores and a SHA-256 of
// every evaluation (checks, assignment and the whole detection, every float as JSON writes it) were
// taken before the evaluator was made faster; any speed-up must leave them exactly as they are.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as torch from '../../src/torch/index.js';
import { evaluateImage } from '../../src/world/evaluate.js';
import { CompositionalReward } from '../../src/rewards/compositional.js';
import { evaluatorFixtures } from '../helpers/evaluator-fixtures.js';

const SCORES = [
  1, 1, 1, 0, 0.6666666666666666, 1, 1, 0.3333333333333333, 0, 0.6666666666666666,
  1, 1, 1, 0, 0.4444444444444444, 1, 1, 1, 0, 0.6666666666666666,
  1, 1, 1, 0, 0.4444444444444444, 1, 1, 0.8888888888888888, 0, 0.45454545454545453,
  1, 1, 1, 0, 0.7142857142857143, 1, 1, 1, 0, 0.6666666666666666,
  1, 1, 0.5, 0, 0.7142857142857143, 1, 1, 1, 0, 0.25,
  1, 1, 1, 0, 0.5, 1, 1, 1, 0, 0.3333333333333333,
  1, 1, 1, 0.2222222222222222, 0.6666666666666666, 1, 1, 1, 0, 0.5714285714285714,
  1, 1, 1, 0, 0.375, 1, 1, 0.875, 0, 0.4,
  1, 1, 0.8, 0, 0.5, 1, 1, 0.75, 0, 0.6,
  1, 1, 1, 0, 0.6, 1, 1, 1, 0, 0.5714285714285714,
  1, 1, 1, 0, 0.5714285714285714, 1, 1, 1, 0, 0.7142857142857143,
  1, 1, 1, 0, 0.42857142857142855, 1, 1, 1, 0, 0.8,
  1, 1, 1, 0, 0.5, 1, 1, 1, 0, 0.6666666666666666,
  1, 1, 1, 0, 0.7142857142857143, 1, 1, 1, 0, 0.5714285714285714,
  1, 1, 1, 0, 0.5714285714285714, 1, 1, 1, 0, 0.5714285714285714,
  1, 1, 1, 0, 0.38461538461538464, 1, 1, 1, 0, 0.5,
  1, 1, 1, 0, 0.42857142857142855, 1, 1, 0.9285714285714286, 0, 0.5833333333333334,
  1, 1, 1, 0, 0.5833333333333334, 1, 1, 1, 0, 0.7777777777777778,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 0.8333333333333334,
  1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
  1, 0.8888888888888888, 1, 1, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0,
];
const EVALUATIONS_SHA256 = '24eddc869db7fa6e2974b586fef08571c7ac70300a71793fc7de6983964e6c79';

const fixtures = evaluatorFixtures();

function firstDifference(got: number[], want: number[]): string {
  const i = got.findIndex((v, k) => !Object.is(v, want[k]));
  return i < 0 ? 'none' : `${fixtures[i]!.label} (${JSON.stringify(fixtures[i]!.prompt)}): ${got[i]} instead of ${want[i]}`;
}

test('evaluator golden: every score and every evaluation of the fixed images, bit for bit', () => {
  assert.equal(fixtures.length, SCORES.length);
  const evs = fixtures.map((f) => evaluateImage(f.image, f.prompt));
  const scores = evs.map((e) => e.score);
  assert.ok(scores.every((v, k) => Object.is(v, SCORES[k])), `first difference: ${firstDifference(scores, SCORES)}`);
  const h = createHash('sha256');
  for (const e of evs) h.update(JSON.stringify(e) + '\n');
  assert.equal(h.digest('hex'), EVALUATIONS_SHA256, 'the scores agree but some detail of an evaluation (a check, a detected object\'s measurements) changed');
});

test('evaluator golden: the compositional reward gives the same scores from a tensor batch', async () => {
  const r = new CompositionalReward();
  const at32 = fixtures.map((f, k) => ({ f, k })).filter(({ f }) => f.image.width === 32);
  const per = 3 * 32 * 32;
  const data = new Float32Array(at32.length * per);
  at32.forEach(({ f }, j) => data.set(f.image.data, j * per));
  const x = torch.fromTypedArray(data, [at32.length, 3, 32, 32]);
  try {
    const out = await r.score(x, at32.map(({ f }) => f.prompt));
    const want = at32.map(({ k }) => SCORES[k]!);
    assert.ok(out.scores.every((v, j) => Object.is(v, want[j])), `the reward's scores differ from the pinned ones`);
  } finally {
    x.dispose();
  }
});
