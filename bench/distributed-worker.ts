// The worker of `npm run bench -- distributed` (bench/distributed.ts), started by `sharpen launch`:
//   node --import tsx bench/distributed-worker.ts step '<finetune config json>' <warmupSteps>
//     the fine-tuning loop as a user runs it (finetune(): data-parallel when WORLD_SIZE > 1); rank 0
//     prints the wall-clock of every step after the warm-up ones, the trainable parameters and the
//     gradient buckets of one step;
//   node --import tsx bench/distributed-worker.ts allreduce <bytes,bytes,…> <reps>
//     all-reduce (sum) of float32 tensors of each size; rank 0 prints the median time of each.
import * as torch from '../src/torch/index.js';
import * as dist from '../src/distributed/index.js';
import { bucketSizes, DEFAULT_BUCKET_BYTES } from '../src/distributed/data-parallel.js';
import { median } from './util.js';

const [mode, arg, countArg] = process.argv.slice(2) as [string, string, string];
const rank = Number(process.env.RANK ?? 0);

if (mode === 'step') {
  const { finetune } = await import('../src/train/loop.js');
  const cfg = JSON.parse(arg) as Parameters<typeof finetune>[0];
  const warmup = Number(countArg);
  const times: number[] = [];
  let last = performance.now();
  const { summary } = await finetune(cfg, {
    progress: false, log: () => {},
    onStep: (info) => {
      const now = performance.now();
      if (info.step > warmup) times.push(now - last);
      last = now;
    },
  });
  // the gradient buckets of one step: the loop's trainable parameters (the whole UNet, float32) as DataParallel cuts them
  const { TextToImageModel } = await import('../src/models/t2i.js');
  const m = await TextToImageModel.load(cfg.base as string);
  const buckets = bucketSizes(m.unet.trainableParameters().map((p) => p.numel() * 4), DEFAULT_BUCKET_BYTES);
  m.dispose();
  if (rank === 0) console.log(JSON.stringify({ stepMs: times, trainable: summary.trainableParameters, buckets, threads: torch.getNumThreads() }));
} else if (mode === 'allreduce') {
  torch.setNumThreads(1);
  const sizes = arg.split(',').map(Number);
  const reps = Number(countArg);
  dist.initProcessGroup();
  const out: { bytes: number; ms: number }[] = [];
  for (const bytes of sizes) {
    const t = torch.ones([bytes / 4]);
    const ms: number[] = [];
    for (let i = 0; i < reps + 2; i++) {
      dist.barrier();
      const t0 = performance.now();
      dist.allReduce(t);
      if (i >= 2) ms.push(performance.now() - t0);
    }
    t.dispose();
    out.push({ bytes, ms: median(ms) });
  }
  dist.destroyProcessGroup();
  if (rank === 0) console.log(JSON.stringify({ allreduce: out, worldSize: Number(process.env.WORLD_SIZE) }));
} else {
  throw new Error(`bench distributed worker: mode must be 'step' or 'allreduce', got '${mode}'`);
}
