import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../../src/torch/index.js';
import { TextToImageModel } from '../../../src/models/t2i.js';
import { noiseSchedule, makeModelScheduler } from '../../../src/models/generate.js';
import { AdamW, SGD } from '../../../src/optim/index.js';
import { disposeTrajectories, guidanceText, disposeGuidanceText, transitionLogProb, transitionsAt } from '../../../src/train/rollout.js';
import { sampleTrajectoryPairs, preferences, d3poLoss } from '../../../src/train/methods/d3po.js';
import { tinyConfig } from '../../helpers/tiny-model.js';
import { PROMPTS, colourModel, frozenCopy, gradientOf, redness, relativeGap, sampleRedness } from './baseline-helpers.js';

torch.setNumThreads(1); // a long job shares this machine; the model is tiny

function setup(seed: number) {
  torch.manualSeed(seed);
  const m = new TextToImageModel(tinyConfig());
  m.textEncoder.requiresGrad_(false);
  const schedule = noiseSchedule(m);
  return { m, ref: frozenCopy(m), schedule, scheduler: makeModelScheduler(m, 'ddim', schedule) };
}

test('D3PO pairs share their initial noise and part at the first stochastic step; preferences from rewards', () => {
  const { m, ref, schedule, scheduler } = setup(0);
  const tr = sampleTrajectoryPairs(m, scheduler, ['a red circle', 'a blue square'], { steps: 4, guidanceScale: 3, eta: 1 });
  assert.deepEqual(tr.prompts, ['a red circle', 'a red circle', 'a blue square', 'a blue square']);
  const gap = (k: number, a: number, b: number) => torch.tidy(() => tr.latents.select(1, k).select(0, a).sub(tr.latents.select(1, k).select(0, b)).abs().max().item());
  assert.equal(gap(0, 0, 1), 0); // the same x_T
  assert.equal(gap(0, 2, 3), 0);
  assert.ok(gap(1, 0, 1) > 1e-3); // η = 1: different after one step
  assert.ok(gap(0, 0, 2) > 1e-3); // different prompts, different x_T
  assert.deepEqual(preferences([0.1, 0.3, 2, 1, 5, 5]), [1, 0, null]);
  assert.throws(() => preferences([1, 2, 3]), /two per prompt/);
  assert.throws(() => preferences([1, NaN]), /pair 0 are 1, NaN/);
  disposeTrajectories(tr);
  m.dispose();
  ref.dispose();
  schedule.dispose();
});

test('D3PO: log 2 when the policy equals the reference; the gradient raises the winner\'s log p against the loser\'s', () => {
  const { m, ref, schedule, scheduler } = setup(1);
  const tr = sampleTrajectoryPairs(m, scheduler, ['a red circle', 'a blue square', 'a small circle'], { steps: 4, guidanceScale: 3, eta: 1 });
  const prefer = [1, 0, null] as const;
  const r = d3poLoss(m, ref, scheduler, tr, [...prefer]);
  assert.ok(Math.abs(r.loss.item() - Math.log(2)) < 1e-5, `${r.loss.item()}`);
  assert.equal(r.logs.pairs, 2);
  assert.ok(Math.abs(r.logs.ratioMin - 1) < 1e-5 && Math.abs(r.logs.ratioMax - 1) < 1e-5);
  // Σ_k log p_θ(w) − log p_θ(l) over the pairs' stochastic steps (0, 1, 2; step 3 goes to x0 with σ = 0)
  const margin = () => torch.noGrad(() => torch.tidy(() => {
    const text = guidanceText(m, tr.prompts, 3);
    const order = tr.prompts.map(() => [0, 1, 2]);
    let s = torch.zeros([6]);
    for (let j = 0; j < 3; j++) {
      const st = transitionsAt(tr, order, j);
      s = s.add(transitionLogProb(m, scheduler, st.x, st.xPrev, st.t, text, 1));
    }
    disposeGuidanceText(text);
    const v = Array.from(s.toFloat32Array());
    return [v[1]! - v[0]!, v[2]! - v[3]!]; // pair 0 prefers row 1, pair 1 row 2
  }));
  const before = margin();
  const opt = new SGD(m.unet.parameters(), { lr: 0.05 });
  r.loss.backward();
  opt.step();
  opt.zeroGrad();
  r.loss.dispose();
  const after = margin();
  assert.ok(after[0]! > before[0]! && after[1]! > before[1]!, `margins ${before} → ${after}`);
  // every pair a tie: a zero loss without gradient
  const ties = d3poLoss(m, ref, scheduler, tr, [null, null, null]);
  assert.equal(ties.loss.item(), 0);
  assert.equal(ties.logs.pairs, 0);
  ties.loss.dispose();
  assert.throws(() => d3poLoss(m, ref, scheduler, tr, [0, 1]), /6 trajectories and 2 preferences/);
  assert.throws(() => d3poLoss(m, ref, scheduler, tr, [0, 1, 0], { clip: 1 }), /clip must be in \(0, 1\)/);
  disposeTrajectories(tr);
  m.dispose();
  ref.dispose();
  schedule.dispose();
});

