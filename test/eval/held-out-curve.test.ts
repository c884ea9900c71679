import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { heldOutCurveBlock, heldOutCurveByTimeBlock, readHeldOutCurve } from '../../src/eval/held-out-curve.js';
import { renderReport } from '../../src/eval/report.js';
import { CATEGORIES } from '../../src/world/vocab.js';

function line(step: number, wallClockSec: number, compositional: number): Record<string, number> {
  return { step, wallClockSec, compositional, ...Object.fromEntries(CATEGORIES.map((c, i) => [c, compositional + i / 100])), nfePerImage: 40, images: 60, evalSec: 2 };
}

function evalFile(lines: Record<string, number>[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'sharpen-curve-'));
  const path = join(dir, 'eval.jsonl');
  writeFileSync(path, lines.map((l) => JSON.stringify(l) + '\n').join(''));
  return path;
}

test('heldOutCurveBlock: compositional against the step, or the training wall-clock; renders as an SVG line', () => {
  // out of order, and step 20 written twice (the last one counts)
  const path = evalFile([line(0, 0, 0.6), line(20, 31.5, 0.5), line(10, 15.2, 0.62), line(20, 30.1, 0.65)]);
  assert.deepEqual(readHeldOutCurve(path).map((r) => [r.step, r.compositional]), [[0, 0.6], [10, 0.62], [20, 0.65]]);

  const b = heldOutCurveBlock(path);
  assert.ok(b && b.kind === 'chart');
  assert.equal(b.options.xLabel, 'step');
  assert.equal(b.options.yLabel, 'compositional');
  assert.match(b.options.title, /val prompts, 60 images/);
  assert.deepEqual(b.series.map((s) => s.name), ['compositional']);
  assert.deepEqual(b.series[0]!.points, [[0, 0.6], [10, 0.62], [20, 0.65]]);

  const t = heldOutCurveByTimeBlock(path, { name: 'run a' });
  assert.ok(t && t.kind === 'chart');
  assert.equal(t.options.xLabel, 'training wall-clock (s)');
  assert.deepEqual(t.series[0], { name: 'run a', points: [[0, 0.6], [15.2, 0.62], [30.1, 0.65]] });

  const all = heldOutCurveBlock(path, { categories: true });
  assert.ok(all && all.kind === 'chart');
  assert.deepEqual(all.series.map((s) => s.name), ['compositional', ...CATEGORIES]);
  assert.deepEqual(all.series[2]!.points, [[0, 0.61], [10, 0.63], [20, 0.66]]);

  const html = renderReport('curve', [b, t]);
  assert.equal((html.match(/<svg /g) ?? []).length, 2);
  assert.match(html, /<path d="M[\d.]+,[\d.]+ L[\d.]+,[\d.]+ L[\d.]+,[\d.]+"/);
  assert.ok(html.includes('>step<') && html.includes('>training wall-clock (s)<'));
});

test('heldOutCurveBlock: null without a file or without a line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sharpen-curve-'));
  assert.equal(heldOutCurveBlock(join(dir, 'eval.jsonl')), null);
  assert.equal(heldOutCurveBlock(evalFile([])), null);
});
