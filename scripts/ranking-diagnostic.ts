// How faithful RLHF-Sharpening's ranking of trajectories is to the ranking of the images they come
// from (docs/methods.md, RLHF-Diffusion-Sharpening), measured on a checkpoint, for both ways of re-noising:
// 'generation' (x_t = √ᾱ_t x0 + √(1−ᾱ_t) x_T with the noise x_T that generated x0, the authors' code)
// and 'fresh' (a new ε). For P train prompts × n images generated from x_T (S DDIM steps, η = 0,
// guidance w), at each t of a list: unroll m DDIM steps of stride ⌊T/S⌋ from x_t, score each step's
// x̂0 with the reward, R_i = the mean over the steps; then count, over the prompts whose best image
// is unique, how often argmax_i R_i is that image (chance: 1/n), how often all n trajectories tie
// (no pair to learn from), and the MSE of the first x̂0 to the generated image.
//   node --import tsx scripts/ranking-diagnostic.ts [CKPT] [PROMPTS] [N] [M] [S] [GUIDANCE] [T_LIST]
// (defaults: checkpoints/base 40 3 3 25 1 100,300,500,700,900; seed 0; reward compositional)
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { TextToImageModel } from '../src/models/t2i.js';
import { generate, makeModelScheduler, noiseSchedule } from '../src/models/generate.js';
import { makeReward } from '../src/rewards/index.js';
import { rewardFn } from '../src/train/loop.js';
import { selectPerExample } from '../src/train/rollout.js';
import { loadSplit } from '../src/world/splits.js';
import { repeatEach } from '../src/util/arrays.js';

const [ckpt = 'checkpoints/base', pArg = '40', nArg = '3', mArg = '3', sArg = '25', wArg = '1', tArg = '100,300,500,700,900'] = process.argv.slice(2);
const [P, n, m, S] = [pArg, nArg, mArg, sArg].map(Number) as [number, number, number, number];
const w = Number(wArg);
const ts = tArg.split(',').map(Number);
if (![P, n, m, S].every((v) => Number.isInteger(v) && v >= 1) || n < 2 || !(w >= 0) || !ts.every((t) => Number.isInteger(t) && t >= 0 && t < 1000)) {
  console.error('usage: node --import tsx scripts/ranking-diagnostic.ts [CKPT] [PROMPTS ≥ 1] [N ≥ 2] [M ≥ 1] [S ≥ 1] [GUIDANCE ≥ 0] [T,T,… in [0, 1000)]');
  process.exit(2);
}
torch.manualSeed(0);
const model = await TextToImageModel.load(ckpt);
model.unet.train(false);
const schedule = noiseSchedule(model);
const scheduler = makeModelScheduler(model, 'ddim', schedule);
scheduler.setTimesteps(S);
const delta = schedule.stride(S);
const reward = rewardFn(await makeReward('compositional'));
const prompts = loadSplit('train').slice(0, P).map((r) => r.prompt);
const rows = repeatEach(prompts, n); // p·n + i
const C = model.config.unet.inChannels;
const size = model.config.unet.sampleSize;
const xT = torch.randn([rows.length, C, size, size]);
const { images } = generate(model, rows, { steps: S, guidanceScale: w, eta: 0, noise: xT });
const imageR = await reward(images, rows);
const x0 = torch.tidy(() => images.mul(2).sub(1));
const { best: imageBest } = selectPerExample(imageR, P, n);
const uniqueBest = Array.from({ length: P }, (_, p) => imageR.slice(p * n, p * n + n).filter((r) => r === imageR[p * n + imageBest[p]!]).length === 1);

/** R_i over m unrolled steps from x_t = √ᾱ x0 + √(1−ᾱ) ε, and the first x̂0's MSE to x0. */
async function unrollScores(t: number, eps: Tensor): Promise<{ R: number[]; mse: number }> {
  const mPrime = Math.min(m, 1 + Math.floor(t / delta));
  const sums = new Array<number>(rows.length).fill(0);
  let mse = 0;
  let x = torch.tidy(() => schedule.addNoise(x0, eps, t));
  const text = model.encode(rows);
  for (let k = 0; k < mPrime; k++) {
    const tk = t - k * delta;
    const { next, x0Hat } = torch.noGrad(() => torch.tidy(() => {
      const tt = torch.full([rows.length], tk, { dtype: 'int64' });
      const out = scheduler.step(model.predict(x, tt, text), tt, x, { eta: 0 });
      return { next: out.prevSample, x0Hat: out.predOriginalSample };
    }));
    if (k === 0) mse = torch.tidy(() => x0Hat.clamp(-1, 1).sub(x0).square().mean().item());
    const r = await reward(torch.tidy(() => x0Hat.add(1).div(2).clamp(0, 1)), rows);
    r.forEach((v, j) => { sums[j]! += v; });
    x0Hat.dispose();
    x.dispose();
    x = next;
  }
  x.dispose();
  for (const v of Object.values(text)) (v as Tensor).dispose();
  return { R: sums.map((s) => s / mPrime), mse };
}

console.log(`${ckpt}: ${P} train prompts × n = ${n} images (S = ${S}, guidance ${w}), unrolls of m = ${m}, Δ = ${delta}; ` +
  `${uniqueBest.filter(Boolean).length} prompts with a unique best image; image reward mean ${(imageR.reduce((a, c) => a + c, 0) / imageR.length).toFixed(4)}`);
console.log('| t | renoise | winner = best image | all n tied | first x̂0 MSE |');
console.log('|---|---|---|---|---|');
const fresh = torch.randn(xT.shape);
for (const t of ts) {
  for (const [name, eps] of [['generation', xT], ['fresh', fresh]] as const) {
    const { R, mse } = await unrollScores(t, eps);
    const { best } = selectPerExample(R, P, n);
    let agree = 0;
    let counted = 0;
    let tied = 0;
    for (let p = 0; p < P; p++) {
      if (R.slice(p * n, p * n + n).every((v) => v === R[p * n])) tied++;
      if (!uniqueBest[p]) continue;
      counted++;
      if (best[p] === imageBest[p]) agree++;
    }
    console.log(`| ${t} | ${name} | ${(agree / Math.max(1, counted)).toFixed(2)} (${agree}/${counted}) | ${(tied / P).toFixed(2)} | ${mse.toFixed(4)} |`);
  }
}
