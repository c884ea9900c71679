import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCheck, CHECK_TARGETS } from '../../src/world/check.js';
import { evaluateImage, detectObjects } from '../../src/world/evaluate.js';
import { renderScene } from '../../src/world/render.js';
import { parsePrompt } from '../../src/world/grammar.js';
import { createImage } from '../../src/world/image.js';
import { degrade } from '../../src/world/degrade.js';
import { Rng } from '../../src/world/rng.js';

test('evaluator: the measurements of the issue hold on a sample of the test split', () => {
  const rep = runCheck({ perCategory: 12 });
  for (const r of rep.categories) {
    assert.equal(r.n, 12);
    assert.ok(r.groundTruth >= CHECK_TARGETS.groundTruth, `${r.category}: ground truth ${r.groundTruth}`);
    assert.ok(r.swappedRejection >= CHECK_TARGETS.swappedRejection, `${r.category}: swapped ${r.swappedRejection}`);
    assert.ok(r.blankScore <= CHECK_TARGETS.blankNoiseMax, `${r.category}: blank ${r.blankScore}`);
    assert.ok(r.noiseScore <= CHECK_TARGETS.blankNoiseMax, `${r.category}: noise ${r.noiseScore}`);
    assert.ok(r.degraded >= CHECK_TARGETS.degraded, `${r.category}: degraded ${r.degraded}`);
  }
});

test('evaluator: a breakdown per check, read from the pixels alone', () => {
  const prompt = 'a small red striped circle above a large blue square';
  const { image } = renderScene(parsePrompt(prompt), 5);
  const ev = evaluateImage(image, prompt, 'complex');
  assert.equal(ev.pass, true);
  assert.equal(ev.score, 1);
  assert.deepEqual(ev.checks.map((c) => c.kind), ['found', 'shape', 'color', 'size', 'texture', 'found', 'shape', 'color', 'size', 'relation']);
  // the same pixels against other prompts
  const wrong = evaluateImage(image, 'a small green striped circle below a large blue square');
  assert.equal(wrong.pass, false);
  assert.deepEqual(wrong.checks.filter((c) => !c.ok).map((c) => c.kind), ['color', 'relation']);
  assert.ok(wrong.score > 0.7 && wrong.score < 1);
  const missing = evaluateImage(image, 'a red circle above a blue square and a yellow triangle');
  const tri = missing.checks.filter((c) => c.entity === 2);
  assert.ok(tri.every((c) => !c.ok) && tri[0]!.observed === null);
});

test('evaluator: counts, touching, and blank images', () => {
  const counted = 'three green diamonds and a red circle';
  for (let seed = 0; seed < 5; seed++) {
    const img = renderScene(parsePrompt(counted), seed).image;
    assert.equal(evaluateImage(img, counted).pass, true);
    assert.equal(evaluateImage(img, 'two green diamonds and a red circle').pass, false);
  }
  const touch = 'a yellow square touching a purple triangle';
  for (let seed = 0; seed < 5; seed++) {
    const img = renderScene(parsePrompt(touch), seed).image;
    assert.equal(evaluateImage(img, touch).pass, true, `seed ${seed}`);
    assert.equal(evaluateImage(img, 'a yellow square not touching a purple triangle').pass, false);
    assert.equal(evaluateImage(degrade(img, new Rng(seed)), touch).pass, true, `degraded, seed ${seed}`);
  }
  assert.equal(detectObjects(createImage(32, 32, [1, 1, 1])).objects.length, 0);
  assert.equal(evaluateImage(createImage(32, 32, [0.5, 0.5, 0.5]), 'a red circle').score, 0);
});
