// What every training loop shares about its run: the checkpoint a run resumes from (the newest
// intact one, or the one asked for) and the run's row in the run store (src/store/runs.ts), whose
// `method` column holds the kind of run ('pretrain', 'train-clip', or a fine-tuning method's name).
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { resumeCheckpointDir } from './checkpoint.js';
import { RunStore } from '../store/runs.js';

/**
 * The checkpoint under `ckptRoot` that a run continues from: `latest`, or `from` (`checkpoint-N`)
 * when given; null when there is none yet. A broken `latest` is an Error naming the newest intact
 * checkpoint; what a chosen checkpoint skips is logged as a warning.
 */
export function resumeCheckpoint(ckptRoot: string, from: string | null | undefined, flag: string, log: (msg: string) => void): string | null {
  const choice = resumeCheckpointDir(ckptRoot, { from: from ?? null, flag });
  if (choice.skipped) log(`warning: resuming from ${choice.dir}; skipped ${choice.skipped}`);
  return choice.dir;
}

/** The step of a checkpoint folder named `checkpoint-N` (0 for another name). */
export function checkpointStep(dir: string): number {
  const m = /checkpoint-(\d+)$/.exec(dir);
  return m ? Number(m[1]) : 0;
}

/**
 * Opens the folder of a run that checkpoints under `<out>/checkpoints` and resumes by itself when
 * it finds one: the folder (and `subdirs`) made when missing, the config written as config.json,
 * and the checkpoint the run continues from (see resumeCheckpoint; null for a new run).
 */
export async function openCheckpointedRun(
  out: string, config: object, o: { resumeFrom?: string; flag: string; subdirs?: string[]; log: (msg: string) => void },
): Promise<{ ckptRoot: string; latest: string | null }> {
  await mkdir(out, { recursive: true });
  for (const d of o.subdirs ?? []) await mkdir(join(out, d), { recursive: true });
  await writeFile(join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  const ckptRoot = join(out, 'checkpoints');
  return { ckptRoot, latest: resumeCheckpoint(ckptRoot, o.resumeFrom, o.flag, o.log) };
}

export interface RecordRunOptions {
  /** the store's file */
  store: string;
  /** the kind of run, kept in the row's `method` column */
  kind: string;
  /** the run's folder */
  out: string;
  config: Record<string, unknown>;
  /** the row's name (default: the folder's name) */
  name?: string | null;
  /** whether the run continues an earlier one (its row is reused when found) */
  resuming: boolean;
  /** the step the run continues from: the row's metrics after it are dropped */
  step: number;
  /** the row the run folder names, when it names one; without it a resumed run's row is looked up by kind and folder */
  previousRunId?: number;
  log: (msg: string) => void;
}

/** A run's row in the run store, from its start (or resume) to its end. */
export class RunRecord {
  private constructor(readonly store: RunStore, readonly runId: number) {}

  /**
   * Opens the store and the run's row: a resumed run keeps its own row (back to 'running', its
   * metrics after `step` dropped); a new run, or one whose row is missing or is of another folder,
   * gets a new row.
   */
  static open(o: RecordRunOptions): RunRecord {
    const out = resolve(o.out);
    const store = new RunStore(o.store);
    try {
      const prevRun = o.previousRunId !== undefined
        ? store.getRun(o.previousRunId)
        : o.resuming ? store.listRuns({ method: o.kind, outDir: out })[0] ?? null : null;
      if (prevRun && prevRun.outDir === out) {
        store.resumeRun(prevRun.id, o.step, o.config);
        return new RunRecord(store, prevRun.id);
      }
      if (o.resuming) {
        o.log(prevRun
          ? `run store ${store.path}: the run's row ${prevRun.id} is of ${prevRun.outDir} (the folder was moved or copied); recording ${out} as a new run`
          : `run store ${store.path}: the run's row ${o.previousRunId ?? '?'} is not there; recording it as a new run`);
      }
      const id = store.createRun({ name: o.name ?? basename(out), method: o.kind, outDir: out, config: o.config });
      return new RunRecord(store, id);
    } catch (e) {
      store.close();
      throw e;
    }
  }

  /** Records one step's numbers. */
  log(step: number, values: Record<string, number>): void {
    this.store.logMetrics(this.runId, step, values);
  }

  /** Marks the run finished, with its summary's numbers recorded at its last step. */
  finish(step: number, summary: Record<string, number> = {}): void {
    if (Object.keys(summary).length) this.store.logMetrics(this.runId, step, summary);
    this.store.finishRun(this.runId, 'finished');
  }

  /** Marks the run failed (the store's own error must not hide the run's). */
  fail(e: unknown): void {
    try {
      this.store.finishRun(this.runId, 'failed', (e as Error).message);
    } catch {
      // the run's error is the one to report
    }
  }

  close(): void {
    this.store.close();
  }
}

/** What a recorded run's body returns: its result, and whether and where it finished. */
export interface RecordedOutcome<T> {
  result: T;
  finished: boolean;
  step: number;
  /** numbers recorded at the last step when the run finished */
  summary?: Record<string, number>;
}

/**
 * Runs `body` with the run's row open (no row when `o` is null): the row is marked finished when
 * the body says so, left 'running' when it stopped early (as after a kill), failed when it throws.
 */
export async function recordedRun<T>(o: RecordRunOptions | null, body: (record: RunRecord | null) => Promise<RecordedOutcome<T>>): Promise<T> {
  const record = o ? RunRecord.open(o) : null;
  try {
    const r = await body(record);
    if (r.finished) record?.finish(r.step, r.summary);
    return r.result;
  } catch (e) {
    record?.fail(e);
    throw e;
  } finally {
    record?.close();
  }
}
