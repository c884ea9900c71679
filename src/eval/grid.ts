// Labelled image grids as PNG: each cell is an image (scaled up, nearest neighbour) with its label
// wrapped beneath it. Used by `sharpen sample`, pretraining's sample grids and the reports.
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { PNG } from 'pngjs';
import type { Tensor } from '../torch/index.js';
import { ADVANCE, GLYPH_H, drawText, wrapText } from './font.js';

export interface GridOptions {
  /** columns (default: up to 8) */
  cols?: number;
  /** pixel scale of each image (default 3) */
  scale?: number;
  /** text lines under each image (default 3; 'fit': as many as the longest label needs, so no label is cut) */
  labelLines?: number | 'fit';
  /** a title above the grid */
  title?: string;
}

export interface RgbImage {
  width: number;
  height: number;
  /** HWC bytes */
  data: Uint8Array;
}

/** Lays out images [N, 3, H, W] in [0, 1] with labels into one RGB image. */
export function makeGrid(images: Tensor, labels: string[], opts: GridOptions = {}): RgbImage {
  const [n, c, h, w] = images.shape as [number, number, number, number];
  if (images.ndim !== 4 || c !== 3) throw new Error(`makeGrid: expected images [N, 3, H, W], got [${images.shape.join(', ')}]`);
  if (labels.length !== n) throw new Error(`makeGrid: ${n} images but ${labels.length} labels`);
  const scale = opts.scale ?? 3;
  const cols = Math.max(1, Math.min(opts.cols ?? 8, n));
  const rows = Math.ceil(n / cols);
  const pad = 4;
  const cellW = Math.max(w * scale, 8 * ADVANCE);
  const chars = Math.floor(cellW / ADVANCE);
  const lines = opts.labelLines === 'fit' ? Math.max(1, ...labels.map((l) => wrapText(l, chars).length)) : (opts.labelLines ?? 3);
  const labelH = lines * (GLYPH_H + 2);
  const titleH = opts.title ? GLYPH_H + 2 * pad : 0;
  const width = pad + cols * (cellW + pad);
  const height = titleH + pad + rows * (h * scale + labelH + 2 * pad);
  const data = new Uint8Array(width * height * 3).fill(255);
  const px = images.toFloat32Array(); // [N, 3, H, W]
  if (opts.title) drawText(data, width, height, opts.title, pad, pad);
  for (let i = 0; i < n; i++) {
    const x0 = pad + (i % cols) * (cellW + pad) + Math.floor((cellW - w * scale) / 2);
    const y0 = titleH + pad + Math.floor(i / cols) * (h * scale + labelH + 2 * pad);
    for (let y = 0; y < h * scale; y++) {
      for (let x = 0; x < w * scale; x++) {
        const sy = Math.floor(y / scale);
        const sx = Math.floor(x / scale);
        const o = ((y0 + y) * width + x0 + x) * 3;
        for (let ch = 0; ch < 3; ch++) {
          const v = px[((i * 3 + ch) * h + sy) * w + sx]!;
          data[o + ch] = Math.round(Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * 255);
        }
      }
    }
    const text = wrapText(labels[i]!, chars).slice(0, lines);
    const lx = pad + (i % cols) * (cellW + pad);
    text.forEach((line, k) => drawText(data, width, height, line, lx, y0 + h * scale + pad + k * (GLYPH_H + 2), [0, 0, 0], cellW));
  }
  return { width, height, data };
}

export function encodePng(img: RgbImage): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  for (let i = 0, j = 0; i < img.width * img.height; i++, j += 3) {
    png.data[i * 4] = img.data[j]!;
    png.data[i * 4 + 1] = img.data[j + 1]!;
    png.data[i * 4 + 2] = img.data[j + 2]!;
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png);
}

/** Writes a labelled grid PNG (creating the folder). */
export async function writeGrid(path: string, images: Tensor, labels: string[], opts: GridOptions = {}): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, encodePng(makeGrid(images, labels, opts)));
}
