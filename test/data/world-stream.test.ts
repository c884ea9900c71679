import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorldStream } from '../../src/data/world-stream.js';
import { unpackImage } from '../../src/data/batch.js';
import { evaluateFolder } from '../../src/data/eval-folder.js';
import { evaluateImage } from '../../src/world/evaluate.js';
import { loadSplit } from '../../src/world/splits.js';
import { renderScene } from '../../src/world/render.js';
import { writePng } from '../../src/world/image.js';

test('world stream: seeded batches of train prompts in [-1, 1], resumable', () => {
  const s = new WorldStream({ batchSize: 6, seed: 3 });
  const b0 = s.next();
  const b1 = s.next();
  assert.deepEqual(b0.shape, [6, 3, 32, 32]);
  assert.equal(b0.images.length, 6 * 3 * 32 * 32);
  assert.equal(b0.range, '[-1,1]');
  assert.ok(b0.images.every((v) => v >= -1 && v <= 1));
  assert.ok(b0.images.some((v) => v < 0));
  assert.equal(b0.prompts.length, 6);
  assert.equal(s.step, 2);
  const train = new Set(loadSplit('train').map((r) => r.prompt));
  assert.ok(b0.prompts.every((p) => train.has(p)));
  // resume: a new stream at step 1 gives the same batch
  const resumed = new WorldStream({ batchSize: 6, seed: 3 });
  resumed.step = 1;
  assert.deepEqual(resumed.next().images, b1.images);
  assert.notDeepEqual(new WorldStream({ batchSize: 6, seed: 4 }).next().prompts, b0.prompts);
  // each image is its prompt, rendered
  for (let i = 0; i < 6; i++) assert.equal(evaluateImage(unpackImage(b0, i), b0.specs[i]!).pass, true, b0.prompts[i]);
  const unit = new WorldStream({ batchSize: 2, range: '[0,1]', resolution: 64, categories: ['spatial'] }).next();
  assert.deepEqual(unit.shape, [2, 3, 64, 64]);
  assert.ok(unit.images.every((v) => v >= 0 && v <= 1));
  assert.deepEqual(unit.categories, ['spatial', 'spatial']);
});

test('eval folder: images named by prompt id are scored per category, seen and unseen apart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'world-eval-'));
  const recs = loadSplit('test').filter((_, i) => i % 75 === 0); // 12 prompts, 2 per category
  recs.forEach((r, k) => writePng(join(dir, `${r.id}.png`), renderScene(r.spec, k).image));
  const file = join(dir, 'prompts.jsonl');
  writeFileSync(file, recs.map((r) => JSON.stringify({ id: r.id, prompt: r.prompt, category: r.category, seen: r.seen })).join('\n'));
  const { summary, scored } = evaluateFolder(dir, file);
  assert.equal(summary.images, 12);
  assert.equal(summary.overall.accuracy, 1);
  assert.equal(Object.keys(summary.categories).length, 6);
  assert.equal(summary.categories.color!.n, 2);
  assert.equal(summary.categories.color!.seen.n + summary.categories.color!.unseen.n, 2);
  assert.ok(scored.every((s) => s.failed.length === 0));
  assert.throws(() => evaluateFolder(join(dir, 'nope'), file), /nope: folder not found/);
});