test('D3PO: the ratio stays inside its clamp [0.9, 1.1] however far the policy moves', () => {
  const { m, ref, schedule, scheduler } = setup(2);
  const tr = sampleTrajectoryPairs(m, scheduler, ['a red circle', 'a blue square'], { steps: 4, guidanceScale: 1, eta: 1 });
  const opt = new AdamW(m.unet.parameters(), { lr: 3e-2, weightDecay: 0 }); // large steps: p_θ leaves p_ref fast
  let clampedSeen = 0;
  for (let i = 0; i < 8; i++) {
    const r = d3poLoss(m, ref, scheduler, tr, [0, 1]);
    assert.ok(r.logs.ratioMin >= 0.9 - 1e-6 && r.logs.ratioMax <= 1.1 + 1e-6, `ratio in [${r.logs.ratioMin}, ${r.logs.ratioMax}]`);
    clampedSeen = Math.max(clampedSeen, r.logs.clampedFraction);
    r.loss.backward();
    r.loss.dispose();
    opt.step();
    opt.zeroGrad();
  }
  assert.ok(clampedSeen > 0, 'the policy moved far enough for the clamp to act');
  disposeTrajectories(tr);
  m.dispose();
  ref.dispose();
  schedule.dispose();
});

test('D3PO raises its reward (redness) on the tiny colour model in a short run', async (t) => {
  const m = colourModel(3);
  const ref = frozenCopy(m);
  const schedule = noiseSchedule(m);
  const scheduler = makeModelScheduler(m, 'ddim', schedule);
  const start = await sampleRedness(m);
  torch.manualSeed(7);
  const opt = new AdamW(m.unet.parameters(), { lr: 1e-3, weightDecay: 0 });
  for (let it = 0; it < 24; it++) {
    const prompts = Array.from({ length: 16 }, (_, j) => PROMPTS[j % PROMPTS.length]!);
    const tr = sampleTrajectoryPairs(m, scheduler, prompts, { steps: 5, guidanceScale: 3, eta: 1 }); // 32 trajectories
    const r = d3poLoss(m, ref, scheduler, tr, preferences(await redness(tr.images)));
    r.loss.backward();
    r.loss.dispose();
    opt.step();
    opt.zeroGrad();
    disposeTrajectories(tr);
  }
  const end = await sampleRedness(m);
  t.diagnostic(`redness of fixed-noise samples ${start.toFixed(4)} → ${end.toFixed(4)}`);
  assert.ok(end > start + 0.1, `redness ${start.toFixed(4)} → ${end.toFixed(4)}`);
  m.dispose();
  ref.dispose();
  schedule.dispose();
});

test('D3PO back-propagated step by step (as the loop runs it) gives the gradient of the whole loss, times the scale', () => {
  const { m, ref, schedule, scheduler } = setup(4);
  const tr = sampleTrajectoryPairs(m, scheduler, ['a red circle', 'a blue square'], { steps: 4, guidanceScale: 3, eta: 1 });
  // move the policy off the reference so the ratios differ from 1 (inside the clamp)
  const opt = new SGD(m.unet.parameters(), { lr: 0.02 });
  const first = d3poLoss(m, ref, scheduler, tr, [1, 0]);
  first.loss.backward();
  first.loss.dispose();
  opt.step();
  opt.zeroGrad();
  let whole = NaN;
  const reference = gradientOf(m, () => {
    const r = d3poLoss(m, ref, scheduler, tr, [1, 0]);
    whole = r.loss.item();
    r.loss.backward();
    r.loss.dispose();
  });
  let streamed = NaN;
  const stepwise = gradientOf(m, () => {
    const r = d3poLoss(m, ref, scheduler, tr, [1, 0], {}, 0.5);
    streamed = r.loss.item();
    assert.equal(r.loss.requiresGrad, false);
    r.loss.dispose();
  });
  assert.ok(Math.abs(streamed - whole) < 1e-6, `loss ${streamed} vs ${whole}`);
  assert.ok(Math.abs(whole - Math.log(2)) > 1e-7, `the policy moved (loss ${whole})`);
  const half = reference.map((g) => g * 0.5);
  assert.ok(half.some((g) => g !== 0), 'the loss reaches the parameters');
  assert.ok(relativeGap(stepwise, half) < 1e-4, `relative gap ${relativeGap(stepwise, half)}`);
  // ties: a zero value, nothing back-propagated but zeros
  const ties = gradientOf(m, () => d3poLoss(m, ref, scheduler, tr, [null, null], {}, 0.5).loss.dispose());
  assert.ok(ties.every((g) => g === 0));
  disposeTrajectories(tr);
  m.dispose();
  ref.dispose();
  schedule.dispose();
});
