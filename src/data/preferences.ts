// Preference labels and ratings on disk: the one format for the scripted annotator's labels and for
// human labels (the dashboard writes the same lines).
//
//   pairs.jsonl    one line per pair:  {"prompt", "imageA", "imageB", "choice": "A"|"B"|"tie", "annotator", "time"}
//   ratings.jsonl  one line per image: {"prompt", "image", "rating": 1–10, "annotator", "time"}
//
// Image paths are relative to the JSONL file (PNG files; JPEG is read too), `time` is an ISO-8601
// timestamp, `annotator` names who labelled ("scripted-v1", "human:alice"). An optional `meta`
// object carries anything else (sampling settings, the annotator's terms); any other key is an
// error. The loader checks every line and names the file, line and field of the first problem.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { z } from 'zod';
import { readImage, type RgbImage } from '../world/image.js';

export const CHOICES = ['A', 'B', 'tie'] as const;
export type PreferenceChoice = (typeof CHOICES)[number];

const relativePath = z
  .string()
  .min(1, 'must be a non-empty path')
  .refine((p) => !isAbsolute(p), 'must be a path relative to the labels file, not an absolute one')
  .refine((p) => /\.(png|jpe?g)$/i.test(p), 'must name a .png (or .jpg) file');

const isoTime = z
  .string()
  .refine((t) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(t) && Number.isFinite(Date.parse(t)), 'must be an ISO-8601 timestamp, e.g. 2025-02-18T12:00:00Z');

export const preferencePairSchema = z
  .object({
    /** the prompt both images were made for */
    prompt: z.string().min(1, 'must be a non-empty string'),
    /** the two images, relative to the labels file */
    imageA: relativePath,
    imageB: relativePath,
    /** which image the annotator preferred, or a tie */
    choice: z.enum(CHOICES),
    /** who labelled: 'scripted-v1', 'human:<id>', … */
    annotator: z.string().min(1, 'must be a non-empty string'),
    /** when it was labelled (ISO 8601) */
    time: isoTime,
    /** anything else (sampling settings, the annotator's utilities) */
    meta: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .refine((p) => p.imageA !== p.imageB, { message: 'imageA and imageB are the same file', path: ['imageB'] });

export const ratingSchema = z
  .object({
    prompt: z.string(),
    image: relativePath,
    /** 1 (worst) to 10 (best) */
    rating: z.number().min(1, 'must be in [1, 10]').max(10, 'must be in [1, 10]'),
    annotator: z.string().min(1, 'must be a non-empty string'),
    time: isoTime,
    meta: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type PreferencePair = z.infer<typeof preferencePairSchema>;
export type RatingRecord = z.infer<typeof ratingSchema>;

/** A pair as loaded: the record, its line number and the images' resolved paths. */
export interface LoadedPair extends PreferencePair {
  line: number;
  pathA: string;
  pathB: string;
}

export interface LoadedRating extends RatingRecord {
  line: number;
  path: string;
}

export interface LoadOptions {
  /** check that every image file exists (default true) */
  checkFiles?: boolean;
}

function parseLines<T>(
  file: string,
  schema: z.ZodType<T>,
  files: (rec: T) => [field: string, rel: string][],
  opts: LoadOptions,
): { rec: T; line: number; paths: string[] }[] {
  if (!existsSync(file)) throw new Error(`${file}: file not found`);
  const base = dirname(resolve(file));
  const out: { rec: T; line: number; paths: string[] }[] = [];
  readFileSync(file, 'utf8').split('\n').forEach((text, i) => {
    const line = i + 1;
    if (!text.trim()) return;
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new Error(`${file}:${line}: not valid JSON`);
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${file}:${line}: expected a JSON object`);
    const r = schema.safeParse(raw);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      const field = issue.path.length ? issue.path.join('.') : '(line)';
      const msg = issue.code === 'unrecognized_keys' ? `unknown field(s) ${(issue as { keys: string[] }).keys.map((k) => `'${k}'`).join(', ')}` : issue.message;
      throw new Error(`${file}:${line}: field '${field}': ${msg}`);
    }
    const paths = files(r.data).map(([field, rel]) => {
      const p = join(base, rel);
      if (opts.checkFiles !== false && !existsSync(p)) throw new Error(`${file}:${line}: field '${field}': file not found (${rel})`);
      return p;
    });
    out.push({ rec: r.data, line, paths });
  });
  return out;
}

/** Reads a pairs file (JSONL); throws on the first bad line, naming the line and field. */
export function readPreferencePairs(file: string, opts: LoadOptions = {}): LoadedPair[] {
  return parseLines(file, preferencePairSchema, (p) => [['imageA', p.imageA], ['imageB', p.imageB]], opts).map(({ rec, line, paths }) => ({
    ...rec,
    line,
    pathA: paths[0]!,
    pathB: paths[1]!,
  }));
}

/** Reads a ratings file (JSONL); throws on the first bad line, naming the line and field. */
export function readRatings(file: string, opts: LoadOptions = {}): LoadedRating[] {
  return parseLines(file, ratingSchema, (r) => [['image', r.image]], opts).map(({ rec, line, paths }) => ({ ...rec, line, path: paths[0]! }));
}

/** The files of a labels directory. */
export function labelFiles(dir: string): { pairs: string; ratings: string } {
  return { pairs: join(dir, 'pairs.jsonl'), ratings: join(dir, 'ratings.jsonl') };
}

/** Appends checked records to a JSONL file (creating its directory). */
export function appendPairs(file: string, pairs: PreferencePair[]): void {
  appendRecords(file, pairs, preferencePairSchema);
}

export function appendRatings(file: string, ratings: RatingRecord[]): void {
  appendRecords(file, ratings, ratingSchema);
}

function appendRecords<T>(file: string, recs: T[], schema: z.ZodType<T>): void {
  const lines = recs.map((rec, k) => {
    const r = schema.safeParse(rec);
    if (!r.success) {
      const issue = r.error.issues[0]!;
      throw new Error(`${file}: record ${k}: field '${issue.path.join('.') || '(record)'}': ${issue.message}`);
    }
    return JSON.stringify(r.data) + '\n';
  });
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, lines.join(''));
}

/**
 * Loads images by path once each (pairs share images with ratings); returns an image getter.
 * Every image must have the same size.
 */
export class ImageCache {
  private readonly cache = new Map<string, RgbImage>();
  private size: [number, number] | null = null;
  get(path: string): RgbImage {
    let img = this.cache.get(path);
    if (!img) {
      img = readImage(path);
      if (this.size && (img.width !== this.size[0] || img.height !== this.size[1])) {
        throw new Error(`${path}: ${img.width}×${img.height}, but the other images are ${this.size[0]}×${this.size[1]}`);
      }
      this.size ??= [img.width, img.height];
      this.cache.set(path, img);
    }
    return img;
  }
}

/**
 * A held-out split by prompt: a prompt goes to the held-out set when the hash of its text falls in
 * the first `fraction` of the range (so a prompt's pairs are never on both sides).
 */
export function isHeldOut(prompt: string, fraction: number, salt = 'preference-holdout'): boolean {
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`held-out fraction must be in [0, 1], got ${fraction}`);
  let h = 0x811c9dc5;
  const s = `${salt}:${prompt}`;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return (h >>> 0) / 4294967296 < fraction;
}
