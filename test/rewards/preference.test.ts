import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { bradleyTerryLoss, choiceTarget, pairAgreement, PreferenceModel } from '../../src/models/preference.js';
import { trainPreference, swapLeftRight, PREFERENCE_TRAIN_DEFAULTS, type PairData } from '../../src/train/reward-models.js';
import { PreferenceReward, loadHeadClip } from '../../src/rewards/preference.js';
import { TextEncoder } from '../../src/models/text-encoder.js';
import { renderScene } from '../../src/world/render.js';
import { parsePrompt } from '../../src/world/grammar.js';
import { isHeldOut } from '../../src/data/preferences.js';
import { tinyConfig } from '../helpers/tiny-model.js';
import { FakeClip } from './fake-clip.js';

// tiny models gain nothing from threads, and on a busy machine OpenMP's spinning threads slow them
// down by an order of magnitude
torch.setNumThreads(1);

const f = (xs: number[]) => torch.fromTypedArray(Float32Array.from(xs));

test('Bradley–Terry: log 2 at equal scores for any target; the gradient raises the chosen score', () => {
  const s = f([0.3, -1.2, 2.0]);
  for (const y of [1, 0, 0.5]) {
    const l = bradleyTerryLoss(s, s.clone(), f([y, y, y]));
    assert.ok(Math.abs(l.item() - Math.log(2)) < 1e-6, `y=${y}: ${l.item()}`);
    l.dispose();
  }
  const grads = (y: number, a: number, b: number) => {
    const sA = torch.fromTypedArray(Float32Array.of(a)).requiresGrad_(true);
    const sB = torch.fromTypedArray(Float32Array.of(b)).requiresGrad_(true);
    bradleyTerryLoss(sA, sB, f([y])).backward();
    const g = [sA.grad!.item(), sB.grad!.item()];
    sA.dispose();
    sB.dispose();
    return g;
  };
  // dL/ds_A = σ(d) − y: A chosen → negative (descent raises s_A, lowers s_B); B chosen → the reverse
  const [gA1, gB1] = grads(1, 0, 0);
  assert.ok(Math.abs(gA1! + 0.5) < 1e-6 && Math.abs(gB1! - 0.5) < 1e-6);
  const [gA0] = grads(0, 0, 0);
  assert.ok(Math.abs(gA0! - 0.5) < 1e-6);
  // a tie pulls the scores together: zero at equal scores, toward the lower one otherwise
  assert.ok(Math.abs(grads(0.5, 0, 0)[0]!) < 1e-7);
  assert.ok(grads(0.5, 2, 0)[0]! > 0);
  // the value: −[y log σ(d) + (1 − y) log σ(−d)]
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const l = bradleyTerryLoss(f([1.5, -0.5]), f([0.5, 0.5]), f([1, 0.5]));
  const want = (-Math.log(sig(1)) - (0.5 * Math.log(sig(-1)) + 0.5 * Math.log(sig(1)))) / 2;
  assert.ok(Math.abs(l.item() - want) < 1e-6);
  assert.throws(() => bradleyTerryLoss(f([1, 2]), f([1]), f([1, 1])), /three \[P\] tensors/);
  assert.equal(choiceTarget('tie'), 0.5);
  assert.throws(() => choiceTarget('C' as never), /unknown choice/);
});

test('agreement: ties excluded, or counted as one half', () => {
  const r = pairAgreement([1, 0, 2, 0, 5], [0, 1, 1, 0, 5], ['A', 'A', 'B', 'tie', 'tie']);
  assert.equal(r.decided, 3);
  assert.ok(Math.abs(r.agreement - 1 / 3) < 1e-12);
  assert.ok(Math.abs(r.agreementTiesHalf - (1 + 0.5 + 0.5) / 5) < 1e-12);
});

// A synthetic preference that needs the prompt: for "a red circle" the red image wins, for "a blue
// circle" the blue one; the same two pictures, so only the text can tell.
function colourPairs(n: number): PairData {
  const imgs: Float32Array[] = [];
  const a: number[] = [], b: number[] = [], prompts: string[] = [], choices: ('A' | 'B' | 'tie')[] = [];
  for (let k = 0; k < n; k++) {
    const want = k % 2 ? 'red' : 'blue';
    const other = want === 'red' ? 'blue' : 'red';
    const good = renderScene(parsePrompt(`a ${want} circle`), 2 * k, { resolution: 16 }).image.data;
    const bad = renderScene(parsePrompt(`a ${other} circle`), 2 * k + 1, { resolution: 16 }).image.data;
    const goodFirst = (k >> 1) % 2 === 0;
    imgs.push(goodFirst ? good : bad, goodFirst ? bad : good);
    a.push(2 * k);
    b.push(2 * k + 1);
    // a few ties on identical preference strength (same-colour pairs are not made; ties are labels only)
    choices.push(k % 10 === 9 ? 'tie' : goodFirst ? 'A' : 'B');
    prompts.push(k % 5 === 4 ? `a small ${want} circle` : `a ${want} circle`);
  }
  const all = new Float32Array(imgs.length * 3 * 16 * 16);
  imgs.forEach((d, i) => all.set(d, i * d.length));
  return { images: torch.fromTypedArray(all, [imgs.length, 3, 16, 16]), a: Int32Array.from(a), b: Int32Array.from(b), prompts, choices, heldOut: prompts.map((_, k) => k % 8 === 0 || k % 8 === 5) };
}

