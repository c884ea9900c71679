import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { AestheticHead, pearson, spearman } from '../../src/models/aesthetic.js';
import { trainAesthetic, AESTHETIC_TRAIN_DEFAULTS, embedImages } from '../../src/train/reward-models.js';
import { AestheticReward } from '../../src/rewards/aesthetic.js';
import { FakeClip } from './fake-clip.js';

// tiny models gain nothing from threads (and suffer from them on a busy machine)
torch.setNumThreads(1);

test('pearson and spearman: known values, ties, constant input', () => {
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [2, 4, 6, 8]) - 1) < 1e-12);
  assert.ok(Math.abs(pearson([1, 2, 3], [3, 2, 1]) + 1) < 1e-12);
  // x vs x³ is monotone: Spearman 1, Pearson below 1
  const x = [-2, -1, 0, 1, 2, 3];
  const y = x.map((v) => v ** 3);
  assert.ok(Math.abs(spearman(x, y) - 1) < 1e-12);
  assert.ok(pearson(x, y) < 0.99);
  // ties get average ranks: ranks [1.5, 1.5, 3] vs [1, 2, 3]
  assert.ok(Math.abs(spearman([1, 1, 2], [1, 2, 3]) - pearson([1.5, 1.5, 3], [1, 2, 3])) < 1e-12);
  assert.ok(Number.isNaN(pearson([1, 1, 1], [1, 2, 3])));
  assert.throws(() => pearson([1, 2], [1]), /lengths/);
});

test('aesthetic head: fits synthetic ratings of embeddings and generalises to held-out ones', () => {
  torch.manualSeed(0);
  const M = 400;
  const D = 16;
  const emb = torch.randn([M, D]);
  const w = torch.randn([D]);
  // the rating depends on the direction of the embedding (the head sees it L2-normalised)
  const ratings = torch.noGrad(() => torch.tidy(() => emb.div(emb.norm(2, [1], true)).matmul(w).tanh().mul(3).add(5.5).toFloat32Array()));
  const heldOut = Array.from({ length: M }, (_, i) => i % 5 === 0);
  const epochs: Record<string, number>[] = [];
  const r = trainAesthetic(emb, ratings, heldOut, { ...AESTHETIC_TRAIN_DEFAULTS, epochs: 60, batchSize: 32, hidden: [32, 16], dropout: 0 }, { dir: '../clip', sha256: 'b'.repeat(64) }, {
    onEpoch: (rec) => epochs.push(rec),
  });
  assert.equal(epochs.length, 6);
  assert.equal(r.metrics.heldOutImages, 80);
  assert.ok(r.metrics.heldOutPearson > 0.9, `held-out Pearson ${r.metrics.heldOutPearson}`);
  assert.ok(r.metrics.heldOutSpearman > 0.85, `held-out Spearman ${r.metrics.heldOutSpearman}`);
  assert.ok(r.metrics.heldOutMse < 0.3 * r.metrics.heldOutMseOfMean, `MSE ${r.metrics.heldOutMse} vs predicting the mean ${r.metrics.heldOutMseOfMean}`);
  // predictions come out on the ratings' scale
  const p = torch.noGrad(() => r.head.forward(emb.narrow(0, 0, 50)).toFloat32Array());
  const mean = p.reduce((s, v) => s + v, 0) / p.length;
  assert.ok(mean > 3 && mean < 8, `mean prediction ${mean}`);
  assert.throws(() => r.head.forward(torch.randn([2, D + 1])), /expected embeddings \[N, 16\]/);
  assert.throws(() => trainAesthetic(emb, ratings.slice(1), heldOut, AESTHETIC_TRAIN_DEFAULTS, { dir: '.', sha256: 'b'.repeat(64) }), /400 embeddings for 399 ratings/);
  r.head.dispose();
  emb.dispose();
  w.dispose();
});

test('aesthetic reward: range [1, 10], save/load, differentiable through the embedder', async () => {
  const clip = new FakeClip(16);
  torch.manualSeed(3);
  const images = torch.rand([40, 3, 16, 16]);
  // synthetic taste: brighter is better
  const ratings = torch.noGrad(() => torch.tidy(() => images.mean([1, 2, 3]).sub(0.5).mul(40).add(5.5).clamp(1, 10).toFloat32Array()));
  const emb = embedImages(clip, images, 16);
  assert.deepEqual(emb.shape, [40, 16]);
  const r = trainAesthetic(emb, ratings, new Array<boolean>(40).fill(false), { ...AESTHETIC_TRAIN_DEFAULTS, epochs: 30, batchSize: 8, hidden: [16], dropout: 0 }, { dir: '../clip', sha256: 'c'.repeat(64) });
  const dir = mkdtempSync(join(tmpdir(), 'aes-'));
  try {
    await r.head.save(join(dir, 'head'), { note: 'test' });
    const head = await AestheticHead.load(join(dir, 'head'));
    const reward = new AestheticReward(head, clip, { batchSize: 7 });
    assert.deepEqual(reward.scale, { kind: 'range', min: 1, max: 10 });
    const extreme = torch.cat([images.narrow(0, 0, 10), torch.zeros([2, 3, 16, 16]), torch.ones([2, 3, 16, 16])]);
    const prompts = new Array<string>(14).fill('ignored');
    const out = await reward.score(extreme, prompts);
    assert.equal(out.scores.length, 14);
    for (const v of out.scores) assert.ok(v >= 1 && v <= 10, `score ${v}`);
    const direct = torch.noGrad(() => r.head.forward(clip.encodeImages(extreme.narrow(0, 0, 10))).clamp(1, 10).toFloat32Array());
    for (let i = 0; i < 10; i++) assert.ok(Math.abs(out.scores[i]! - direct[i]!) < 1e-4);
    // the learned taste: white beats black
    assert.ok(out.scores[13]! > out.scores[11]!, `white ${out.scores[13]} vs black ${out.scores[11]}`);
    const x = images.narrow(0, 0, 4).clone().requiresGrad_(true);
    reward.scoreDifferentiable(x, prompts.slice(0, 4)).sum().backward();
    assert.ok(x.grad!.abs().sum().item() > 0);
    x.dispose();
    await assert.rejects(reward.score(images.narrow(0, 0, 2), ['a']), /2 images but 1 prompts/);
    assert.throws(() => new AestheticReward(head, new FakeClip(8)), /embeds in 8 dimensions, the head expects 16/);
    head.dispose();
    // a bad checkpoint is an error naming the file
    mkdirSync(join(dir, 'bad'));
    writeFileSync(join(dir, 'bad', 'config.json'), '{"format": "sharpen-aesthetic/1"}');
    writeFileSync(join(dir, 'bad', 'model.safetensors'), '');
    await assert.rejects(AestheticHead.load(join(dir, 'bad')), /aesthetic checkpoint .*config\.json is invalid: embedDim/);
    await assert.rejects(AestheticReward.load({ ckpt: join(dir, 'nowhere') }), /config\.json is missing/);
    await assert.rejects(AestheticReward.load({ ckpt: dir, extra: 1 } as never), /Unrecognized key/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    r.head.dispose();
    emb.dispose();
    images.dispose();
    clip.dispose();
  }
});
