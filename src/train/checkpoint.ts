// Training checkpoints, written so that a process killed at any moment leaves either the previous
// checkpoint or the new one, never half of one: every file goes into a fresh temporary directory,
// which is renamed to `checkpoint-<step>` when complete; then the `latest` pointer is replaced by a
// rename. A checkpoint holds named groups of tensors (each a safetensors file: weights, EMA,
// optimizer state, the method's state, …) and one JSON state (step, RNG states, data position,
// optimizer meta, the method state's meta, config). Every file is flushed to the disk before the
// rename that publishes it (the folder, then the pointer).
//
// On resume, `resumeCheckpointDir` follows `latest` when it leads to an intact checkpoint; when it
// does not (an empty or dangling pointer, a truncated state.json or tensor file), it refuses with
// what is broken and the newest intact checkpoint, which the caller may then name (`from`).
import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { parseHeader } from '../torch/safetensors-format.js';
import { fsyncDir, fsyncFile, writeFileAtomic, writeFileSynced } from '../util/atomic-write.js';
import type { Tensor } from '../torch/index.js';
import type { MethodState } from './finetune-method.js';
import { badValues } from '../nn/module.js';

export interface CheckpointContent {
  step: number;
  /** each group becomes <name>.safetensors */
  tensors: Record<string, Record<string, Tensor>>;
  /** JSON-serialisable state */
  state: Record<string, unknown>;
}

export interface LoadedCheckpoint {
  dir: string;
  step: number;
  tensors: Record<string, Record<string, Tensor>>;
  state: Record<string, unknown>;
}

const LATEST = 'latest';

