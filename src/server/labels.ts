// Human preference labels on the dashboard. A pool is a folder of images with a list of pairs to
// label (pool.json, made by the worker from a checkpoint's samples, optionally scored and ranked by
// the preference model); each answer is a row of the run store's `labels` table, committed before the
// server acknowledges it. `exportLabels` writes the labels in the one label format of
// src/data/preferences.ts (pairs.jsonl with the images beside it), which `sharpen train-preference
// --labels DIR` and `sharpen finetune --method diffusion-dpo-labels --set pairs=DIR/pairs.jsonl` read.
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { appendPairs, labelFiles, type PreferencePair } from '../data/preferences.js';
import type { LabelChoice, LabelRow, RunStore } from '../store/runs.js';
import type { PoolPair } from './worker.js';

export interface Pool {
  id: string;
  /** the checkpoint the images came from (relative to the project) */
  ckpt: string;
  preference: string | null;
  rank: 'samples' | 'uncertain';
  createdAt: string;
  pairs: PoolPair[];
}

/** A new id for a pool, study or generation: time-ordered and unguessable enough to be unique. */
export function newId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export const ID_PATTERN = /^[a-z]+-[a-z0-9]+-[0-9a-f]{6}$/;

export function poolsDir(root: string): string {
  return join(root, 'runs', 'dashboard', 'pools');
}

export function writePool(root: string, pool: Pool): void {
  writeFileSync(join(poolsDir(root), pool.id, 'pool.json'), JSON.stringify(pool, null, 1));
}

/** A pool by id, or null when there is none. */
export function readPool(root: string, id: string): Pool | null {
  if (!ID_PATTERN.test(id)) return null;
  const f = join(poolsDir(root), id, 'pool.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Pool) : null;
}

export function listPools(root: string): Pool[] {
  const dir = poolsDir(root);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).map((id) => readPool(root, id)).filter((p): p is Pool => p !== null).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}

/** The first pair of a pool not answered yet (in the pool's order), or null when all are. */
export function nextPair(store: RunStore, pool: Pool): PoolPair | null {
  const done = new Set(store.labels({ pool: pool.id }).map((l) => l.pairId));
  return pool.pairs.find((p) => !done.has(p.id)) ?? null;
}

export interface LabelSummary {
  counts: Record<LabelChoice, number> & { total: number };
  /** agreement of the labels with the preference model where it scored the pair (ties and skips left out) */
  agreement: { agree: number; decided: number; rate: number | null };
}

export function summarize(labels: LabelRow[]): LabelSummary {
  const counts = { A: 0, B: 0, tie: 0, skip: 0, total: labels.length };
  let agree = 0;
  let decided = 0;
  for (const l of labels) {
    counts[l.choice]++;
    if ((l.choice === 'A' || l.choice === 'B') && l.modelPA !== null) {
      decided++;
      agree += l.modelPA === 0.5 ? 0.5 : (l.modelPA > 0.5) === (l.choice === 'A') ? 1 : 0;
    }
  }
  return { counts, agreement: { agree, decided, rate: decided ? agree / decided : null } };
}

/** Records a person's answer on a pool's pair; it is committed when this returns. */
export function recordLabel(store: RunStore, root: string, pool: Pool, pair: PoolPair, choice: LabelChoice, annotator: string): number {
  const dir = join(poolsDir(root), pool.id);
  return store.addLabel({
    pool: pool.id, pairId: pair.id, prompt: pair.prompt, imageAId: `${pool.id}/${pair.imageA}`, imageA: join(dir, pair.imageA),
    imageBId: `${pool.id}/${pair.imageB}`, imageB: join(dir, pair.imageB), choice, annotator, modelPA: pair.pA,
    meta: { ckpt: pool.ckpt, rank: pool.rank },
  });
}

/**
 * Writes every answered label (skips left out) to `<out>/pairs.jsonl` in the label format, with the
 * images copied into `<out>/images/`; the file is replaced whole. Returns the number of pairs.
 */
export function exportLabels(store: RunStore, out: string): { pairs: number; file: string } {
  const labels = store.labels().filter((l) => l.choice !== 'skip');
  const file = labelFiles(out).pairs;
  mkdirSync(join(out, 'images'), { recursive: true });
  const copy = (abs: string, id: string) => {
    const rel = `images/${id.replace(/\//g, '_')}`;
    if (!existsSync(abs)) throw new Error(`export: the image ${abs} of a label is missing`);
    if (!existsSync(join(out, rel))) copyFileSync(abs, join(out, rel));
    return rel;
  };
  const records: PreferencePair[] = labels.map((l) => ({
    prompt: l.prompt, imageA: copy(l.imageA, l.imageAId), imageB: copy(l.imageB, l.imageBId), choice: l.choice as 'A' | 'B' | 'tie',
    annotator: `human:${l.annotator}`, time: l.createdAt, meta: { label: l.id, pool: l.pool, pair: l.pairId, ...(l.modelPA !== null ? { modelPA: l.modelPA } : {}) },
  }));
  const tmp = join(out, `.${basename(file)}.tmp`);
  rmSync(tmp, { force: true });
  if (records.length) appendPairs(tmp, records);
  else writeFileSync(tmp, '');
  renameSync(tmp, file);
  return { pairs: records.length, file };
}
