import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../../src/torch/index.js';
import { TextToImageModel } from '../../../src/models/t2i.js';
import { noiseSchedule } from '../../../src/models/generate.js';
import { AdamW } from '../../../src/optim/index.js';
import { createImage, writePng } from '../../../src/world/image.js';
import { diffusionDpoLoss, rewardRankedPairs, PreferencePairFile } from '../../../src/train/methods/diffusion-dpo.js';
import { tinyConfig } from '../../helpers/tiny-model.js';
import { PROMPTS, colourModel, frozenCopy, redness, sampleRedness } from './baseline-helpers.js';

torch.setNumThreads(1); // a long job shares this machine; the model is tiny

const x = (n: number) => torch.rand([n, 3, 8, 8]).mul(2).sub(1);

test('Diffusion-DPO: the loss is log 2 when the policy equals the reference, and matches eq. 14 by hand', () => {
  torch.manualSeed(0);
  const m = new TextToImageModel(tinyConfig());
  const ref = frozenCopy(m);
  const schedule = noiseSchedule(m);
  const batch = { xw: x(3), xl: x(3), prompts: ['a red circle', 'a blue square', 'a small circle'] };
  const r = diffusionDpoLoss(m, ref, schedule, batch);
  assert.ok(Math.abs(r.loss.item() - Math.log(2)) < 1e-6, `${r.loss.item()}`);
  assert.equal(r.logs.pairs, 3);
  r.loss.dispose();

  // a different policy: the loss by hand, with the same t and ε for x_w and x_l
  torch.manualSeed(5);
  const other = new TextToImageModel(tinyConfig());
  const t = [10, 500, 990];
  const noise = torch.randn([3, 3, 8, 8]);
  const beta = 40;
  const got = diffusionDpoLoss(other, ref, schedule, batch, { beta }, { t, noise });
  const want = torch.noGrad(() => torch.tidy(() => {
    const tt = torch.tensor(t).long();
    const l = (mod: TextToImageModel, x0: torch.Tensor) =>
      mod.predict(schedule.addNoise(x0, noise, tt), tt, mod.encode(batch.prompts)).sub(noise).square().mean([1, 2, 3]);
    const inside = l(ref, batch.xw).sub(l(ref, batch.xl)).sub(l(other, batch.xw).sub(l(other, batch.xl))).mul(beta);
    return torch.F.logsigmoid(inside).neg().mean().item();
  }));
  assert.ok(Math.abs(got.loss.item() - want) < 1e-5, `${got.loss.item()} vs ${want}`);
  assert.ok(Math.abs(got.loss.item() - Math.log(2)) > 1e-3); // not trivially log 2
  got.loss.dispose();
  assert.throws(() => diffusionDpoLoss(m, ref, schedule, { ...batch, prompts: ['a'] }), /1 prompts for 3 pairs/);
  assert.throws(() => diffusionDpoLoss(m, ref, schedule, batch, { beta: 0 }), /beta must be a positive number/);
  assert.throws(() => diffusionDpoLoss(m, ref, schedule, batch, {}, { t: [1, 2, 1000], noise }), /outside \[0, 999\]/);
  for (const mod of [m, ref, other]) mod.dispose();
  schedule.dispose();
});

test('Diffusion-DPO: a gradient step lowers L_w − L_l against the reference; ties (weight 0) carry no gradient', () => {
  torch.manualSeed(1);
  const m = new TextToImageModel(tinyConfig());
  m.textEncoder.requiresGrad_(false);
  const ref = frozenCopy(m);
  const schedule = noiseSchedule(m);
  const batch = { xw: x(4), xl: x(4), prompts: ['a red circle', 'a blue square', 'a small circle', 'a red square'] };
  const draws = { t: [100, 300, 600, 900], noise: torch.randn([4, 3, 8, 8]) };
  const before = diffusionDpoLoss(m, ref, schedule, batch, {}, draws);
  const opt = new AdamW(m.unet.parameters(), { lr: 1e-4, weightDecay: 0 });
  before.loss.backward();
  opt.step();
  opt.zeroGrad();
  const after = diffusionDpoLoss(m, ref, schedule, batch, {}, draws);
  assert.ok(after.logs.modelDiff < before.logs.modelDiff, `L_w − L_l ${before.logs.modelDiff} → ${after.logs.modelDiff}`);
  assert.ok(after.loss.item() < before.loss.item());
  assert.ok(after.logs.implicitAccuracy > 0.5);
  // every pair a tie: loss 0, and a zero gradient
  const ties = diffusionDpoLoss(m, ref, schedule, { ...batch, weights: [0, 0, 0, 0] }, {}, draws);
  assert.equal(ties.loss.item(), 0);
  assert.equal(ties.logs.pairs, 0);
  ties.loss.backward();
  const gmax = Math.max(...m.unet.parameters().map((p) => (p.grad ? p.grad.abs().max().item() : 0)));
  assert.equal(gmax, 0);
  for (const t of [before.loss, after.loss, ties.loss]) t.dispose();
  m.dispose();
  ref.dispose();
  schedule.dispose();
});

