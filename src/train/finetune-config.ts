// The fine-tuning config and what finetune() reports: the loop's fields (LoopConfigSchema), the
// resolution of a flat config into the loop's fields and the method's options
// (resolveFinetuneConfig), the per-step info, the run's summary and finetune()'s options.
import { z } from 'zod';
import { rewardNames } from '../rewards/index.js';
import { DEFAULT_STORE_PATH } from '../store/runs.js';
import { formatZodError } from '../util/config.js';
import type { FinetuneMethod } from './finetune-method.js';
import { getMethod, methodNames } from './methods/index.js';

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
