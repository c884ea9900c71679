// The one fine-tuning loop every method plugs into (finetune-method.ts). It owns what all methods share:
//
// - the starting point: the base checkpoint (TextToImageModel.load); the text encoder is frozen
//   (as Stable Diffusion fine-tuning freezes CLIP) and the UNet is trained, fully (loraRank 0) or
//   through LoRA adapters (Hu et al. 2021; src/nn/lora.ts) on its attention projections or on every
//   Linear and Conv2d; a frozen reference copy when the method asks for one;
// - the optimisation: AdamW, an LR schedule (constant, warmup or cosine), gradient accumulation over
//   `accumulation` micro-batches, clipping of the total gradient norm, an optional EMA of the weights;
// - the guard: a step whose loss, reward or gradient is not finite is skipped without touching the
//   weights, the optimizer, the schedule or the EMA, counted and logged; `maxNonFinite` such steps
//   in a row stop the run with a clear message;
// - the bookkeeping: checkpoints every `checkpointEvery` steps, written atomically (checkpoint.ts:
//   weights or adapters, optimizer, EMA, RNG state, the method's state, step, data position, config) so that a
//   process killed at any moment resumes exactly (bit-identical weights); metrics per step as JSONL
//   (<out>/metrics.jsonl) and in the SQLite run store; a progress bar with loss, reward mean/best/worst,
//   steps/s and ETA; the training NFE (every network call of the policy and the reference, per image);
// - the held-out curve (`evalEvery` K > 0): at step 0, every K steps and at the last step the policy as
//   it is (LoRA active, eval mode) samples a fixed set of the world's val prompts from fixed noises and
//   the world's evaluator scores them (held-out.ts); one line per evaluation in <out>/eval.jsonl (step,
//   training wall-clock, the mean and each category, NFE per image) and `heldOut` in that step's
//   metrics. The generators' states are restored after it, so the weights are those of a run without
//   it, bit for bit; its time is left out of the training wall-clock; a resumed run drops the lines
//   after its restored step and keeps (does not recompute) those up to it;
// - the result: <out>/config.json + model.safetensors (adapters merged, the EMA weights when EMA is
//   on) that `sharpen sample/eval --ckpt <out>` read as they read checkpoints/base, plus
//   finetune-config.json (resolved config and command line) and summary.json.
//
// Use from code:   const { outDir, summary } = await finetune({ method: 'rlhf-sharpening', reward: 'compositional', out: 'runs/x', steps: 300 }, { onStep });
// Configs are flat: the loop's fields (LoopConfigSchema) and the method's options (its optionsSchema,
// e.g. n, m, S, beta) side by side; unknown keys are rejected.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AdamW, EMA, LRScheduler, clipGradNorm, makeSchedule } from '../optim/index.js';
import { TextToImageModel } from '../models/t2i.js';
import { makeModelScheduler, noiseSchedule } from '../models/generate.js';
import { injectLoRA, loadLoRAStateDict, loraStateDict, mergeLoRA } from '../nn/lora.js';
import { makeReward, rewardNames, type Reward } from '../rewards/index.js';
import { RunStore, DEFAULT_STORE_PATH } from '../store/runs.js';
import { imageCaptionSource, promptSource } from '../data/source.js';
import { JsonlWriter, readJsonl } from '../util/jsonl.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { Progress } from '../util/progress.js';
import { formatZodError } from '../util/config.js';
import {
  saveCheckpoint, resumeCheckpointDir, loadCheckpoint, disposeCheckpoint, rngStateToBase64, restoreRngState, methodStatePart, restoreMethodState,
} from './checkpoint.js';
import {
  NonFiniteError, type FinetuneMethod, type ImageCaptionSource, type MethodSetup, type MethodState, type PromptSource, type RewardFn,
} from './finetune-method.js';
import { getMethod, methodNames } from './methods/index.js';
import { evaluateHeldOut, HELD_OUT_SPLIT, type HeldOutRecord } from './held-out.js';

/** The fine-tuning batch sources (src/data/source.ts), as the loop builds them. */
export { imageCaptionSource, promptSource };

// ------------------------------------------------------------------ config

