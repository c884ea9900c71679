// NFE accounting and budgets of every sampling method, against a count taken by wrapping the network.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { generate } from '../../src/models/generate.js';
import { getMethod, methodNames } from '../../src/sample/index.js';
import { BrightnessReward, PROMPTS, countedModel } from './helpers.js';

torch.setNumThreads(1); // a long job shares this machine; the model is tiny

const METHODS = ['plain', 'best-of-n', 'zero-order', 'demon', 'free2guide'];
const prompts = PROMPTS.slice(0, 3);

test('every method is registered', () => {
  assert.deepEqual(methodNames(), [...METHODS].sort());
});

// Each case: the method's options; the NFE per image the method must report and the network must see.
const cases: { name: string; opts: Record<string, unknown>; expect: number }[] = [
  // S = 4 steps; guidance 3 → 2 NFE a call, guidance 1 → 1
  { name: 'plain', opts: { steps: 4, guidanceScale: 3 }, expect: 8 },
  { name: 'plain', opts: { steps: 4, guidanceScale: 1 }, expect: 4 },
  { name: 'best-of-n', opts: { steps: 4, guidanceScale: 3, K: 3 }, expect: 3 * 8 },
  { name: 'best-of-n', opts: { steps: 4, guidanceScale: 1, budgetNfe: 18 }, expect: 4 * 4 }, // N = ⌊18/4⌋
  { name: 'zero-order', opts: { steps: 4, guidanceScale: 3, K: 2, iterations: 2 }, expect: (1 + 2 * 2) * 8 },
  { name: 'zero-order', opts: { steps: 4, guidanceScale: 1, K: 3, budgetNfe: 31 }, expect: (1 + 3 * 2) * 4 }, // 7 samples → 2 rounds of 3
  { name: 'demon', opts: { steps: 4, guidanceScale: 3, K: 3 }, expect: (4 + 3 * 3) * 2 }, // G = S − 1 = 3
  { name: 'demon', opts: { steps: 4, guidanceScale: 1, budgetNfe: 20, guidedSteps: 2 }, expect: 4 + 8 * 2 }, // K = ⌊(20 − 4)/2⌋ = 8
  { name: 'demon', opts: { steps: 4, guidanceScale: 3, K: 2, scheduler: 'ddpm' }, expect: (4 + 2 * 3) * 2 },
  { name: 'free2guide', opts: { steps: 4, guidanceScale: 3, K: 3 }, expect: (4 + 2 * 2) * 2 }, // G = ⌈4/2⌉ = 2, best: K − 1 extra
  { name: 'free2guide', opts: { steps: 4, guidanceScale: 1, K: 3, guidedSteps: 3, selection: 'weighted', lambda: 0.1 }, expect: 4 + 3 * 3 },
  { name: 'free2guide', opts: { steps: 5, guidanceScale: 1, budgetNfe: 17 }, expect: 5 + 6 * 2 }, // G = 3: K − 1 = ⌊(17 − 5)/3⌋ = 4 → K = 5, 5 + 4·3 = 17
];

for (const c of cases) {
  test(`${c.name} ${JSON.stringify(c.opts)}: NFE per image = network rows / B = ${c.expect}`, async () => {
    const { model, rows, reset } = countedModel();
    const reward = new BrightnessReward();
    const method = getMethod(c.name);
    const plan = method.plan(model, { ...c.opts, reward });
    reset();
    const before = torch.memory().tensors;
    const r = await method.sample(model, prompts, { ...c.opts, reward, seed: 0 });
    assert.equal(r.nfePerImage, c.expect);
    assert.equal(rows() / prompts.length, c.expect, 'the network saw a different number of rows');
    assert.equal(plan.nfePerImage, c.expect, 'plan() disagrees with sample()');
    assert.equal(r.log.nfePerImage, c.expect);
    if (c.opts.budgetNfe !== undefined) assert.ok(r.nfePerImage <= (c.opts.budgetNfe as number));
    assert.deepEqual(r.images.shape, [prompts.length, 3, 8, 8]);
    const [lo, hi] = torch.tidy(() => [r.images.amin().item(), r.images.amax().item()]);
    assert.ok(lo >= 0 && hi <= 1, `images in [0, 1], got [${lo}, ${hi}]`);
    // every call of the reward is in the log (plain too: it scores its result once)
    assert.equal(r.log.rewardCalls, reward.calls);
    assert.equal(r.log.rewardImages, reward.images);
    assert.equal(r.log.scores?.length, prompts.length);
    r.images.dispose();
    assert.equal(torch.memory().tensors, before, 'tensors leaked');
    model.dispose();
  });
}

