// DDPO (src/train/methods/ddpo.ts): trajectories and their log-densities, PPO's clipped objective,
// per-prompt advantages, the gradient's direction, a short run that raises a toy reward, and the
// method through the loop at its defaults (DDPO_IS: the ratio leaves 1 after a buffer's first
// optimizer step and gets clipped; per-prompt statistics) against bufferBatches 1 (ratio ≡ 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../../src/torch/index.js';
import { TextToImageModel } from '../../../src/models/t2i.js';
import { noiseSchedule, makeModelScheduler } from '../../../src/models/generate.js';
import { makeScheduler } from '../../../src/diffusion/index.js';
import { AdamW } from '../../../src/optim/index.js';
import { ddpoLoss, ddpoAdvantages, ppoClippedLoss, PerPromptStatTracker, ddpoVariantLabel, DDPO_DEFAULTS } from '../../../src/train/methods/ddpo.js';
import { finetune, type FinetuneInput } from '../../../src/train/loop.js';
import { readJsonl } from '../../../src/util/jsonl.js';
import { registerToyRewards, saveTinyBase, tempDir } from '../finetune-helpers.js';
import {
  sampleTrajectories, selectTrajectories, disposeTrajectories, trainedSteps, stochasticSteps, transitionsAt, transitionLogProb, guidanceText,
} from '../../../src/train/rollout.js';
import { tinyConfig } from '../../helpers/tiny-model.js';
import { PROMPTS, colourModel, gradientOf, redness, relativeGap, sampleRedness } from './baseline-helpers.js';

torch.setNumThreads(1); // a long job shares this machine; the model is tiny
registerToyRewards();

/** The model's sampler (DDIM, trailing spacing, ᾱ_prev = 1 at the last step), run at η = 1. */
function ddpoScheduler(m: TextToImageModel) {
  const schedule = noiseSchedule(m);
  return { schedule, scheduler: makeModelScheduler(m, 'ddim', schedule) };
}

test('sampleTrajectories stores every latent and the log-density of every transition', () => {
  torch.manualSeed(0);
  const m = new TextToImageModel(tinyConfig());
  const { schedule, scheduler } = ddpoScheduler(m);
  const tr = sampleTrajectories(m, scheduler, ['a red circle', 'a blue square', 'a small circle'], { steps: 4, guidanceScale: 3, eta: 1 });
  assert.deepEqual(tr.latents.shape, [3, 5, 3, 8, 8]);
  assert.deepEqual(tr.logProbs.shape, [3, 4]);
  assert.deepEqual(tr.images.shape, [3, 3, 8, 8]);
  assert.equal(tr.nfe, 8); // 4 steps × 2 (guidance)
  assert.deepEqual(tr.timesteps, [999, 749, 499, 249]);
  // the images are the last latents, decoded
  const d = torch.tidy(() => tr.latents.select(1, 4).add(1).div(2).clamp(0, 1).sub(tr.images).abs().max().item());
  assert.ok(d < 1e-6);
  // every transition of a Gaussian step has a finite log-density; the last step (249 → x0 with
  // ᾱ_prev = 1) is deterministic: its log p is the σ = 0 placeholder 0, and it is not trained
  const lp = Array.from(tr.logProbs.toFloat32Array());
  lp.forEach((v, i) => assert.ok(i % 4 === 3 ? v === 0 : Number.isFinite(v) && v !== 0, `log p[${i}] = ${v}`));
  assert.deepEqual(stochasticSteps(tr), [0, 1, 2]);
  // with Stable Diffusion's final ᾱ (setAlphaToOne false) every step has a density
  const sd = makeScheduler('ddim', schedule, { timestepSpacing: 'trailing', setAlphaToOne: false });
  const tr2 = sampleTrajectories(m, sd, ['a red circle'], { steps: 4, guidanceScale: 3, eta: 1 });
  assert.deepEqual(stochasticSteps(tr2), [0, 1, 2, 3]);
  disposeTrajectories(tr2);
  assert.throws(() => sampleTrajectories(m, scheduler, ['a red circle'], { steps: 4, guidanceScale: 3, eta: 0 }), /eta must be in \(0, 1\]/);
  disposeTrajectories(tr);
  m.dispose();
  schedule.dispose();
});