export const LoopConfigSchema = z.object({
  /** the fine-tuning method, by name (train/methods/index.ts) */
  method: z.string().min(1),
  /** the reward, by name (rewards/index.ts); methods without a reward take none */
  reward: z.string().min(1).nullable().default(null),
  /** options of the reward's factory */
  rewardOptions: z.record(z.string(), z.unknown()).default({}),
  /** the starting checkpoint (config.json + model.safetensors) */
  base: z.string().min(1).default('checkpoints/base'),
  /** the run folder: checkpoints/, metrics.jsonl, the final model, finetune-config.json, summary.json */
  out: z.string().min(1),
  /** the SQLite run store */
  store: z.string().min(1).default(DEFAULT_STORE_PATH),
  /** the run's name in the store (default: the out folder's name) */
  name: z.string().min(1).nullable().default(null),
  /** seeds the noise, timesteps, rollouts, LoRA initialisation and the data order */
  seed: z.number().int().min(0).default(0),
  /** 'world' (the embedded world's train split) or a folder with metadata.jsonl: the images and
   *  captions of dataset methods, the prompts of prompt-only methods */
  data: z.string().min(1).default('world'),
  /** optimizer steps */
  steps: z.number().int().positive().default(300),
  /** examples (images or prompts) per micro-batch */
  batch: z.number().int().positive().default(4),
  /** micro-batches per optimizer step (gradient accumulation) */
  accumulation: z.number().int().positive().default(1),
  /** AdamW learning rate */
  lr: z.number().positive().default(5e-5),
  lrSchedule: z.enum(['constant', 'warmup', 'cosine']).default('constant'),
  warmupSteps: z.number().int().min(0).default(0),
  /** the cosine schedule's final lr */
  minLr: z.number().min(0).default(0),
  weightDecay: z.number().min(0).default(0),
  /** the total gradient norm is clipped to this (0: no clipping; the norm is still checked for NaN) */
  gradClip: z.number().min(0).default(1),
  /** EMA decay of the trained weights (0: no EMA); with EMA the exported model holds the averages */
  emaDecay: z.number().min(0).lt(1).default(0),
  /** LoRA rank on the UNet (0: full fine-tuning of the UNet) */
  loraRank: z.number().int().min(0).default(0),
  /** LoRA scale numerator α (the update is α/r · BA; default α = r) */
  loraAlpha: z.number().positive().nullable().default(null),
  /** LoRA on the attention projections (to_q, to_k, to_v, to_out.0) or on every Linear and Conv2d of the UNet */
  loraTargets: z.enum(['attention', 'all']).default('all'),
  /** a checkpoint every this many steps (and at the end) */
  checkpointEvery: z.number().int().positive().default(50),
  /** checkpoints kept on disk */
  keepCheckpoints: z.number().int().min(1).default(2),
  /** stop after this many consecutive steps with a non-finite loss, reward or gradient */
  maxNonFinite: z.number().int().positive().default(5),
  /** the held-out curve: every this many steps (and at step 0 and the last step) the policy is scored
   *  on fixed val prompts and noises into <out>/eval.jsonl (0: never); training is unchanged by it */
  evalEvery: z.number().int().min(0).default(0),
  /** the held-out curve's prompts per category (the first K of the val split's) */
  evalPerCategory: z.number().int().min(1).default(10),
  /** the held-out curve's images per prompt */
  evalImagesPerPrompt: z.number().int().min(1).default(1),
  /** seeds the held-out curve's initial noises (the same at every evaluation) */
  evalSeed: z.number().int().min(0).default(777),
}).strict();

export type LoopConfig = z.infer<typeof LoopConfigSchema>;

/** A resolved config: the loop's fields and the method's options, flat. */
export type FinetuneConfig = LoopConfig & Record<string, unknown>;

/** What finetune() accepts: the loop's fields (method and out required) and the method's options. */
export type FinetuneInput = Partial<LoopConfig> & { method: string; out: string } & Record<string, unknown>;

export interface ResolvedFinetune {
  config: FinetuneConfig;
  loop: LoopConfig;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  method: FinetuneMethod<any, any, any>;
  options: Record<string, unknown>;
}

const LOOP_KEYS = Object.keys(LoopConfigSchema.shape);

/** Splits a flat config into the loop's fields and the method's options and checks both. */
export function resolveFinetuneConfig(input: Record<string, unknown>): ResolvedFinetune {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('finetune config: expected an object');
  if (typeof input.method !== 'string') throw new Error(`finetune config: method is required (one of ${methodNames().join(', ')})`);
  const method = getMethod(input.method);
  const loopPart: Record<string, unknown> = {};
  const methodPart: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined) continue;
    (LOOP_KEYS.includes(k) ? loopPart : methodPart)[k] = v;
  }
  const lp = LoopConfigSchema.safeParse(loopPart);
  if (!lp.success) throw new Error(formatZodError(lp.error, 'finetune config'));
  const loop = lp.data;
  const methodKeys = Object.keys((method.optionsSchema as unknown as { shape?: object }).shape ?? {});
  const unknown = Object.keys(methodPart).filter((k) => !methodKeys.includes(k));
  if (unknown.length) {
    throw new Error(
      `finetune config: unknown option${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} for method ${method.name}; ` +
      `its options: ${methodKeys.join(', ') || '(none)'}; the loop's: ${LOOP_KEYS.join(', ')}`,
    );
  }
  const mp = method.optionsSchema.safeParse(methodPart);
  if (!mp.success) throw new Error(formatZodError(mp.error, `finetune config (method ${method.name})`));
  const options = mp.data as Record<string, unknown>;
  if (method.needsReward && loop.reward === null) {
    throw new Error(`method ${method.name} needs a reward: pass --reward NAME (registered: ${rewardNames().join(', ') || 'none'})`);
  }
  if (!method.needsReward && loop.reward !== null) {
    throw new Error(`method ${method.name} uses no reward; drop reward '${loop.reward}'`);
  }
  if (loop.loraRank === 0 && loop.loraAlpha !== null) throw new Error('finetune config: loraAlpha is set but loraRank is 0 (full fine-tuning)');
  if (loop.lrSchedule === 'cosine' && loop.warmupSteps > loop.steps) {
    throw new Error(`finetune config: warmupSteps (${loop.warmupSteps}) exceeds steps (${loop.steps})`);
  }
  return { config: { ...loop, ...options }, loop, method, options };
}

