// Saving and loading a model folder, in the spirit of diffusers' save_pretrained / from_pretrained:
//
//   <dir>/config.json        the model's config (everything needed to rebuild it), pretty-printed,
//                            with an optional `extra` object (training provenance) beside its keys
//   <dir>/model.safetensors  its weights
//
// Both files are written atomically (a temporary file renamed into place). Reading checks the
// config against the model's zod schema and names the folder and the file in every error, prefixed
// by what the folder holds (e.g. "CLIP checkpoint <dir>: …").
import { mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { formatZodError } from '../util/config.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';

/** What loading needs of a model: its weights by name, and release of its tensors on failure. */
export interface LoadableModel {
  loadStateDict(sd: Record<string, Tensor>): void;
  dispose(): void;
}

/** How a kind of model folder is read. */
export interface PretrainedKind<C> {
  /** the prefix of every error, e.g. 'CLIP checkpoint' */
  what: string;
  /** the config's schema (without `extra`) */
  schema: z.ZodType<C>;
  /** the message when `dir` itself does not exist (default: config.json is missing) */
  notFound?: (dir: string) => string;
}

/** Writes `config` (with `extra` when given) and `weights` into `dir`, creating it. */
export async function savePretrained(
  dir: string,
  config: object,
  weights: Record<string, Tensor>,
  extra?: Record<string, unknown>,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await torch.safetensors.saveFile(join(dir, WEIGHTS_FILE), weights, { format: 'pt' });
  await writeFileAtomic(join(dir, CONFIG_FILE), JSON.stringify({ ...config, ...(extra ? { extra } : {}) }, null, 2) + '\n');
}

/** Reads and checks `dir`/config.json; `extra` is returned apart (undefined when absent). */
export async function readPretrainedConfig<C>(
  dir: string,
  kind: PretrainedKind<C>,
): Promise<{ config: C; extra: Record<string, unknown> | undefined }> {
  const cfgPath = join(dir, CONFIG_FILE);
  if (kind.notFound && !existsSync(dir)) throw new Error(kind.notFound(dir));
  if (!existsSync(cfgPath)) throw new Error(`${kind.what} ${dir}: ${cfgPath} is missing`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`${kind.what} ${dir}: config.json is not valid JSON (${(e as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${kind.what} ${dir}: config.json is not an object`);
  const { extra, ...rest } = raw as Record<string, unknown>;
  const parsed = kind.schema.safeParse(rest);
  if (!parsed.success) {
    throw new Error(formatZodError(parsed.error, `${kind.what} ${dir}: config.json is invalid`));
  }
  return { config: parsed.data, extra: extra as Record<string, unknown> | undefined };
}

/**
 * Loads `dir`/model.safetensors into `model` (the weights' tensors are released afterwards); on
 * failure the model is disposed and the error names the folder.
 */
export async function loadPretrainedWeights(dir: string, model: LoadableModel, what: string): Promise<void> {
  const wPath = join(dir, WEIGHTS_FILE);
  let tensors: Record<string, Tensor>;
  try {
    tensors = (await torch.safetensors.loadFile(wPath)).tensors;
  } catch (e) {
    model.dispose();
    throw new Error(`${what} ${dir}: cannot read model.safetensors (${(e as Error).message})`, { cause: e });
  }
  try {
    model.loadStateDict(tensors);
  } catch (e) {
    model.dispose();
    throw new Error(`${what} ${dir}: ${(e as Error).message}`, { cause: e });
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

/**
 * Reads a model folder written by savePretrained: checks the config, builds the model from it with
 * `build`, and loads the weights. Both files must exist before anything is built.
 */
export async function fromPretrained<C, M extends LoadableModel>(
  dir: string,
  kind: PretrainedKind<C>,
  build: (config: C) => M,
): Promise<M> {
  const { config } = await readPretrainedConfig(dir, kind);
  const wPath = join(dir, WEIGHTS_FILE);
  if (!existsSync(wPath)) throw new Error(`${kind.what} ${dir}: ${wPath} is missing`);
  const model = build(config);
  await loadPretrainedWeights(dir, model, kind.what);
  return model;
}