test('PPO clipping bounds the objective: golden values and zero gradient where clipped', () => {
  const eps = 0.2;
  // rows: (A, ρ) = (+1, 1.5), (+1, 0.5), (−1, 1.5), (−1, 0.5), (+2, 1)
  const A = [1, 1, -1, -1, 2];
  const rho = [1.5, 0.5, 1.5, 0.5, 1];
  const old = torch.tensor([0.3, -0.2, 0.1, 0.0, 0.7]);
  const logProb = torch.tidy(() => old.add(torch.tensor(rho.map(Math.log)))).requiresGrad_(true);
  const r = ppoClippedLoss(logProb, old, A, eps);
  // per row max(−Aρ, −A clamp(ρ)): −1.2 (clipped: bounded at 1 + ε), −0.5, 1.5, −0.8 (clipped), −2
  const want = [-(1 + eps), -0.5, 1.5, 1 - eps, -2];
  const wantMean = want.reduce((a, b) => a + b, 0) / 5;
  assert.ok(Math.abs(r.loss.item() - wantMean) < 1e-5, `${r.loss.item()} vs ${wantMean}`);
  const [g] = torch.grad([r.loss], [logProb]);
  // d/dlogp of −Aρ is −Aρ (unclipped rows), 0 where the clipped term is the max
  const wantGrad = [0, -0.5, 1.5, 0, -2].map((v) => v / 5);
  Array.from(g!.toFloat32Array()).forEach((v, i) => assert.ok(Math.abs(v - wantGrad[i]!) < 1e-5, `grad ${i}: ${v} vs ${wantGrad[i]}`));
  assert.ok(Math.abs(r.clipFraction - 4 / 5) < 1e-6);
  assert.ok(Math.abs(r.meanRatioDeviation - 0.4) < 1e-6, `mean |ρ − 1| ${r.meanRatioDeviation}`);
  assert.ok(Math.abs(r.maxRatioDeviation - 0.5) < 1e-6);
  // the objective −L never exceeds A(1 + ε) for A > 0, however large ρ grows
  for (const big of [2, 10, 1e3]) {
    const lp = torch.tensor([Math.log(big)]);
    const v = ppoClippedLoss(lp, torch.tensor([0]), [3], eps).loss.item();
    assert.ok(Math.abs(-v - 3 * (1 + eps)) < 1e-4, `ρ = ${big}: objective ${-v}`);
  }
  assert.throws(() => ppoClippedLoss(logProb, old, [1, 2], eps), /2 advantages for 5/);
  assert.throws(() => ppoClippedLoss(logProb, old, A, 0), /clipRange must be positive/);
});

test('advantages: per-prompt statistics once a prompt has minCount rewards, else the batch; clipped to ±5', () => {
  const tr = new PerPromptStatTracker(4, 3);
  // first update: prompt a has 2 rewards < minCount → batch statistics
  const a1 = tr.update(['a', 'a', 'b'], [1, 3, 5]);
  const mean = 3;
  const std = Math.sqrt((4 + 0 + 4) / 3);
  assert.deepEqual(a1.map((v) => v.toFixed(5)), [1, 3, 5].map((r) => ((r - mean) / (std + 1e-6)).toFixed(5)));
  // second update: a has 3 → its own history [1, 3, 2]; b still the batch's
  const a2 = tr.update(['a', 'b'], [2, 0]);
  assert.ok(Math.abs(a2[0]! - 0) < 1e-9); // 2 is its history's mean
  assert.ok(Math.abs(a2[1]! - (0 - 1) / (1 + 1e-6)) < 1e-9); // batch [2, 0]: mean 1, std 1
  // the history is bounded by bufferSize
  tr.update(['a', 'a', 'a'], [7, 8, 9]);
  assert.deepEqual(tr.history('a'), [2, 7, 8, 9]);
  // clipping at ±5 (a single outlier among many equal rewards has a large normalised advantage)
  const adv = ddpoAdvantages(new Array(50).fill('p'), [100, ...new Array(49).fill(0)], null, 5);
  assert.equal(adv[0], 5);
  assert.ok(adv[1]! < 0 && adv[1]! > -5);
  assert.throws(() => ddpoAdvantages(['p', 'q'], [1, NaN], null), /reward 1 .* is NaN/);
  assert.equal(tr.hasOwnStats('a'), true);
  assert.equal(tr.hasOwnStats('b'), false);
  assert.throws(() => new PerPromptStatTracker(4, 5), /minCount \(5\) exceeds bufferSize \(4\)/);
});