// ------------------------------------------------------------------ rewards

/**
 * A registered Reward as the losses' RewardFn: its scores, checked. An `unscored` sample is an Error
 * (the methods compare every trajectory); a NaN or infinite score is a NonFiniteError (the loop
 * skips the step).
 */
export function rewardFn(reward: Reward): RewardFn {
  return async (images, prompts) => {
    const out = await reward.score(images, prompts);
    const n = prompts.length;
    if (!out || !Array.isArray(out.scores) || out.scores.length !== n) {
      throw new Error(`reward '${reward.name}' returned ${Array.isArray(out?.scores) ? out.scores.length : 'no'} scores for ${n} images`);
    }
    const unscored = (out.unscored ?? []).findIndex(Boolean);
    if (unscored >= 0) {
      throw new Error(
        `reward '${reward.name}' could not score image ${unscored} (prompt ${JSON.stringify(prompts[unscored])}); ` +
        'fine-tuning needs a score for every sample (check the reward\'s endpoint or its failure policy)',
      );
    }
    out.scores.forEach((v, i) => {
      if (typeof v !== 'number') throw new Error(`reward '${reward.name}': score ${i} is not a number`);
      if (!Number.isFinite(v)) throw new NonFiniteError(`reward '${reward.name}' gave ${v} for prompt ${JSON.stringify(prompts[i])}`);
    });
    return out.scores;
  };
}

// ------------------------------------------------------------------ the loop

export interface StepInfo {
  /** steps done (1-based: the step just finished) */
  step: number;
  total: number;
  /** mean loss of the step's micro-batches (NaN when skipped) */
  loss: number;
  /** the lr the step used */
  lr: number;
  /** total gradient norm before clipping (NaN when skipped before the backward pass) */
  gradNorm: number;
  /** whether the step was skipped by the non-finite guard */
  skipped: boolean;
  /** the method's logs, averaged over the micro-batches (rewardMean, rewardBest, rewardWorst, …) */
  logs: Record<string, number>;
  /** network evaluations × images in this step (policy and reference), and in the run so far */
  nfe: number;
  nfeTotal: number;
  elapsedSec: number;
}

export interface FinetuneSummary {
  method: string;
  base: string;
  out: string;
  /** steps done (skipped ones included) */
  steps: number;
  /** wall-clock seconds over all sessions of the run */
  wallClockSec: number;
  /** network evaluations × images during training (policy and reference) */
  trainingNfe: number;
  skippedSteps: number;
  /** trainable parameters (the UNet's, or the adapters') */
  trainableParameters: number;
  loraRank: number;
  ema: boolean;
  /** means of every logged number over the non-skipped steps */
  means: Record<string, number>;
  /** the same over the last tenth of the steps (at least one) */
  finalMeans: Record<string, number>;
  /** the held-out curve's last value (compositional on the val prompts at the last step); null without evalEvery */
  heldOut: number | null;
  /** seconds spent in held-out evaluations (not in wallClockSec) */
  evalWallClockSec: number;
}

export interface FinetuneOptions {
  /** called after every step */
  onStep?: (info: StepInfo) => void;
  /** aborting saves a checkpoint at the current step and rejects with an AbortError */
  signal?: AbortSignal;
  /** continue the run in `out` from its last checkpoint (the config may differ only in steps and out) */
  resume?: boolean;
  /** resume from this checkpoint (`checkpoint-N`) instead of `latest` (implies resume); what it skips is logged */
  resumeFrom?: string;
  /** the command line, saved in finetune-config.json */
  command?: string[];
  /** messages (default: stderr) */
  log?: (msg: string) => void;
  /** show the progress bar (default true) */
  progress?: boolean;
}

/** Files that mark a folder as holding a run. */
const RUN_MARKERS = ['finetune-config.json', 'checkpoints', 'metrics.jsonl', 'summary.json', 'model.safetensors', 'eval.jsonl'];

const LORA_ATTENTION = /(^|\.)attn[12]\.(to_q|to_k|to_v|to_out\.0)$/;

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Counts the images that go through a model's UNet (one NFE per image per call; CFG's doubled batch counts 2). */
function countNfe(model: TextToImageModel, counter: { n: number }): void {
  const unet = model.unet;
  const forward = unet.forward.bind(unet);
  unet.forward = ((x: Tensor, ...rest: unknown[]) => {
    counter.n += x.shape[0]!;
    return (forward as (...a: unknown[]) => Tensor)(x, ...rest);
  }) as typeof unet.forward;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function meanOf(records: Record<string, unknown>[]): Record<string, number> {
  const sums: Record<string, number> = {};
  const counts: Record<string, number> = {};
  for (const r of records) {
    for (const [k, v] of Object.entries(r)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || ['step', 'skipped', 'nfeTotal', 'elapsedSec', 'heldOut'].includes(k)) continue;
      sums[k] = (sums[k] ?? 0) + v;
      counts[k] = (counts[k] ?? 0) + 1;
    }
  }
  return Object.fromEntries(Object.keys(sums).map((k) => [k, sums[k]! / counts[k]!]));
}

