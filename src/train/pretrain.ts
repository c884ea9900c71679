// Pretraining of the text-to-image model (text encoder and UNet together, as the base model's
// own "Stable Diffusion" stage): the standard diffusion loss ‖ε − ε_θ(x_t, t, c)‖² (Ho et al. 2020,
// eq. 14; or the v-target, Salimans & Ho 2022) with empty-prompt dropout for classifier-free
// guidance, AdamW, a warm-up + cosine schedule, gradient clipping, an EMA of the weights,
// atomic checkpoints and exact resume. Under `sharpen launch` it trains data-parallel
// (src/distributed/data-parallel.ts): each rank a shard of the batches, rank 0 writing the run.
import { existsSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AdamW, EMA, LRScheduler, clipGradNorm, makeSchedule } from '../optim/index.js';
import { NoiseSchedule } from '../diffusion/index.js';
import { TextToImageModel, ModelConfigSchema, type ModelConfig } from '../models/t2i.js';
import { generate } from '../models/generate.js';
import { JsonlWriter } from '../util/jsonl.js';
import { Progress } from '../util/progress.js';
import { saveCheckpoint, loadCheckpoint, disposeCheckpoint, rngStateToBase64, restoreRngState } from './checkpoint.js';
import { recordedRun, openCheckpointedRun, checkpointStep, resumeCheckpoint, type RunRecord } from './training-run.js';
import { DataParallel } from '../distributed/data-parallel.js';
import { checkWorldSize, rankRngState, rngStatesByRank } from './rank-state.js';
import type { BatchSource } from '../data/source.js';

export const PretrainConfigSchema = z.object({
  /** seeds the weights' initialisation, the noise, the timesteps and the data */
  seed: z.number().int().min(0),
  /** the architecture and schedule (the fields of the checkpoint's config.json that the run does not derive) */
  model: z.object({
    textEncoder: ModelConfigSchema.shape.textEncoder.omit({ vocabSize: true }),
    unet: ModelConfigSchema.shape.unet.omit({ sampleSize: true, inChannels: true, outChannels: true, crossAttentionDim: true }),
    schedule: ModelConfigSchema.shape.schedule,
    sampling: ModelConfigSchema.shape.sampling,
  }).strict(),
  data: z.object({
    /** image side in pixels (the world renders 32 by default) */
    imageSize: z.number().int().positive(),
  }).strict(),
  train: z.object({
    batchSize: z.number().int().positive(),
    steps: z.number().int().positive(),
    lr: z.number().positive(),
    warmupSteps: z.number().int().min(0),
    /** final lr of the cosine schedule */
    minLr: z.number().min(0),
    weightDecay: z.number().min(0),
    /** probability of replacing a prompt by '' (classifier-free guidance training) */
    condDropout: z.number().min(0).max(1),
    gradClip: z.number().positive(),
    emaDecay: z.number().min(0).max(1),
  }).strict(),
  output: z.object({
    /** run directory: metrics.jsonl, checkpoints/, samples/, final/ */
    dir: z.string().min(1),
    logEvery: z.number().int().positive(),
    checkpointEvery: z.number().int().positive(),
    sampleEvery: z.number().int().positive(),
    /** prompts drawn in the sample grids */
    samplePrompts: z.array(z.string()).min(1),
  }).strict(),
}).strict();

export type PretrainConfig = z.infer<typeof PretrainConfigSchema>;

/** A deterministic source of training batches (src/data/source.ts). */
export type { BatchSource };

export function modelConfigFor(cfg: PretrainConfig, vocabulary: string[]): ModelConfig {
  const te = cfg.model.textEncoder;
  return {
    format: 'sharpen-t2i/1',
    tokenizer: { words: vocabulary, maxLength: te.maxLength },
    textEncoder: { vocabSize: vocabulary.length + 4, maxLength: te.maxLength, hiddenSize: te.hiddenSize, layers: te.layers, heads: te.heads, mlpRatio: te.mlpRatio },
    unet: { sampleSize: cfg.data.imageSize, inChannels: 3, outChannels: 3, crossAttentionDim: te.hiddenSize, ...cfg.model.unet },
    schedule: cfg.model.schedule,
    sampling: cfg.model.sampling,
  };
}

export interface PretrainHooks {
  /** writes a PNG grid of sample images [N, 3, H, W] in [0, 1] with labels */
  writeGrid?: (path: string, images: Tensor, labels: string[]) => Promise<void>;
  /** stop after this many steps in this process (tests: simulate a kill) */
  stopAfter?: number;
  /** resume from this checkpoint (`checkpoint-N`) instead of `latest` (when `latest` is broken); what it skips is logged */
  resumeFrom?: string;
  /** the run store where the run gets its row (kind 'pretrain'; none when not given) */
  store?: string;
  log?: (msg: string) => void;
}

