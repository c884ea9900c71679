// A dataset of real images with captions, in the common `metadata.jsonl` convention (as used by
// Hugging Face `datasets`' imagefolder and the diffusers training scripts): a folder of images
// and a metadata.jsonl whose lines are {"file_name": "...", "text": "..."} ("prompt", the field of
// prompt files, is read as a synonym of "text").
//
// PNG and JPEG (recognised by content); each image is resized (shorter side to `resolution`,
// anti-aliased), centre-cropped to a square and randomly flipped left–right (not when the caption
// says 'left' or 'right'). A missing, corrupt or unreadable file is an Error naming it, or — with
// onError: 'skip' — is skipped and counted.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { Rng } from '../world/rng.js';
import { flipHorizontal, readImage, resizeCenterCrop, type RgbImage } from '../world/image.js';
import { parsePrompt } from '../world/grammar.js';
import type { SceneSpec } from '../world/spec.js';
import { packImages, type ImageBatch, type PixelRange } from './batch.js';

export interface ImageFolderOptions {
  /** side of the square images produced (default 32) */
  resolution?: number;
  /** flip left–right with probability ½ (default true); never an image whose caption names a side
   *  ('left', 'right': the flip would make the caption false, e.g. the world's spatial prompts) */
  randomFlip?: boolean;
  /** seed of the shuffling and flips (default 0) */
  seed?: number;
  /** 'throw' (default): a bad file is an Error naming it; 'skip': skip it and count it */
  onError?: 'throw' | 'skip';
  /** pixel range of the batches (default [-1, 1]) */
  range?: PixelRange;
}

export interface FolderEntry {
  file: string;
  text: string;
  /** line of metadata.jsonl */
  line: number;
}

export interface FolderBatch extends ImageBatch {
  files: string[];
}

export interface SkippedFile {
  file: string;
  reason: string;
}

export class ImageFolderDataset {
  readonly entries: FolderEntry[];
  readonly resolution: number;
  readonly randomFlip: boolean;
  readonly seed: number;
  readonly onError: 'throw' | 'skip';
  readonly range: PixelRange;
  /** files skipped so far (onError: 'skip') */
  readonly skipped: SkippedFile[] = [];

  constructor(readonly dir: string, opts: ImageFolderOptions = {}) {
    this.resolution = opts.resolution ?? 32;
    this.randomFlip = opts.randomFlip ?? true;
    this.seed = opts.seed ?? 0;
    this.onError = opts.onError ?? 'throw';
    this.range = opts.range ?? '[-1,1]';
    if (!Number.isInteger(this.resolution) || this.resolution < 1) throw new Error(`ImageFolderDataset: resolution must be a positive integer, got ${this.resolution}`);
    this.entries = readMetadata(dir);
  }

  get length(): number {
    return this.entries.length;
  }

  /** Loads, resizes, crops and (maybe) flips item i; throws an Error naming the file if it is bad. */
  load(i: number, flip = false): RgbImage {
    const e = this.entries[i];
    if (!e) throw new Error(`ImageFolderDataset: index ${i} out of range (0…${this.entries.length - 1})`);
    let img: RgbImage;
    try {
      img = readImage(e.file);
    } catch (err) {
      throw new Error(`image folder ${this.dir}: ${(err as Error).message} (metadata.jsonl line ${e.line})`);
    }
    const out = resizeCenterCrop(img, this.resolution);
    return flip ? flipHorizontal(out) : out;
  }

  /**
   * Reads and decodes every image once (as `load` does), before any training: every problem
   * (missing, unreadable or corrupt file) is collected, not only the first. With onError 'throw'
   * they are one Error listing them all; with 'skip' they are recorded in `skipped` and returned.
   * `onProgress(done, total)` is called after each image.
   */
  verify(opts: { onProgress?: (done: number, total: number) => void } = {}): SkippedFile[] {
    const problems: SkippedFile[] = [];
    this.entries.forEach((e, i) => {
      try {
        this.load(i);
      } catch (err) {
        problems.push({ file: e.file, reason: (err as Error).message });
      }
      opts.onProgress?.(i + 1, this.entries.length);
    });
    if (problems.length && this.onError === 'throw') {
      const prefix = `image folder ${this.dir}: `;
      const shown = problems.slice(0, VERIFY_LISTED).map((p) => `  ${p.reason.startsWith(prefix) ? p.reason.slice(prefix.length) : p.reason}`);
      const more = problems.length > VERIFY_LISTED ? [`  … and ${problems.length - VERIFY_LISTED} more`] : [];
      throw new Error(`image folder ${this.dir}: ${problems.length} of ${this.entries.length} images cannot be used:\n${[...shown, ...more].join('\n')}`);
    }
    this.skipped.push(...problems);
    return problems;
  }

