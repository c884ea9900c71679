// The 'compositional' reward: the world's evaluator as a Reward. Ground-truth renders score 1,
// blank images 0, an image scored against another prompt lower; categories are derived from the
// prompt or given; bad prompts and bad options are clear errors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { makeReward, rewardNames, CompositionalReward, type CompositionalDetail } from '../../src/rewards/index.js';
import { parsePrompt } from '../../src/world/grammar.js';
import { renderScene } from '../../src/world/render.js';

function renderBatch(prompts: string[], seed: number): torch.Tensor {
  const per = 3 * 32 * 32;
  const data = new Float32Array(prompts.length * per);
  prompts.forEach((p, i) => data.set(renderScene(parsePrompt(p), seed + i).image.data, i * per));
  return torch.fromTypedArray(data, [prompts.length, 3, 32, 32]);
}

const PROMPTS = [
  'a red circle and a blue square', // color
  'a large triangle and a small circle', // shape
  'a striped circle and a dotted blue square', // texture
  'a green circle to the left of a purple square', // spatial
  'two yellow triangles and a circle', // non-spatial
  'a small red striped circle above a large blue square', // complex
];

describe('compositional reward', () => {
  test('is registered and declares a [0, 1] range, not differentiable', async () => {
    assert.ok(rewardNames().includes('compositional'));
    const r = await makeReward('compositional');
    assert.equal(r.name, 'compositional');
    assert.equal(r.differentiable, false);
    assert.deepEqual(r.scale, { kind: 'range', min: 0, max: 1 });
  });

  test('ground-truth renders score 1 with every check passed; categories are derived', async () => {
    const r = await makeReward('compositional');
    const x = renderBatch(PROMPTS, 100);
    const out = await r.score(x, PROMPTS);
    x.dispose();
    assert.deepEqual(out.scores, PROMPTS.map(() => 1));
    const d = out.details as CompositionalDetail[];
    assert.deepEqual(d.map((e) => e.category), ['color', 'shape', 'texture', 'spatial', 'non-spatial', 'complex']);
    for (const e of d) {
      assert.equal(e.pass, true);
      assert.equal(e.passed, e.total);
      assert.ok(e.total >= 2 && e.checks.every((c) => c.ok));
    }
  });

  test('a blank image scores 0; an image scored against a different prompt scores lower', async () => {
    const r = new CompositionalReward();
    const blank = torch.full([1, 3, 32, 32], 0.93);
    const b = await r.score(blank, [PROMPTS[0]!]);
    blank.dispose();
    assert.equal(b.scores[0], 0);
    assert.equal((b.details![0] as CompositionalDetail).pass, false);

    // the same image, its own prompt vs. one with the colours swapped and one with other shapes
    const own = 'a red circle to the left of a blue square';
    const x = renderBatch([own, own, own], 7);
    const wrong = ['a blue circle to the left of a red square', 'a red triangle to the left of a blue diamond'];
    // the three copies are different renders (seeds 7, 8, 9); score each against each prompt
    const out = await r.score(x, [own, ...wrong]);
    x.dispose();
    assert.equal(out.scores[0], 1);
    assert.ok(out.scores[1]! < 0.75, `colour-swapped prompt scored ${out.scores[1]}`);
    assert.ok(out.scores[2]! < 0.75, `shape-swapped prompt scored ${out.scores[2]}`);
  });

  test('the category can be given by option and is reported; the score does not depend on it', async () => {
    const r = await makeReward('compositional', { category: 'complex' });
    const x = renderBatch([PROMPTS[0]!], 3);
    const out = await r.score(x, [PROMPTS[0]!]);
    x.dispose();
    assert.equal((out.details![0] as CompositionalDetail).category, 'complex');
    assert.equal(out.scores[0], 1);
  });

  test('bad prompts, images and options are clear errors', async () => {
    const r = new CompositionalReward();
    const x = torch.full([2, 3, 32, 32], 0.5);
    await assert.rejects(r.score(x, ['a red circle', 'a fluffy cat']), /prompt 1 is not in the world's grammar: unknown word 'fluffy'/);
    await assert.rejects(r.score(x, ['a red circle']), /2 images but 1 prompts/);
    const y = torch.full([1, 3, 32, 32], -0.5);
    await assert.rejects(r.score(y, ['a red circle']), /\[0, 1\]/);
    x.dispose();
    y.dispose();
    await assert.rejects(makeReward('compositional', { category: 'colour' }), /category/);
    await assert.rejects(makeReward('compositional', { nope: 1 }), /nope/);
  });
});