class AbortError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AbortError';
  }
}

/** The run folder as checked before anything is loaded or written. */
interface RunFolder {
  out: string;
  ckptRoot: string;
  cfgPath: string;
  resuming: boolean;
  /** finetune-config.json of the run being resumed */
  previous: { config: FinetuneConfig; runId?: number; baseSha256?: string } | null;
  /** the checkpoint a resume continues from (null: none yet) */
  resumeDir: string | null;
  /** what was there before this run: a new run that fails before its first step removes only what it wrote */
  outExisted: boolean;
  keptFiles: string[];
}

/**
 * The run folder: a new run needs a free one; a resumed run the same config (but steps; the folder
 * is compared resolved, and a moved or copied run folder resumes whatever out it was given) and a
 * checkpoint to continue from (`latest`, or opts.resumeFrom; a broken `latest` is an Error naming
 * what is broken and the newest intact checkpoint).
 */
function checkRunFolder(config: FinetuneConfig, opts: FinetuneOptions, log: (msg: string) => void): RunFolder {
  const out = resolve(config.out);
  const ckptRoot = join(out, 'checkpoints');
  const cfgPath = join(out, 'finetune-config.json');
  const resuming = Boolean(opts.resume) || opts.resumeFrom !== undefined;
  const outExisted = existsSync(out);
  const keptFiles = UNSTARTED_FILES.filter((f) => existsSync(join(out, f)));
  if (!resuming) {
    const used = RUN_MARKERS.filter((f) => existsSync(join(out, f)));
    if (used.length) {
      throw new Error(`--out ${out} already holds a run (${used.join(', ')}); pass --resume to continue it, or choose another --out`);
    }
    return { out, ckptRoot, cfgPath, resuming, previous: null, resumeDir: null, outExisted, keptFiles };
  }
  if (!existsSync(cfgPath)) throw new Error(`--resume: ${out} holds no fine-tuning run to resume (no finetune-config.json)`);
  let previous: RunFolder['previous'];
  try {
    previous = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`--resume: ${cfgPath} is not valid JSON (${(e as Error).message})`);
  }
  // Resolved again so that an option added since the run was written takes its default (a new
  // option's default keeps the old behaviour, by convention), rather than differing from 'undefined'.
  let prevCfg: Record<string, unknown> = previous!.config ?? {};
  try {
    prevCfg = resolveFinetuneConfig(prevCfg as FinetuneInput).config;
  } catch {
    // an option since removed or renamed: compare as written, and the difference names it
  }
  const keys = [...new Set([...Object.keys(prevCfg), ...Object.keys(config)])].filter((k) => k !== 'steps' && k !== 'out');
  const diffs = keys.filter((k) => !sameJson(prevCfg[k], config[k]));
  if (diffs.length) {
    throw new Error(
      `--resume: the config differs from the run's in ${diffs.map((k) => `${k} (was ${JSON.stringify(prevCfg[k])}, now ${JSON.stringify(config[k])})`).join(', ')}; ` +
      'only steps may change on resume',
    );
  }
  const choice = resumeCheckpointDir(ckptRoot, { from: opts.resumeFrom ?? null, flag: '--resume-from' });
  if (choice.skipped) log(`warning: resuming from ${basename(choice.dir!)}; skipped ${choice.skipped}`);
  return { out, ckptRoot, cfgPath, resuming, previous, resumeDir: choice.dir, outExisted, keptFiles };
}

/** The base checkpoint's weights' SHA-256; a resumed run's base must not have changed. */
async function checkBase(loop: LoopConfig, previous: RunFolder['previous']): Promise<string> {
  const baseModelFile = join(loop.base, 'model.safetensors');
  if (!existsSync(baseModelFile)) throw new Error(`--base ${loop.base}: ${baseModelFile} is missing (train or copy a base checkpoint there)`);
  const baseSha256 = await sha256(baseModelFile);
  if (previous?.baseSha256 && previous.baseSha256 !== baseSha256) {
    throw new Error(`--resume: the base checkpoint ${loop.base} has changed since the run began (its weights' SHA-256 differs)`);
  }
  return baseSha256;
}

/** What a run trains with: the models, the data, the optimisation, the logs and the method's state. */
interface RunParts {
  model: TextToImageModel;
  reference: TextToImageModel | null;
  lora: boolean;
  trainable: ReturnType<TextToImageModel['unet']['trainableParameters']>;
  nTrainable: number;
  /** network evaluations × images so far (policy and reference) */
  nfe: { n: number };
  data: ImageCaptionSource | null;
  prompts: PromptSource;
  opt: AdamW;
  sched: LRScheduler;
  ema: EMA | null;
  metrics: JsonlWriter;
  evalLog: JsonlWriter;
  setup: MethodSetup;
  methodState: MethodState | null;
}

/**
 * The policy (text encoder frozen; LoRA or the whole UNet trainable), the frozen reference when the
 * method needs one, the reward, the data (an image folder is checked whole here, before the run
 * folder is written), AdamW, its schedule, the EMA and the method's state. What must be freed goes
 * into `disposables`.
 */
