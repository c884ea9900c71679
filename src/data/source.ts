// The batch sources training reads, by position, so that a resumed run sees the same data:
//
// - BatchSource: pretraining's image–prompt batches (batch k is a function of k);
// - ImageCaptionSource: fine-tuning's images and captions (the world's stream, or an image folder
//   with metadata.jsonl, checked whole before training);
// - PromptSource: fine-tuning's prompts (the world's train split, or a folder's captions).
//
// The world's train prompts are frozen into the run folder (train-prompts.json) at its start.
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { loadSplit, type PromptRecord } from '../world/splits.js';
import { Rng } from '../world/rng.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { WorldStream } from './world-stream.js';
import { ImageFolderDataset, readMetadata, type FolderBatch } from './image-folder.js';

/** A deterministic source of training batches: batch k is a function of k (so a resumed run sees the same data). */
export interface BatchSource {
  /** the words of the prompt language (the tokenizer's vocabulary) */
  vocabulary: string[];
  /** images [B, 3, H, W] in [−1, 1] and their prompts */
  batch(index: number, size: number): { images: Tensor; prompts: string[] };
}

/** An image–caption dataset by position: the batch at a position is always the same. */
export interface ImageCaptionSource {
  /** what it is, for logs ("the world's train stream", "image folder DIR (N images)") */
  readonly description: string;
  /** images [size, 3, H, W] in [−1, 1] (the caller disposes them) and their captions */
  batchAt(position: number, size: number): { images: Tensor; prompts: string[] };
}

/** Prompts by position (for methods that learn from prompts only): always the same at a position. */
export interface PromptSource {
  readonly description: string;
  promptsAt(position: number, size: number): string[];
}

/** The world's train prompts, frozen into the run folder at its start (a resumed run sees the same). */
async function trainRecords(out: string): Promise<PromptRecord[]> {
  const path = join(out, 'train-prompts.json');
  if (!existsSync(path)) {
    await mkdir(out, { recursive: true });
    await writeFileAtomic(path, JSON.stringify(loadSplit('train')));
  }
  try {
    return JSON.parse(await readFile(path, 'utf8')) as PromptRecord[];
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Folders of at least this many images get progress lines while they are checked. */
const CHECK_PROGRESS_FROM = 200;

/**
 * Image–caption data by position: the world's stream, or a folder of images with metadata.jsonl.
 * A folder is checked whole first: every image is read and decoded once, and every problem is
 * reported together in one Error (with progress lines through `log` for big folders).
 */
export async function imageCaptionSource(
  data: string, opts: { seed: number; resolution: number; out: string; log?: (msg: string) => void },
): Promise<ImageCaptionSource> {
  if (data === 'world') {
    const records = await trainRecords(opts.out);
    const streams = new Map<number, WorldStream>();
    return {
      description: `the world's train stream (${records.length} prompts, ${opts.resolution}×${opts.resolution})`,
      batchAt(position, size) {
        let s = streams.get(size);
        if (!s) streams.set(size, (s = new WorldStream({ batchSize: size, seed: opts.seed, resolution: opts.resolution, records })));
        const b = s.batchAt(position);
        return { images: torch.fromTypedArray(b.images, [...b.shape]), prompts: b.prompts };
      },
    };
  }
  if (!existsSync(data)) throw new Error(`--data ${data}: no such folder (use 'world' or a folder with metadata.jsonl)`);
  const ds = new ImageFolderDataset(data, { resolution: opts.resolution, seed: opts.seed, onError: 'throw' });
  const log = ds.length >= CHECK_PROGRESS_FROM ? opts.log : undefined;
  const t0 = performance.now();
  let shownAt = t0;
  ds.verify({
    onProgress: (done, total) => {
      const now = performance.now();
      if (log && (now - shownAt > 2000 || done === total)) {
        shownAt = now;
        log(`--data ${data}: checked ${done}/${total} images (${((now - t0) / 1000).toFixed(1)} s)`);
      }
    },
  });
  // batch k = batch (k mod E) of epoch ⌊k / E⌋, E = ⌊N / size⌋ whole batches per epoch
  let cur: { epoch: number; size: number; next: number; gen: Generator<FolderBatch> } | null = null;
  return {
    description: `image folder ${data} (${ds.length} images, ${opts.resolution}×${opts.resolution})`,
    batchAt(position, size) {
      const perEpoch = Math.floor(ds.length / size);
      if (perEpoch === 0) throw new Error(`--data ${data}: ${ds.length} images, fewer than one batch of ${size}`);
      const epoch = Math.floor(position / perEpoch);
      const j = position % perEpoch;
      if (!cur || cur.epoch !== epoch || cur.size !== size || cur.next > j) {
        cur = { epoch, size, next: 0, gen: ds.batches(size, epoch) };
      }
      let b: FolderBatch | undefined;
      while (cur.next <= j) {
        const r = cur.gen.next();
        if (r.done) throw new Error(`--data ${data}: epoch ${epoch} ended before batch ${j}`);
        b = r.value;
        cur.next++;
      }
      return { images: torch.fromTypedArray(b!.images, [...b!.shape]), prompts: b!.prompts };
    },
  };
}

/** Prompts by position: the world's train split, or the captions of a folder's metadata.jsonl. */
export async function promptSource(data: string, opts: { seed: number; out: string }): Promise<PromptSource> {
  let prompts: string[];
  let description: string;
  if (data === 'world') {
    prompts = (await trainRecords(opts.out)).map((r) => r.prompt);
    description = `the world's train split (${prompts.length} prompts)`;
  } else {
    if (!existsSync(data)) throw new Error(`--data ${data}: no such folder (use 'world' or a folder with metadata.jsonl)`);
    prompts = readMetadata(data).map((e) => e.text);
    description = `the captions of ${data} (${prompts.length})`;
  }
  return {
    description,
    promptsAt(position, size) {
      const rng = new Rng(opts.seed, 'finetune-prompts', position);
      return Array.from({ length: size }, () => prompts[rng.int(prompts.length)]!);
    },
  };
}
