// Training checkpoints, written so that a process killed at any moment leaves either the previous
// checkpoint or the new one, never half of one: every file goes into a fresh temporary directory,
// which is renamed to `checkpoint-<step>` when complete; then the `latest` pointer is replaced by a
// rename. A checkpoint holds named groups of tensors (each a safetensors file: weights, EMA,
// optimizer state, the method's state, …) and one JSON state (step, RNG states, data position,
// optimizer meta, the method state's meta, config).
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { MethodState } from './method.js';

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
    await torch.safetensors.saveFile(join(tmp, `${group}.safetensors`), tensors);
  }
  await writeFile(join(tmp, 'state.json'), JSON.stringify({ step: c.step, groups: Object.keys(c.tensors), ...c.state }));
  const final = join(root, name);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  const ptrTmp = join(root, `.${LATEST}.tmp-${process.pid}`);
  await writeFile(ptrTmp, name + '\n');
  await rename(ptrTmp, join(root, LATEST));
  // prune older checkpoints (and temporary leftovers of killed writers)
  const entries = (await readdir(root)).sort();
  const cps = entries.filter((e) => /^checkpoint-\d+$/.test(e));
  for (const old of cps.slice(0, Math.max(0, cps.length - keep))) await rm(join(root, old), { recursive: true, force: true });
  for (const e of entries.filter((e) => e.startsWith('.checkpoint-') && e !== `.${name}.tmp-${process.pid}`)) {
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
  for (const g of groups as string[]) {
    tensors[g] = (await torch.safetensors.loadFile(join(dir, `${g}.safetensors`))).tensors;
  }
  return { dir, step, tensors, state };
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