test('DDPO: the ratio is 1 before the first update, and the loss then is −mean(A)', () => {
  torch.manualSeed(1);
  const m = new TextToImageModel(tinyConfig());
  const { schedule, scheduler } = ddpoScheduler(m);
  const prompts = ['a red circle', 'a blue square', 'a small circle', 'a red square'];
  const tr = sampleTrajectories(m, scheduler, prompts, { steps: 5, guidanceScale: 3, eta: 1 });
  const adv = [1.5, -0.5, 0.25, -1.25];
  // train on a minibatch of two rows, in a different batch composition from the rollout
  const mb = selectTrajectories(tr, [2, 0]);
  const r = ddpoLoss(m, scheduler, mb, [adv[2]!, adv[0]!], { clipRange: 1e-4 });
  assert.ok(r.logs.maxRatioDeviation < 2e-5, `max |ρ − 1| = ${r.logs.maxRatioDeviation}`);
  assert.equal(r.logs.clipFraction, 0);
  // ρ = 1 ⇒ L = mean_k mean_i (−A_i)
  assert.ok(Math.abs(r.loss.item() - -(adv[2]! + adv[0]!) / 2) < 1e-4, `${r.loss.item()}`);
  r.loss.dispose();
  disposeTrajectories(mb);
  disposeTrajectories(tr);
  m.dispose();
  schedule.dispose();
});

test('DDPO: the gradient raises log p of positive-advantage transitions and lowers it for negative ones', () => {
  torch.manualSeed(2);
  const m = new TextToImageModel(tinyConfig());
  m.textEncoder.requiresGrad_(false);
  const { schedule, scheduler } = ddpoScheduler(m);
  const tr = sampleTrajectories(m, scheduler, ['a red circle', 'a red circle'], { steps: 4, guidanceScale: 1, eta: 1 });
  // Σ_k log p_θ of each trajectory's transitions under the current weights
  const logpSum = () => torch.noGrad(() => torch.tidy(() => {
    const order = trainedSteps(2, [0, 1, 2], 1); // the last step has no density
    const text = guidanceText(m, tr.prompts, 1);
    let s = torch.zeros([2]);
    for (let j = 0; j < 3; j++) {
      const st = transitionsAt(tr, order, j);
      s = s.add(transitionLogProb(m, scheduler, st.x, st.xPrev, st.t, text, 1));
    }
    return Array.from(s.toFloat32Array());
  }));
  const before = logpSum();
  const opt = new AdamW(m.unet.parameters(), { lr: 1e-4, weightDecay: 0 });
  for (let i = 0; i < 3; i++) {
    const r = ddpoLoss(m, scheduler, tr, [1, -1], { clipRange: 1 }); // a wide clip range: the plain ratio objective
    r.loss.backward();
    r.loss.dispose();
    opt.step();
    opt.zeroGrad();
  }
  const after = logpSum();
  assert.ok(after[0]! > before[0]!, `A = +1: Σ log p ${before[0]} → ${after[0]}`);
  assert.ok(after[1]! < before[1]!, `A = −1: Σ log p ${before[1]} → ${after[1]}`);
  disposeTrajectories(tr);
  m.dispose();
  schedule.dispose();
});