function tinyText() {
  const cfg = tinyConfig();
  torch.manualSeed(1);
  const te = new TextEncoder(cfg.textEncoder);
  return { tokenizer: cfg.tokenizer, textEncoder: cfg.textEncoder, weights: te.stateDict(), te };
}

test('preference model (conv): a tiny model learns a prompt-dependent synthetic preference; save/load; the reward', async () => {
  const data = colourPairs(96);
  const text = tinyText();
  const epochs: Record<string, number>[] = [];
  const r = trainPreference(
    data,
    { ...PREFERENCE_TRAIN_DEFAULTS, epochs: 25, batchSize: 16, lr: 3e-3, conv: { channels: [8, 16], groups: 4 }, head: { hidden: 16, dropout: 0 } },
    { text, onEpoch: (rec) => epochs.push(rec) },
  );
  text.te.dispose();
  assert.equal(epochs.length, 25);
  assert.ok(epochs[24]!.loss! < epochs[0]!.loss!, `loss ${epochs[0]!.loss} → ${epochs[24]!.loss}`);
  assert.ok(r.metrics.heldOutAgreement >= 0.8, `held-out agreement ${r.metrics.heldOutAgreement}`);
  assert.equal(r.metrics.heldOutPairs, 24);
  assert.ok(r.config.standardize.std > 0);

  const dir = mkdtempSync(join(tmpdir(), 'pref-'));
  try {
    await r.model.save(dir, r.config, { note: 'test' });
    const reward = await PreferenceReward.load({ ckpt: dir, batchSize: 5 });
    assert.deepEqual(reward.scale, { kind: 'normal', mean: 0, std: 1 });
    const imgs = data.images.narrow(0, 0, 12);
    const prompts = Array.from({ length: 12 }, (_, i) => data.prompts[i >> 1]!);
    const out = await reward.score(imgs, prompts);
    const direct = torch.noGrad(() => r.model.standardize(r.model.forward(imgs, prompts)).toFloat32Array());
    out.scores.forEach((v, i) => assert.ok(Math.abs(v - direct[i]!) < 1e-4, `score ${i}: ${v} vs ${direct[i]}`));
    // differentiable: a gradient reaches the images
    const x = imgs.clone().requiresGrad_(true);
    reward.scoreDifferentiable(x, prompts).sum().backward();
    assert.ok(x.grad!.abs().sum().item() > 0);
    x.dispose();
    await assert.rejects(reward.score(imgs.mul(2).sub(1), prompts), /must lie in \[0, 1\]/);
    await assert.rejects(reward.score(imgs, prompts.slice(1)), /12 images but 11 prompts/);
    reward.dispose();
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...r.config, encoder: 'clip' }));
    await assert.rejects(PreferenceReward.load({ ckpt: dir }), /clip: required by encoder 'clip'/);
    await assert.rejects(PreferenceReward.load({ ckpt: dir, size: 3 } as never), /Unrecognized key/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    r.model.dispose();
    data.images.dispose();
  }
});

test('preference model (clip): a head on frozen embeddings learns the same preference', () => {
  const data = colourPairs(96);
  const clip = new FakeClip(16);
  const r = trainPreference(
    data,
    { ...PREFERENCE_TRAIN_DEFAULTS, encoder: 'clip', epochs: 150, batchSize: 16, lr: 3e-3, head: { hidden: 32, dropout: 0 } },
    { clip: { embedder: clip, dir: '../clip', sha256: '0'.repeat(64) } },
  );
  assert.ok(r.metrics.heldOutAgreement >= 0.9, `held-out agreement ${r.metrics.heldOutAgreement}`);
  assert.equal(r.config.clip!.embedDim, 16);
  // the full forward (through the embedder) equals the head on cached features
  const x = data.images.narrow(0, 0, 4);
  const p = ['a red circle', 'a red circle', 'a blue circle', 'a blue circle'];
  const full = torch.noGrad(() => r.model.forward(x, p).toFloat32Array());
  const cached = torch.noGrad(() => r.model.forwardClipFeatures(PreferenceModel.clipFeatures(clip.encodeImages(x), clip.encodeText(p))).toFloat32Array());
  full.forEach((v, i) => assert.ok(Math.abs(v - cached[i]!) < 1e-5));
  r.model.dispose();
  clip.dispose();
  data.images.dispose();
});

