// Train, validation and test prompt sets. Some combinations of attributes (colour–shape,
// size–shape, texture–shape pairs), of relations with their subject's shape, and of counts with
// shapes never occur in the train split, so evaluation can report seen and unseen combinations
// apart (compositional generalisation). The committed files data/splits/{train,val,test}.jsonl are
// generated deterministically by `generateSplits()` (`sharpen world splits`).
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { Rng } from './rng.js';
import { CATEGORIES, COUNT_WORD, isCategory, type Category } from './vocab.js';
import type { SceneSpec } from './spec.js';
import { generatePrompt } from './prompts.js';
import { parsePrompt } from './grammar.js';
import { layoutScene } from './layout.js';

export const SPLITS = ['train', 'val', 'test'] as const;
export type SplitName = (typeof SPLITS)[number];

/** Combinations that never appear in the train split. */
export const HELD_OUT_COMBOS: readonly string[] = [
  'color-shape:red triangle',
  'color-shape:blue circle',
  'color-shape:green diamond',
  'color-shape:yellow square',
  'color-shape:purple triangle',
  'size-shape:large diamond',
  'size-shape:small square',
  'texture-shape:striped circle',
  'texture-shape:dotted triangle',
  'texture-shape:checkered square',
  'relation-shape:left_of triangle',
  'relation-shape:above square',
  'relation-shape:below diamond',
  'relation-shape:touching circle',
  'count-shape:three diamond',
];

/** The combinations a scene uses (attribute–shape pairs, relation–subject shape, count–shape). */
export function combosOf(spec: SceneSpec): string[] {
  const out = new Set<string>();
  for (const e of spec.entities) {
    if (e.color) out.add(`color-shape:${e.color} ${e.shape}`);
    if (e.size) out.add(`size-shape:${e.size} ${e.shape}`);
    if (e.texture) out.add(`texture-shape:${e.texture} ${e.shape}`);
    if (e.count > 1) out.add(`count-shape:${COUNT_WORD[e.count]} ${e.shape}`);
  }
  for (const r of spec.relations) out.add(`relation-shape:${r.type} ${spec.entities[r.subject]!.shape}`);
  return [...out];
}

export function unseenCombos(spec: SceneSpec): string[] {
  const held = new Set(HELD_OUT_COMBOS);
  return combosOf(spec).filter((c) => held.has(c));
}

export interface SplitRecord {
  id: string;
  prompt: string;
  category: Category;
  /** every combination of attributes in it occurs in the train split */
  seen: boolean;
  /** the held-out combinations it contains */
  unseen: string[];
}

/** A split record with its prompt parsed. */
export interface PromptRecord extends SplitRecord {
  spec: SceneSpec;
}

export interface SplitSizes {
  train: number;
  val: number;
  test: number;
}

/** Prompts per category in each split. */
export const DEFAULT_SPLIT_SIZES: SplitSizes = { train: 600, val: 50, test: 150 };

/**
 * Generates the three splits deterministically. Train has only seen combinations; validation and
 * test have (where the category allows) half unseen; no prompt text appears in two splits.
 */
export function generateSplits(seed = 2023, sizes: SplitSizes = DEFAULT_SPLIT_SIZES): Record<SplitName, SplitRecord[]> {
  const out: Record<SplitName, SplitRecord[]> = { train: [], val: [], test: [] };
  const used = new Set<string>();
  for (const category of CATEGORIES) {
    const rng = new Rng(seed, 'splits', category);
    const fits = (spec: SceneSpec) => {
      try {
        layoutScene(spec, new Rng(0), 32);
        return true;
      } catch {
        return false;
      }
    };
    for (const split of SPLITS) {
      const want = sizes[split];
      const wantUnseen = split === 'train' ? 0 : Math.floor(want / 2);
      const recs: SplitRecord[] = [];
      let unseenCount = 0;
      for (let tries = 0; recs.length < want && tries < want * 400; tries++) {
        const g = generatePrompt(category, rng);
        if (used.has(g.prompt) || !fits(g.spec)) continue;
        const unseen = unseenCombos(g.spec);
        if (split === 'train' && unseen.length > 0) continue;
        const seenNeeded = want - wantUnseen;
        if (unseen.length > 0 && unseenCount >= wantUnseen) continue;
        if (unseen.length === 0 && recs.length - unseenCount >= seenNeeded && tries < want * 200) continue;
        used.add(g.prompt);
        if (unseen.length > 0) unseenCount++;
        recs.push({
          id: `${split}-${category}-${String(recs.length).padStart(4, '0')}`,
          prompt: g.prompt,
          category,
          seen: unseen.length === 0,
          unseen,
        });
      }
      if (recs.length < want) throw new Error(`splits: only ${recs.length} distinct ${category} prompts for ${split} (wanted ${want})`);
      out[split].push(...recs);
    }
  }
  return out;
}

