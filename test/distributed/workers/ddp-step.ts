// A worker of the equivalence test: K optimizer steps of the tiny text-to-image model's diffusion
// loss on fixed data. Under `sharpen launch` each of the W ranks takes its shard of every step's
// batch (DataParallel averages the gradients); as one plain process (no RANK) it takes the whole
// combined batch. Every rank writes its UNet weights to <outDir>/rank-<r>.safetensors.
//   node --import tsx test/distributed/workers/ddp-step.ts <base> <outDir> <shards> <steps>
import { join } from 'node:path';
import * as torch from '../../../src/torch/index.js';
import type { Tensor } from '../../../src/torch/index.js';
import { TextToImageModel } from '../../../src/models/t2i.js';
import { SGD } from '../../../src/optim/index.js';
import { DataParallel } from '../../../src/distributed/data-parallel.js';

const [base, outDir, shardsArg, stepsArg] = process.argv.slice(2) as [string, string, string, string];
const shards = Number(shardsArg);
const steps = Number(stepsArg);
torch.setNumThreads(1);
const dp = DataParallel.fromEnv({ bucketBytes: 64 * 1024 }); // small buckets: several all-reduces per step
const model = await TextToImageModel.load(base);
model.textEncoder.requiresGrad_(false);
const params = model.unet.trainableParameters();
if (dp) dp.broadcastParameters(params);
// SGD: the update is linear in the gradient, so the two runs differ by float rounding alone (Adam's first step
// is ±lr wherever a gradient is tiny, whatever its rounding)
const opt = new SGD(params, { lr: 0.05 });
const prompts = ['a red circle', 'a blue square'];

/** Shard `s` of step `k`'s batch: two images, their noise and timesteps, drawn from a seed of (k, s) alone. */
function shard(k: number, s: number): { x: Tensor; eps: Tensor; t: Tensor; p: string[] } {
  torch.manualSeed(1000 + k * shards + s);
  return { x: torch.rand([2, 3, 8, 8]), eps: torch.randn([2, 3, 8, 8]), t: torch.randint(0, 1000, [2]), p: prompts };
}

for (let k = 0; k < steps; k++) {
  torch.tidy(() => {
    const mine = dp ? [shard(k, dp.rank)] : Array.from({ length: shards }, (_, s) => shard(k, s));
    const x = torch.cat(mine.map((b) => b.x));
    const eps = torch.cat(mine.map((b) => b.eps));
    const t = torch.cat(mine.map((b) => b.t));
    const xt = x.mul(0.8).add(eps.mul(0.6));
    const pred = model.predict(xt, t, model.encode(mine.flatMap((b) => b.p)));
    torch.F.mseLoss(pred, eps).backward();
  });
  if (dp) dp.allReduceGradients(params);
  opt.step();
  opt.zeroGrad();
}
const rank = dp?.rank ?? 0;
if (dp) dp.checkReplicas(params, 'the trained weights');
await torch.safetensors.saveFile(join(outDir, `rank-${rank}.safetensors`), model.unet.stateDict());
console.log(JSON.stringify({ rank, buckets: dp?.lastBucketBytes.length ?? 0 }));