async function setUpRun(rf: ResolvedFinetune, folder: RunFolder, model: TextToImageModel, disposables: { dispose(): void }[], log: (msg: string) => void): Promise<RunParts> {
  const { loop, method, options } = rf;
  model.textEncoder.requiresGrad_(false).train(false); // frozen, as SD fine-tuning freezes CLIP
  model.unet.train(true);
  const lora = loop.loraRank > 0;
  if (lora) {
    injectLoRA(model.unet, {
      rank: loop.loraRank, ...(loop.loraAlpha !== null ? { alpha: loop.loraAlpha } : {}),
      target: loop.loraTargets === 'attention' ? LORA_ATTENTION : () => true,
    });
  }
  const trainable = model.unet.trainableParameters();
  const nTrainable = trainable.reduce((s, p) => s + p.numel(), 0);
  let reference: TextToImageModel | null = null;
  if (method.needsReference(options)) {
    reference = await TextToImageModel.load(loop.base);
    disposables.push(reference);
    reference.textEncoder.requiresGrad_(false).train(false);
    reference.unet.requiresGrad_(false).train(false);
  }
  const nfe = { n: 0 };
  countNfe(model, nfe);
  if (reference) countNfe(reference, nfe);
  const schedule = noiseSchedule(model);
  disposables.push(schedule);
  const scheduler = makeModelScheduler(model, 'ddim', schedule);
  let reward: Reward | null = null;
  if (loop.reward !== null) {
    reward = await makeReward(loop.reward, loop.rewardOptions);
    if (reward.dispose) disposables.push({ dispose: () => reward!.dispose!() });
  }
  const { out } = folder;
  const resolution = model.config.unet.sampleSize;
  const data = method.needsData ? await imageCaptionSource(loop.data, { seed: loop.seed, resolution, out, log }) : null;
  const prompts = await promptSource(loop.data, { seed: loop.seed, out });
  await mkdir(out, { recursive: true });

  const opt = new AdamW(trainable, { lr: loop.lr, weightDecay: loop.weightDecay });
  const sched = new LRScheduler(opt, makeSchedule(loop.lrSchedule, { warmupSteps: loop.warmupSteps, totalSteps: loop.steps, minLr: loop.minLr }));
  const ema = loop.emaDecay > 0 ? new EMA(trainable, { decay: loop.emaDecay }) : null;
  if (ema) disposables.push(ema);
  const metrics = new JsonlWriter(join(out, 'metrics.jsonl'));
  const evalLog = new JsonlWriter(join(out, 'eval.jsonl'));

  // the training stream (timesteps, noise, rollouts) starts from the seed, whatever building the
  // models drew before; then the method makes its state; a resumed run restores both (restoreRun)
  torch.manualSeed(loop.seed);
  const setup: MethodSetup = { model, reference, schedule, scheduler, reward: reward ? rewardFn(reward) : null, data, prompts, options, batchSize: loop.batch };
  const methodState: MethodState | null = method.init ? await method.init(setup) : null;
  if (methodState?.dispose) disposables.push({ dispose: () => methodState.dispose!() });
  return { model, reference, lora, trainable, nTrainable, nfe, data, prompts, opt, sched, ema, metrics, evalLog, setup, methodState };
}

/** The counters a checkpoint carries from one session of a run to the next. */
interface RunCounters {
  step: number;
  nfeTotal: number;
  skipped: number;
  consecutive: number;
  elapsedBefore: number;
  evalSecBefore: number;
}

/**
 * Restores a checkpoint (weights or adapters, optimizer, EMA, schedule, RNG, the method's state)
 * into the run's parts and returns its counters; without one, the counters of a new run. The
 * metrics and held-out lines after the restored step are dropped (they are written again).
 */
async function restoreRun(dir: string | null, parts: RunParts, method: ResolvedFinetune['method'], log: (msg: string) => void): Promise<RunCounters> {
  const counters: RunCounters = { step: 0, nfeTotal: 0, skipped: 0, consecutive: 0, elapsedBefore: 0, evalSecBefore: 0 };
  if (dir) {
    const { model, lora, opt, ema, sched } = parts;
    const c = await loadCheckpoint(dir);
    try {
      const weights = c.tensors[lora ? 'lora' : 'unet'];
      if (!weights) throw new Error(`checkpoint ${dir}: no ${lora ? 'LoRA adapters' : 'UNet weights'} in it`);
      if (lora) loadLoRAStateDict(model.unet, weights);
      else model.unet.loadStateDict(weights);
      opt.loadStateDict({ tensors: c.tensors.optimizer!, meta: c.state.optimizer as never });
      if (ema) ema.loadStateDict({ tensors: c.tensors.ema!, meta: c.state.ema as never });
      sched.loadStateDict(c.state.lrScheduler);
      restoreRngState(c.state.rng, dir);
      restoreMethodState(c, method.name, parts.methodState);
      const s = c.state as Record<string, number>;
      Object.assign(counters, {
        step: c.step, nfeTotal: s.nfeTotal ?? 0, skipped: s.skipped ?? 0, consecutive: s.consecutive ?? 0, elapsedBefore: s.elapsedSec ?? 0, evalSecBefore: s.evalSec ?? 0,
      });
    } finally {
      disposeCheckpoint(c);
    }
    log(`resumed from ${dir} at step ${counters.step}`);
  }
  parts.metrics.truncateAfter(counters.step);
  // the held-out lines after the restored step are written again; those up to it (step 0's too) stay
  parts.evalLog.truncateAfter(counters.step);
  return counters;
}

