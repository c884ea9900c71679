// The small CLIP (src/models/clip-model.ts) and its training (src/train/train-clip.ts) on a tiny config:
// shapes and normalisation, the score, a few contrastive steps lower the loss, gradients reach the
// images, save/load round trip, exact resume, and clear errors.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { ClipModel, clipConfigFor } from '../../src/models/clip-model.js';
import { tinyClip, tinyClipArch } from '../helpers/tiny-clip.js';
import {
  ClipBatchSource, ClipTrainConfigSchema, clipContrastiveLoss, compatibilityMask, trainClip, type ClipTrainConfig,
} from '../../src/train/train-clip.js';
import { hardNegativeAccuracy, renderHeldOut } from '../../src/train/clip-measure.js';
import { AdamW } from '../../src/optim/index.js';
import { loadSplit } from '../../src/world/splits.js';
import { worldWords } from '../../src/world/vocab.js';

const DATA: ClipTrainConfig['data'] = { hardNegatives: 2, negativeFocus: 0.5, degradeProb: 0.5, blurMax: 1, noiseMax: 0.05, shiftMax: 0.04 };

function tinyTrainConfig(dir: string, steps: number): ClipTrainConfig {
  return ClipTrainConfigSchema.parse({
    seed: 3,
    model: tinyClipArch,
    data: DATA,
    train: { batchSize: 6, steps, lr: 0.003, warmupSteps: 1, minLr: 0.0001, weightDecay: 0.01, gradClip: 1 },
    eval: { perCategory: 2, negatives: 2, seed: 1, basePerCategory: 0 },
    output: { dir, logEvery: 1, checkpointEvery: 1 },
  });
}

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol: number) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

