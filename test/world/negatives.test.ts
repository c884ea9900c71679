// Hard negative prompts (src/world/negatives.ts): different, valid prompts of the same category
// that a rendering of the original cannot satisfy; every kind of change; deterministic by seed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalScene, hardNegatives, scenesCompatible } from '../../src/world/negatives.js';
import { parsePrompt } from '../../src/world/grammar.js';
import { Rng } from '../../src/world/rng.js';
import { loadSplit, inferCategory } from '../../src/world/splits.js';
import { renderScene } from '../../src/world/render.js';
import { evaluateImage } from '../../src/world/evaluate.js';
import { CATEGORIES } from '../../src/world/vocab.js';

describe('hard negatives', () => {
  test('are distinct valid prompts of the same category, never equivalent to the original', () => {
    const recs = loadSplit('test').filter((_, i) => i % 10 === 0); // 90 prompts, 15 per category
    const rng = new Rng(11);
    for (const r of recs) {
      for (const category of [r.category, undefined]) {
        const negs = hardNegatives(r.prompt, 4, rng, category ? { category } : {});
        assert.equal(negs.length, 4, r.prompt);
        assert.equal(new Set(negs.map((n) => n.prompt)).size, 4, `distinct: ${r.prompt}`);
        const own = parsePrompt(r.prompt);
        for (const n of negs) {
          assert.notEqual(n.prompt, r.prompt);
          const spec = parsePrompt(n.prompt); // a valid prompt of the grammar
          assert.notEqual(canonicalScene(spec), canonicalScene(own), `${n.prompt} means ${r.prompt}`);
          assert.equal(scenesCompatible(own, spec), false, `${n.prompt} may hold where ${r.prompt} does`);
          assert.equal(inferCategory(spec), inferCategory(own), `${r.prompt} → ${n.prompt}`);
        }
      }
    }
  });

  test('a rendering of the original fails the evaluator on its negatives', () => {
    const rng = new Rng(3);
    for (const c of CATEGORIES) {
      for (const r of loadSplit('test', c).slice(0, 3)) {
        const img = renderScene(r.spec, 5).image;
        assert.equal(evaluateImage(img, r.spec).pass, true, r.prompt);
        for (const n of hardNegatives(r.spec, 4, rng, { category: c })) {
          assert.equal(evaluateImage(img, n.spec).pass, false, `${r.prompt} rendered passes '${n.prompt}' (${n.change})`);
        }
      }
    }
  });

  test('every kind of change occurs, and the category focus selects the right ones', () => {
    const rng = new Rng(1);
    const kinds = new Set<string>();
    for (const r of loadSplit('train').slice(0, 3600).filter((_, i) => i % 12 === 0)) for (const n of hardNegatives(r.prompt, 4, rng)) kinds.add(n.kind);
    assert.deepEqual([...kinds].sort(), ['attr-swap', 'change', 'object-swap', 'relation']);

    const color = hardNegatives('a red circle, a blue square and a green triangle', 4, rng, { category: 'color' });
    assert.ok(color.every((n) => /colour/.test(n.change)), color.map((n) => n.change).join('; '));
    const swaps = hardNegatives('a red circle and a blue square', 20, new Rng(2), { category: 'color' }).map((n) => n.prompt);
    assert.ok(swaps.includes('a blue circle and a red square'), 'the attribute swap is offered');
    const spatial = hardNegatives('a red circle to the left of a blue square', 20, new Rng(2), { category: 'spatial' }).map((n) => n.prompt);
    for (const p of ['a red circle above a blue square', 'a red circle below a blue square']) assert.ok(spatial.includes(p), p);
    // the mirrored relation and the swapped objects say the same: only one of them is offered
    const mirror = ['a red circle to the right of a blue square', 'a blue square to the left of a red circle'].filter((p) => spatial.includes(p));
    assert.equal(mirror.length, 1, mirror.join(' | '));
    const contact = hardNegatives('a red circle touching a blue square', 1, new Rng(2), { category: 'non-spatial' });
    assert.equal(contact[0]!.prompt, 'a red circle not touching a blue square');
    const count = hardNegatives('two green triangles', 4, new Rng(2), { category: 'non-spatial' }).map((n) => n.prompt);
    assert.ok(count.includes('three green triangles'), count.join(' | '));
  });

  test('equivalent orderings are not negatives; free attributes make a swap compatible', () => {
    const a = parsePrompt('a red circle and a blue square');
    assert.equal(canonicalScene(a), canonicalScene(parsePrompt('a blue square and a red circle')));
    assert.equal(canonicalScene(parsePrompt('a red circle left of a blue square')), canonicalScene(parsePrompt('a blue square right of a red circle')));
    assert.equal(canonicalScene(parsePrompt('a red circle touching a blue square')), canonicalScene(parsePrompt('a blue square touching a red circle')));
    // "a red circle and a square": the square may be drawn red, so "a red square and a circle" may hold
    assert.equal(scenesCompatible(parsePrompt('a red circle and a square'), parsePrompt('a red square and a circle')), true);
    assert.equal(scenesCompatible(a, parsePrompt('a blue circle and a red square')), false);
    for (const n of hardNegatives('a red circle and a square', 30, new Rng(4))) assert.notEqual(n.prompt, 'a red square and a circle');
  });

  test('deterministic for a seed; bad input is a clear error', () => {
    const p = 'a small red striped circle above a large blue square';
    assert.deepEqual(hardNegatives(p, 4, new Rng(9)), hardNegatives(p, 4, new Rng(9)));
    assert.deepEqual(hardNegatives(p, 0, new Rng(9)), []);
    assert.throws(() => hardNegatives('a fluffy cat', 4, new Rng(1)), /unknown word 'fluffy'/);
    assert.throws(() => hardNegatives(p, -1, new Rng(1)), /k must be a non-negative integer/);
    assert.throws(() => hardNegatives(p, 1.5, new Rng(1)), /k must be a non-negative integer/);
  });
});