/** One optimizer step's outcome: the loss and logs summed over the micro-batches, or why it is skipped. */
interface StepOutcome {
  bad: string | null;
  lossSum: number;
  logSums: Record<string, number>;
  gradNorm: number;
}

/**
 * One session of a run, from its restored step to the end: the run store's row, checkpoints, the
 * held-out curve, the steps and the exported model.
 */
class RunSession {
  readonly loop: LoopConfig;
  store: RunStore | null = null;
  runId: number | null = null;
  /** set once the run has done a step or saved a checkpoint (then a failure keeps its folder) */
  started = false;
  private readonly sessionStart = performance.now();
  private evalSecSession = 0;
  private readonly evaluated: Set<unknown>;

  constructor(
    readonly rf: ResolvedFinetune, readonly folder: RunFolder, readonly parts: RunParts, readonly c: RunCounters,
    readonly opts: FinetuneOptions, readonly log: (msg: string) => void,
  ) {
    this.loop = rf.loop;
    const path = parts.evalLog.path;
    this.evaluated = new Set(existsSync(path) ? readJsonl(path).map((r) => r.step) : []);
  }

  /** training wall-clock over all sessions: held-out evaluations are left out */
  elapsed(): number {
    return this.c.elapsedBefore + (performance.now() - this.sessionStart) / 1000 - this.evalSecSession;
  }

  /** The run store's row (a resumed run keeps its own), finetune-config.json and the run's description. */
  async openStore(baseSha256: string): Promise<void> {
    const { config, method } = this.rf;
    const { out, previous, cfgPath } = this.folder;
    const store = (this.store = new RunStore(this.loop.store));
    const prevRun = previous?.runId !== undefined ? store.getRun(previous.runId) : null;
    if (prevRun && prevRun.outDir === out) {
      this.runId = prevRun.id;
      store.resumeRun(this.runId, this.c.step, config);
    } else {
      if (this.folder.resuming) {
        this.log(prevRun
          ? `run store ${store.path}: the run's row ${prevRun.id} is of ${prevRun.outDir} (the folder was moved or copied); recording ${out} as a new run`
          : `run store ${store.path}: the run's row ${previous?.runId ?? '?'} is not there; recording it as a new run`);
      }
      this.runId = store.createRun({ name: this.loop.name ?? basename(out), method: method.name, outDir: out, config });
    }
    await writeFileAtomic(cfgPath, JSON.stringify({ config, command: this.opts.command ?? null, runId: this.runId, baseSha256 }, null, 2) + '\n');
    const { lora, nTrainable, reference, data, prompts } = this.parts;
    this.log(`config: ${JSON.stringify(config)}`);
    this.log(
      `${method.name}: ${lora ? `LoRA rank ${this.loop.loraRank} on ${this.loop.loraTargets === 'attention' ? 'the attention projections' : 'every Linear and Conv2d'} of the UNet` : 'full fine-tuning of the UNet'} ` +
      `(${nTrainable} trainable parameters; text encoder frozen)${reference ? ', frozen reference' : ''}; ` +
      `${data ? `data: ${data.description}` : `prompts: ${prompts.description}`}; run ${this.runId} in ${store.path}`,
    );
  }

  /** A checkpoint at the current step. */
  async save(): Promise<void> {
    const { opt, ema, lora, model, sched, methodState } = this.parts;
    const { c, loop } = this;
    const o = opt.stateDict();
    const e = ema?.stateDict();
    const weights = lora ? loraStateDict(model.unet) : model.unet.stateDict();
    const m = methodStatePart(this.rf.method.name, methodState);
    this.started = true;
    try {
      await saveCheckpoint(this.folder.ckptRoot, {
        step: c.step,
        tensors: { [lora ? 'lora' : 'unet']: weights, optimizer: o.tensors, ...(e ? { ema: e.tensors } : {}), ...m.tensors },
        state: {
          optimizer: o.meta, ...(e ? { ema: e.meta } : {}), lrScheduler: sched.stateDict(), rng: rngStateToBase64(), ...m.state,
          dataPosition: c.step * loop.accumulation, nfeTotal: c.nfeTotal, skipped: c.skipped, consecutive: c.consecutive, elapsedSec: this.elapsed(),
          evalSec: c.evalSecBefore + this.evalSecSession, runId: this.runId, config: this.rf.config,
        },
      }, loop.keepCheckpoints);
    } finally {
      for (const g of [o.tensors, e?.tensors ?? {}, ...Object.values(m.tensors)]) for (const t of Object.values(g)) t.dispose();
    }
  }

  /** The held-out curve is due at step 0, every evalEvery steps and at the last step, unless eval.jsonl has the step (step 0 after a resume). */
  evalDue(s: number): boolean {
    const { loop } = this;
    return loop.evalEvery > 0 && (s === 0 || s % loop.evalEvery === 0 || s === loop.steps) && !this.evaluated.has(s);
  }

