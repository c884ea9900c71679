// The options of the Sharpening methods: RLHF-Sharpening re-noises each generated image with the noise that generated it (the authors'
// train_rlhf_diffusion_sharpen_sdxl.py; METHOD.md RLHF step 2), captions drop out for the networks
// only, and SFT-Sharpening is unchanged by both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as torch from '../../../src/torch/index.js';
import type { Tensor } from '../../../src/torch/index.js';
import { TextToImageModel } from '../../../src/models/t2i.js';
import { generate, makeModelScheduler, noiseSchedule } from '../../../src/models/generate.js';
import type { MethodContext, RewardFn } from '../../../src/train/finetune-method.js';
import { rlhfSharpening, rlhfSharpeningOptionsSchema } from '../../../src/train/methods/rlhf-sharpening.js';
import { sftSharpening, sftSharpeningOptionsSchema } from '../../../src/train/methods/sft-sharpening.js';
import { standardFt, standardFtOptionsSchema } from '../../../src/train/methods/standard-ft.js';
import { rlhfSharpeningLoss, sftSharpeningLoss } from '../../../src/train/methods/sharpening.js';
import { dropCaptions, drawTimesteps } from '../../../src/train/methods/sharpening-options.js';
import { diffusionLoss } from '../../../src/train/pretrain.js';
import { loadSplit } from '../../../src/world/splits.js';
import { colourModel, frozenCopy, PROMPTS, redness } from './baseline-helpers.js';

function ctxFor<O>(model: TextToImageModel, options: O, extra: Partial<MethodContext<O>> = {}): MethodContext<O> {
  const schedule = noiseSchedule(model);
  return {
    model, reference: null, schedule, scheduler: makeModelScheduler(model, 'ddim', schedule), reward: null, data: null,
    prompts: { description: 'test prompts', promptsAt: (pos, size) => Array.from({ length: size }, (_, j) => PROMPTS[(pos * size + j) % PROMPTS.length]!) },
    options, batchSize: 2, step: 0, position: 0, state: null, gradScale: 1, ...extra,
  };
}

test('RLHF renoise generation: the stored x_T generated the images and is the target of the loss', async () => {
  const model = colourModel(1, 30);
  const start = colourModel(1, 20); // a reference that differs from the policy, so the loss is not log 2
  const reference = frozenCopy(start);
  start.dispose();
  const o = rlhfSharpeningOptionsSchema.parse({ n: 3, m: 2, S: 4, captionDropout: 0, referenceOver: 'all' });
  assert.equal(o.renoise, 'generation');
  assert.equal(o.rolloutGuidance, 1);
  const ctx = ctxFor(model, o, { reference, reward: redness as RewardFn });
  torch.manualSeed(3);
  const batch = await rlhfSharpening.makeBatch(ctx);
  // x_T regenerates exactly the rollouts (η = 0, no guidance, S steps)
  const again = generate(model, [PROMPTS[0]!, PROMPTS[0]!, PROMPTS[0]!, PROMPTS[1]!, PROMPTS[1]!, PROMPTS[1]!], {
    steps: 4, guidanceScale: 1, eta: 0, noise: batch.xT,
  });
  const x0 = torch.tidy(() => again.images.mul(2).sub(1));
  assert.ok(torch.tidy(() => x0.sub(batch.x0).abs().max().item()) < 1e-6);
  // the method's loss is rlhfSharpeningLoss with ε = x_T (the same t draw)
  torch.manualSeed(11);
  const viaMethod = await rlhfSharpening.loss(ctx, batch);
  torch.manualSeed(11);
  const t = drawTimesteps(o, 1000, 2, 'test');
  const direct = await rlhfSharpeningLoss(model, reference, ctx.schedule, ctx.scheduler, { x0: batch.x0, prompts: batch.prompts },
    redness as RewardFn, { n: 3, m: 2, S: 4, referenceOver: 'all' }, { t, noise: batch.xT });
  assert.equal(viaMethod.loss.item(), direct.loss.item());
  // and a fresh draw gives another loss
  torch.manualSeed(11);
  const fresh = await rlhfSharpening.loss({ ...ctx, options: { ...o, renoise: 'fresh', tMax: 999 } }, batch);
  assert.notEqual(fresh.loss.item(), direct.loss.item());
  for (const x of [viaMethod.loss, direct.loss, fresh.loss, x0, again.images]) x.dispose();
  rlhfSharpening.disposeBatch(batch);
  model.dispose();
  reference.dispose();
});

