// The 'clip' reward: loads a CLIP checkpoint by option (the shipped one by default), scores
// 100·cos, is differentiable with a gradient to the images, declares its scale from the
// checkpoint's measured statistics, and fails clearly on a missing checkpoint or bad input.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { makeReward, rewardNames, ClipReward, defaultClipCheckpoint } from '../../src/rewards/index.js';
import { ClipModel } from '../../src/models/clip-model.js';
import { tinyClip } from '../helpers/tiny-clip.js';
import { loadSplit } from '../../src/world/splits.js';
import { hardNegatives } from '../../src/world/negatives.js';
import { renderHeldOut } from '../../src/train/clip-measure.js';
import { Rng } from '../../src/world/rng.js';

let dir = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'clip-reward-'));
  const m = tinyClip(4);
  await m.save(join(dir, 'plain'));
  await m.save(join(dir, 'stats'), { extra: { scoreStats: { mean: 12.5, std: 3.25 } } });
  await m.save(join(dir, 'badstats'), { extra: { scoreStats: { mean: 1, std: 0 } } });
  m.dispose();
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('clip reward', () => {
  test('is registered, differentiable, and scores 100·cos of the checkpoint', async () => {
    assert.ok(rewardNames().includes('clip'));
    const r = await makeReward('clip', { ckpt: join(dir, 'plain') });
    assert.equal(r.name, 'clip');
    assert.equal(r.differentiable, true);
    assert.deepEqual(r.scale, { kind: 'range', min: -100, max: 100 });
    const x = torch.rand([3, 3, 16, 16]);
    const prompts = ['a red circle', 'a blue square above a green circle', 'two yellow triangles'];
    const out = await r.score(x, prompts);
    const ref = await ClipModel.load(join(dir, 'plain'));
    const expect = torch.tidy(() => ref.score(x, prompts).toFloat32Array());
    assert.equal(out.scores.length, 3);
    out.scores.forEach((s, i) => assert.ok(Math.abs(s - expect[i]!) < 1e-3 && Math.abs(s) <= 100));
    // in batches of 2: the same scores
    const r2 = await makeReward('clip', { ckpt: join(dir, 'plain'), batchSize: 2 });
    (await r2.score(x, prompts)).scores.forEach((s, i) => assert.ok(Math.abs(s - out.scores[i]!) < 1e-4));
    x.dispose();
    ref.dispose();
    r.dispose?.();
    r2.dispose?.();
  });

  test('scoreDifferentiable has a gradient path to the images only (the CLIP is frozen)', async () => {
    const r = (await makeReward('clip', { ckpt: join(dir, 'plain') })) as ClipReward;
    const x = torch.rand([2, 3, 16, 16]);
    x.requiresGrad = true;
    const s = r.scoreDifferentiable(x, ['a red circle', 'a blue square']);
    assert.deepEqual(s.shape, [2]);
    const plain = (await r.score(x.detach(), ['a red circle', 'a blue square'])).scores;
    const d = s.toFloat32Array();
    plain.forEach((v, i) => assert.ok(Math.abs(v - d[i]!) < 1e-3));
    torch.tidy(() => s.sum().backward());
    const g = torch.tidy(() => x.grad!.abs().sum().item());
    assert.ok(g > 0 && Number.isFinite(g), `image gradient ${g}`);
    assert.ok(r.clip.parameters().every((p) => !p.requiresGrad && !p.grad), 'CLIP weights get no gradient');
    s.dispose();
    x.dispose();
    r.dispose();
  });

  test('declares the measured normal scale when the checkpoint carries it', async () => {
    const r = await makeReward('clip', { ckpt: join(dir, 'stats') });
    assert.deepEqual(r.scale, { kind: 'normal', mean: 12.5, std: 3.25 });
    r.dispose?.();
    await assert.rejects(makeReward('clip', { ckpt: join(dir, 'badstats') }), /scoreStats is unusable/);
  });

  test('a missing checkpoint, bad options and bad images are clear errors', async () => {
    await assert.rejects(makeReward('clip', { ckpt: join(dir, 'nope') }), /clip reward: CLIP checkpoint .*nope not found \(train one with: npx sharpen train-clip/);
    await assert.rejects(makeReward('clip', { ckpt: join(dir, 'plain'), batch: 3 }), /batch/);
    await assert.rejects(makeReward('clip', { batchSize: 0 }), /batchSize/);
    const r = await makeReward('clip', { ckpt: join(dir, 'plain') });
    const x = torch.rand([2, 3, 16, 16]);
    await assert.rejects(r.score(x, ['a red circle']), /2 images but 1 prompts/);
    const y = torch.rand([1, 3, 16, 16]).mul(2).sub(1);
    await assert.rejects(r.score(y, ['a red circle']), /\[0, 1\]/);
    assert.throws(() => r.scoreDifferentiable!(torch.rand([1, 4, 16, 16]), ['a red circle']), /\[N, 3, H, W\]/);
    for (const t of [x, y]) t.dispose();
    r.dispose?.();
  });

  test('the shipped checkpoint loads by default and prefers true prompts to hard negatives', async () => {
    assert.ok(existsSync(join(defaultClipCheckpoint(), 'model.safetensors')), `${defaultClipCheckpoint()} is shipped`);
    const r = await makeReward('clip');
    assert.equal(r.scale.kind, 'normal');
    const recs = loadSplit('test').filter((_, i) => i % 150 < 5); // 5 per category
    const x = renderHeldOut(recs, 123, 32);
    const own = (await r.score(x, recs.map((q) => q.prompt))).scores;
    const neg = (await r.score(x, recs.map((q, i) => hardNegatives(q.prompt, 1, new Rng(i), { category: q.category })[0]!.prompt))).scores;
    x.dispose();
    const wins = own.filter((s, i) => s > neg[i]!).length;
    assert.ok(wins >= 0.7 * recs.length, `true prompt beat its hard negative on ${wins}/${recs.length}`);
    r.dispose?.();
  });
});
