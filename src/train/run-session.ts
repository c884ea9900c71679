// One session of a fine-tuning run (RunSession): the run store's row, checkpoints, the held-out
// curve, the optimizer steps with the non-finite guard, metrics, and the exported model and summary.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { clipGradNorm } from '../optim/index.js';
import { loraStateDict, mergeLoRA } from '../nn/lora.js';
import type { RunStore } from '../store/runs.js';
import { RunRecord } from './training-run.js';
import { readJsonl } from '../util/jsonl.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { Progress } from '../util/progress.js';
import { saveCheckpoint, rngStateToBase64, methodStatePart } from './checkpoint.js';
import { gatherRankMethodStates, rngStatesByRank } from './rank-state.js';
import { NonFiniteError } from './finetune-method.js';
import { evaluateHeldOut, HELD_OUT_SPLIT, type HeldOutRecord } from './held-out.js';
import type { FinetuneOptions, FinetuneSummary, LoopConfig, ResolvedFinetune, StepInfo } from './finetune-config.js';
import type { RunFolder } from './run-folder.js';
import type { RunCounters, RunParts } from './run-setup.js';

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
export class RunSession {
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
    if (this.parts.dp && !this.parts.dp.isWriter) return; // rank 0 alone keeps the run's row
    const { config, method } = this.rf;
    const { out, previous, cfgPath } = this.folder;
    const record = RunRecord.open({
      store: this.loop.store, kind: method.name, out, config, name: this.loop.name, resuming: this.folder.resuming,
      step: this.c.step, previousRunId: previous?.runId, log: this.log,
    });
    const store = (this.store = record.store);
    this.runId = record.runId;
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
    const dp = this.parts.dp;
    const m = methodStatePart(this.rf.method.name, methodState);
    // data-parallel: rank 0 alone writes checkpoints, with every rank's RNG and method state
    const rngByRank = dp ? rngStatesByRank(dp) : null;
    const ranks = dp ? gatherRankMethodStates(dp, m, Boolean(methodState?.stateDict)) : { tensors: {}, state: {} };
    if (dp && !dp.isWriter) {
      for (const g of Object.values(m.tensors)) for (const t of Object.values(g)) t.dispose();
      return;
    }
    this.started = true;
    try {
      await saveCheckpoint(this.folder.ckptRoot, {
        step: c.step,
        tensors: { [lora ? 'lora' : 'unet']: weights, optimizer: o.tensors, ...(e ? { ema: e.tensors } : {}), ...m.tensors, ...ranks.tensors },
        state: {
          optimizer: o.meta, ...(e ? { ema: e.meta } : {}), lrScheduler: sched.stateDict(), rng: rngStateToBase64(), ...m.state,
          dataPosition: c.step * loop.accumulation, nfeTotal: c.nfeTotal, skipped: c.skipped, consecutive: c.consecutive, elapsedSec: this.elapsed(),
          evalSec: c.evalSecBefore + this.evalSecSession, runId: this.runId, config: this.rf.config,
          ...(dp ? { worldSize: dp.worldSize, rngByRank, ...ranks.state } : {}),
        },
      }, loop.keepCheckpoints);
    } finally {
      for (const g of [o.tensors, e?.tensors ?? {}, ...Object.values(m.tensors), ...Object.values(ranks.tensors)]) for (const t of Object.values(g)) t.dispose();
    }
  }

  /** The held-out curve is due at step 0, every evalEvery steps and at the last step, unless eval.jsonl has the step (step 0 after a resume). */
  evalDue(s: number): boolean {
    const { loop } = this;
    return loop.evalEvery > 0 && (s === 0 || s % loop.evalEvery === 0 || s === loop.steps) && !this.evaluated.has(s) && (this.parts.dp?.isWriter ?? true);
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
    const { setup, methodState, trainable, dp } = this.parts;
    const o: StepOutcome = { bad: null, lossSum: 0, logSums: {}, gradNorm: NaN };
    for (let micro = 0; micro < loop.accumulation && !o.bad; micro++) {
      const position = this.c.step * loop.accumulation + micro;
      const ctx = { ...setup, step: this.c.step, position: dp ? dp.shardPosition(position, method.positionGroup?.(setup.options) ?? 1) : position, state: methodState, gradScale: 1 / loop.accumulation };
      const batch = await method.makeBatch(ctx);
      try {
        const r = await method.loss(ctx, batch);
        try {
          const v = r.loss.item();
          if (!Number.isFinite(v)) {
            o.bad = `the loss is ${v}`;
          } else {
            if (!r.backwardDone) torch.tidy(() => (loop.accumulation > 1 ? r.loss.div(loop.accumulation) : r.loss).backward());
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
    if (dp) {
      // data-parallel: every rank skips together, or the gradients are averaged over the ranks and the logs combined
      o.bad = dp.agreeSkip(o.bad);
      if (!o.bad) {
        dp.allReduceGradients(trainable);
        const { __lossSum, ...logs } = dp.combineLogs({ ...o.logSums, __lossSum: o.lossSum });
        o.lossSum = __lossSum!;
        o.logSums = logs;
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
      const aborted = this.parts.dp ? this.parts.dp.agreeSkip(opts.signal?.aborted ? 'stop' : null) !== null : opts.signal?.aborted;
      if (aborted) {
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
      store?.logMetrics(runId, step, record);
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
    const { model, ema, lora, evalLog, nTrainable, dp, trainable } = this.parts;
    dp?.checkReplicas(trainable, 'the trained weights');
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
    this.store?.finishRun(this.runId!, 'finished');
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
