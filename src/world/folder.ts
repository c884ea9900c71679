// An image folder of world renderings (PNG files and metadata.jsonl with file_name, text, category,
// seen): the format `--data DIR` reads (src/data/image-folder.ts). Written by `sharpen world folder`
// and by `sharpen paper` for its image-folder dataset.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePrompt } from './grammar.js';
import { renderScene } from './render.js';
import { writePng } from './image.js';
import type { SplitRecord } from './splits.js';

export interface WorldFolderOptions {
  /** renderings per prompt (different seeds) */
  perPrompt: number;
  seed: number;
  /** image side in pixels */
  resolution: number;
  /** called after each image with the count so far */
  onImage?: (written: number) => void;
}

/** Renders each record's prompt `perPrompt` times into `out` (created) and writes metadata.jsonl; returns the image count. */
export function writeWorldFolder(out: string, records: readonly SplitRecord[], o: WorldFolderOptions): number {
  mkdirSync(out, { recursive: true });
  const lines: string[] = [];
  records.forEach((r, j) => {
    const spec = parsePrompt(r.prompt);
    for (let k = 0; k < o.perPrompt; k++) {
      const file = `${r.id}_${k}.png`;
      writePng(join(out, file), renderScene(spec, o.seed * 1_000_003 + j * 1009 + k, { resolution: o.resolution }).image);
      lines.push(JSON.stringify({ file_name: file, text: r.prompt, category: r.category, seen: r.seen }));
      o.onImage?.(lines.length);
    }
  });
  writeFileSync(join(out, 'metadata.jsonl'), lines.join('\n') + '\n');
  return lines.length;
}