  /** Scores the policy on the held-out prompts into eval.jsonl; returns the compositional mean. */
  heldOutAt(s: number): number {
    const { loop } = this;
    const t0 = performance.now();
    const wallClockSec = this.elapsed();
    const r = evaluateHeldOut(this.parts.model, { perCategory: loop.evalPerCategory, imagesPerPrompt: loop.evalImagesPerPrompt, seed: loop.evalSeed });
    const evalSec = (performance.now() - t0) / 1000;
    this.evalSecSession += evalSec;
    const line: HeldOutRecord = { step: s, wallClockSec, compositional: r.compositional, ...r.categories, nfePerImage: r.nfePerImage, images: r.images, evalSec };
    this.parts.evalLog.write(line);
    this.evaluated.add(s);
    this.log(`eval step ${s}: compositional ${r.compositional.toFixed(4)} (${HELD_OUT_SPLIT}, ${r.images} images)`);
    return r.compositional;
  }

  /** The micro-batches of one optimizer step, their backward passes and the gradient's norm (clipped); nothing is applied. */
  async accumulate(): Promise<StepOutcome> {
    const { loop, rf: { method } } = this;
    const { setup, methodState, trainable } = this.parts;
    const o: StepOutcome = { bad: null, lossSum: 0, logSums: {}, gradNorm: NaN };
    for (let micro = 0; micro < loop.accumulation && !o.bad; micro++) {
      const ctx = { ...setup, step: this.c.step, position: this.c.step * loop.accumulation + micro, state: methodState };
      const batch = await method.makeBatch(ctx);
      try {
        const r = await method.loss(ctx, batch);
        try {
          const v = r.loss.item();
          if (!Number.isFinite(v)) {
            o.bad = `the loss is ${v}`;
          } else {
            torch.tidy(() => (loop.accumulation > 1 ? r.loss.div(loop.accumulation) : r.loss).backward());
            o.lossSum += v;
            for (const [k, x] of Object.entries(r.logs)) o.logSums[k] = (o.logSums[k] ?? 0) + x;
          }
        } finally {
          r.loss.dispose();
        }
      } catch (e) {
        if (!(e instanceof NonFiniteError)) throw e;
        o.bad = e.message;
      } finally {
        method.disposeBatch(batch);
      }
    }
    if (!o.bad) {
      o.gradNorm = clipGradNorm(trainable, loop.gradClip > 0 ? loop.gradClip : Infinity, 2, { errorIfNonfinite: false });
      if (!Number.isFinite(o.gradNorm)) o.bad = `the gradient norm is ${o.gradNorm}`;
    }
    return o;
  }

  /** The steps from the restored one to loop.steps: the guard, metrics, the held-out curve, checkpoints. */
  async runSteps(): Promise<void> {
    const { loop, c, opts, store } = this;
    const runId = this.runId!;
    const { opt, sched, ema, nfe, metrics } = this.parts;
    if (this.evalDue(c.step)) store!.logMetrics(runId, c.step, { heldOut: this.heldOutAt(c.step) });
    const progress = opts.progress === false ? null : new Progress({ total: loop.steps, label: this.rf.method.name, unit: 'step' }, c.step);
    let shown: Record<string, number> = {};
    while (c.step < loop.steps) {
      if (opts.signal?.aborted) {
        await this.save();
        throw new AbortError(`finetune: stopped at step ${c.step} (checkpoint saved; continue with --resume)`);
      }
      const nfeBefore = nfe.n;
      const lr = opt.paramGroups[0]!.lr;
      const { bad, lossSum, logSums, gradNorm } = await this.accumulate();
      if (bad) {
        opt.zeroGrad(); // the step leaves weights, optimizer, schedule and EMA as they were
        c.skipped++;
        c.consecutive++;
      } else {
        opt.step();
        opt.zeroGrad();
        sched.step();
        ema?.update();
        c.consecutive = 0;
      }
      const step = ++c.step;
      this.started = true;
      const stepNfe = nfe.n - nfeBefore;
      c.nfeTotal += stepNfe;
      const heldOut = this.evalDue(step) ? this.heldOutAt(step) : null;
      const logs = bad ? {} : Object.fromEntries(Object.entries(logSums).map(([k, v]) => [k, v / loop.accumulation]));
      const loss = bad ? NaN : lossSum / loop.accumulation;
      const info: StepInfo = { step, total: loop.steps, loss, lr, gradNorm, skipped: Boolean(bad), logs, nfe: stepNfe, nfeTotal: c.nfeTotal, elapsedSec: this.elapsed() };
      const record: Record<string, number> = {
        step, ...(bad ? {} : { loss }), lr, ...(Number.isFinite(gradNorm) ? { gradNorm } : {}), skipped: bad ? 1 : 0,
        nfe: stepNfe, nfeTotal: c.nfeTotal, ...logs, elapsedSec: info.elapsedSec, ...(heldOut !== null ? { heldOut } : {}),
      };
      metrics.write(record);
      store!.logMetrics(runId, step, record);
      opts.onStep?.(info);
      if (bad) {
        this.log(`step ${step}: ${bad}; skipped (${c.consecutive} in a row, ${c.skipped} in all)`);
        if (c.consecutive >= loop.maxNonFinite) {
          await this.save();
          throw new Error(
            `finetune: ${c.consecutive} steps in a row had a non-finite loss, reward or gradient (the last: ${bad}); stopping at step ${step}. ` +
            'Lower lr, check the reward, or raise maxNonFinite',
          );
        }
      }
      shown = {
        loss, ...(logs.rewardMean !== undefined ? { rMean: logs.rewardMean, rBest: logs.rewardBest ?? NaN, rWorst: logs.rewardWorst ?? NaN } : {}),
      };
      progress?.update(step, shown);
      if (step % loop.checkpointEvery === 0 || step === loop.steps) await this.save();
    }
    progress?.finish(shown);
  }

