// Each method raises its own reward over plain sampling with the same seeds and settings. The tiny
// model is untrained, so the toy reward (image brightness) varies with the noise; 8 prompts × 3 seeds
// give 24 paired differences, and each method must beat plain on their mean with a paired t statistic
// above 3 (under "no effect" that happens by luck with probability < 0.4%; the figures seen here
// are in the diagnostics). Everything is seeded, so the test is deterministic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { getMethod } from '../../src/sample/index.js';
import { BrightnessReward, PROMPTS, countedModel, paired } from './helpers.js';

torch.setNumThreads(1);

const SEEDS = [0, 1, 2];
const base = { steps: 6, guidanceScale: 3 }; // one plain sample: 12 NFE
const BUDGET = 72; // six samples' worth

async function scoresOf(name: string, opts: Record<string, unknown>, reward: BrightnessReward, model: ReturnType<typeof countedModel>['model']) {
  const out: number[] = [];
  let nfe = 0;
  for (const seed of SEEDS) {
    const r = await getMethod(name).sample(model, PROMPTS, { ...base, ...opts, reward, seed });
    // scored afresh, not taken from the method's log
    const s = await reward.score(r.images, PROMPTS);
    out.push(...s.scores);
    nfe = r.nfePerImage;
    r.images.dispose();
  }
  return { scores: out, nfe };
}

const cases: { name: string; opts: Record<string, unknown>; eta: number }[] = [
  { name: 'best-of-n', opts: { budgetNfe: BUDGET }, eta: 0 },
  { name: 'zero-order', opts: { budgetNfe: BUDGET, K: 2 }, eta: 0 },
  { name: 'demon', opts: { budgetNfe: BUDGET }, eta: 1 },
  { name: 'free2guide', opts: { budgetNfe: BUDGET }, eta: 1 },
  { name: 'free2guide', opts: { budgetNfe: BUDGET, selection: 'weighted', lambda: 0.01 }, eta: 1 },
];

for (const c of cases) {
  test(`${c.name} ${JSON.stringify(c.opts)} beats plain sampling (η = ${c.eta}) on its reward`, async (t) => {
    const { model } = countedModel();
    const reward = new BrightnessReward();
    // the baseline samples with the method's own η: the gain must come from the search, not from η
    const plain = await scoresOf('plain', { eta: c.eta }, reward, model);
    const m = await scoresOf(c.name, { ...c.opts, eta: c.eta }, reward, model);
    assert.ok(m.nfe <= BUDGET);
    const d = paired(m.scores, plain.scores);
    t.diagnostic(`plain ${plain.nfe} NFE → ${c.name} ${m.nfe} NFE: mean gain ${d.mean.toFixed(4)}, paired t ${d.t.toFixed(2)} (n = ${d.n})`);
    assert.ok(d.mean > 0 && d.t > 3, `mean gain ${d.mean}, t ${d.t}`);
    model.dispose();
  });
}

test('with deterministic sampling, best-of-n and zero-order never fall below plain (the first candidate is plain\'s noise)', async () => {
  const { model } = countedModel();
  const reward = new BrightnessReward();
  const plain = await scoresOf('plain', {}, reward, model);
  for (const [name, opts] of [['best-of-n', { K: 3 }], ['zero-order', { K: 2, iterations: 2 }]] as const) {
    const m = await scoresOf(name, opts, reward, model);
    m.scores.forEach((s, i) => assert.ok(s >= plain.scores[i]! - 1e-5, `${name}, image ${i}: ${s} < plain ${plain.scores[i]}`));
  }
  model.dispose();
});