/** The repository's data/splits directory. */
export function defaultSplitDir(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'data', 'splits');
}

export function writeSplits(dir: string, splits: Record<SplitName, SplitRecord[]>): void {
  mkdirSync(dir, { recursive: true });
  for (const name of SPLITS) writeFileSync(join(dir, `${name}.jsonl`), splits[name].map((r) => JSON.stringify(r)).join('\n') + '\n');
}

/** Reads a prompt file: JSON lines with at least "prompt" (and "category", "seen" when known). */
export function readPromptFile(path: string): PromptRecord[] {
  if (!existsSync(path)) throw new Error(`${path}: file not found`);
  const out: PromptRecord[] = [];
  readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(line);
    } catch {
      throw new Error(`${path}:${i + 1}: not valid JSON`);
    }
    if (typeof raw.prompt !== 'string') throw new Error(`${path}:${i + 1}: no "prompt" string`);
    let spec: SceneSpec;
    try {
      spec = parsePrompt(raw.prompt);
    } catch (e) {
      throw new Error(`${path}:${i + 1}: ${(e as Error).message}`);
    }
    const category = typeof raw.category === 'string' ? raw.category : null;
    if (category !== null && !isCategory(category)) throw new Error(`${path}:${i + 1}: unknown category '${category}' (accepted: ${CATEGORIES.join(', ')})`);
    const unseen = unseenCombos(spec);
    out.push({
      ...raw,
      id: typeof raw.id === 'string' ? raw.id : String(i),
      prompt: raw.prompt,
      category: (category ?? inferCategory(spec)) as Category,
      seen: typeof raw.seen === 'boolean' ? raw.seen : unseen.length === 0,
      unseen: Array.isArray(raw.unseen) ? (raw.unseen as string[]) : unseen,
      spec,
    });
  });
  return out;
}

/** Loads a committed split (optionally one category). */
export function loadSplit(name: SplitName, category?: Category, dir = defaultSplitDir()): PromptRecord[] {
  if (!SPLITS.includes(name)) throw new Error(`unknown split '${name}' (accepted: ${SPLITS.join(', ')})`);
  const recs = readPromptFile(join(dir, `${name}.jsonl`));
  return category ? recs.filter((r) => r.category === category) : recs;
}

/** A best guess of a prompt's category from its structure (for prompt files without one). */
export function inferCategory(spec: SceneSpec): Category {
  const attrs = spec.entities.reduce((n, e) => n + (e.size ? 1 : 0) + (e.color ? 1 : 0) + (e.texture ? 1 : 0), 0);
  const counts = spec.entities.some((e) => e.count > 1);
  const spatial = spec.relations.some((r) => ['left_of', 'right_of', 'above', 'below'].includes(r.type));
  const contact = spec.relations.some((r) => r.type === 'touching' || r.type === 'not_touching');
  const kinds = new Set<string>();
  for (const e of spec.entities) {
    if (e.size) kinds.add('size');
    if (e.texture) kinds.add('texture');
    if (e.color) kinds.add('color');
  }
  if ((spatial || contact || counts) && attrs + spec.relations.length >= 3 && kinds.size >= 2) return 'complex';
  if (spatial) return 'spatial';
  if (contact || counts) return 'non-spatial';
  if (kinds.has('texture') && !kinds.has('size')) return 'texture';
  if (kinds.has('size') && !kinds.has('texture')) return 'shape';
  if (kinds.size === 1 && kinds.has('color')) return 'color';
  return 'complex';
}
