// `npm run bench -- sharpening [--method rlhf|sft] [--rank-by trajectory|image] [--lora-rank 8] [--batch 4]
//                              [--steps 5] [--reward-warmup 4] [--reward compositional] [--base checkpoints/base] [--seed 0]`
// `npm run bench -- sharpening --table [--n 1,3,8] [--m 1,3,8] [--paths recompute,full] [--batch 2]
//                              [--steps 3] [--method sft|rlhf] [--reward compositional] [--base checkpoints/base]`
//
// Two benchmarks of one Diffusion-Sharpening training step (docs/methods.md).
//
// 1. The breakdown (default): where the wall-clock of one step goes, for the method as the
//    fine-tuning loop (src/train/loop.ts) runs it. The bench builds what the loop builds: the base
//    checkpoint with its text encoder frozen (eval mode) and its UNet in train mode, LoRA adapters on
//    every Linear and Conv2d of the UNet (injectLoRA, --lora-rank r; 0: full fine-tuning), a frozen
//    reference copy when the method needs one, the reward as rewardFn(makeReward(name)), the world's
//    train prompts (promptSource) or stream (imageCaptionSource, for sft), AdamW over the trainable
//    parameters (the loop's default lr 5e-5), and per step a MethodContext like the loop's. It then
//    calls the method itself (rlhfSharpening or sftSharpening: makeBatch, loss) with its default
//    options (the method's optionsSchema.parse({}), plus --rank-by), then the loop's backward and
//    optimizer step. Each step is cut into phases, in ms and % of the step:
//    - rollout: method.makeBatch (RLHF: generating the n images per prompt with the current policy;
//      SFT: the world's data batch), with the UNet's share of it;
//    - reward: every call of the reward (the RewardFn handed to the method is wrapped), wherever
//      it happens (RLHF's rankBy 'image' scores the rollouts, otherwise the unrolled x̂0);
//    - unroll: the UNet forwards during method.loss, split into the policy without a graph (the
//      rollout of all n trajectories), the policy with a graph (the recomputed chosen ones, or all
//      with gradPath 'full') and the frozen reference;
//    - backward: loss.backward() (with loss.item() before it, as the loop does);
//    - optimizer: clipGradNorm (the loop's gradClip 1) + AdamW step + zeroGrad;
//    - other: the rest of the step's wall-clock (sampler steps, re-noising, index bookkeeping, the
//      loss arithmetic, the text encoder — whose share is shown — and freeing the batch).
//    "network" is every UNet forward (rollout and loss, policy and reference) plus backward; the
//    rest is "not network". UNet forwards are timed by wrapping model.unet.forward (and the
//    reference's) with performance.now(): libtorch on CPU runs synchronously, so the wall-clock of
//    a call is its compute. (On CUDA a call returns before its kernels finish; these figures are
//    then meaningless per phase, only the step total holds.) Every phase is timed on two clocks:
//    wall-clock, and the process's CPU time (process.cpuUsage(): user + system of all its threads).
//    On a machine that other work shares, wall-clock counts the time the process waited for a core
//    while CPU time does not; with one libtorch thread (OMP_NUM_THREADS=1) the CPU time of a phase
//    is then the better measure of its cost (with more threads it adds up the threads' time, and
//    the wall-clock of an idle machine is the measure). One warm-up step, then --steps timed steps
//    (each one's total goes to stderr); each phase is the mean over the timed steps, so the phases
//    add up to the mean step. Between the warm-up step and the timed ones the reward scores the
//    images it scored in the warm-up step --reward-warmup more times, untimed: V8 compiles the
//    compositional evaluator (JavaScript) to its fastest tier only after many calls, which a run
//    of hundreds of steps makes in its first steps but a benchmark of a few steps would not (it
//    would time the reward at 2–5× its cost in a run; 0 times it cold). t is drawn as in training (uniform), so the number of unrolled steps
//    m' varies between steps: more steps, steadier means. One JSON line last (every step's phases too).
// 2. The n × m table (--table): time and peak memory of one step for every n × m, with the
//    default gradient path ('recompute': roll out without a graph, recompute the chosen ones) and
//    the authors' ('full': keep the graph of all n). What is measured, and how:
//    - the step of sft-sharpening on the world's images (default) or of rlhf-sharpening on rollouts
//      of the model (--method rlhf; n = 1 is skipped there, it needs a winner and a loser). The
//      rollouts that RLHF generates before its step are not timed: they do not depend on the
//      gradient path;
//    - t = T − 1 for every example, so that every trajectory takes all m steps (m' = m) and each
//      configuration does the same work at every step; the text encoder is frozen, the UNet trained;
//    - ms per step: the median of --steps timed steps after one warm-up step;
//    - memory: the process's peak RSS (getrusage ru_maxrss), since autograd keeps its saved
//      tensors inside libtorch, where torch.memory() (the tensors JavaScript holds) does not see
//      them. Each configuration runs in its own child process so that peaks do not mix; "step MiB"
//      is the peak minus the RSS just before the first step (model, reference, optimizer and data
//      loaded), i.e. what the steps themselves added at their worst.
// Both run on the real base model (checkpoints/base) when it exists; otherwise on a randomly
// initialised 16×16 tiny model, which the output says.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/torch/index.js';
import { TextToImageModel, type ModelConfig } from '../src/models/t2i.js';
import { generate, makeModelScheduler, noiseSchedule } from '../src/models/generate.js';
import { AdamW, clipGradNorm } from '../src/optim/index.js';
import { injectLoRA } from '../src/nn/lora.js';
import { makeReward } from '../src/rewards/index.js';
import { imageCaptionSource, promptSource, rewardFn } from '../src/train/loop.js';
import type { FinetuneMethod, MethodContext } from '../src/train/finetune-method.js';
import { rlhfSharpening, rlhfSharpeningOptionsSchema } from '../src/train/methods/rlhf-sharpening.js';
import { sftSharpening, sftSharpeningOptionsSchema } from '../src/train/methods/sft-sharpening.js';
import { rlhfSharpeningLoss, sftSharpeningLoss } from '../src/train/methods/sharpening.js';
import type { RewardFn } from '../src/train/rollout.js';
import { WorldStream } from '../src/data/world-stream.js';
import { loadSplit } from '../src/world/splits.js';
import { median, printTable } from './util.js';
import { tinyWorldConfig } from '../src/models/tiny-world.js';

