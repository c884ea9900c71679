import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorldStream } from '../../src/data/world-stream.js';
import { toTensorBatch } from '../../src/data/to-tensor.js';

test('to-tensor: a world batch becomes a float32 [B, 3, H, W] tensor with the same values', () => {
  const batch = new WorldStream({ batchSize: 3, seed: 1 }).next();
  const t = toTensorBatch(batch);
  assert.deepEqual(t.images.shape, [3, 3, 32, 32]);
  assert.equal(t.images.dtype, 'float32');
  assert.deepEqual(t.images.toTypedArray(), batch.images);
  assert.deepEqual(t.prompts, batch.prompts);
  t.images.dispose();
});
