// A fine-tuning run in its own process, for the kill-and-resume tests: loop.test.ts starts it
// directly, the data-parallel tests through `sharpen launch` (RANK, WORLD_SIZE, … in its
// environment; without them it is one plain process):
//   node --import tsx test/train/finetune-child.ts '<json config>' [resume] [sleepMs]
// It sleeps `sleepMs` after every step (outside the computation) so that the parent can kill it
// mid-run; with PRINT_STEPS set it writes "rank R pid P step S" to stderr after every step; rank 0
// prints one JSON line with the summary when it finishes.
import * as torch from '../../src/torch/index.js';
import { finetune, type FinetuneInput } from '../../src/train/loop.js';
import { registerToyRewards } from './finetune-helpers.js';

torch.setNumThreads(1);
registerToyRewards();
const cfg = JSON.parse(process.argv[2]!) as FinetuneInput;
const resume = process.argv[3] === 'resume';
const sleepMs = Number(process.argv[4] ?? 0);
const pause = new Int32Array(new SharedArrayBuffer(4));
const r = await finetune(cfg, {
  resume, progress: false, log: () => {},
  onStep: (info) => {
    if (process.env.PRINT_STEPS) process.stderr.write(`rank ${process.env.RANK ?? 0} pid ${process.pid} step ${info.step}\n`);
    if (sleepMs > 0) Atomics.wait(pause, 0, 0, sleepMs);
  },
});
if ((process.env.RANK ?? '0') === '0') console.log(JSON.stringify(r.summary));