  /** The exported model (adapters merged, the EMA's weights when EMA is on), summary.json and the finished row. */
  async exportModel(): Promise<FinetuneSummary> {
    const { loop, c, rf: { method } } = this;
    const { out } = this.folder;
    const { model, ema, lora, evalLog, nTrainable } = this.parts;
    if (ema) {
      ema.store();
      ema.copyTo();
    }
    if (lora) mergeLoRA(model.unet);
    const weights = Object.fromEntries(Object.entries(model.stateDict()).filter(([k]) => !k.includes('.lora_layer.')));
    await model.save(out, {
      weights,
      extra: { finetune: { method: method.name, base: loop.base, steps: c.step, loraRank: loop.loraRank, ema: Boolean(ema), seed: loop.seed } },
    });
    const records = readJsonl(join(out, 'metrics.jsonl'));
    const good = records.filter((r) => r.skipped !== 1);
    const lastEval = existsSync(evalLog.path) ? readJsonl(evalLog.path).filter((r) => r.step === c.step).at(-1) : undefined;
    const summary: FinetuneSummary = {
      method: method.name, base: loop.base, out, steps: c.step, wallClockSec: this.elapsed(), trainingNfe: c.nfeTotal, skippedSteps: c.skipped,
      trainableParameters: nTrainable, loraRank: loop.loraRank, ema: Boolean(ema),
      means: meanOf(good), finalMeans: meanOf(good.slice(-Math.max(1, Math.ceil(good.length / 10)))),
      heldOut: typeof lastEval?.compositional === 'number' ? lastEval.compositional : null, evalWallClockSec: c.evalSecBefore + this.evalSecSession,
    };
    await writeFileAtomic(join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
    this.store!.finishRun(this.runId!, 'finished');
    this.log(`finished ${c.step} steps in ${summary.wallClockSec.toFixed(1)} s, training NFE ${c.nfeTotal}, ${c.skipped} skipped; model in ${out}`);
    return summary;
  }

  /** Marks the run's row failed (the store's own error must not hide the run's). */
  fail(e: unknown): void {
    if (!this.store || this.runId === null) return;
    try {
      this.store.finishRun(this.runId, 'failed', (e as Error).message);
    } catch {
      // the run's error is the one to report
    }
  }
}

/**
 * Runs (or, with `resume`, continues) a fine-tuning run; returns the run folder and its summary.
 * The phases: the run folder and resume check, the base, the set-up (models, data, optimisation),
 * the restore, the run store, the steps and the export. A new run that fails before its first step
 * removes what it wrote.
 */
export async function finetune(input: FinetuneInput, opts: FinetuneOptions = {}): Promise<{ outDir: string; summary: FinetuneSummary }> {
  const rf = resolveFinetuneConfig(input);
  const log = opts.log ?? ((m: string) => console.error(m));
  const folder = checkRunFolder(rf.config, opts, log);
  const baseSha256 = await checkBase(rf.loop, folder.previous);
  torch.manualSeed(rf.loop.seed);
  const model = await TextToImageModel.load(rf.loop.base);
  const disposables: { dispose(): void }[] = [model];
  let session: RunSession | null = null;
  try {
    const parts = await setUpRun(rf, folder, model, disposables, log);
    const counters = await restoreRun(folder.resumeDir, parts, rf.method, log);
    session = new RunSession(rf, folder, parts, counters, opts, log);
    await session.openStore(baseSha256);
    await session.runSteps();
    const summary = await session.exportModel();
    return { outDir: folder.out, summary };
  } catch (e) {
    session?.fail(e);
    if (!folder.resuming && !session?.started) await removeUnstartedRun(folder.out, folder, log);
    throw e;
  } finally {
    session?.store?.close();
    for (const d of disposables.reverse()) d.dispose();
  }
}

/** What a new run writes into its folder before its first step. */
const UNSTARTED_FILES = [...RUN_MARKERS, 'train-prompts.json'];

/**
 * Removes what a new run wrote before failing ahead of its first step, so that a plain rerun is not
 * refused: its files, then the folder when the run made it and nothing else is in it.
 */
async function removeUnstartedRun(out: string, before: { outExisted: boolean; keptFiles: string[] }, log: (msg: string) => void): Promise<void> {
  try {
    for (const f of UNSTARTED_FILES) if (!before.keptFiles.includes(f)) await rm(join(out, f), { recursive: true, force: true });
    if (!before.outExisted && existsSync(out) && (await readdir(out)).length === 0) await rmdir(out);
  } catch (e) {
    log(`finetune: could not remove the unstarted run's files in ${out} (${(e as Error).message})`);
  }
}