test('DDPO raises its reward (redness) on the tiny colour model in a short run', async (t) => {
  const m = colourModel(3);
  const { schedule, scheduler } = ddpoScheduler(m);
  const start = await sampleRedness(m);
  torch.manualSeed(7);
  const opt = new AdamW(m.unet.parameters(), { lr: 1e-3, weightDecay: 0 });
  const tracker = new PerPromptStatTracker(16, 16);
  const rollout: number[] = [];
  for (let it = 0; it < 24; it++) {
    // a buffer of 32 trajectories (8 per prompt) trained as one minibatch (ρ = 1 at its update)
    const prompts = Array.from({ length: 32 }, (_, j) => PROMPTS[j % PROMPTS.length]!);
    const tr = sampleTrajectories(m, scheduler, prompts, { steps: 5, guidanceScale: 3, eta: 1 });
    const R = await redness(tr.images);
    rollout.push(R.reduce((a, b) => a + b, 0) / R.length);
    const r = ddpoLoss(m, scheduler, tr, ddpoAdvantages(prompts, R, tracker, 5), { clipRange: 1e-4 });
    r.loss.backward();
    r.loss.dispose();
    opt.step();
    opt.zeroGrad();
    disposeTrajectories(tr);
  }
  const end = await sampleRedness(m);
  t.diagnostic(`redness of fixed-noise samples ${start.toFixed(4)} → ${end.toFixed(4)}; rollout mean first 4 ${rollout.slice(0, 4).map((v) => v.toFixed(3))}, last 4 ${rollout.slice(-4).map((v) => v.toFixed(3))}`);
  assert.ok(end > start + 0.1, `redness ${start.toFixed(4)} → ${end.toFixed(4)}`);
  m.dispose();
  schedule.dispose();
});

// ------------------------------------------------------------------ the method through the loop

const quiet = { progress: false, log: () => {} };
/** float noise of a recomputed log p (the file header of ddpo.ts): a ratio this close to 1 is 1 */
const RATIO_NOISE = 2e-5;

async function ddpoRun(label: string, base: string, steps: number, options: Record<string, unknown>): Promise<Record<string, number>[]> {
  const out = tempDir(label);
  const cfg: FinetuneInput = { method: 'ddpo', reward: 'toy-redness', base, out, store: join(out, 's.sqlite'), seed: 3, steps, batch: 2, lr: 1e-3, ...options };
  await finetune(cfg, quiet);
  return readJsonl(join(out, 'metrics.jsonl')) as Record<string, number>[];
}

