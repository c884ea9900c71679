// `npm run bench -- sharpening [--n 1,3,8] [--m 1,3,8] [--paths recompute,full] [--batch 2] [--steps 3]
//                              [--method sft|rlhf] [--reward compositional] [--base checkpoints/base]`
//
// Time and peak memory of one Diffusion-Sharpening training step (METHOD.md: the rollout of n
// trajectories of m steps, the reward of every x̂0, the loss, backward, AdamW) for every n × m, with
// the default gradient path ('recompute': roll out without a graph, recompute the chosen ones) and
// the authors' ('full': keep the graph of all n). What is measured, and how:
// - the step of sft-sharpening on the world's images (default) or of rlhf-sharpening on rollouts of
//   the model (--method rlhf; n = 1 is skipped there, it needs a winner and a loser). The rollouts
//   that RLHF generates before its step are not timed: they do not depend on the gradient path;
// - t = T − 1 for every example, so that every trajectory takes all m steps (m' = m) and each
//   configuration does the same work at every step; the text encoder is frozen, the UNet trained;
// - ms per step: the median of --steps timed steps after one warm-up step;
// - memory: the process's peak RSS (getrusage ru_maxrss), since autograd keeps its saved tensors
//   inside libtorch, where torch.memory() (the tensors JavaScript holds) does not see them. Each
//   configuration runs in its own child process so that peaks do not mix; "step MiB" is the peak
//   minus the RSS just before the first step (model, reference, optimizer and data loaded), i.e.
//   what the steps themselves added at their worst.
// On the real base model (checkpoints/base) when it exists; otherwise on a randomly initialised
// 16×16 tiny model, which the output says.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/torch/index.js';
import { TextToImageModel, type ModelConfig } from '../src/models/t2i.js';
import { generate, makeModelScheduler, noiseSchedule } from '../src/models/generate.js';
import { AdamW } from '../src/optim/index.js';
import { makeReward } from '../src/rewards/index.js';
import { rewardFn } from '../src/train/loop.js';
import { rlhfSharpeningLoss, sftSharpeningLoss } from '../src/train/methods/sharpening.js';
import { WorldStream } from '../src/data/world-stream.js';
import { loadSplit } from '../src/world/splits.js';
import { worldWords } from '../src/world/vocab.js';
import { median, printTable } from './util.js';

interface Job {
  n: number;
  m: number;
  gradPath: 'recompute' | 'full';
  batch: number;
  steps: number;
  method: 'sft' | 'rlhf';
  reward: string;
  base: string | null;
}

interface JobResult {
  msPerStep: number;
  peakRssMiB: number;
  stepMiB: number;
  nfePerStep: number;
}

function tinyConfig(): ModelConfig {
  const words = worldWords();
  return {
    format: 'sharpen-t2i/1',
    tokenizer: { words, maxLength: 24 },
    textEncoder: { vocabSize: words.length + 4, maxLength: 24, hiddenSize: 16, layers: 1, heads: 2, mlpRatio: 2 },
    unet: {
      sampleSize: 16, inChannels: 3, outChannels: 3, blockOutChannels: [8, 16], crossAttention: [false, true],
      layersPerBlock: 1, crossAttentionDim: 16, attentionHeadDim: 8, normNumGroups: 4, predictionType: 'epsilon',
    },
    schedule: { numTrainTimesteps: 1000, betaSchedule: 'linear', betaStart: 1e-4, betaEnd: 0.02 },
    sampling: { steps: 10, guidanceScale: 1 },
  };
}

/** One configuration, in this (child) process. */
async function child(job: Job): Promise<JobResult> {
  torch.manualSeed(0);
  const load = async () => (job.base ? TextToImageModel.load(job.base) : new TextToImageModel(tinyConfig()));
  const model = await load();
  model.textEncoder.requiresGrad_(false);
  const reference = job.method === 'rlhf' ? await load() : null;
  if (reference) {
    reference.loadStateDict(model.stateDict());
    reference.textEncoder.requiresGrad_(false);
    reference.unet.requiresGrad_(false);
  }
  let nfe = 0;
  const unet = model.unet;
  const fwd = unet.forward.bind(unet);
  unet.forward = ((x: torch.Tensor, ...rest: unknown[]) => {
    nfe += x.shape[0]!;
    return (fwd as (...a: unknown[]) => torch.Tensor)(x, ...rest);
  }) as typeof unet.forward;
  const schedule = noiseSchedule(model);
  const scheduler = makeModelScheduler(model, 'ddim', schedule);
  const reward = rewardFn(await makeReward(job.reward));
  const opt = new AdamW(unet.parameters(), { lr: 1e-6 });
  const size = model.config.unet.sampleSize;
  const T = schedule.numTrainTimesteps;
  const opts = { n: job.n, m: job.m, S: 25, gradPath: job.gradPath, beta: 2500 };

  // the data of every step, made before the first (RLHF: rollouts of the model, untimed)
  const stream = new WorldStream({ batchSize: job.batch, seed: 0, resolution: size, records: loadSplit('train') });
  const batches = Array.from({ length: job.steps + 1 }, (_, k) => {
    const b = stream.batchAt(k);
    if (job.method === 'sft') return { x0: torch.fromTypedArray(b.images, [...b.shape]), prompts: b.prompts };
    const rows = b.prompts.flatMap((p) => new Array<string>(job.n).fill(p));
    const { images } = generate(model, rows, { steps: 10 });
    const x0 = torch.tidy(() => images.mul(2).sub(1));
    images.dispose();
    return { x0, prompts: b.prompts };
  });
  const rssBefore = process.memoryUsage().rss;
  const ms: number[] = [];
  let nfeStep = 0;
  for (let k = 0; k < batches.length; k++) {
    const draws = { t: new Array<number>(job.batch).fill(T - 1), noise: torch.randn([job.batch * job.n, 3, size, size]) };
    const nfe0 = nfe;
    const t0 = performance.now();
    const r = job.method === 'sft'
      ? await sftSharpeningLoss(model, schedule, scheduler, batches[k]!, reward, opts, draws)
      : await rlhfSharpeningLoss(model, reference!, schedule, scheduler, batches[k]!, reward, opts, draws);
    r.loss.backward();
    opt.step();
    opt.zeroGrad();
    r.loss.dispose();
    if (k > 0) ms.push(performance.now() - t0);
    nfeStep = nfe - nfe0;
    draws.noise.dispose();
  }
  const peak = process.resourceUsage().maxRSS * 1024; // ru_maxrss is in KiB on Linux
  return { msPerStep: median(ms), peakRssMiB: peak / 2 ** 20, stepMiB: Math.max(0, peak - rssBefore) / 2 ** 20, nfePerStep: nfeStep };
}

