import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertPaired, compareRows, formatCompareTable, readSamples } from '../../src/eval/compare.js';

function evalLine(mean: number, extra: Record<string, unknown> = {}) {
  return JSON.stringify({ ckpt: 'x', split: 'test', method: 'plain', color: mean, mean, clip: 70, preference: 'n/a', nfe_per_image: 40, ...extra }) + '\n';
}
function samples(scores: Record<string, number[]>, clip: (p: string, i: number) => number | null) {
  return Object.entries(scores).flatMap(([prompt, ss]) => ss.map((score, i) => JSON.stringify({ prompt, category: 'color', seen: true, score, metrics: { clip: clip(prompt, i) } }))).join('\n') + '\n';
}

test('compareRows: paired differences to the base over prompts, training cost from summary.json, n/a metrics as null', () => {
  const dir = mkdtempSync(join(tmpdir(), 'compare-'));
  writeFileSync(join(dir, 'eval-base.json'), 'progress line\n' + evalLine(0.5));
  writeFileSync(join(dir, 'samples-base.jsonl'), samples({ a: [0, 1], b: [1, 1], c: [0, 0] }, () => 70));
  writeFileSync(join(dir, 'eval-ft.json'), evalLine(0.7));
  // per prompt: a 0.5 → 1 (+0.5), b 1 → 1 (0), c 0 → 0.5 (+0.5); one clip value unscored (null)
  writeFileSync(join(dir, 'samples-ft.jsonl'), samples({ a: [1, 1], b: [1, 1], c: [0, 1] }, (p, i) => (p === 'a' && i === 0 ? null : 72)));
  mkdirSync(join(dir, 'ft'));
  writeFileSync(join(dir, 'ft', 'summary.json'), JSON.stringify({ wallClockSec: 12.5, trainingNfe: 400 }));
  writeFileSync(join(dir, 'eval-search.json'), evalLine(0.6, { nfe_per_image: 160 }));

  const rows = compareRows(dir, ['search', 'ft']);
  assert.deepEqual(rows.map((r) => r.name), ['base', 'search', 'ft']);
  const [base, search, ft] = rows as [typeof rows[0], typeof rows[0], typeof rows[0]];
  assert.equal(base.diff, null);
  assert.equal(search.diff, null); // no samples file: no paired interval
  assert.equal(search.nfePerImage, 160);
  assert.deepEqual(ft.metrics, { clip: 70, preference: null });
  assert.deepEqual(ft.training, { wallClockSec: 12.5, trainingNfe: 400 });
  assert.ok(Math.abs(ft.diff!.compositional.mean - 1 / 3) < 1e-12);
  assert.equal(ft.diff!.compositional.n, 3);
  assert.ok(Math.abs(ft.diff!.metrics.clip!.mean - 2) < 1e-12); // the unscored image is left out, not counted as 0

  const table = formatCompareTable(rows);
  assert.match(table, /\| ft \| 0\.7000 \| \+0\.3333 \[/);
  assert.ok(table.includes('| search | 0.6000 |  | 70.00 |  | n/a |  | 160 | 0 | 0 |'), table);
});

test('compareRows and readSamples name the file that is wrong', () => {
  const dir = mkdtempSync(join(tmpdir(), 'compare-'));
  assert.throws(() => compareRows(dir), /no eval-\*\.json/);
  writeFileSync(join(dir, 'eval-base.json'), 'Error: something failed\n');
  assert.throws(() => compareRows(dir), /eval-base\.json: its last line is not the JSON line/);
  const bad = join(dir, 's.jsonl');
  writeFileSync(bad, '{"prompt":"a","score":1,"metrics":{}}\n{"prompt":"b","score":"x","metrics":{}}\n');
  assert.throws(() => readSamples(bad), /s\.jsonl: line 2 is not an eval sample/);
  writeFileSync(bad, '{"prompt":"a",\n');
  assert.throws(() => readSamples(bad), /line 1 is not JSON/);
});

test('assertPaired: the same prompts in the same order, as many images; a row that does not pair is an error naming both files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'compare-'));
  writeFileSync(join(dir, 'a.jsonl'), samples({ a: [0, 1], b: [1, 1] }, () => 70));
  writeFileSync(join(dir, 'b.jsonl'), samples({ a: [1, 1], b: [0, 1] }, () => 71));
  writeFileSync(join(dir, 'one.jsonl'), samples({ a: [1], b: [0] }, () => 71));
  writeFileSync(join(dir, 'other.jsonl'), samples({ a: [1, 1], c: [0, 1] }, () => 71));
  const [a, b, one, other] = ['a', 'b', 'one', 'other'].map((n) => readSamples(join(dir, `${n}.jsonl`))) as [ReturnType<typeof readSamples>, ReturnType<typeof readSamples>, ReturnType<typeof readSamples>, ReturnType<typeof readSamples>];
  assert.doesNotThrow(() => assertPaired(a, b, 'a.jsonl', 'b.jsonl'));
  assert.throws(() => assertPaired(a, one, 'a.jsonl', 'one.jsonl'), /one\.jsonl does not pair with a\.jsonl: 2 images against 4/);
  assert.throws(() => assertPaired(a, other, 'a.jsonl', 'other.jsonl'), /other\.jsonl does not pair with a\.jsonl: image 3 is of another prompt \("c", not "b"\)/);

  // compareRows refuses a row evaluated with another number of images per prompt
  writeFileSync(join(dir, 'eval-base.json'), evalLine(0.5));
  writeFileSync(join(dir, 'samples-base.jsonl'), samples({ a: [0, 1], b: [1, 1] }, () => 70));
  writeFileSync(join(dir, 'eval-ft.json'), evalLine(0.6));
  writeFileSync(join(dir, 'samples-ft.jsonl'), samples({ a: [1], b: [1] }, () => 70));
  assert.throws(() => compareRows(dir), /samples-ft\.jsonl does not pair with .*samples-base\.jsonl: 2 images against 4/);
});

test('compareRows: a summary copied beside the eval files (summary-NAME.json) gives the training cost too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'compare-'));
  writeFileSync(join(dir, 'eval-base.json'), evalLine(0.5));
  writeFileSync(join(dir, 'eval-ft.json'), evalLine(0.6));
  writeFileSync(join(dir, 'summary-ft.json'), JSON.stringify({ wallClockSec: 3, trainingNfe: 90 }));
  assert.deepEqual(compareRows(dir).map((r) => r.training), [null, { wallClockSec: 3, trainingNfe: 90 }]);
  writeFileSync(join(dir, 'summary-ft.json'), '{"wallClockSec": 3}');
  assert.throws(() => compareRows(dir), /summary-ft\.json: lacks wallClockSec or trainingNfe/);
});
