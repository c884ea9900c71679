// A run's set-up and restore: the reward as the losses' RewardFn, the models (LoRA or full
// fine-tuning, the frozen reference), the data, the optimisation, the logs and the method's state
// (setUpRun), and a checkpoint restored into them (restoreRun).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { AdamW, EMA, LRScheduler, makeSchedule } from '../optim/index.js';
import { TextToImageModel } from '../models/t2i.js';
import { makeModelScheduler, noiseSchedule } from '../models/generate.js';
import { injectLoRA, loadLoRAStateDict } from '../nn/lora.js';
import { makeReward, type Reward } from '../rewards/index.js';
import { imageCaptionSource, promptSource } from '../data/source.js';
import { JsonlWriter } from '../util/jsonl.js';
import { loadCheckpoint, disposeCheckpoint, restoreRngState, restoreMethodState } from './checkpoint.js';
import {
  NonFiniteError, type ImageCaptionSource, type MethodSetup, type MethodState, type PromptSource, type RewardFn,
} from './finetune-method.js';
import type { ResolvedFinetune } from './finetune-config.js';
import type { RunFolder } from './run-folder.js';
import type { DataParallel } from '../distributed/data-parallel.js';
import { checkWorldSize, rankMethodView, rankRngState } from './rank-state.js';

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

const LORA_ATTENTION = /(^|\.)attn[12]\.(to_q|to_k|to_v|to_out\.0)$/;

/** What a run trains with: the models, the data, the optimisation, the logs and the method's state. */
export interface RunParts {
  model: TextToImageModel;
  reference: TextToImageModel | null;
  lora: boolean;
  trainable: ReturnType<TextToImageModel['unet']['trainableParameters']>;
  nTrainable: number;
  /** network evaluations × images so far (policy and reference: their UNets' counts) */
  nfe: { readonly n: number };
  data: ImageCaptionSource | null;
  prompts: PromptSource;
  opt: AdamW;
  sched: LRScheduler;
  ema: EMA | null;
  metrics: JsonlWriter;
  evalLog: JsonlWriter;
  setup: MethodSetup;
  methodState: MethodState | null;
  /** data-parallel training under `sharpen launch` (null: one process) */
  dp: DataParallel | null;
}

/**
 * The policy (text encoder frozen; LoRA or the whole UNet trainable), the frozen reference when the
 * method needs one, the reward, the data (an image folder is checked whole here, before the run
 * folder is written), AdamW, its schedule, the EMA and the method's state. What must be freed goes
 * into `disposables`.
 */
export async function setUpRun(
  rf: ResolvedFinetune, folder: RunFolder, model: TextToImageModel, disposables: { dispose(): void }[], log: (msg: string) => void, dp: DataParallel | null = null,
): Promise<RunParts> {
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
  const nfe = { get n(): number { return model.nfe + (reference?.nfe ?? 0); } };
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
  if (dp) {
    // data-parallel: rank 0's weights on every rank, checked; then each rank its own training stream
    dp.broadcastParameters(trainable);
    dp.checkReplicas(model.unet.parameters(), 'the UNet weights');
    torch.manualSeed(dp.rankSeed(loop.seed));
    log(`data-parallel: ${dp.worldSize} processes (${dp.worldSize}× the batch per step); initial weights broadcast from rank 0 and checked equal`);
  }
  return { model, reference, lora, trainable, nTrainable, nfe, data, prompts, opt, sched, ema, metrics, evalLog, setup, methodState, dp };
}

/** The counters a checkpoint carries from one session of a run to the next. */
export interface RunCounters {
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
export async function restoreRun(dir: string | null, parts: RunParts, method: ResolvedFinetune['method'], log: (msg: string) => void): Promise<RunCounters> {
  const counters: RunCounters = { step: 0, nfeTotal: 0, skipped: 0, consecutive: 0, elapsedBefore: 0, evalSecBefore: 0 };
  if (dir) {
    const { model, lora, opt, ema, sched } = parts;
    const c = await loadCheckpoint(dir);
    try {
      checkWorldSize(c.state, parts.dp, dir);
      const weights = c.tensors[lora ? 'lora' : 'unet'];
      if (!weights) throw new Error(`checkpoint ${dir}: no ${lora ? 'LoRA adapters' : 'UNet weights'} in it`);
      if (lora) loadLoRAStateDict(model.unet, weights);
      else model.unet.loadStateDict(weights);
      opt.loadStateDict({ tensors: c.tensors.optimizer!, meta: c.state.optimizer as never });
      if (ema) ema.loadStateDict({ tensors: c.tensors.ema!, meta: c.state.ema as never });
      sched.loadStateDict(c.state.lrScheduler);
      restoreRngState(rankRngState(c.state, parts.dp), dir);
      restoreMethodState(parts.dp ? rankMethodView(c, parts.dp.rank) : c, method.name, parts.methodState);
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
