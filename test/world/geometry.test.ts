// softIoU (geometry.ts), the evaluator's shape score, is the sum over samples of min/max of a
// sample's coverage and the shape's coverage function: pinned here to the plain computation through
// coverageFunction, bit for bit, for every shape, on random samples, centres and sizes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coverageFunction, softIoU } from '../../src/world/geometry.js';
import { SHAPES } from '../../src/world/vocab.js';
import { Rng } from '../../src/world/rng.js';

function reference(cover: (dx: number, dy: number, h: number) => number, s: Float64Array, cx: number, cy: number, h: number): number {
  let inter = 0, union = 0;
  for (let j = 0; j < s.length; j += 3) {
    const a = s[j + 2]!;
    const t = cover(s[j]! - cx, s[j + 1]! - cy, h);
    inter += a < t ? a : t;
    union += a > t ? a : t;
  }
  return union > 0 ? inter / union : 0;
}

test('softIoU equals the sum through coverageFunction, bit for bit', () => {
  const rng = new Rng(11, 'soft-iou');
  for (let trial = 0; trial < 200; trial++) {
    const w = 4 + rng.int(20), hgt = 4 + rng.int(20);
    const x0 = rng.int(12), y0 = rng.int(12);
    const samples: number[] = [];
    for (let y = y0; y < y0 + hgt; y++) {
      for (let x = x0; x < x0 + w; x++) {
        if (rng.bool(0.1)) continue; // pixels of other objects are left out
        samples.push(x + 0.5, y + 0.5, rng.bool(0.4) ? 0 : rng.bool(0.3) ? 1 : Math.fround(rng.float()));
      }
    }
    const s = Float64Array.from(samples);
    const cx = x0 + rng.uniform(0, w), cy = y0 + rng.uniform(0, hgt), h = rng.uniform(0.5, 12);
    for (const shape of SHAPES) {
      assert.ok(Object.is(softIoU(shape, s, cx, cy, h), reference(coverageFunction(shape), s, cx, cy, h)), `${shape}, trial ${trial}`);
    }
  }
  for (const shape of SHAPES) assert.equal(softIoU(shape, new Float64Array(0), 1, 1, 1), 0);
});