test('DDPO at its defaults is DDPO_IS: over a buffer\'s minibatches the ratio leaves 1 after the first optimizer step and gets clipped; advantages per prompt', async (t) => {
  const base = await saveTinyBase(4, { size: 8 });
  const B = 2;
  const { bufferBatches: M, samplesPerPrompt: spp, statMinCount } = DDPO_DEFAULTS;
  assert.ok(M > 1 && spp >= statMinCount && statMinCount > 1, 'the defaults: several minibatches per buffer, enough samples per prompt');
  const rows = await ddpoRun('ddpo-is', base, M, {});
  assert.equal(rows.length, M);
  t.diagnostic(rows.map((r) => `step ${r.step}: clip ${r.clipFraction!.toFixed(3)}, mean |ρ−1| ${r.ratioDeviationMean!.toExponential(2)}, max ${r.ratioDeviationMax!.toExponential(2)}`).join('; '));
  // the tiny base samples with S = 4, guidance 1; the last step (σ = 0) is not trained: 3 steps recomputed
  rows.forEach((r, i) => assert.equal(r.nfe, (i === 0 ? M * B * spp * 4 : 0) + B * spp * 3, `step ${r.step} NFE`));
  // the buffer's first minibatch is trained by the policy that sampled it: ρ = 1
  assert.ok(rows[0]!.ratioDeviationMax! < RATIO_NOISE, `step 1: max |ρ − 1| ${rows[0]!.ratioDeviationMax}`);
  assert.equal(rows[0]!.clipFraction, 0);
  // every later minibatch is trained after optimizer steps its samples did not see
  for (const r of rows.slice(1)) {
    assert.ok(r.ratioDeviationMean! > 10 * RATIO_NOISE, `step ${r.step}: mean |ρ − 1| ${r.ratioDeviationMean} (the policy moved)`);
    assert.ok(r.clipFraction! > 0, `step ${r.step}: some ratios leave [1 − ε, 1 + ε] (clip fraction ${r.clipFraction})`);
  }
  // every prompt has samplesPerPrompt ≥ statMinCount rewards: all advantages are per prompt, and a
  // minibatch holds whole prompts, so its advantages average to 0 (they would not over the buffer)
  for (const r of rows) {
    assert.equal(r.ownStatsFraction, 1, `step ${r.step}: rows normalised by their own prompt`);
    assert.ok(Math.abs(r.advantageMean!) < 1e-6, `step ${r.step}: mean advantage ${r.advantageMean}`);
  }
  assert.match(ddpoVariantLabel(), /^DDPO_IS \(/);
});

test('DDPO with bufferBatches 1 is on-policy: the ratio stays 1 and nothing is clipped; a second inner epoch moves it', async () => {
  const base = await saveTinyBase(4, { size: 8 });
  const onPolicy = { bufferBatches: 1 };
  for (const r of await ddpoRun('ddpo-sf', base, 3, onPolicy)) {
    assert.ok(r.ratioDeviationMax! < RATIO_NOISE, `step ${r.step}: max |ρ − 1| ${r.ratioDeviationMax}`);
    assert.equal(r.clipFraction, 0);
  }
  assert.match(ddpoVariantLabel(onPolicy), /^DDPO_SF-like on-policy \(bufferBatches 1: ratio ≡ 1/);
  // one minibatch per buffer, two inner epochs: the second pass trains the same samples after a step
  const twoEpochs = { bufferBatches: 1, innerEpochs: 2 };
  const [e1, e2] = await ddpoRun('ddpo-epochs', base, 2, twoEpochs);
  assert.ok(e1!.ratioDeviationMax! < RATIO_NOISE);
  assert.ok(e2!.ratioDeviationMean! > 10 * RATIO_NOISE, `second inner epoch: mean |ρ − 1| ${e2!.ratioDeviationMean}`);
  assert.equal(e2!.nfe, 2 * 4 * 3); // no new samples: B · samplesPerPrompt rows × 3 recomputed steps
  assert.match(ddpoVariantLabel(twoEpochs), /^DDPO_IS \(1 minibatch per rollout buffer × 2 inner epochs, one optimizer step each/);
});

test('ddpoVariantLabel names what the options run; bad options are refused by name', async () => {
  assert.equal(
    ddpoVariantLabel(),
    'DDPO_IS (4 minibatches per rollout buffer, one optimizer step each; clip 1e-4; per-prompt advantages over 4 samples/prompt)',
  );
  assert.equal(
    ddpoVariantLabel({ bufferBatches: 1, samplesPerPrompt: 1, statMinCount: 16 }),
    'DDPO_SF-like on-policy (bufferBatches 1: ratio ≡ 1; 1 sample/prompt, per-prompt advantages only for a prompt with 16 rewards, else buffer-normalised)',
  );
  // gradient accumulation over a whole buffer takes one optimizer step per buffer: on-policy again
  assert.match(ddpoVariantLabel({}, 4), /^DDPO_SF-like on-policy \(a buffer's 4 minibatches within one optimizer step: ratio ≡ 1/);
  assert.match(ddpoVariantLabel({}, 2), /^DDPO_IS \(4 minibatches per rollout buffer, 2 per optimizer step/);
  assert.match(ddpoVariantLabel({ perPromptStatTracking: false }), /4 samples\/prompt, buffer-normalised advantages\)$/);
  assert.throws(() => ddpoVariantLabel({ bufferBatches: 0 }), /ddpoVariantLabel: invalid options: bufferBatches/);
  assert.throws(() => ddpoVariantLabel({ bufferBatch: 2 } as never), /ddpoVariantLabel: invalid options: .*bufferBatch/);
  assert.throws(() => ddpoVariantLabel({}, 0), /accumulation must be a positive integer/);
  // a tracker that could never use a prompt's own statistics is refused before the run
  const base = await saveTinyBase(4, { size: 8 });
  await assert.rejects(ddpoRun('ddpo-bad', base, 1, { statMinCount: 20 }), /ddpo: statMinCount \(20\) exceeds statBufferSize \(16\)/);
});

test('DDPO resumed inside a buffer\'s second inner epoch ends with the weights of an uninterrupted run', async () => {
  const base = await saveTinyBase(5, { size: 8 });
  const cfg = (out: string): FinetuneInput => ({
    method: 'ddpo', reward: 'toy-redness', base, out, store: join(out, 's.sqlite'), seed: 2, steps: 4, batch: 2, lr: 1e-3,
    checkpointEvery: 100, bufferBatches: 2, innerEpochs: 2,
  });
  const whole = tempDir('ddpo-epochs-whole');
  await finetune(cfg(whole), quiet);
  const cut = tempDir('ddpo-epochs-cut');
  const ac = new AbortController();
  // stopped after step 3: the buffer's first minibatch of its second inner epoch is done, its last is not
  await assert.rejects(finetune(cfg(cut), { ...quiet, signal: ac.signal, onStep: (s) => s.step === 3 && ac.abort() }), (e: Error) => e.name === 'AbortError');
  await finetune(cfg(cut), { ...quiet, resume: true });
  assert.ok(readFileSync(join(whole, 'model.safetensors')).equals(readFileSync(join(cut, 'model.safetensors'))));
  const rows = readJsonl(join(cut, 'metrics.jsonl')) as Record<string, number>[];
  assert.equal(rows.at(-1)!.nfe, 2 * 4 * 3, 'the resumed step trained the saved buffer (no new samples)');
});

test('DDPO back-propagated step by step (as the loop runs it) gives the gradient of the whole loss, times the scale', () => {
  torch.manualSeed(3);
  const m = new TextToImageModel(tinyConfig());
  m.textEncoder.requiresGrad_(false);
  const { schedule, scheduler } = ddpoScheduler(m);
  const tr = sampleTrajectories(m, scheduler, ['a red circle', 'a blue square', 'a red circle'], { steps: 4, guidanceScale: 3, eta: 1 });
  const adv = [0.7, -1.2, 0.5];
  let whole = NaN;
  const reference = gradientOf(m, () => {
    const r = ddpoLoss(m, scheduler, tr, adv, { clipRange: 1 });
    whole = r.loss.item();
    r.loss.backward();
    r.loss.dispose();
  });
  let streamed = NaN;
  const stepwise = gradientOf(m, () => {
    const r = ddpoLoss(m, scheduler, tr, adv, { clipRange: 1 }, 0.25);
    streamed = r.loss.item();
    assert.equal(r.loss.requiresGrad, false);
    r.loss.dispose();
  });
  assert.ok(Math.abs(streamed - whole) < 1e-6, `loss ${streamed} vs ${whole}`);
  const quarter = reference.map((g) => g * 0.25);
  assert.ok(quarter.some((g) => g !== 0), 'the loss reaches the parameters');
  assert.ok(relativeGap(stepwise, quarter) < 1e-4, `relative gap ${relativeGap(stepwise, quarter)}`);
  disposeTrajectories(tr);
  m.dispose();
  schedule.dispose();
});