// ------------------------------------------------------------------ 1. the breakdown of one step

type Phase = 'rollout' | 'loss' | 'idle';

/** What is timed in a step, each on two clocks. */
const TIMED = [
  'rollout', 'rolloutUnet', 'reward', 'unrollNoGraph', 'unrollGraph', 'unrollReference', 'textEncoder', 'backward', 'optimizer', 'step',
] as const;
type Timed = (typeof TIMED)[number];

interface StepTimes {
  /** wall-clock ms */
  wall: Record<Timed, number>;
  /** CPU ms of the whole process (user + system, every thread) */
  cpu: Record<Timed, number>;
  rewardCalls: number;
  rewardImages: number;
  /** UNet images (NFE), policy and reference */
  nfe: number;
}

function emptyTimes(): StepTimes {
  const zero = () => Object.fromEntries(TIMED.map((k) => [k, 0])) as Record<Timed, number>;
  return { wall: zero(), cpu: zero(), rewardCalls: 0, rewardImages: 0, nfe: 0 };
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** A started timer: `stop(rec, key)` adds the time since its start to rec[key] on both clocks. */
function startTimer(): { stop: (rec: StepTimes, key: Timed) => void } {
  const w0 = performance.now();
  const c0 = cpuMs();
  return {
    stop(rec, key) {
      rec.wall[key] += performance.now() - w0;
      rec.cpu[key] += cpuMs() - c0;
    },
  };
}

const BREAKDOWN_FLAGS = ['method', 'rank-by', 'lora-rank', 'batch', 'steps', 'seed', 'reward-warmup', 'reward', 'base'];

async function runBreakdown(args: string[]): Promise<void> {
  const unknown = args.filter((a, i) => (a.startsWith('--') ? !BREAKDOWN_FLAGS.includes(a.slice(2)) : !args[i - 1]?.startsWith('--')));
  if (unknown.length) throw new Error(`bench sharpening: unknown argument(s) ${unknown.join(' ')}; the breakdown takes --${BREAKDOWN_FLAGS.join(', --')} (the n × m table: --table)`);
  const methodArg = listArg(args, 'method', 'rlhf')[0];
  if (methodArg !== 'rlhf' && methodArg !== 'sft') throw new Error(`--method: expected rlhf or sft, got '${methodArg}'`);
  const rankBy = listArg(args, 'rank-by', '')[0];
  if (rankBy !== undefined && rankBy !== 'trajectory' && rankBy !== 'image') throw new Error(`--rank-by: expected trajectory or image, got '${rankBy}'`);
  if (rankBy !== undefined && methodArg !== 'rlhf') throw new Error('--rank-by is an option of rlhf-sharpening (--method rlhf)');
  const [loraRank] = intList(args, 'lora-rank', '8', 0);
  const [batch] = intList(args, 'batch', '4');
  const [steps] = intList(args, 'steps', '5');
  const [seed] = intList(args, 'seed', '0', 0);
  const [rewardWarmup] = intList(args, 'reward-warmup', '4', 0);
  const rewardName = listArg(args, 'reward', 'compositional')[0]!;
  const baseDir = listArg(args, 'base', 'checkpoints/base')[0]!;
  const base = existsSync(`${baseDir}/model.safetensors`) ? baseDir : null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const method: FinetuneMethod<any, any> = methodArg === 'rlhf' ? rlhfSharpening : sftSharpening;
  const options = (methodArg === 'rlhf' ? rlhfSharpeningOptionsSchema : sftSharpeningOptionsSchema).parse(rankBy ? { rankBy } : {}) as Record<string, unknown>;

  // ---- the models, as loop.ts builds them
  torch.manualSeed(seed!);
  const load = async () => (base ? TextToImageModel.load(base) : new TextToImageModel(tinyConfig()));
  const model = await load();
  model.textEncoder.requiresGrad_(false).train(false);
  model.unet.train(true);
  if (loraRank! > 0) injectLoRA(model.unet, { rank: loraRank!, target: () => true });
  const trainable = model.unet.trainableParameters();
  const nTrainable = trainable.reduce((s, p) => s + p.numel(), 0);
  let reference: TextToImageModel | null = null;
  if (method.needsReference(options)) {
    reference = await load();
    if (!base) reference.loadStateDict(Object.fromEntries(Object.entries(model.stateDict()).filter(([k]) => !k.includes('.lora_layer.'))));
    reference.textEncoder.requiresGrad_(false).train(false);
    reference.unet.requiresGrad_(false).train(false);
  }

  // ---- the timers: every UNet forward (policy and reference) and every text-encoder forward
  let rec = emptyTimes();
  let phase: Phase = 'idle';
  const timeNetworks = (m: TextToImageModel, isReference: boolean) => {
    const unet = m.unet;
    const fwd = unet.forward.bind(unet);
    unet.forward = ((x: torch.Tensor, ...rest: unknown[]) => {
      const timer = startTimer();
      try {
        return (fwd as (...a: unknown[]) => torch.Tensor)(x, ...rest);
      } finally {
        rec.nfe += x.shape[0]!;
        timer.stop(rec, phase === 'rollout' ? 'rolloutUnet' : isReference ? 'unrollReference' : torch.isGradEnabled() ? 'unrollGraph' : 'unrollNoGraph');
      }
    }) as typeof unet.forward;
    const te = m.textEncoder;
    const teFwd = te.forward.bind(te);
    te.forward = ((...a: unknown[]) => {
      const timer = startTimer();
      try {
        return (teFwd as (...b: unknown[]) => unknown)(...a);
      } finally {
        // the rollout's encodings stay inside the rollout's time
        if (phase !== 'rollout') timer.stop(rec, 'textEncoder');
      }
    }) as typeof te.forward;
  };
  timeNetworks(model, false);
  if (reference) timeNetworks(reference, true);

  const schedule = noiseSchedule(model);
  const scheduler = makeModelScheduler(model, 'ddim', schedule);
  const reward = await makeReward(rewardName);
  const tmp = await mkdtemp(join(tmpdir(), 'bench-sharpening-'));
  try {
    const resolution = model.config.unet.sampleSize;
    const data = method.needsData ? await imageCaptionSource('world', { seed: seed!, resolution, out: tmp }) : null;
    const prompts = await promptSource('world', { seed: seed!, out: tmp });
    const opt = new AdamW(trainable, { lr: 5e-5 });
    console.log(
      `sharpening step breakdown: ${method.name} (${JSON.stringify(options)}) on ${base ? `the base model ${base}` : `a randomly initialised 16×16 tiny model (${baseDir} does not exist; the figures are not the base model's)`}, ` +
      `${loraRank! > 0 ? `LoRA rank ${loraRank} on every Linear and Conv2d` : 'full fine-tuning'} (${nTrainable} trainable parameters), batch ${batch}, reward ${rewardName}, ` +
      `${torch.getNumThreads()} libtorch thread(s); mean of ${steps} steps after 1 warm-up step` +
      (rewardWarmup! > 0 ? ` and ${rewardWarmup} more untimed passes of the reward over the images it scored in it` : ''),
    );
    const timed: StepTimes[] = [];
    const scored0 = rewardFn(reward);
    /** what the reward scored in the warm-up step, scored again before the timed steps */
    const warmInputs: { images: torch.Tensor; prompts: string[] }[] = [];
    torch.manualSeed(seed!);
    for (let k = 0; k <= steps!; k++) {
      rec = emptyTimes();
      const scored = rewardFn(reward); // as the loop's ctx, per micro-batch
      const timedReward: RewardFn = async (images, p) => {
        if (k === 0 && rewardWarmup! > 0) warmInputs.push({ images: torch.noGrad(() => images.detach().clone()), prompts: [...p] });
        const timer = startTimer();
        try {
          return await scored(images, p);
        } finally {
          timer.stop(rec, 'reward');
          rec.rewardCalls++;
          rec.rewardImages += p.length;
        }
      };
      const ctx: MethodContext = {
        model, reference, schedule, scheduler, reward: timedReward, data, prompts, options, batchSize: batch!, step: k, position: k, state: null, gradScale: 1,
      };
      const stepTimer = startTimer();
      phase = 'rollout';
      const rolloutTimer = startTimer();
      const b = await method.makeBatch(ctx);
      rolloutTimer.stop(rec, 'rollout');
      phase = 'loss';
      try {
        const r = await method.loss(ctx, b);
        phase = 'idle';
        try {
          const v = r.loss.item();
          if (!Number.isFinite(v)) throw new Error(`step ${k}: the loss is ${v}`);
          const backwardTimer = startTimer();
          if (!r.backwardDone) torch.tidy(() => r.loss.backward()); // DDPO and D3PO back-propagate inside their loss
          backwardTimer.stop(rec, 'backward');
        } finally {
          r.loss.dispose();
        }
      } finally {
        phase = 'idle';
        method.disposeBatch(b);
      }
      const optTimer = startTimer();
      clipGradNorm(trainable, 1, 2, { errorIfNonfinite: false }); // the loop's gradClip 1
      opt.step();
      opt.zeroGrad();
      optTimer.stop(rec, 'optimizer');
      stepTimer.stop(rec, 'step');
      console.error(`${k === 0 ? 'warm-up step' : `step ${k}`}: ${rec.wall.step.toFixed(0)} ms wall, ${rec.cpu.step.toFixed(0)} ms CPU, ${rec.nfe} NFE, ${rec.rewardImages} images scored`);
      if (k > 0) timed.push(rec);
      if (k === 0) {
        // the JIT: a long run scores thousands of images, and the reward's code (the compositional
        // evaluator is JavaScript) is compiled to its fastest tier after the first dozens; a few
        // steps would otherwise time it while V8 still compiles it
        for (let pass = 0; pass < rewardWarmup!; pass++) for (const w of warmInputs) await scored0(w.images, w.prompts);
        for (const w of warmInputs) w.images.dispose();
      }
    }
    printBreakdown(timed, method.needsData ? 'data (makeBatch: the batch of images)' : 'rollout (makeBatch)', { method: method.name, options, base: base ?? 'tiny (random)', loraRank: loraRank!, batch: batch!, reward: rewardName, threads: torch.getNumThreads() });
    opt.dispose();
  } finally {
    await rm(tmp, { recursive: true, force: true });
    schedule.dispose();
    reward.dispose?.();
    reference?.dispose();
    model.dispose();
  }
}

/** The phases of a step (mean over the timed steps) on one clock; `other` is the step less the rest. */
function phasesOf(times: StepTimes[], clock: 'wall' | 'cpu') {
  const mean = (k: Timed) => times.reduce((s, t) => s + t[clock][k], 0) / times.length;
  const m = Object.fromEntries(TIMED.map((k) => [k, mean(k)])) as Record<Timed, number>;
  const unroll = m.unrollNoGraph + m.unrollGraph + m.unrollReference;
  const other = m.step - m.rollout - m.reward - unroll - m.backward - m.optimizer;
  const network = m.rolloutUnet + unroll + m.backward;
  return { ...m, unroll, other, network, notNetwork: m.step - network };
}

function printBreakdown(times: StepTimes[], batchLabel: string, meta: Record<string, unknown>): void {
  const w = phasesOf(times, 'wall');
  const c = phasesOf(times, 'cpu');
  const mean = (f: (t: StepTimes) => number) => times.reduce((s, t) => s + f(t), 0) / times.length;
  const row = (label: string, k: keyof typeof w): string[] => [
    label, w[k].toFixed(1), `${((100 * w[k]) / w.step).toFixed(1)} %`, c[k].toFixed(1), `${((100 * c[k]) / c.step).toFixed(1)} %`,
  ];
  const sub = (label: string, wv: number, cv: number): string[] => [
    label, wv.toFixed(1), `${((100 * wv) / w.step).toFixed(1)} %`, cv.toFixed(1), `${((100 * cv) / c.step).toFixed(1)} %`,
  ];
  printTable(['phase', 'wall ms', '% of step', 'CPU ms', '% of step (CPU)'], [
    row(batchLabel, 'rollout'),
    row('  of which UNet forwards', 'rolloutUnet'),
    sub('  of which the rest (sampler, conversions)', w.rollout - w.rolloutUnet, c.rollout - c.rolloutUnet),
    row(`reward (${mean((t) => t.rewardCalls).toFixed(1)} calls, ${mean((t) => t.rewardImages).toFixed(1)} images)`, 'reward'),
    row('unroll (UNet forwards of the loss)', 'unroll'),
    row('  policy, no graph (rollout of the n)', 'unrollNoGraph'),
    row('  policy, with graph (recompute)', 'unrollGraph'),
    row('  reference', 'unrollReference'),
    row('backward', 'backward'),
    row('optimizer (clip + AdamW + zeroGrad)', 'optimizer'),
    row('other', 'other'),
    row('  of which text encoder (loss)', 'textEncoder'),
    row('step', 'step'),
    row('network (every UNet forward + backward)', 'network'),
    row('not network', 'notNetwork'),
  ]);
  console.log(`not network: ${((100 * w.notNetwork) / w.step).toFixed(1)} % of the step's wall-clock, ${((100 * c.notNetwork) / c.step).toFixed(1)} % of its CPU time (the target: under 15 %); ` +
    `${mean((t) => t.nfe).toFixed(1)} UNet images (NFE) per step`);
  console.log(JSON.stringify({ bench: 'sharpening-breakdown', ...meta, steps: times.length, msPerStep: { wall: w, cpu: c }, perStep: times }));
}

// ------------------------------------------------------------------ 2. the n × m table

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

/** The test-size world model, sampling 10 steps. */
function tinyConfig(): ModelConfig {
  return { ...tinyWorldConfig(), sampling: { steps: 10, guidanceScale: 1 } };
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
function intList(args: string[], name: string, def: string, min = 1): number[] {
  return listArg(args, name, def).map((v) => {
    const x = Number(v);
    if (!Number.isSafeInteger(x) || x < min) throw new Error(`--${name}: expected integers ≥ ${min}, got '${v}'`);
    return x;
  });
}

async function runTable(args: string[]): Promise<void> {
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

export async function run(): Promise<void> {
  const args = process.argv.slice(3);
  if (args.includes('--table')) await runTable(args.filter((a) => a !== '--table'));
  else await runBreakdown(args);
}

if (process.argv[2] === '--child') {
  const r = await child(JSON.parse(process.argv[3]!) as Job);
  console.log(JSON.stringify(r));
}