describe('ClipModel', () => {
  test('embeddings are [N, D] and unit-norm; score is 100·cos; other image sizes are resized', () => {
    const m = tinyClip();
    m.eval();
    torch.tidy(() => {
      const x = torch.rand([3, 3, 16, 16]);
      const I = m.encodeImages(x);
      const T = m.encodeText(['a red circle', 'a blue square above a green circle', 'two red triangles']);
      assert.deepEqual(I.shape, [3, 16]);
      assert.deepEqual(T.shape, [3, 16]);
      close(I.norm(2, 1).toFloat32Array(), [1, 1, 1], 1e-5);
      close(T.norm(2, 1).toFloat32Array(), [1, 1, 1], 1e-5);
      const s = m.score(x, ['a red circle', 'a blue square above a green circle', 'two red triangles']);
      close(s.toFloat32Array(), I.mul(T).sum(1).mul(100).toFloat32Array(), 1e-3);
      // 32×32 is averaged down to 16×16
      const big = torch.F.interpolate(x, { size: 32, mode: 'nearest' });
      close(m.encodeImages(big).toFloat32Array(), I.toFloat32Array(), 1e-4);
      assert.deepEqual(m.encodeImages(torch.rand([2, 3, 20, 20])).shape, [2, 16]);
      // an image's embedding does not depend on the rest of the batch (GroupNorm, no BatchNorm)
      close(m.encodeImages(x.narrow(0, 1, 1)).toFloat32Array(), I.narrow(0, 1, 1).toFloat32Array(), 1e-5);
      assert.deepEqual(m.encodeText([]).shape, [0, 16]);
    });
    assert.equal(m.embedDim, 16);
    m.dispose();
  });

  test('bad inputs are clear errors', () => {
    const m = tinyClip();
    const x = torch.rand([2, 1, 16, 16]);
    assert.throws(() => m.encodeImages(x), /\[N, 3, H, W\], got \[2, 1, 16, 16\]/);
    const y = torch.rand([2, 3, 16, 16]);
    assert.throws(() => m.score(y, ['a red circle']), /2 images but 1 prompts/);
    assert.throws(() => m.encodeText([1 as unknown as string]), /array of strings/);
    assert.throws(() => m.encodeImages(torch.zeros([1, 3, 16, 16], { dtype: 'int64' })), /floating point/);
    assert.throws(() => new ClipModel({ ...clipConfigFor(tinyClipArch, worldWords()), embedDim: 0 }), /embedDim/);
    assert.throws(() => new ClipModel(clipConfigFor({ ...tinyClipArch, vision: { ...tinyClipArch.vision, groups: 3 } }, worldWords())), /not divisible into 3 groups/);
    for (const t of [x, y]) t.dispose();
    m.dispose();
  });

  test('the gradient of the score reaches the images', () => {
    const m = tinyClip();
    m.eval();
    const x = torch.rand([2, 3, 16, 16]);
    x.requiresGrad = true;
    torch.tidy(() => m.score(x, ['a red circle', 'a blue square']).sum().backward());
    const g = x.grad;
    assert.ok(g, 'images have a gradient');
    const norm = torch.tidy(() => g!.abs().sum().item());
    assert.ok(norm > 0 && Number.isFinite(norm), `gradient norm ${norm}`);
    x.dispose();
    m.dispose();
  });

  test('save and load round-trip; a missing or broken checkpoint is a clear error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clip-'));
    try {
      const m = tinyClip(5);
      m.eval();
      const x = torch.rand([2, 3, 16, 16]);
      const before = torch.tidy(() => m.score(x, ['a red circle', 'two blue squares']).toFloat32Array());
      await m.save(join(dir, 'c'), { extra: { note: 1 } });
      const l = await ClipModel.load(join(dir, 'c'));
      const after = torch.tidy(() => l.score(x, ['a red circle', 'two blue squares']).toFloat32Array());
      close(after, before, 1e-5);
      assert.equal(l.training, false);
      assert.deepEqual((await ClipModel.readConfig(join(dir, 'c'))).extra, { note: 1 });
      x.dispose();
      l.dispose();
      m.dispose();
      await assert.rejects(ClipModel.load(join(dir, 'nope')), /CLIP checkpoint .*nope not found \(train one with: npx sharpen train-clip/);
      const cfg = JSON.parse(readFileSync(join(dir, 'c', 'config.json'), 'utf8'));
      cfg.embedDim = 32;
      writeFileSync(join(dir, 'c', 'config.json'), JSON.stringify(cfg));
      await assert.rejects(ClipModel.load(join(dir, 'c')), /visual_projection\.weight/);
      writeFileSync(join(dir, 'c', 'config.json'), '{ nope');
      await assert.rejects(ClipModel.load(join(dir, 'c')), /config\.json is not valid JSON/);
      rmSync(join(dir, 'c', 'model.safetensors'));
      writeFileSync(join(dir, 'c', 'config.json'), JSON.stringify({ ...cfg, embedDim: 16 }));
      await assert.rejects(ClipModel.load(join(dir, 'c')), /model\.safetensors is missing/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CLIP training', () => {
  test('batches are deterministic, hold distinct prompts, K negatives each', () => {
    const recs = loadSplit('train').slice(0, 40);
    const src = new ClipBatchSource(recs, { seed: 1, imageSize: 16, data: DATA });
    const a = src.batch(4, 8);
    const b = src.batch(4, 8);
    assert.deepEqual(a.prompts, b.prompts);
    assert.deepEqual(a.negatives, b.negatives);
    close(a.images.toFloat32Array(), b.images.toFloat32Array(), 0);
    assert.equal(new Set(a.prompts).size, 8);
    assert.ok(a.negatives.every((n, i) => n.length === 2 && !n.includes(a.prompts[i]!)));
    assert.deepEqual(a.images.shape, [8, 3, 16, 16]);
    const c = src.batch(5, 8);
    assert.notDeepEqual(c.prompts, a.prompts);
    for (const t of [a.images, b.images, c.images]) t.dispose();
    assert.throws(() => src.batch(0, 41), /batch of 41 from only 40 prompts/);
  });

  test('a few contrastive steps on one batch lower the loss', () => {
    const m = tinyClip(1);
    const src = new ClipBatchSource(loadSplit('train').slice(0, 30), { seed: 2, imageSize: 16, data: DATA });
    const b = src.batch(0, 8);
    const mask = compatibilityMask(b.specs);
    const opt = new AdamW(m.parameters(), { lr: 0.003, weightDecay: 0 });
    const losses: number[] = [];
    for (let i = 0; i < 25; i++) {
      const r = clipContrastiveLoss(m, b.images, b.prompts, b.negatives, mask);
      torch.tidy(() => r.loss.backward());
      losses.push(r.loss.item());
      r.loss.dispose();
      opt.step();
      opt.zeroGrad();
    }
    assert.ok(losses[24]! < losses[0]! * 0.5, `loss ${losses[0]} → ${losses[24]}`);
    assert.throws(() => clipContrastiveLoss(m, b.images, b.prompts.slice(1), b.negatives), /8 images but 7 prompts/);
    assert.throws(() => clipContrastiveLoss(m, b.images, b.prompts, [[], ...b.negatives.slice(1)]), /same number of negatives/);
    b.images.dispose();
    m.dispose();
  });

  test('hard-negative accuracy is reported per category', () => {
    const m = tinyClip(2);
    m.eval();
    const recs = loadSplit('test').filter((_, i) => i % 150 < 2); // 2 per category
    const x = renderHeldOut(recs, 1, 16);
    const r = hardNegativeAccuracy(m, x, recs.map((r) => r.prompt), recs.map((r) => r.category), { negatives: 3, seed: 0 });
    x.dispose();
    assert.equal(r.overall.n, 12);
    assert.deepEqual(Object.keys(r.perCategory).sort(), ['color', 'complex', 'non-spatial', 'shape', 'spatial', 'texture']);
    assert.ok(Object.values(r.perCategory).every((g) => g.n === 2 && g.accuracy >= 0 && g.accuracy <= 1));
    assert.equal(r.correct.length, 12);
    m.dispose();
  });

  test('training resumes exactly from its checkpoint', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clip-train-'));
    try {
      const recs = loadSplit('train').slice(0, 50);
      const words = worldWords();
      const straight = await trainClip(tinyTrainConfig(join(dir, 'a'), 2), recs, words, { log: () => {}, progress: false });
      const first = await trainClip(tinyTrainConfig(join(dir, 'b'), 2), recs, words, { log: () => {}, progress: false, stopAfter: 1 });
      assert.equal(first.finished, false);
      assert.equal(first.step, 1);
      first.model.dispose();
      const logs: string[] = [];
      const resumed = await trainClip(tinyTrainConfig(join(dir, 'b'), 2), recs, words, { log: (m) => logs.push(m), progress: false });
      assert.match(logs.join('\n'), /resumed from .* at step 1/);
      assert.equal(resumed.finished, true);
      const a = straight.model.stateDict();
      const b = resumed.model.stateDict();
      for (const k of Object.keys(a)) close(b[k]!.toFloat32Array(), a[k]!.toFloat32Array(), 1e-6);
      const lines = readFileSync(join(dir, 'b', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => l.step), [1, 2]);
      straight.model.dispose();
      resumed.model.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the config rejects unknown keys and bad values', () => {
    const good = tinyTrainConfig('/tmp/x', 1);
    assert.throws(() => ClipTrainConfigSchema.parse({ ...good, extra: 1 }), /extra/);
    assert.throws(() => ClipTrainConfigSchema.parse({ ...good, train: { ...good.train, batchSize: 1 } }), /batchSize/);
  });
});