test('rewardRankedPairs: the best against the worst of k samples per prompt; all-equal rewards get weight 0', async () => {
  torch.manualSeed(2);
  const m = new TextToImageModel(tinyConfig());
  const prompts = ['a red circle', 'a blue square'];
  // rewards by call order: prompt 0 → [1, 5, 3], prompt 1 → [2, 2, 2]
  const table = [1, 5, 3, 2, 2, 2];
  let seen: torch.Tensor | null = null;
  const r = await rewardRankedPairs(m, prompts, async (images) => {
    seen = images.mul(2).sub(1);
    return table;
  }, { k: 3, steps: 3 });
  assert.deepEqual(r.batch.weights, [1, 0]);
  assert.equal(r.logs.ties, 1);
  assert.equal(r.logs.rewardBest, (5 + 2) / 2);
  assert.equal(r.logs.rewardWorst, (1 + 2) / 2);
  // x_w of prompt 0 is its sample 1, x_l its sample 0
  const d = torch.tidy(() => r.batch.xw.narrow(0, 0, 1).sub(seen!.narrow(0, 1, 1)).abs().max().item()
    + r.batch.xl.narrow(0, 0, 1).sub(seen!.narrow(0, 0, 1)).abs().max().item());
  assert.ok(d < 1e-6);
  await assert.rejects(rewardRankedPairs(m, prompts, async () => [1, 2, 3, 4, 5, NaN], { k: 3, steps: 3 }), /reward is NaN for sample 2 of prompt "a blue square"/);
  await assert.rejects(rewardRankedPairs(m, prompts, async () => [1], { k: 1, steps: 3 }), /k must be an integer ≥ 2/);
  r.batch.xw.dispose();
  r.batch.xl.dispose();
  (seen as torch.Tensor | null)?.dispose();
  m.dispose();
});

test('PreferencePairFile: pairs of the label format by position, ties skipped, the winner first; size checked', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dpo-pairs-'));
  const grey = (v: number, name: string, size = 8) => {
    writePng(join(dir, name), createImage(size, size, [v, v, v]));
    return name;
  };
  const time = '2026-01-01T00:00:00Z';
  const lines = [
    { prompt: 'p0', imageA: grey(0.1, 'a0.png'), imageB: grey(0.9, 'b0.png'), choice: 'A', annotator: 'test', time },
    { prompt: 'p1', imageA: grey(0.2, 'a1.png'), imageB: grey(0.8, 'b1.png'), choice: 'B', annotator: 'test', time },
    { prompt: 'p2', imageA: grey(0.3, 'a2.png'), imageB: grey(0.7, 'b2.png'), choice: 'tie', annotator: 'test', time },
  ];
  writeFileSync(join(dir, 'pairs.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const f = new PreferencePairFile(join(dir, 'pairs.jsonl'), 8, 0);
  assert.equal(f.length, 2);
  assert.equal(f.ties, 1);
  // one epoch of positions 0 and 1 (size 1) covers both pairs once
  const seen = new Map<string, number[]>();
  for (const pos of [0, 1]) {
    const b = f.batchAt(pos, 1);
    seen.set(b.prompts[0]!, [b.xw.mean().item(), b.xl.mean().item()]);
    b.xw.dispose();
    b.xl.dispose();
  }
  const near = (a: number, b: number) => Math.abs(a - b) < 0.01;
  const p0 = seen.get('p0')!;
  const p1 = seen.get('p1')!;
  assert.ok(near(p0[0]!, 0.1 * 2 - 1) && near(p0[1]!, 0.9 * 2 - 1), `p0 ${p0}`); // A chosen
  assert.ok(near(p1[0]!, 0.8 * 2 - 1) && near(p1[1]!, 0.2 * 2 - 1), `p1 ${p1}`); // B chosen
  // the same position gives the same batch
  const a = f.batchAt(5, 2);
  const b = f.batchAt(5, 2);
  assert.deepEqual(a.prompts, b.prompts);
  for (const t of [a.xw, a.xl, b.xw, b.xl]) t.dispose();
  assert.throws(() => new PreferencePairFile(join(dir, 'pairs.jsonl'), 16).batchAt(0, 1), /is 8×8, the model makes 16×16/);
  writeFileSync(join(dir, 'ties.jsonl'), JSON.stringify(lines[2]) + '\n');
  assert.throws(() => new PreferencePairFile(join(dir, 'ties.jsonl'), 8), /no usable pairs/);
});

test('Diffusion-DPO raises its reward (redness) on the tiny colour model, from pairs of the base ranked by it', async (t) => {
  const m = colourModel(3);
  const ref = frozenCopy(m);
  const schedule = noiseSchedule(m);
  const start = await sampleRedness(m);
  torch.manualSeed(11);
  const opt = new AdamW(m.unet.parameters(), { lr: 1e-3, weightDecay: 0 });
  for (let it = 0; it < 25; it++) {
    const prompts = Array.from({ length: 8 }, (_, j) => PROMPTS[(it * 8 + j) % PROMPTS.length]!);
    const pairs = await rewardRankedPairs(ref, prompts, redness, { k: 4, steps: 6 }); // offline: the base's samples
    const r = diffusionDpoLoss(m, ref, schedule, pairs.batch);
    r.loss.backward();
    r.loss.dispose();
    pairs.batch.xw.dispose();
    pairs.batch.xl.dispose();
    opt.step();
    opt.zeroGrad();
  }
  const end = await sampleRedness(m);
  t.diagnostic(`redness of fixed-noise samples ${start.toFixed(4)} → ${end.toFixed(4)}`);
  assert.ok(end > start + 0.1, `redness ${start.toFixed(4)} → ${end.toFixed(4)}`);
  m.dispose();
  ref.dispose();
  schedule.dispose();
});