/** Writes checkpoint-<step> under `root` atomically and points `latest` at it; keeps the newest `keep`. */
export async function saveCheckpoint(root: string, c: CheckpointContent, keep = 2): Promise<string> {
  await mkdir(root, { recursive: true });
  const name = `checkpoint-${String(c.step).padStart(8, '0')}`;
  const tmp = join(root, `.${name}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  for (const [group, tensors] of Object.entries(c.tensors)) {
    const file = join(tmp, `${group}.safetensors`);
    await torch.safetensors.saveFile(file, tensors);
    await fsyncFile(file);
  }
  await writeFileSynced(join(tmp, 'state.json'), JSON.stringify({ step: c.step, groups: Object.keys(c.tensors), ...c.state }));
  await fsyncDir(tmp);
  const final = join(root, name);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await fsyncDir(root);
  await writeFileAtomic(join(root, LATEST), name + '\n', { fsync: true });
  // prune older checkpoints (and temporary leftovers of killed writers)
  const entries = (await readdir(root)).sort();
  const cps = entries.filter((e) => /^checkpoint-\d+$/.test(e));
  for (const old of cps.slice(0, Math.max(0, cps.length - keep))) await rm(join(root, old), { recursive: true, force: true });
  for (const e of entries.filter((e) => (e.startsWith('.checkpoint-') && e !== `.${name}.tmp-${process.pid}`) || e.startsWith(`${LATEST}.tmp-`))) {
    await rm(join(root, e), { recursive: true, force: true });
  }
  return final;
}

/** The latest complete checkpoint under `root`, or null when there is none. */
export function latestCheckpointDir(root: string): string | null {
  const ptr = join(root, LATEST);
  if (!existsSync(ptr)) return null;
  const dir = join(root, readFileSync(ptr, 'utf8').trim());
  if (!existsSync(join(dir, 'state.json'))) throw new Error(`${ptr} points at ${dir}, which is not a complete checkpoint`);
  return dir;
}

/** Why checkpoint folder `dir` cannot be loaded (state.json, its groups' files), or null when it is intact. */
export function checkpointProblem(dir: string): string | null {
  if (!existsSync(dir)) return 'the folder is missing';
  const statePath = join(dir, 'state.json');
  if (!existsSync(statePath)) return 'state.json is missing';
  let state: Record<string, unknown>;
  try {
    state = JSON.parse(readFileSync(statePath, 'utf8'));
  } catch (e) {
    return `state.json is not valid JSON (${(e as Error).message})`;
  }
  if (typeof state !== 'object' || state === null || typeof state.step !== 'number' || !Array.isArray(state.groups)) {
    return 'state.json lacks step or groups';
  }
  for (const g of state.groups as unknown[]) {
    const file = join(dir, `${String(g)}.safetensors`);
    const problem = safetensorsProblem(file);
    if (problem) return `${String(g)}.safetensors ${problem}`;
  }
  return null;
}

/** Reads a safetensors file's header and checks it against the file's size (a truncated file fails). */
function safetensorsProblem(file: string): string | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `cannot be read (${(e as Error).message})`;
  }
  try {
    const size = statSync(file).size;
    if (size < 8) return `is truncated (${size} bytes)`;
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    if (!Number.isSafeInteger(n) || 8 + n > size) return `is truncated (a header of ${n} bytes in ${size})`;
    const head = Buffer.alloc(8 + n);
    readSync(fd, head, 0, 8 + n, 0);
    parseHeader(head, { fileSize: size, source: file });
    return null;
  } catch (e) {
    return `is corrupt (${(e as Error).message})`;
  } finally {
    closeSync(fd);
  }
}

export interface CheckpointEntry {
  /** the folder's name, checkpoint-<step> */
  name: string;
  dir: string;
  step: number;
}

/** The checkpoint folders under `root` (complete or not), newest (highest step) first. */
export function listCheckpoints(root: string): CheckpointEntry[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((e) => /^checkpoint-\d+$/.test(e))
    .map((name) => ({ name, dir: join(root, name), step: Number(name.slice('checkpoint-'.length)) }))
    .sort((a, b) => b.step - a.step);
}

/** The intact checkpoints under `root` (checkpointProblem finds nothing), newest first. */
export function intactCheckpoints(root: string): CheckpointEntry[] {
  return listCheckpoints(root).filter((c) => checkpointProblem(c.dir) === null);
}

/** What `latest` under `root` leads to: nothing (no pointer), an intact checkpoint, or why not. */
export function latestPointerStatus(root: string): { dir: string | null; problem: string | null } {
  const ptr = join(root, LATEST);
  if (!existsSync(ptr)) return { dir: null, problem: listCheckpoints(root).length ? `${ptr} is missing` : null };
  let target: string;
  try {
    target = readFileSync(ptr, 'utf8').trim();
  } catch (e) {
    return { dir: null, problem: `${ptr} cannot be read (${(e as Error).message})` };
  }
  if (!target) return { dir: null, problem: `${ptr} is empty` };
  if (!/^checkpoint-\d+$/.test(target)) return { dir: null, problem: `${ptr} holds '${target.slice(0, 80)}', not a checkpoint name` };
  const dir = join(root, target);
  const problem = checkpointProblem(dir);
  if (problem) return { dir: null, problem: `${ptr} points at ${target}, ${problem === 'the folder is missing' ? 'which does not exist' : `whose ${problem}`}` };
  return { dir, problem: null };
}

/** A checkpoint named as `checkpoint-N`, `checkpoint-0000000N` or `N`: its step, or null. */
function stepOfName(name: string): number | null {
  const m = /^(?:checkpoint-)?(\d+)$/.exec(name.trim());
  return m ? Number(m[1]) : null;
}

export interface ResumeChoice {
  /** the checkpoint to load, or null when the run has none yet */
  dir: string | null;
  /** set when `from` made it skip something: what it skipped, for a warning */
  skipped: string | null;
}

/**
 * The checkpoint a resume continues from. Without `from`: the one `latest` points at, when it is
 * intact; none when the run has no checkpoint; otherwise an Error saying what is broken and naming
 * the newest intact checkpoint, to be passed as `from` (`flag` names the option in the message).
 * With `from` (a checkpoint's name or step): that checkpoint, which must be intact, and what it
 * skipped (a broken `latest`, newer checkpoints).
 */
export function resumeCheckpointDir(root: string, opts: { from?: string | null; flag?: string } = {}): ResumeChoice {
  const flag = opts.flag ?? '--resume-from';
  const latest = latestPointerStatus(root);
  if (opts.from === undefined || opts.from === null) {
    if (!latest.problem) return { dir: latest.dir, skipped: null };
    const intact = intactCheckpoints(root);
    const offer = intact.length
      ? `the newest intact checkpoint is ${intact[0]!.name} (step ${intact[0]!.step}): pass ${flag} ${intact[0]!.name} to continue from it`
      : 'no intact checkpoint is left: start the run again in a new folder';
    throw new Error(`resume: the latest checkpoint cannot be used: ${latest.problem}; ${offer}`);
  }
  const step = stepOfName(opts.from);
  const all = listCheckpoints(root);
  const chosen = step === null ? undefined : all.find((c) => c.step === step);
  const intactNames = () => intactCheckpoints(root).map((c) => c.name).join(', ') || 'none';
  if (!chosen) throw new Error(`${flag} ${opts.from}: no such checkpoint in ${root} (intact ones: ${intactNames()})`);
  const problem = checkpointProblem(chosen.dir);
  if (problem) throw new Error(`${flag} ${opts.from}: ${chosen.name} is not intact: ${problem} (intact ones: ${intactNames()})`);
  const skipped: string[] = [];
  if (latest.problem) skipped.push(latest.problem);
  else if (latest.dir !== chosen.dir) skipped.push(`${join(root, LATEST)} (${latest.dir!.slice(root.length + 1)})`);
  const newer = all.filter((c) => c.step > chosen.step).map((c) => c.name);
  if (newer.length) skipped.push(`newer checkpoint${newer.length > 1 ? 's' : ''} ${newer.join(', ')}`);
  return { dir: chosen.dir, skipped: skipped.length ? skipped.join('; ') : null };
}

/** Loads a checkpoint directory; a missing or corrupt file is an Error naming it. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const statePath = join(dir, 'state.json');
  if (!existsSync(statePath)) throw new Error(`checkpoint ${dir}: state.json is missing`);
  let state: Record<string, unknown>;
  try {
    state = JSON.parse(await readFile(statePath, 'utf8'));
  } catch (e) {
    throw new Error(`checkpoint ${dir}: state.json is not valid JSON (${(e as Error).message})`);
  }
  const step = state.step;
  const groups = state.groups;
  if (typeof step !== 'number' || !Array.isArray(groups)) throw new Error(`checkpoint ${dir}: state.json lacks step or groups`);
  const tensors: Record<string, Record<string, Tensor>> = {};
  try {
    for (const g of groups as string[]) {
      tensors[g] = (await torch.safetensors.loadFile(join(dir, `${g}.safetensors`))).tensors;
      const bad = nonFiniteTensor(tensors[g]);
      if (bad) {
        throw new Error(
          `checkpoint ${dir}: ${g}.safetensors holds ${bad.count} NaN or infinite value${bad.count > 1 ? 's' : ''} in '${bad.name}'; ` +
          'resuming from it would spoil every later step; resume from an earlier checkpoint (sharpen finetune --resume-from checkpoint-N)',
        );
      }
    }
  } catch (e) {
    for (const group of Object.values(tensors)) for (const t of Object.values(group)) t.dispose();
    throw e;
  }
  return { dir, step, tensors, state };
}

/**
 * The first tensor with NaN or ±Inf values and how many (badValues of src/nn/module.ts), or null.
 * The loop never saves one (a non-finite step is skipped before it touches weights, optimizer or
 * EMA), so one found here is corruption of the file's values, which its structure checks cannot see.
 */
function nonFiniteTensor(group: Record<string, Tensor>): { name: string; count: number } | null {
  for (const [name, t] of Object.entries(group)) {
    const count = badValues(t).nonFinite;
    if (count > 0) return { name, count };
  }
  return null;
}

/** Frees the tensors of a loaded checkpoint once they have been copied into the model. */
export function disposeCheckpoint(c: LoadedCheckpoint): void {
  for (const g of Object.values(c.tensors)) for (const t of Object.values(g)) t.dispose();
}

/** The RNG state as base64 (for state.json) and back. */
export function rngStateToBase64(): string {
  return Buffer.from(torch.getRngState()).toString('base64');
}
export function restoreRngState(b64: unknown, where: string): void {
  if (typeof b64 !== 'string') throw new Error(`${where}: no RNG state saved`);
  torch.setRngState(new Uint8Array(Buffer.from(b64, 'base64')));
}

/** The checkpoint group of a method's state tensors (method.safetensors). */
const METHOD_GROUP = 'method';

/**
 * A method state's part of a checkpoint: its tensors as the group `method` and its meta in
 * state.json as `methodState` (nothing for a state without stateDict). The caller disposes the
 * tensors once saved.
 */
export function methodStatePart(method: string, state: MethodState | null): Pick<CheckpointContent, 'tensors' | 'state'> {
  const saved = state?.stateDict?.();
  if (!saved) return { tensors: {}, state: {} };
  return {
    tensors: Object.keys(saved.tensors).length ? { [METHOD_GROUP]: saved.tensors } : {},
    state: { methodState: { method, meta: saved.meta ?? null } },
  };
}

/**
 * Restores a method's state from a loaded checkpoint. A state with loadStateDict requires one in the
 * checkpoint, written for the same method: without it the run cannot continue exactly, so it is an
 * Error rather than a fresh state. A state without loadStateDict ignores the checkpoint.
 */
export function restoreMethodState(c: LoadedCheckpoint, method: string, state: MethodState | null): void {
  if (!state?.loadStateDict) return;
  const saved = c.state.methodState as { method?: unknown; meta?: unknown } | undefined;
  if (!saved || typeof saved !== 'object') {
    throw new Error(
      `checkpoint ${c.dir}: no state of method ${method} in it (written by a version that did not checkpoint the method's state?); ` +
      'it cannot be resumed exactly: start the run again',
    );
  }
  if (saved.method !== method) throw new Error(`checkpoint ${c.dir}: its method state is of method ${String(saved.method)}, not ${method}`);
  state.loadStateDict({ tensors: c.tensors[METHOD_GROUP] ?? {}, meta: saved.meta });
}
