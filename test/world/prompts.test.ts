import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generatePrompt, swapOne } from '../../src/world/prompts.js';
import { CATEGORIES } from '../../src/world/vocab.js';
import { Rng } from '../../src/world/rng.js';
import { parsePrompt } from '../../src/world/grammar.js';
import { isSpatial } from '../../src/world/spec.js';
import { generateSplits, loadSplit, HELD_OUT_COMBOS, combosOf, SPLITS } from '../../src/world/splits.js';

test('prompts: every category generates prompts of its kind', () => {
  const rng = new Rng(3);
  for (const c of CATEGORIES) {
    const seen = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const g = generatePrompt(c, rng);
      assert.equal(g.category, c);
      seen.add(g.prompt);
      const s = parsePrompt(g.prompt);
      const attrs = s.entities.reduce((n, e) => n + (e.size ? 1 : 0) + (e.color ? 1 : 0) + (e.texture ? 1 : 0), 0);
      if (c === 'color') assert.ok(s.entities.every((e) => e.color && !e.texture && !e.size) && s.relations.length === 0, g.prompt);
      if (c === 'shape') assert.ok(s.entities.every((e) => e.size) && new Set(s.entities.map((e) => e.shape)).size === s.entities.length, g.prompt);
      if (c === 'texture') assert.ok(s.entities.every((e) => e.texture) && s.relations.length === 0, g.prompt);
      if (c === 'spatial') assert.ok(s.relations.length === 1 && isSpatial(s.relations[0]!.type), g.prompt);
      if (c === 'non-spatial') assert.ok(s.relations.every((r) => !isSpatial(r.type)) && (s.relations.length > 0 || s.entities.some((e) => e.count > 1)), g.prompt);
      if (c === 'complex') assert.ok(attrs + s.relations.length + s.entities.filter((e) => e.count > 1).length >= 3, g.prompt);
    }
    assert.ok(seen.size > 30, `${c}: only ${seen.size} distinct prompts`);
  }
});

test('prompts: swaps change one thing the category is about', () => {
  const rng = new Rng(4);
  for (const c of CATEGORIES) {
    for (let i = 0; i < 50; i++) {
      const g = generatePrompt(c, rng);
      const sw = swapOne(g.spec, c, rng);
      assert.ok(sw, `${c}: nothing to swap in "${g.prompt}"`);
      assert.notEqual(sw.prompt, g.prompt);
      if (c === 'spatial' || (c === 'non-spatial' && g.spec.relations.length > 0)) assert.equal(sw.target.kind, 'relation');
      if (c === 'color') assert.equal(sw.target.kind, 'color');
      if (c === 'texture') assert.equal(sw.target.kind, 'texture');
    }
  }
});

test('splits: committed, ≥ 100 test prompts per category, seen/unseen apart, no prompt in two splits', () => {
  const all = Object.fromEntries(SPLITS.map((s) => [s, loadSplit(s)]));
  const held = new Set(HELD_OUT_COMBOS);
  for (const r of all.train!) {
    assert.ok(r.seen, r.prompt);
    assert.ok(combosOf(r.spec).every((c) => !held.has(c)), `train prompt with a held-out combination: ${r.prompt}`);
  }
  for (const c of CATEGORIES) {
    const test = all.test!.filter((r) => r.category === c);
    assert.ok(test.length >= 100, `${c}: ${test.length} test prompts`);
    assert.ok(test.some((r) => r.seen) && test.some((r) => !r.seen), `${c}: test lacks seen or unseen prompts`);
    for (const r of test) assert.equal(r.seen, combosOf(r.spec).every((x) => !held.has(x)), r.prompt);
  }
  const texts = SPLITS.flatMap((s) => all[s]!.map((r) => r.prompt));
  assert.equal(new Set(texts).size, texts.length, 'a prompt appears twice');
});

test('splits: generation is deterministic and matches the committed files', () => {
  const small = { train: 20, val: 4, test: 6 };
  assert.deepEqual(generateSplits(7, small), generateSplits(7, small));
  const full = generateSplits();
  for (const s of SPLITS) {
    const committed = loadSplit(s);
    assert.deepEqual(full[s].map((r) => [r.id, r.prompt, r.category, r.seen]), committed.map((r) => [r.id, r.prompt, r.category, r.seen]), `${s} differs from generateSplits(): run 'sharpen world splits'`);
  }
});
