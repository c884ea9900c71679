import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePrompt, formatPrompt, PromptError } from '../../src/world/grammar.js';
import { specsEqual } from '../../src/world/spec.js';
import { generatePrompt } from '../../src/world/prompts.js';
import { CATEGORIES, COLORS, COLOR_RGB, SHAPES, worldWords } from '../../src/world/vocab.js';
import { Rng } from '../../src/world/rng.js';

test('grammar: the issue\'s example parses into a typed scene', () => {
  const spec = parsePrompt('a small red striped circle above a large blue square');
  assert.deepEqual(spec, {
    entities: [
      { count: 1, size: 'small', color: 'red', texture: 'striped', shape: 'circle' },
      { count: 1, size: 'large', color: 'blue', shape: 'square' },
    ],
    relations: [{ type: 'above', subject: 0, object: 1 }],
  });
  assert.equal(formatPrompt(spec), 'a small red striped circle above a large blue square');
});

test('grammar: round trips spec → prompt → spec for every category', () => {
  const rng = new Rng(1);
  for (const c of CATEGORIES) {
    for (let i = 0; i < 150; i++) {
      const g = generatePrompt(c, rng);
      const back = parsePrompt(g.prompt);
      assert.ok(specsEqual(back, g.spec), `${c}: "${g.prompt}" parsed differently`);
      assert.equal(formatPrompt(back), g.prompt);
    }
  }
});

test('grammar: synonyms, adjective order, counts, punctuation', () => {
  const canon = parsePrompt('a red circle to the left of a blue square');
  assert.ok(specsEqual(parsePrompt('A red circle left of a blue square.'), canon));
  assert.ok(specsEqual(parsePrompt('a red circle on the left of a blue square'), canon));
  assert.ok(specsEqual(parsePrompt('a striped small red circle'), parsePrompt('a small red striped circle')));
  const counted = parsePrompt('two green triangles, a circle and an orange square');
  assert.deepEqual(counted.entities.map((e) => e.count), [2, 1, 1]);
  assert.equal(counted.entities[2]!.color, 'orange');
  assert.equal(formatPrompt(counted), 'two green triangles, a circle and an orange square');
  assert.equal(parsePrompt('a red circle not touching a blue square').relations[0]!.type, 'not_touching');
});

test('grammar: bad prompts say which word and what is accepted', () => {
  const bad = (p: string, re: RegExp) => {
    assert.throws(() => parsePrompt(p), (e: unknown) => e instanceof PromptError && re.test(e.message), p);
  };
  bad('a small blurple circle', /unknown word 'blurple'.*word 3.*colour \(red, orange, yellow, green, blue, purple\)/);
  bad('a red hexagon', /unknown word 'hexagon'.*shape \(circle, square, triangle, diamond\)/);
  bad('a red circle beside a square', /unknown word 'beside'.*relation/);
  bad('red circle', /unexpected word 'red'.*determiner/);
  bad('a red', /ends too early/);
  bad('a red blue circle', /two colours \('red' and 'blue'/);
  bad('two circle', /plural shape/);
  bad('a circles', /single shape/);
  bad('two circles above a square', /single object on each side/);
  bad('three circles and two squares', /at most 4/);
  bad('a red circle touching a red square', /different colours/);
  bad('a circle a square', /unexpected word 'a'/);
  bad('', /empty prompt/);
  const err = (() => { try { parsePrompt('a small blurple circle'); } catch (e) { return e as PromptError; } })()!;
  assert.equal(err.word, 'blurple');
  assert.equal(err.position, 2);
  assert.ok(err.expected.length >= 4);
});

test('vocabulary: enough shapes, colours far apart, words for a tokenizer', () => {
  assert.ok(SHAPES.length >= 4);
  assert.ok(COLORS.length >= 6);
  for (const a of COLORS) for (const b of COLORS) {
    if (a === b) continue;
    const [x, y] = [COLOR_RGB[a], COLOR_RGB[b]];
    assert.ok(Math.hypot(x[0] - y[0], x[1] - y[1], x[2] - y[2]) > 0.3, `${a} and ${b} are close`);
  }
  const words = worldWords();
  for (const w of ['circle', 'circles', 'striped', 'above', 'touching', 'not', 'two']) assert.ok(words.includes(w), w);
});