/** One optimisation step's loss on a batch (exported for tests). */
export function diffusionLoss(model: TextToImageModel, schedule: NoiseSchedule, images: Tensor, prompts: string[]): Tensor {
  return torch.tidy(() => {
    const B = images.shape[0]!;
    const t = torch.randint(0, schedule.numTrainTimesteps, [B]); // t ~ U{0, …, T−1}
    const eps = torch.randnLike(images); // ε ~ N(0, I)
    const xt = schedule.addNoise(images, eps, t); // √ᾱ_t x0 + √(1−ᾱ_t) ε
    const target = schedule.trainingTarget(images, eps, t); // ε, or v
    const pred = model.predict(xt, t, model.encode(prompts));
    return torch.F.mseLoss(pred, target);
  });
}

/** Runs (or resumes) pretraining; returns the path of the final EMA checkpoint when finished. */
export async function pretrain(cfg: PretrainConfig, data: BatchSource, hooks: PretrainHooks = {}): Promise<{ finished: boolean; step: number; dir: string }> {
  const log = hooks.log ?? ((m: string) => console.error(m));
  const out = cfg.output.dir;
  const dp = DataParallel.fromEnv();
  if (dp && !dp.isWriter) {
    // a rank other than 0 resumes from the run's checkpoint and writes only a scratch folder
    dp.barrier(); // rank 0 has opened the run folder
    const latest = resumeCheckpoint(join(out, 'checkpoints'), hooks.resumeFrom, 'resumeFrom', () => {});
    const scratch = mkdtempSync(join(tmpdir(), `sharpen-pretrain-rank${dp.rank}-`));
    try {
      const r = await runPretrain({ ...cfg, output: { ...cfg.output, dir: scratch } }, data, { stopAfter: hooks.stopAfter }, latest, null, () => {}, dp);
      return { ...r, dir: r.finished ? join(out, 'final') : out }; // what rank 0 wrote
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
  // `latest`, or hooks.resumeFrom; a broken `latest` is an Error naming the newest intact checkpoint
  const { latest } = await openCheckpointedRun(out, cfg, { resumeFrom: hooks.resumeFrom, flag: 'resumeFrom', subdirs: ['samples'], log });
  const run = hooks.store === undefined ? null : {
    store: hooks.store, kind: 'pretrain', out, config: cfg, resuming: latest !== null, step: latest ? checkpointStep(latest) : 0, log,
  };
  dp?.barrier();
  return recordedRun(run, async (record) => {
    const r = await runPretrain(cfg, data, hooks, latest, record, log, dp);
    return { result: r, finished: r.finished, step: r.step };
  });
}

async function runPretrain(
  cfg: PretrainConfig, data: BatchSource, hooks: PretrainHooks, latest: string | null, record: RunRecord | null, log: (msg: string) => void,
  dp: DataParallel | null = null,
): Promise<{ finished: boolean; step: number; dir: string }> {
  const out = cfg.output.dir;
  const ckptRoot = join(out, 'checkpoints');
  torch.manualSeed(cfg.seed);
  const model = new TextToImageModel(modelConfigFor(cfg, data.vocabulary));
  const schedule = new NoiseSchedule({ ...cfg.model.schedule, predictionType: cfg.model.unet.predictionType });
  const params = [...model.textEncoder.parameters(), ...model.unet.parameters()];
  const opt = new AdamW(params, { lr: cfg.train.lr, weightDecay: cfg.train.weightDecay });
  const sched = new LRScheduler(opt, makeSchedule('cosine', { warmupSteps: cfg.train.warmupSteps, totalSteps: cfg.train.steps, minLr: cfg.train.minLr }));
  const ema = new EMA(params, { decay: cfg.train.emaDecay, warmup: 'tf' });
  const metrics = new JsonlWriter(join(out, 'metrics.jsonl'));
  dp?.broadcastParameters(params);
  if (dp) torch.manualSeed(dp.rankSeed(cfg.seed)); // each rank its own noise, timesteps and dropout

  let step = 0;
  if (latest) {
    const c = await loadCheckpoint(latest);
    checkWorldSize(c.state, dp, latest);
    model.loadStateDict(c.tensors.model!);
    opt.loadStateDict({ tensors: c.tensors.optimizer!, meta: c.state.optimizer as never });
    ema.loadStateDict({ tensors: c.tensors.ema!, meta: c.state.ema as never });
    sched.loadStateDict(c.state.lrScheduler);
    restoreRngState(rankRngState(c.state, dp), latest);
    step = c.step;
    disposeCheckpoint(c);
    metrics.truncateAfter(step);
    log(`resumed from ${latest} at step ${step}`);
  } else {
    const n = model.numParameters();
    log(`new run in ${out}: text encoder ${n.textEncoder} parameters, UNet ${n.unet}`);
  }

  const save = async () => {
    const rngByRank = dp ? rngStatesByRank(dp) : null;
    if (dp && !dp.isWriter) return; // rank 0 writes the checkpoint, with every rank's RNG state
    const o = opt.stateDict();
    const e = ema.stateDict();
    await saveCheckpoint(ckptRoot, {
      step,
      tensors: { model: model.stateDict(), optimizer: o.tensors, ema: e.tensors },
      state: { optimizer: o.meta, ema: e.meta, lrScheduler: sched.stateDict(), rng: rngStateToBase64(), ...(dp ? { worldSize: dp.worldSize, rngByRank } : {}) },
    });
    for (const t of [...Object.values(o.tensors), ...Object.values(e.tensors)]) t.dispose();
  };

  const sampleGrid = async () => {
    if (!hooks.writeGrid) return;
    const rng = torch.getRngState(); // sampling must not disturb the training stream
    ema.store();
    ema.copyTo();
    model.train(false);
    torch.manualSeed(1234);
    const { images } = generate(model, cfg.output.samplePrompts);
    await hooks.writeGrid(join(out, 'samples', `step-${String(step).padStart(7, '0')}.png`), images, cfg.output.samplePrompts);
    images.dispose();
    model.train(true);
    ema.restore();
    torch.setRngState(rng);
  };

  const progress = dp && !dp.isWriter ? null : new Progress({ total: cfg.train.steps, label: 'pretrain', unit: 'img', unitsPerTick: cfg.train.batchSize }, step);
  let lossSum = 0;
  let lossCount = 0;
  const startStep = step;
  const t0 = performance.now();
  model.train(true);
  while (step < cfg.train.steps) {
    if (hooks.stopAfter !== undefined && step - startStep >= hooks.stopAfter) break;
    let loss = torch.tidy(() => {
      const { images, prompts } = data.batch(dp ? dp.shardPosition(step) : step, cfg.train.batchSize);
      // empty-prompt dropout: drawn from the torch generator so that resume replays it
      const drop = torch.rand([prompts.length]).lt(cfg.train.condDropout).toTypedArray();
      const conditioned = prompts.map((p, i) => (drop[i] ? '' : p));
      const l = diffusionLoss(model, schedule, images, conditioned);
      l.backward();
      return l.item();
    });
    if (!Number.isFinite(loss)) throw new Error(`pretrain: the loss is ${loss} at step ${step}; stopping (lower train.lr?)`);
    dp?.allReduceGradients(params); // data-parallel: the gradient and the logged loss of the whole step's batch
    if (dp) loss = dp.combineLogs({ loss }).loss!;
    clipGradNorm(params, cfg.train.gradClip);
    opt.step();
    opt.zeroGrad();
    sched.step();
    ema.update();
    step++;
    lossSum += loss;
    lossCount++;
    if (step % cfg.output.logEvery === 0 || step === cfg.train.steps) {
      const elapsed = (performance.now() - t0) / 1000;
      const line = { loss: lossSum / lossCount, lr: opt.paramGroups[0]!.lr, imagesPerSec: ((step - startStep) * cfg.train.batchSize) / elapsed, elapsedSec: elapsed };
      metrics.write({ step, ...line });
      record?.log(step, line);
      lossSum = 0;
      lossCount = 0;
    }
    progress?.update(step, { loss, lr: opt.paramGroups[0]!.lr });
    if (step % cfg.output.checkpointEvery === 0 || step === cfg.train.steps) await save();
    if (step % cfg.output.sampleEvery === 0 || step === cfg.train.steps) await sampleGrid();
  }
  progress?.finish();

  const finished = step >= cfg.train.steps;
  const finalDir = join(out, 'final');
  if (finished) {
    // the shipped weights are the EMA's
    ema.store();
    ema.copyTo();
    await model.save(finalDir, { extra: { pretrainedSteps: step, seed: cfg.seed } });
    ema.restore();
  }
  dp?.barrier(); // every rank returns once rank 0 has written the final checkpoint
  model.dispose();
  schedule.dispose();
  return { finished, step, dir: existsSync(finalDir) ? finalDir : out };
}
