// Scores a folder of generated images against their prompts with the world's evaluator, and
// summarises per category with seen and unseen combinations apart (`sharpen world eval`).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { readImage } from '../world/image.js';
import { evaluateImage, type Evaluation } from '../world/evaluate.js';
import { inferCategory, unseenCombos, type PromptRecord } from '../world/splits.js';
import { CATEGORIES, isCategory, type Category } from '../world/vocab.js';
import type { SceneSpec } from '../world/spec.js';
import { parsePrompt } from '../world/grammar.js';
import { captionOf, readMetadata } from './image-folder.js';

export interface ScoredImage {
  file: string;
  id: string;
  prompt: string;
  category: Category;
  seen: boolean;
  score: number;
  pass: boolean;
  failed: string[];
}

export interface GroupSummary {
  n: number;
  /** mean score */
  score: number;
  /** fraction of images that pass every check */
  accuracy: number;
}

export interface CategorySummary extends GroupSummary {
  seen: GroupSummary;
  unseen: GroupSummary;
  /** pass rate of each kind of check */
  checks: Record<string, number>;
}

export interface EvalSummary {
  images: number;
  overall: GroupSummary;
  categories: Partial<Record<Category, CategorySummary>>;
}

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

/**
 * Reads a JSONL file of captions: each line a "prompt" or a "text" (synonyms, see captionOf), with
 * optional "category", "id", "seen", "unseen" and "file_name". So both a split's prompt file and an
 * image folder's metadata.jsonl are read. Every problem is an Error naming the file and line.
 */
export function readCaptionFile(path: string): PromptRecord[] {
  if (!existsSync(path)) throw new Error(`${path}: file not found`);
  if (statSync(path).isDirectory()) throw new Error(`${path}: is a folder; give a JSONL file (e.g. ${join(path, 'metadata.jsonl')})`);
  const out: PromptRecord[] = [];
  readFileSync(path, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${path}:${i + 1}`;
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`${where}: not valid JSON`);
    }
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${where}: expected a JSON object`);
    const prompt = captionOf(raw, where);
    let spec: SceneSpec;
    try {
      spec = parsePrompt(prompt);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message}`);
    }
    const category = typeof raw.category === 'string' ? raw.category : null;
    if (category !== null && !isCategory(category)) throw new Error(`${where}: unknown category '${category}' (accepted: ${CATEGORIES.join(', ')})`);
    const unseen = unseenCombos(spec);
    const { text: _text, ...rest } = raw;
    out.push({
      ...rest,
      id: typeof raw.id === 'string' ? raw.id : String(i),
      prompt,
      category: (category ?? inferCategory(spec)) as Category,
      seen: typeof raw.seen === 'boolean' ? raw.seen : unseen.length === 0,
      unseen: Array.isArray(raw.unseen) ? (raw.unseen as string[]) : unseen,
      spec,
    });
  });
  return out;
}

/**
 * Pairs images with prompts: a "file_name" field in the prompt line; else the folder's
 * metadata.jsonl; else files named after the prompt's id (`<id>.png`, `<id>_<k>.png`); else the
 * images in name order with the prompts in file order.
 */
export function pairImages(dir: string, records: PromptRecord[]): { file: string; rec: PromptRecord }[] {
  if (!existsSync(dir)) throw new Error(`${dir}: folder not found`);
  if (!statSync(dir).isDirectory()) throw new Error(`${dir}: is a file, not a folder of images`);
  const withFile = records.filter((r) => typeof (r as unknown as Record<string, unknown>).file_name === 'string');
  if (withFile.length === records.length && records.length > 0) {
    return records.map((r) => ({ file: join(dir, (r as unknown as Record<string, string>).file_name!), rec: r }));
  }
  if (existsSync(join(dir, 'metadata.jsonl'))) {
    const byText = new Map(records.map((r) => [r.prompt, r]));
    return readMetadata(dir).map((e) => {
      let rec = byText.get(e.text);
      if (!rec) {
        const spec = parsePrompt(e.text);
        const unseen = unseenCombos(spec);
        rec = { id: basename(e.file), prompt: e.text, category: inferCategory(spec), seen: unseen.length === 0, unseen, spec };
      }
      return { file: e.file, rec };
    });
  }
  const files = readdirSync(dir).filter((f) => IMAGE_EXT.has(extname(f).toLowerCase())).sort();
  if (files.length === 0) throw new Error(`${dir}: no PNG or JPEG images`);
  const byId = new Map(records.map((r) => [r.id, r]));
  const named = files.map((f) => {
    const stem = basename(f, extname(f));
    return { file: join(dir, f), rec: byId.get(stem) ?? byId.get(stem.replace(/_\d+$/, '')) };
  });
  if (named.every((x) => x.rec)) return named as { file: string; rec: PromptRecord }[];
  if (files.length !== records.length) {
    throw new Error(`${dir}: ${files.length} images for ${records.length} prompts; name images after the prompts' ids (<id>.png or <id>_<k>.png), add "file_name" to the prompt lines, or give the folder a metadata.jsonl`);
  }
  return files.map((f, i) => ({ file: join(dir, f), rec: records[i]! }));
}

function group(items: ScoredImage[]): GroupSummary {
  const n = items.length;
  return { n, score: n ? items.reduce((a, b) => a + b.score, 0) / n : NaN, accuracy: n ? items.filter((x) => x.pass).length / n : NaN };
}

export function summarise(scored: ScoredImage[], evals: Evaluation[]): EvalSummary {
  const categories: Partial<Record<Category, CategorySummary>> = {};
  for (const c of CATEGORIES) {
    const idx = scored.map((s, i) => (s.category === c ? i : -1)).filter((i) => i >= 0);
    if (idx.length === 0) continue;
    const items = idx.map((i) => scored[i]!);
    const kinds: Record<string, [number, number]> = {};
    for (const i of idx) for (const ch of evals[i]!.checks) {
      const k = (kinds[ch.kind] ??= [0, 0]);
      k[0] += ch.ok ? 1 : 0;
      k[1]++;
    }
    categories[c] = {
      ...group(items),
      seen: group(items.filter((s) => s.seen)),
      unseen: group(items.filter((s) => !s.seen)),
      checks: Object.fromEntries(Object.entries(kinds).map(([k, [ok, n]]) => [k, ok / n])),
    };
  }
  return { images: scored.length, overall: group(scored), categories };
}

export function evaluateFolder(dir: string, promptFile: string, onProgress?: (done: number, total: number) => void): { scored: ScoredImage[]; summary: EvalSummary } {
  const records = readCaptionFile(promptFile);
  const pairs = pairImages(dir, records);
  const scored: ScoredImage[] = [];
  const evals: Evaluation[] = [];
  pairs.forEach(({ file, rec }, i) => {
    const img = readImage(file);
    const ev = evaluateImage(img, rec.spec, rec.category, rec.prompt);
    evals.push(ev);
    scored.push({ file, id: rec.id, prompt: rec.prompt, category: rec.category, seen: rec.seen, score: ev.score, pass: ev.pass, failed: ev.checks.filter((c) => !c.ok).map((c) => c.name) });
    onProgress?.(i + 1, pairs.length);
  });
  return { scored, summary: summarise(scored, evals) };
}