  /**
   * One epoch in a shuffled order (seeded by seed and epoch), in batches; the last batch may be
   * smaller. Bad files throw, or are skipped and recorded in `skipped`.
   */
  *batches(batchSize: number, epoch = 0, shuffle = true): Generator<FolderBatch> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`ImageFolderDataset: batchSize must be a positive integer, got ${batchSize}`);
    const rng = new Rng(this.seed, 'image-folder', epoch);
    const order = this.entries.map((_, i) => i);
    if (shuffle) rng.shuffle(order);
    let imgs: RgbImage[] = [];
    let items: FolderEntry[] = [];
    const flush = (): FolderBatch => {
      const { images, shape } = packImages(imgs, this.range);
      const batch: FolderBatch = {
        images,
        shape,
        range: this.range,
        prompts: items.map((e) => e.text),
        specs: items.map((e) => tryParse(e.text)),
        files: items.map((e) => e.file),
      };
      imgs = [];
      items = [];
      return batch;
    };
    for (const i of order) {
      const flip = this.randomFlip && rng.bool(0.5) && !NAMES_A_SIDE.test(this.entries[i]!.text);
      let img: RgbImage;
      try {
        img = this.load(i, flip);
      } catch (err) {
        if (this.onError === 'throw') throw err;
        this.skipped.push({ file: this.entries[i]!.file, reason: (err as Error).message });
        continue;
      }
      imgs.push(img);
      items.push(this.entries[i]!);
      if (imgs.length === batchSize) yield flush();
    }
    if (imgs.length > 0) yield flush();
  }
}

/** problems listed one by one in verify's Error (the rest are counted) */
const VERIFY_LISTED = 50;

/** captions a left–right flip would falsify */
const NAMES_A_SIDE = /\b(left|right)/i;

function tryParse(text: string): SceneSpec | null {
  try {
    return parsePrompt(text);
  } catch {
    return null;
  }
}

/**
 * The caption of one JSON line: its "prompt" (the field of prompt files such as the splits) or its
 * "text" (the field of image folders' metadata.jsonl, as `sharpen world folder` writes them); the
 * two mean the same. A line with both must give the same string in each.
 */
export function captionOf(raw: Record<string, unknown>, where: string): string {
  const { prompt, text } = raw;
  if (prompt !== undefined && typeof prompt !== 'string') throw new Error(`${where}: "prompt" must be a string`);
  if (text !== undefined && typeof text !== 'string') throw new Error(`${where}: "text" must be a string`);
  if (typeof prompt === 'string' && typeof text === 'string' && prompt !== text) {
    throw new Error(`${where}: "prompt" and "text" differ; they are the same caption, give one`);
  }
  const caption = (prompt ?? text) as string | undefined;
  if (caption === undefined) throw new Error(`${where}: no caption: expected a "prompt" (or "text", its synonym) string`);
  return caption;
}

/** Reads and checks metadata.jsonl; every problem is an Error naming the file and line. */
export function readMetadata(dir: string): FolderEntry[] {
  const path = join(dir, 'metadata.jsonl');
  if (!existsSync(path)) throw new Error(`image folder ${dir}: no metadata.jsonl (expected lines like {"file_name": "0001.png", "text": "a red circle"})`);
  const root = resolve(dir);
  const out: FolderEntry[] = [];
  readFileSync(path, 'utf8').split('\n').forEach((raw, k) => {
    const line = k + 1;
    if (!raw.trim()) return;
    let rec: unknown;
    try {
      rec = JSON.parse(raw);
    } catch {
      throw new Error(`${path}:${line}: not valid JSON`);
    }
    const r = rec as Record<string, unknown>;
    if (typeof r !== 'object' || r === null || Array.isArray(r) || typeof r.file_name !== 'string' || (typeof r.text !== 'string' && typeof r.prompt !== 'string')) {
      throw new Error(`${path}:${line}: expected {"file_name": string, "text": string} ("prompt" is accepted for "text")`);
    }
    const text = captionOf(r, `${path}:${line}`);
    const file = resolve(root, r.file_name);
    if (file !== root && !file.startsWith(root + sep)) throw new Error(`${path}:${line}: file_name '${r.file_name}' points outside the folder`);
    out.push({ file, text, line });
  });
  if (out.length === 0) throw new Error(`${path}: no entries`);
  return out;
}
