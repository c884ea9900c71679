// What SFT-Diffusion-Sharpening's choice of trajectory selects (docs/methods.md, at m = 1), measured
// on a checkpoint: for world examples (x0, c), t uniform in [0, T) and n noises ε_i, the denoising
// loss L_i = ‖ε_θ(x_t^i, t, c) − ε_i‖² and the reward R_i of x̂0_i. Prints, by t range, the mean L of
// the argmax-R trajectory (what SFT-Sharpening trains), of the argmin-R one, and of all n (what
// standard fine-tuning trains in expectation), and, where the n rewards are not all tied, how often
// L(argmax) < L(argmin).
//   node --import tsx scripts/sft-selection.ts [CKPT] [EXAMPLES] [N] [REWARD]
// (defaults: checkpoints/base 512 3 compositional; seed 0; no classifier-free guidance, as the loss)
import * as torch from '../src/torch/index.js';
import { TextToImageModel } from '../src/models/t2i.js';
import { noiseSchedule } from '../src/models/generate.js';
import { WorldStream } from '../src/data/world-stream.js';
import { makeReward } from '../src/rewards/index.js';
import { selectPerExample } from '../src/train/rollout.js';
import { repeatEach } from '../src/util/arrays.js';

const [ckpt = 'checkpoints/base', examplesArg = '512', nArg = '3', rewardName = 'compositional'] = process.argv.slice(2);
const examples = Number(examplesArg);
const n = Number(nArg);
if (!Number.isInteger(examples) || examples < 1 || !Number.isInteger(n) || n < 2) {
  console.error('usage: node --import tsx scripts/sft-selection.ts [CKPT] [EXAMPLES ≥ 1] [N ≥ 2] [REWARD]');
  process.exit(2);
}
torch.manualSeed(0);
const model = await TextToImageModel.load(ckpt);
const schedule = noiseSchedule(model);
const reward = await makeReward(rewardName);
const T = schedule.numTrainTimesteps;
const B = 16;
const stream = new WorldStream({ batchSize: B, seed: 0, resolution: model.config.unet.sampleSize });

const buckets = 4;
const acc = Array.from({ length: buckets }, () => ({ count: 0, best: 0, worst: 0, all: 0, decided: 0, bestLower: 0, rBest: 0, rWorst: 0 }));
for (let done = 0; done < examples; done += B) {
  const b = stream.batchAt(done / B);
  const rows = repeatEach(b.prompts, n);
  const t = Array.from(torch.randint(0, T, [B]).toTypedArray() as BigInt64Array, Number);
  const { L, x0hat } = torch.noGrad(() => torch.tidy(() => {
    const x0 = torch.fromTypedArray(b.images, [...b.shape]).repeatInterleave(n, 0);
    const eps = torch.randn(x0.shape);
    const tt = torch.tensor(t.flatMap((s) => Array<number>(n).fill(s)));
    const xt = schedule.addNoise(x0, eps, tt);
    const epsHat = model.predict(xt, tt, model.encode(rows));
    const x0hat = schedule.predictX0AndEps(epsHat, xt, tt).x0.add(1).div(2).clamp(0, 1);
    return { L: epsHat.sub(eps).square().mean([1, 2, 3]), x0hat };
  }));
  const Lv = Array.from(L.toFloat32Array());
  const R = (await reward.score(x0hat, rows)).scores;
  L.dispose();
  x0hat.dispose();
  const { best, worst } = selectPerExample(R, B, n); // as SFT-Sharpening's loss selects
  for (let e = 0; e < B; e++) {
    const hi = best[e]!;
    const lo = worst[e]!;
    const a = acc[Math.min(buckets - 1, Math.floor((t[e]! * buckets) / T))]!;
    a.count++;
    a.best += Lv[e * n + hi]!;
    a.worst += Lv[e * n + lo]!;
    for (let i = 0; i < n; i++) a.all += Lv[e * n + i]! / n;
    if (R[e * n + hi]! > R[e * n + lo]!) {
      a.decided++; // all n tied: argmax is trajectory 0, a random one
      if (Lv[e * n + hi]! < Lv[e * n + lo]!) a.bestLower++;
    }
    a.rBest += R[e * n + hi]!;
    a.rWorst += R[e * n + lo]!;
  }
}
console.log(`${ckpt}: ${examples} world examples × n = ${n} noises, reward ${rewardName}, m = 1`);
console.log('t range     examples  L(argmax R)  L(all n)  L(argmin R)  not tied  P[L(argmax) < L(argmin) | not tied]  R(argmax)  R(argmin)');
acc.forEach((a, k) => {
  const lo = (k * T) / buckets;
  const f = (v: number) => (v / a.count).toFixed(5).padStart(11);
  console.log(
    `[${String(lo).padStart(3)}, ${String(lo + T / buckets).padStart(4)})  ${String(a.count).padStart(8)}  ${f(a.best)}  ${f(a.all).slice(2)}  ${f(a.worst)}  ${String(a.decided).padStart(8)}  ${(a.decided ? a.bestLower / a.decided : NaN).toFixed(3).padStart(36)}  ${(a.rBest / a.count).toFixed(3).padStart(9)}  ${(a.rWorst / a.count).toFixed(3).padStart(9)}`,
  );
});
model.dispose();