test('plain is generate(): same seed, same images, same NFE', async () => {
  const { model } = countedModel();
  torch.manualSeed(5);
  const g = generate(model, prompts, { steps: 4, guidanceScale: 3 });
  const r = await getMethod('plain').sample(model, prompts, { steps: 4, guidanceScale: 3, seed: 5 });
  assert.equal(r.images.sub(g.images).abs().amax().item(), 0);
  assert.equal(r.nfePerImage, g.nfePerImage);
  // without a seed it continues the global generator, exactly like generate
  torch.manualSeed(9);
  const g2 = generate(model, prompts, { steps: 4, guidanceScale: 3, eta: 0.5 });
  torch.manualSeed(9);
  const r2 = await getMethod('plain').sample(model, prompts, { steps: 4, guidanceScale: 3, eta: 0.5 });
  assert.equal(r2.images.sub(g2.images).abs().amax().item(), 0);
  for (const t of [g.images, r.images, g2.images, r2.images]) t.dispose();
  model.dispose();
});

test('a budget sizes each method to the most it can afford, never more', () => {
  const { model } = countedModel();
  const reward = new BrightnessReward();
  const common = { steps: 5, guidanceScale: 3, reward }; // one sample: 10 NFE
  for (const name of METHODS) {
    let smallest = Infinity;
    for (let budget = 1; budget <= 200; budget += 3) {
      let plan;
      try {
        plan = getMethod(name).plan(model, { ...common, budgetNfe: budget });
      } catch (e) {
        assert.match((e as Error).message, new RegExp(`method '${name}': a budget of ${budget} NFE per image is too small`));
        assert.ok(smallest === Infinity, `${name}: budget ${budget} refused after a smaller one was accepted`);
        continue;
      }
      smallest = Math.min(smallest, budget);
      assert.ok(plan.nfePerImage <= budget, `${name} plans ${plan.nfePerImage} NFE for a budget of ${budget}`);
      if (name !== 'plain') {
        // one more unit of its size knob would not fit
        const knob = name === 'zero-order' ? 'iterations' : 'K';
        const more = { ...common, [knob]: (plan.settings[knob === 'K' && name === 'best-of-n' ? 'N' : knob] as number) + 1, budgetNfe: budget };
        assert.throws(() => getMethod(name).plan(model, more), /too small/, `${name} left room at budget ${budget}`);
      }
    }
    assert.ok(smallest < Infinity, `${name} accepted no budget up to 200`);
  }
  // the documented minimums (one sample costs 10 NFE here)
  assert.throws(() => getMethod('plain').plan(model, { ...common, budgetNfe: 9 }), /needs at least 10 NFE/);
  assert.throws(() => getMethod('best-of-n').plan(model, { ...common, budgetNfe: 9 }), /needs at least 10 NFE/);
  assert.throws(() => getMethod('zero-order').plan(model, { ...common, budgetNfe: 49 }), /needs at least 50 NFE/); // pivot + 4
  assert.throws(() => getMethod('demon').plan(model, { ...common, budgetNfe: 25 }), /needs at least 26 NFE/); // (5 + 2·4)·2
  assert.throws(() => getMethod('free2guide').plan(model, { ...common, budgetNfe: 15 }), /needs at least 16 NFE/); // (5 + 1·3)·2
  assert.throws(() => getMethod('best-of-n').plan(model, { ...common, K: 5, budgetNfe: 40 }), /K = 5 samples needs at least 50 NFE/);
  model.dispose();
});
