// The shared checks of the Reward interface.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { checkImages, checkOutput, checkScale, toRgbImages, unscoredIndices } from '../../src/rewards/reward.js';

describe('reward checks', () => {
  test('checkImages: shape, prompts, finiteness, range; errors name the reward', () => {
    torch.tidy(() => {
      assert.equal(checkImages(torch.rand([2, 3, 4, 4]), ['a', 'b'], 'r'), 2);
      assert.throws(
        () => checkImages(torch.rand([2, 4, 4]), ['a', 'b'], 'clip'),
        /reward 'clip': images must have shape \[N, 3, H, W\], got \[2, 4, 4\]/,
      );
      assert.throws(() => checkImages(torch.rand([2, 1, 4, 4]), ['a', 'b'], 'r'), /shape \[N, 3, H, W\]/);
      assert.throws(() => checkImages(torch.rand([2, 3, 4, 4]), ['a'], 'r'), /reward 'r': 2 images but 1 prompts/);
      assert.throws(() => checkImages(torch.rand([1, 3, 4, 4]), [3 as unknown as string], 'r'), /prompts\[0\] is not a string/);
      const nan = torch.full([1, 3, 2, 2], NaN);
      assert.throws(() => checkImages(nan, ['a'], 'aesthetic'), /reward 'aesthetic': images contain NaN or infinite values/);
      const inf = torch.full([1, 3, 2, 2], Infinity);
      assert.throws(() => checkImages(inf, ['a'], 'r'), /NaN or infinite/);
      const signed = torch.full([1, 3, 2, 2], -0.5);
      assert.equal(checkImages(signed, ['a'], 'r'), 1);
      assert.throws(() => checkImages(signed, ['a'], 'r', { unitRange: true }), /must lie in \[0, 1\]/);
      assert.throws(() => checkImages(torch.zeros([1, 3, 2, 2], { dtype: 'int32' }), ['a'], 'r'), /floating-point/);
      assert.equal(checkImages(torch.zeros([0, 3, 2, 2]), [], 'r'), 0);
    });
    const d = torch.zeros([1, 3, 2, 2]);
    d.dispose();
    assert.throws(() => checkImages(d, ['a'], 'r'), /disposed/);
  });

  test('checkOutput and checkScale', () => {
    checkOutput({ scores: [1, NaN], unscored: [false, true] }, 2, 'r');
    assert.throws(() => checkOutput({ scores: [1] }, 2, 'r'), /returned 1 scores for 2 samples/);
    assert.throws(() => checkOutput({ scores: [1, NaN] }, 2, 'r'), /score 1 is NaN but the sample is not marked unscored/);
    assert.throws(() => checkOutput({ scores: [1, 2], details: [{}] }, 2, 'r'), /1 details/);
    assert.deepEqual(unscoredIndices({ scores: [NaN, 1, NaN], unscored: [true, false, true] }), [0, 2]);
    checkScale({ kind: 'normal', mean: 0, std: 1 }, 'r');
    assert.throws(() => checkScale({ kind: 'normal', mean: 0, std: 0 }, 'r'), /std > 0/);
    assert.throws(() => checkScale({ kind: 'range', min: 0, max: NaN }, 'r'), /min < max/);
  });

  test('toRgbImages copies [N, 3, H, W] into CHW arrays, also from a tensor with a graph', () => {
    const before = torch.memory().tensors;
    const imgs = torch.tidy(() => {
      const x = torch.arange(0, 24).reshape(2, 3, 2, 2).float().div(24).requiresGrad_();
      return toRgbImages(x.mul(1));
    });
    assert.equal(torch.memory().tensors, before);
    assert.equal(imgs.length, 2);
    assert.equal(imgs[1]!.width, 2);
    assert.equal(imgs[1]!.height, 2);
    assert.equal(imgs[1]!.data.length, 12);
    assert.ok(Math.abs(imgs[1]!.data[0]! - 12 / 24) < 1e-7);
  });
});
