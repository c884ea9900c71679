import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appendPairs, appendRatings, readPreferencePairs, readRatings, isHeldOut, labelFiles, type PreferencePair } from '../../src/data/preferences.js';
import { createImage, writePng } from '../../src/world/image.js';

function fixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'prefs-'));
  writePng(join(dir, 'images', 'a.png'), createImage(8, 8, [1, 0, 0]));
  writePng(join(dir, 'images', 'b.png'), createImage(8, 8, [0, 0, 1]));
  return dir;
}

const good: PreferencePair = { prompt: 'a red circle', imageA: 'images/a.png', imageB: 'images/b.png', choice: 'A', annotator: 'scripted-v1', time: '2026-01-02T03:04:05.000Z' };

test('preferences: pairs and ratings round-trip, with paths resolved against the file', () => {
  const dir = fixture();
  try {
    const f = labelFiles(dir);
    appendPairs(f.pairs, [good, { ...good, choice: 'tie', annotator: 'human:ann', meta: { note: 'close' } }]);
    const pairs = readPreferencePairs(f.pairs);
    assert.equal(pairs.length, 2);
    assert.equal(pairs[0]!.choice, 'A');
    assert.equal(pairs[1]!.choice, 'tie');
    assert.equal(pairs[1]!.line, 2);
    assert.equal(pairs[0]!.pathA, join(dir, 'images', 'a.png'));
    assert.deepEqual(pairs[1]!.meta, { note: 'close' });
    appendRatings(f.ratings, [{ prompt: 'a red circle', image: 'images/a.png', rating: 7.5, annotator: 'scripted-v1', time: good.time }]);
    const r = readRatings(f.ratings);
    assert.equal(r[0]!.rating, 7.5);
    assert.equal(r[0]!.path, join(dir, 'images', 'a.png'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('preferences: a bad line is an error naming the line and the field', () => {
  const dir = fixture();
  const file = join(dir, 'pairs.jsonl');
  const check = (bad: unknown, re: RegExp) => {
    const lines = [JSON.stringify(good), typeof bad === 'string' ? bad : JSON.stringify(bad)];
    writeFileSync(file, lines.join('\n') + '\n');
    assert.throws(() => readPreferencePairs(file), re);
  };
  try {
    check('{"prompt": ', /pairs\.jsonl:2: not valid JSON/);
    check('[1, 2]', /pairs\.jsonl:2: expected a JSON object/);
    check({ ...good, choice: 'C' }, /pairs\.jsonl:2: field 'choice'/);
    const { choice: _c, ...noChoice } = good;
    check(noChoice, /pairs\.jsonl:2: field 'choice'/);
    check({ ...good, prompt: '' }, /:2: field 'prompt'/);
    check({ ...good, imageA: '/abs/a.png' }, /:2: field 'imageA': must be a path relative/);
    check({ ...good, imageB: 'images/b.gif' }, /:2: field 'imageB': must name a \.png/);
    check({ ...good, imageB: 'images/missing.png' }, /:2: field 'imageB': file not found \(images\/missing\.png\)/);
    check({ ...good, imageB: 'images/a.png' }, /:2: field 'imageB': imageA and imageB are the same file/);
    check({ ...good, time: 'yesterday' }, /:2: field 'time': must be an ISO-8601 timestamp/);
    check({ ...good, annotator: 3 }, /:2: field 'annotator'/);
    check({ ...good, rater: 'bob' }, /:2: field '\(line\)': unknown field\(s\) 'rater'/);
    // blank lines are skipped, line numbers stay those of the file
    writeFileSync(file, `\n${JSON.stringify(good)}\n\n${JSON.stringify({ ...good, choice: 'X' })}\n`);
    assert.throws(() => readPreferencePairs(file), /pairs\.jsonl:4: field 'choice'/);
    // a missing file can be allowed (paths only)
    writeFileSync(file, JSON.stringify({ ...good, imageB: 'images/missing.png' }) + '\n');
    assert.equal(readPreferencePairs(file, { checkFiles: false }).length, 1);
    assert.throws(() => readPreferencePairs(join(dir, 'nope.jsonl')), /file not found/);
    // ratings
    const rf = join(dir, 'ratings.jsonl');
    writeFileSync(rf, JSON.stringify({ prompt: 'x', image: 'images/a.png', rating: 11, annotator: 'a', time: good.time }) + '\n');
    assert.throws(() => readRatings(rf), /ratings\.jsonl:1: field 'rating': must be in \[1, 10\]/);
    // writing checks too
    assert.throws(() => appendPairs(file, [{ ...good, choice: 'maybe' as never }]), /record 0: field 'choice'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('preferences: the held-out split is by prompt, deterministic, and near the fraction asked', () => {
  const prompts = Array.from({ length: 2000 }, (_, i) => `prompt ${i}`);
  const held = prompts.filter((p) => isHeldOut(p, 0.2));
  assert.ok(held.length > 320 && held.length < 480, `${held.length} of 2000 held out at 0.2`);
  assert.deepEqual(held, prompts.filter((p) => isHeldOut(p, 0.2)));
  assert.equal(prompts.filter((p) => isHeldOut(p, 0)).length, 0);
  assert.equal(prompts.filter((p) => isHeldOut(p, 1)).length, 2000);
  assert.throws(() => isHeldOut('x', 1.5), /fraction/);
});