test('RLHF renoise generation: on the base model the first x̂0 of the unroll is closer to the generated image than with fresh noise', { skip: !existsSync('checkpoints/base/model.safetensors') && 'no checkpoints/base' }, async () => {
  const model = await TextToImageModel.load('checkpoints/base');
  const schedule = noiseSchedule(model);
  const prompts = loadSplit('train').slice(0, 8).map((r) => r.prompt);
  torch.manualSeed(0);
  const xT = torch.randn([8, 3, 32, 32]);
  const { images } = generate(model, prompts, { steps: 25, guidanceScale: 1, eta: 0, noise: xT }); // the authors' rollouts
  const x0 = torch.tidy(() => images.mul(2).sub(1));
  const mseOfFirstX0 = (t: number, eps: Tensor) => torch.noGrad(() => torch.tidy(() => {
    const tt = torch.full([8], t, { dtype: 'int64' });
    const xt = schedule.addNoise(x0, eps, tt);
    const out = model.predict(xt, tt, model.encode(prompts));
    return schedule.predictX0AndEps(out, xt, tt).x0.clamp(-1, 1).sub(x0).square().mean().item();
  }));
  const fresh = torch.randn([8, 3, 32, 32]);
  const measured: string[] = [];
  for (const t of [300, 500]) {
    const gen = mseOfFirstX0(t, xT);
    const fr = mseOfFirstX0(t, fresh);
    measured.push(`t=${t}: generation ${gen.toFixed(4)}, fresh ${fr.toFixed(4)}`);
    assert.ok(gen < fr, measured.join('; '));
  }
  console.log(`# first x̂0 MSE to the generated image: ${measured.join('; ')}`);
  for (const x of [xT, images, x0, fresh]) x.dispose();
  schedule.dispose();
  model.dispose();
});

test('dropCaptions: p = 0 draws nothing, p = 1 drops all, p = 0.2 drops about a fifth, replayed by the seed', () => {
  const prompts = Array.from({ length: 2000 }, (_, i) => `p${i}`);
  torch.manualSeed(5);
  const before = torch.tidy(() => torch.rand([1]).item());
  torch.manualSeed(5);
  assert.equal(dropCaptions(prompts, 0), prompts);
  assert.equal(torch.tidy(() => torch.rand([1]).item()), before, 'p = 0 drew from the generator');
  assert.ok(dropCaptions(prompts, 1).every((p) => p === ''));
  torch.manualSeed(7);
  const a = dropCaptions(prompts, 0.2);
  torch.manualSeed(7);
  const b = dropCaptions(prompts, 0.2);
  assert.deepEqual(a, b);
  const share = a.filter((p) => p === '').length / a.length;
  assert.ok(share > 0.17 && share < 0.23, `share ${share}`);
  assert.ok(a.every((p, i) => p === '' || p === prompts[i]));
});

test('captionDropout: the networks see the empty prompt, the reward and the ranking the real one', async () => {
  const model = colourModel(2, 30);
  const reference = frozenCopy(model);
  const seen: string[][] = [];
  const reward: RewardFn = async (images, prompts) => {
    seen.push(prompts);
    return redness(images);
  };
  const o = rlhfSharpeningOptionsSchema.parse({ n: 2, m: 1, S: 4, captionDropout: 1, rankBy: 'image', renoise: 'fresh' });
  const ctx = ctxFor(model, o, { reference, reward });
  torch.manualSeed(4);
  const batch = await rlhfSharpening.makeBatch(ctx);
  torch.manualSeed(9);
  const viaMethod = await rlhfSharpening.loss(ctx, batch);
  assert.deepEqual(seen, [[PROMPTS[0], PROMPTS[0], PROMPTS[1], PROMPTS[1]]]);
  // the same as the loss with every condition prompt '' (dropCaptions at p = 1 draws from the generator too)
  const rank = await redness(torch.tidy(() => batch.x0.add(1).div(2).clamp(0, 1)));
  torch.manualSeed(9);
  dropCaptions(batch.prompts, 1);
  const direct = await rlhfSharpeningLoss(model, reference, ctx.schedule, ctx.scheduler,
    { x0: batch.x0, prompts: batch.prompts, conditionPrompts: ['', ''] }, reward, { n: 2, m: 1, S: 4 }, undefined, rank);
  assert.equal(viaMethod.loss.item(), direct.loss.item());
  torch.manualSeed(9);
  dropCaptions(batch.prompts, 1);
  const conditioned = await rlhfSharpeningLoss(model, reference, ctx.schedule, ctx.scheduler,
    { x0: batch.x0, prompts: batch.prompts }, reward, { n: 2, m: 1, S: 4 }, undefined, rank);
  const p0 = model.unet.parameters()[0]!;
  const g = async (l: Tensor) => {
    p0.grad = null;
    l.backward();
    return torch.tidy(() => p0.grad!.clone());
  };
  const gDropped = await g(direct.loss);
  const gKept = await g(conditioned.loss);
  assert.ok(torch.tidy(() => gDropped.sub(gKept).abs().max().item()) > 0, 'the condition prompts changed nothing');
  for (const x of [viaMethod.loss, gDropped, gKept]) x.dispose();
  rlhfSharpening.disposeBatch(batch);
  model.dispose();
  reference.dispose();
});

