// The side-by-side pairs: ordered by |change| (gains and losses alike, ties in evaluation order),
// counted, and written as enlarged PNGs with pairs.json, the folder replaced whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countChanges, displayScale, orderByChange, writePairs } from '../../src/eval/pairs.js';
import type { EvalSample } from '../../src/eval/model-eval.js';
import { createImage, readImage } from '../../src/world/image.js';

const sample = (prompt: string, score: number): EvalSample => ({ prompt, category: 'color', seen: true, score, metrics: {} });

test('orderByChange: largest |fine-tuned − base| first, gains and losses alike; equal changes keep the evaluation order', () => {
  const prompts = ['a', 'b', 'c', 'd', 'e', 'f'];
  const base = [0.5, 0.25, 1, 0.5, 0.25, 0].map((s, i) => sample(prompts[i]!, s));
  const tuned = [0.5, 0.75, 0.25, 0.75, 0, 0.25].map((s, i) => sample(prompts[i]!, s));
  const pairs = orderByChange(base, tuned);
  assert.deepEqual(pairs.map((p) => p.prompt), ['c', 'b', 'd', 'e', 'f', 'a']);
  assert.deepEqual(pairs.map((p) => p.change), [-0.75, 0.5, 0.25, -0.25, 0.25, 0]);
  assert.deepEqual(pairs.map((p) => p.index), [2, 1, 3, 4, 5, 0]);
  assert.deepEqual(pairs[0], { index: 2, prompt: 'c', category: 'color', base: 1, finetuned: 0.25, change: -0.75 });
  for (let i = 1; i < pairs.length; i++) assert.ok(Math.abs(pairs[i - 1]!.change) >= Math.abs(pairs[i]!.change));
  assert.deepEqual(countChanges(pairs), { improved: 3, worsened: 2, same: 1 });
  assert.deepEqual(countChanges([]), { improved: 0, worsened: 0, same: 0 });
  assert.deepEqual(countChanges(orderByChange([sample('a', 0.1 + 0.2)], [sample('a', 0.3)])), { improved: 0, worsened: 0, same: 1 }, 'float noise is no change');
});

test('orderByChange refuses evaluations that do not pair up', () => {
  assert.throws(() => orderByChange([sample('a', 0)], []), /1 base samples but 0 fine-tuned/);
  assert.throws(() => orderByChange([sample('a', 0)], [sample('b', 0)]), /sample 0 is 'a' in the base evaluation but 'b'/);
  assert.throws(() => orderByChange([sample('a', NaN)], [sample('a', 0)]), /non-finite/);
});

test('displayScale: about 128 pixels, at least ×3, an integer', () => {
  assert.equal(displayScale(32), 4);
  assert.equal(displayScale(16), 8);
  assert.equal(displayScale(64), 3);
  assert.equal(displayScale(256), 3);
});

test('writePairs: enlarged PNGs (nearest neighbour) and pairs.json in rank order; the folder is replaced whole', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sharpen-pairs-'));
  const dir = join(root, 'pairs');
  mkdirSync(dir);
  writeFileSync(join(dir, 'stale.png'), 'old');
  const base = [createImage(4, 2, [1, 0, 0]), createImage(4, 2, [0, 0, 1])];
  const tuned = [createImage(4, 2, [0, 1, 0]), createImage(4, 2, [1, 1, 1])];
  base[1]!.data[0] = 0.5; // one pixel differs, to see where it lands
  const pairs = orderByChange([sample('first prompt', 0.5), sample('second prompt', 0)], [sample('first prompt', 0.5), sample('second prompt', 1)]);
  const w = await writePairs(dir, pairs, base, tuned, { improved: 1 });
  assert.equal(w.scale, 32);
  assert.deepEqual(w.pairs.map((p) => [p.rank, p.prompt, p.baseFile, p.finetunedFile]), [
    [1, 'second prompt', '1-base.png', '1-finetuned.png'], [2, 'first prompt', '2-base.png', '2-finetuned.png'],
  ]);
  assert.deepEqual(readdirSync(dir).sort(), ['1-base.png', '1-finetuned.png', '2-base.png', '2-finetuned.png', 'pairs.json']);
  assert.deepEqual(readdirSync(root), ['pairs'], 'no temporary folder left');
  const img = readImage(join(dir, '1-base.png'));
  assert.deepEqual([img.width, img.height], [128, 64]);
  const n = img.width * img.height;
  assert.ok(Math.abs(img.data[0]! - 0.5) < 0.01 && Math.abs(img.data[31 * 128 + 31]! - 0.5) < 0.01, 'the pixel fills its 32×32 block');
  assert.equal(img.data[32], 0, 'and not the next one');
  assert.equal(img.data[2 * n + 100], 1, 'blue');
  const tunedImg = readImage(join(dir, '2-finetuned.png'));
  assert.deepEqual([tunedImg.data[0], tunedImg.data[n], tunedImg.data[2 * n]], [0, 1, 0], 'the fine-tuned image of the first prompt: green');
  const json = JSON.parse(readFileSync(join(dir, 'pairs.json'), 'utf8'));
  assert.equal(json.improved, 1);
  assert.equal(json.scale, 32);
  assert.deepEqual(json.pairs.map((p: { prompt: string; change: number }) => [p.prompt, p.change]), [['second prompt', 1], ['first prompt', 0]]);

  // fewer pairs the second time: the first set's files are gone
  await writePairs(dir, pairs.slice(0, 1), base, tuned);
  assert.deepEqual(readdirSync(dir).sort(), ['1-base.png', '1-finetuned.png', 'pairs.json']);
  await assert.rejects(writePairs(dir, pairs, base.slice(0, 1), tuned), /no image for sample 1/);
  await assert.rejects(writePairs(dir, pairs, [createImage(2, 2), createImage(2, 2)], tuned), /base 2×2 but fine-tuned 4×2/);
  assert.ok(existsSync(join(dir, 'pairs.json')), 'a failed write leaves the last complete folder');
  assert.deepEqual(readdirSync(root), ['pairs'], 'and no temporary folder');
});