test('preference: a head refuses a CLIP whose weights differ from the ones it was trained on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'clipfp-'));
  try {
    writeFileSync(join(dir, 'model.safetensors'), 'not the weights');
    await assert.rejects(loadHeadClip(join(dir, 'head'), { dir: '..', sha256: 'a'.repeat(64) }, 'preference checkpoint'), /trained on the CLIP weights with SHA-256 aaaaaaaaaaaa…, but .* holds/);
    await assert.rejects(loadHeadClip(dir, { dir: 'missing', sha256: 'a'.repeat(64) }, 'x'), /model\.safetensors is missing/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('flip augmentation: the mirrored prompt swaps left and right and nothing else', () => {
  assert.equal(swapLeftRight('a red circle to the left of a blue square'), 'a red circle to the right of a blue square');
  assert.equal(swapLeftRight('a circle on the right of a square and a triangle left of a diamond'), 'a circle on the left of a square and a triangle right of a diamond');
  assert.equal(swapLeftRight('a green circle above a bright square'), 'a green circle above a bright square');
});

test('preference data: held-out prompts never train', () => {
  const prompts = ['a red circle', 'a blue square', 'two red circles'];
  for (const p of prompts) assert.equal(isHeldOut(p, 0.15), isHeldOut(p, 0.15));
  const data = colourPairs(8);
  data.heldOut = data.heldOut.map(() => true);
  assert.throws(() => trainPreference(data, { ...PREFERENCE_TRAIN_DEFAULTS, epochs: 1 }, { text: tinyText() }), /no training pairs/);
  data.images.dispose();
});

test('label generation: pairs of samples, labelled and rated, in the loader format; deterministic for a seed', async () => {
  const { TextToImageModel } = await import('../../src/models/t2i.js');
  const { generateLabels, parseSamplingMix } = await import('../../src/rewards/label-generation.js');
  const { readPreferencePairs, readRatings } = await import('../../src/data/preferences.js');
  const { loadPairData, loadRatingData } = await import('../../src/train/reward-models.js');
  const { readFileSync } = await import('node:fs');
  torch.manualSeed(0);
  const model = new TextToImageModel(tinyConfig());
  const dir = mkdtempSync(join(tmpdir(), 'labels-'));
  try {
    const opts = { pairs: 12, perPrompt: 3, prompts: ['a red circle', 'a blue square'], seed: 4, mix: parseSamplingMix('2:3,3:1'), batchSize: 4 };
    const r = generateLabels(model, { ...opts, out: join(dir, 'one') });
    assert.equal(r.prompts, 4);
    assert.equal(r.pairs, 12);
    assert.equal(r.images, 12);
    assert.equal(r.reused, 0);
    assert.equal(r.choices.A + r.choices.B + r.choices.tie, 12);
    const pairs = readPreferencePairs(join(dir, 'one', 'pairs.jsonl'));
    const ratings = readRatings(join(dir, 'one', 'ratings.jsonl'));
    assert.equal(pairs.length, 12);
    assert.equal(ratings.length, 12);
    // every two images of a prompt make a pair: 3 per prompt
    assert.deepEqual(pairs.slice(0, 3).map((p) => [p.imageA, p.imageB]), [
      ['images/00000-0.png', 'images/00000-1.png'], ['images/00000-0.png', 'images/00000-2.png'], ['images/00000-1.png', 'images/00000-2.png'],
    ]);
    for (const p of pairs) assert.ok(opts.prompts.includes(p.prompt) && p.annotator === 'scripted-v1');
    for (const x of ratings) assert.ok(x.rating >= 1 && x.rating <= 10);
    const data = loadPairData(join(dir, 'one', 'pairs.jsonl'), 0.5);
    assert.deepEqual(data.images.shape, [12, 3, 8, 8]);
    data.images.dispose();
    loadRatingData(join(dir, 'one', 'ratings.jsonl'), 0.5).images.dispose();
    // the same seed gives the same labels and pixels
    generateLabels(model, { ...opts, out: join(dir, 'two') });
    const strip = (f: string) => readFileSync(f, 'utf8').replace(/"time":"[^"]*"/g, '');
    assert.equal(strip(join(dir, 'one', 'pairs.jsonl')), strip(join(dir, 'two', 'pairs.jsonl')));
    assert.deepEqual(readFileSync(join(dir, 'one', 'images', '00003-2.png')), readFileSync(join(dir, 'two', 'images', '00003-2.png')));
    assert.throws(() => generateLabels(model, { ...opts, out: join(dir, 'one') }), /already exists/);
    // an interrupted run (images written, no labels yet) is resumed from its images
    rmSync(join(dir, 'two', 'pairs.jsonl'));
    rmSync(join(dir, 'two', 'ratings.jsonl'));
    assert.equal(generateLabels(model, { ...opts, out: join(dir, 'two') }).reused, 12);
    assert.equal(strip(join(dir, 'one', 'pairs.jsonl')), strip(join(dir, 'two', 'pairs.jsonl')));
    assert.throws(() => generateLabels(model, { ...opts, perPrompt: 1, out: join(dir, 'three') }), /per-prompt must be an integer ≥ 2/);
    assert.throws(() => parseSamplingMix('20-4'), /not steps:guidance/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    model.dispose();
  }
});