test('SFT-Sharpening with captionDropout 0 is the loss of METHOD.md, unchanged; with 1 it conditions on the empty prompt', async () => {
  const model = colourModel(3, 30);
  const images = torch.tidy(() => torch.rand([2, 3, 1, 1]).mul(2).sub(1).expand([2, 3, 8, 8]).contiguous());
  const batch = { x0: images, prompts: [PROMPTS[0]!, PROMPTS[2]!] };
  const data = { description: 'fixed', batchAt: () => ({ images: images.clone(), prompts: batch.prompts }) };
  for (const p of [0, 1]) {
    const o = sftSharpeningOptionsSchema.parse({ n: 3, m: 2, S: 5, captionDropout: p });
    const ctx = ctxFor(model, o, { reward: redness as RewardFn, data });
    torch.manualSeed(21);
    const viaMethod = await sftSharpening.loss(ctx, batch);
    torch.manualSeed(21);
    if (p > 0) dropCaptions(batch.prompts, p); // the method draws the dropout before the loss draws t and ε
    const direct = await sftSharpeningLoss(model, ctx.schedule, ctx.scheduler,
      { ...batch, ...(p > 0 ? { conditionPrompts: ['', ''] } : {}) }, redness as RewardFn, { n: 3, m: 2, S: 5 });
    assert.equal(viaMethod.loss.item(), direct.loss.item(), `captionDropout ${p}`);
    viaMethod.loss.dispose();
    direct.loss.dispose();
  }
  // standard fine-tuning: captionDropout 1 is the diffusion loss under the empty prompt
  const o = standardFtOptionsSchema.parse({ captionDropout: 1 });
  const ctx = ctxFor(model, o);
  torch.manualSeed(8);
  const viaMethod = await standardFt.loss(ctx, batch);
  torch.manualSeed(8);
  dropCaptions(batch.prompts, 1);
  const direct = diffusionLoss(model, ctx.schedule, images, ['', '']);
  assert.equal(viaMethod.loss.item(), direct.item());
  viaMethod.loss.dispose();
  direct.dispose();
  images.dispose();
  model.dispose();
});

test('RLHF winnerWeight λ adds λ · mean L_w to the DPO loss (linear in λ, positive, 0 by default)', async () => {
  const model = colourModel(6, 30);
  const reference = frozenCopy(model);
  const schedule = noiseSchedule(model);
  const scheduler = makeModelScheduler(model, 'ddim', schedule);
  torch.manualSeed(2);
  const x0 = torch.tidy(() => torch.rand([6, 3, 8, 8]).mul(2).sub(1));
  const noise = torch.randn([6, 3, 8, 8]);
  const lossAt = async (winnerWeight: number) => {
    const r = await rlhfSharpeningLoss(model, reference, schedule, scheduler, { x0, prompts: [PROMPTS[0]!, PROMPTS[1]!] },
      redness as RewardFn, { n: 3, m: 2, S: 5, referenceOver: 'all', winnerWeight }, { t: [400, 700], noise });
    const v = r.loss.item();
    r.loss.dispose();
    return v;
  };
  const l0 = await lossAt(0);
  assert.ok(Math.abs(l0 - Math.log(2)) < 1e-5, `policy = reference: log 2, got ${l0}`);
  const l1 = await lossAt(10);
  const l2 = await lossAt(20);
  assert.ok(l1 - l0 > 1e-4, `the winner's loss is positive: ${l1 - l0}`);
  assert.ok(Math.abs((l2 - l0) - 2 * (l1 - l0)) < 1e-4 * Math.abs(l1 - l0) + 1e-6, `linear in λ: ${l1 - l0}, ${l2 - l0}`);
  assert.equal(rlhfSharpeningOptionsSchema.parse({}).winnerWeight, 0);
  for (const x of [x0, noise]) x.dispose();
  schedule.dispose();
  model.dispose();
  reference.dispose();
});