function listArg(args: string[], name: string, def: string): string[] {
  const i = args.indexOf(`--${name}`);
  return (i >= 0 ? args[i + 1] ?? '' : def).split(',').filter(Boolean);
}
function intList(args: string[], name: string, def: string): number[] {
  return listArg(args, name, def).map((v) => {
    const x = Number(v);
    if (!Number.isSafeInteger(x) || x < 1) throw new Error(`--${name}: expected positive integers, got '${v}'`);
    return x;
  });
}

export async function run(): Promise<void> {
  const args = process.argv.slice(3);
  const ns = intList(args, 'n', '1,3,8');
  const ms = intList(args, 'm', '1,3,8');
  const paths = listArg(args, 'paths', 'recompute,full');
  for (const p of paths) if (p !== 'recompute' && p !== 'full') throw new Error(`--paths: unknown gradient path '${p}' (recompute, full)`);
  const [batch] = intList(args, 'batch', '2');
  const [steps] = intList(args, 'steps', '3');
  const method = listArg(args, 'method', 'sft')[0] as 'sft' | 'rlhf';
  if (method !== 'sft' && method !== 'rlhf') throw new Error(`--method: expected sft or rlhf, got '${method}'`);
  const reward = listArg(args, 'reward', 'compositional')[0]!;
  const baseDir = listArg(args, 'base', 'checkpoints/base')[0]!;
  const base = existsSync(`${baseDir}/model.safetensors`) ? baseDir : null;
  console.log(base
    ? `sharpening step benchmark on the base model ${base}: ${method}-sharpening, batch ${batch}, reward ${reward}, t = T−1 (m' = m), median of ${steps} steps`
    : `sharpening step benchmark: ${baseDir} does not exist, so this runs on a randomly initialised 16×16 tiny model (the figures are not the base model's); ` +
      `${method}-sharpening, batch ${batch}, reward ${reward}, median of ${steps} steps`);
  const rows: (string | number)[][] = [];
  const results: (Job & Partial<JobResult> & { skipped?: string })[] = [];
  const self = fileURLToPath(import.meta.url);
  for (const n of ns) {
    for (const m of ms) {
      for (const gradPath of paths as Job['gradPath'][]) {
        const job: Job = { n, m, gradPath, batch: batch!, steps: steps!, method, reward, base };
        if (method === 'rlhf' && n < 2) {
          results.push({ ...job, skipped: 'rlhf needs n ≥ 2' });
          continue;
        }
        const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', JSON.stringify(job)], { encoding: 'utf8', maxBuffer: 64 << 20 });
        const line = r.stdout.trim().split('\n').at(-1) ?? '';
        if (r.status !== 0 || !line.startsWith('{')) {
          const why = (r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ');
          results.push({ ...job, skipped: `failed: ${why}` });
          rows.push([n, m, gradPath, 'failed', '', '', '']);
          continue;
        }
        const res = JSON.parse(line) as JobResult;
        results.push({ ...job, ...res });
        rows.push([n, m, gradPath, res.msPerStep.toFixed(0), res.peakRssMiB.toFixed(0), res.stepMiB.toFixed(0), res.nfePerStep]);
      }
    }
  }
  printTable(['n', 'm', 'grad path', 'ms/step', 'peak RSS MiB', 'step MiB', 'NFE/step'], rows);
  for (const r of results.filter((r) => r.skipped)) console.log(`skipped n=${r.n} m=${r.m} ${r.gradPath}: ${r.skipped}`);
  console.log(JSON.stringify({ bench: 'sharpening', base: base ?? 'tiny (random)', method, batch, steps, results }));
}

if (process.argv[2] === '--child') {
  const r = await child(JSON.parse(process.argv[3]!) as Job);
  console.log(JSON.stringify(r));
}
