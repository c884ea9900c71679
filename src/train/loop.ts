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
// The phases: the config (finetune-config.ts), the run folder's checks (run-folder.ts), the set-up
// and restore (run-setup.ts), and the session's store, steps and export (run-session.ts).
import * as torch from '../torch/index.js';
import { TextToImageModel } from '../models/t2i.js';
import { imageCaptionSource, promptSource } from '../data/source.js';
import { resolveFinetuneConfig, type FinetuneInput, type FinetuneOptions, type FinetuneSummary } from './finetune-config.js';
import { checkRunFolder, checkBase, removeUnstartedRun, rankScratchFolder } from './run-folder.js';
import { DataParallel } from '../distributed/data-parallel.js';
import { setUpRun, restoreRun } from './run-setup.js';
import { RunSession } from './run-session.js';

/** The fine-tuning batch sources (src/data/source.ts), as the loop builds them. */
export { imageCaptionSource, promptSource };
/** The config, its resolution, the step info, the summary and the options (finetune-config.ts). */
export {
  LoopConfigSchema, resolveFinetuneConfig,
  type LoopConfig, type FinetuneConfig, type FinetuneInput, type ResolvedFinetune, type StepInfo, type FinetuneSummary, type FinetuneOptions,
} from './finetune-config.js';
/** A registered Reward as the losses' RewardFn (run-setup.ts). */
export { rewardFn } from './run-setup.js';

/**
 * Runs (or, with `resume`, continues) a fine-tuning run; returns the run folder and its summary.
 * The phases: the run folder and resume check, the base, the set-up (models, data, optimisation),
 * the restore, the run store, the steps and the export. A new run that fails before its first step
 * removes what it wrote.
 */
export async function finetune(input: FinetuneInput, opts: FinetuneOptions = {}): Promise<{ outDir: string; summary: FinetuneSummary }> {
  const rf = resolveFinetuneConfig(input);
  // under `sharpen launch` (RANK set): data-parallel; rank 0 writes the run, the others a scratch folder
  const dp = DataParallel.fromEnv();
  if (dp && !dp.isWriter) opts = { ...opts, progress: false };
  const log = dp && !dp.isWriter ? () => {} : (opts.log ?? ((m: string) => console.error(m)));
  let folder = checkRunFolder(rf.config, opts, log);
  dp?.barrier(); // every rank has checked the run folder before rank 0 writes into it
  if (dp && !dp.isWriter) folder = rankScratchFolder(folder, dp.rank);
  const baseSha256 = await checkBase(rf.loop, folder.previous);
  torch.manualSeed(rf.loop.seed);
  const model = await TextToImageModel.load(rf.loop.base);
  const disposables: { dispose(): void }[] = [model];
  let session: RunSession | null = null;
  try {
    const parts = await setUpRun(rf, folder, model, disposables, log, dp);
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
    if (dp && !dp.isWriter) await folder.removeScratch?.();
  }
}
