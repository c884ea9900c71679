// The run folder's checks before a run loads or writes anything (a free folder for a new run; the
// same config and a checkpoint for a resumed one; the base checkpoint unchanged), and the clean-up
// of a new run that fails before its first step.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { resumeCheckpointDir } from './checkpoint.js';
import { resolveFinetuneConfig, type FinetuneConfig, type FinetuneInput, type FinetuneOptions, type LoopConfig } from './finetune-config.js';

/** Files that mark a folder as holding a run. */
const RUN_MARKERS = ['finetune-config.json', 'checkpoints', 'metrics.jsonl', 'summary.json', 'model.safetensors', 'eval.jsonl'];

/** What a new run writes into its folder before its first step. */
const UNSTARTED_FILES = [...RUN_MARKERS, 'train-prompts.json'];

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The run folder as checked before anything is loaded or written. */
export interface RunFolder {
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
  /** a data-parallel rank other than 0: removes its scratch folder */
  removeScratch?: () => Promise<void>;
}

/**
 * The folder a data-parallel rank other than 0 writes into instead of the run folder (rank 0 alone
 * writes the run): a temporary folder, or SHARPEN_RANK_SCRATCH/rank-<r> when that is set (kept, for
 * inspection). It resumes from the run's own checkpoint.
 */
export function rankScratchFolder(folder: RunFolder, rank: number): RunFolder {
  const keep = process.env.SHARPEN_RANK_SCRATCH;
  let out: string;
  if (keep) {
    out = join(resolve(keep), `rank-${rank}`);
    mkdirSync(out, { recursive: true });
  } else {
    out = mkdtempSync(join(tmpdir(), `sharpen-rank${rank}-`));
  }
  return {
    ...folder, out, ckptRoot: join(out, 'checkpoints'), cfgPath: join(out, 'finetune-config.json'), outExisted: true, keptFiles: [],
    removeScratch: keep ? undefined : () => rm(out, { recursive: true, force: true }),
  };
}

/**
 * The run folder: a new run needs a free one; a resumed run the same config (but steps; the folder
 * is compared resolved, and a moved or copied run folder resumes whatever out it was given) and a
 * checkpoint to continue from (`latest`, or opts.resumeFrom; a broken `latest` is an Error naming
 * what is broken and the newest intact checkpoint).
 */
export function checkRunFolder(config: FinetuneConfig, opts: FinetuneOptions, log: (msg: string) => void): RunFolder {
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
export async function checkBase(loop: LoopConfig, previous: RunFolder['previous']): Promise<string> {
  const baseModelFile = join(loop.base, 'model.safetensors');
  if (!existsSync(baseModelFile)) throw new Error(`--base ${loop.base}: ${baseModelFile} is missing (train or copy a base checkpoint there)`);
  const baseSha256 = await sha256(baseModelFile);
  if (previous?.baseSha256 && previous.baseSha256 !== baseSha256) {
    throw new Error(`--resume: the base checkpoint ${loop.base} has changed since the run began (its weights' SHA-256 differs)`);
  }
  return baseSha256;
}

/**
 * Removes what a new run wrote before failing ahead of its first step, so that a plain rerun is not
 * refused: its files, then the folder when the run made it and nothing else is in it.
 */
export async function removeUnstartedRun(out: string, before: { outExisted: boolean; keptFiles: string[] }, log: (msg: string) => void): Promise<void> {
  try {
    for (const f of UNSTARTED_FILES) if (!before.keptFiles.includes(f)) await rm(join(out, f), { recursive: true, force: true });
    if (!before.outExisted && existsSync(out) && (await readdir(out)).length === 0) await rmdir(out);
  } catch (e) {
    log(`finetune: could not remove the unstarted run's files in ${out} (${(e as Error).message})`);
  }
}
