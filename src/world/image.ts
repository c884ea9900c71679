// Plain RGB images for the world and the datasets: no tensors, just a Float32Array.
//
// Layout: CHW — data[c·H·W + y·W + x], c = 0 (R), 1 (G), 2 (B), values in [0, 1]. This is what the
// model consumes ([3, H, W]); the datasets rescale to [-1, 1] when they batch.
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';

export interface RgbImage {
  width: number;
  height: number;
  /** CHW, 3 channels, [0, 1] */
  data: Float32Array;
}

export function createImage(width: number, height: number, fill?: readonly [number, number, number]): RgbImage {
  const data = new Float32Array(3 * width * height);
  if (fill) {
    const n = width * height;
    data.fill(fill[0], 0, n);
    data.fill(fill[1], n, 2 * n);
    data.fill(fill[2], 2 * n, 3 * n);
  }
  return { width, height, data };
}

export function cloneImage(img: RgbImage): RgbImage {
  return { width: img.width, height: img.height, data: new Float32Array(img.data) };
}

/** From interleaved 8-bit RGBA (alpha composited over white). */
export function fromRGBA(width: number, height: number, rgba: ArrayLike<number>): RgbImage {
  const img = createImage(width, height);
  const n = width * height;
  const d = img.data;
  for (let i = 0; i < n; i++) {
    const a = rgba[4 * i + 3]! / 255;
    const w = 1 - a;
    d[i] = (rgba[4 * i]! / 255) * a + w;
    d[n + i] = (rgba[4 * i + 1]! / 255) * a + w;
    d[2 * n + i] = (rgba[4 * i + 2]! / 255) * a + w;
  }
  return img;
}

/** To interleaved 8-bit RGBA (opaque). */
export function toRGBA(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(4 * n);
  const d = img.data;
  const q = (v: number) => (v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255));
  for (let i = 0; i < n; i++) {
    out[4 * i] = q(d[i]!);
    out[4 * i + 1] = q(d[n + i]!);
    out[4 * i + 2] = q(d[2 * n + i]!);
    out[4 * i + 3] = 255;
  }
  return out;
}

export function encodePng(img: RgbImage): Buffer {
  const png = new PNG({ width: img.width, height: img.height });
  png.data = Buffer.from(toRGBA(img));
  return PNG.sync.write(png);
}

/** Decodes PNG or JPEG bytes (recognised by their signature); `name` goes into error messages. */
export function decodeImage(bytes: Buffer, name = 'image'): RgbImage {
  if (bytes.length >= 8 && bytes.readUInt32BE(0) === 0x89504e47) {
    let png: PNG;
    try {
      png = PNG.sync.read(bytes);
    } catch (e) {
      throw new Error(`${name}: not a readable PNG (${(e as Error).message})`);
    }
    return fromRGBA(png.width, png.height, png.data);
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    let raw: { width: number; height: number; data: Uint8Array };
    try {
      raw = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false, maxMemoryUsageInMB: 1024 });
    } catch (e) {
      throw new Error(`${name}: not a readable JPEG (${(e as Error).message ?? e})`);
    }
    if (!(raw.width > 0 && raw.height > 0)) throw new Error(`${name}: JPEG with no pixels`);
    return fromRGBA(raw.width, raw.height, raw.data);
  }
  throw new Error(`${name}: neither PNG nor JPEG (unrecognised file signature)`);
}

export function readImage(path: string): RgbImage {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: ${code === 'ENOENT' ? 'file not found' : `cannot read (${(e as Error).message})`}`);
  }
  return decodeImage(bytes, path);
}

export function writePng(path: string, img: RgbImage): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, encodePng(img));
}

/** Nearest-neighbour enlargement by an integer factor (for looking at 32×32 images). */
export function upscaleNearest(img: RgbImage, factor: number): RgbImage {
  const W = img.width * factor;
  const H = img.height * factor;
  const out = createImage(W, H);
  const n = img.width * img.height;
  const N = W * H;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < H; y++) {
      const sy = Math.floor(y / factor);
      for (let x = 0; x < W; x++) out.data[c * N + y * W + x] = img.data[c * n + sy * img.width + Math.floor(x / factor)]!;
    }
  }
  return out;
}

/** Resamples one axis with a triangle (bilinear) filter widened when shrinking, i.e. anti-aliased. */
function resampleAxis(src: Float32Array, w: number, h: number, newW: number): Float32Array {
  // rows of length w → rows of length newW, for h rows and 3 channels
  const out = new Float32Array(3 * h * newW);
  const scale = w / newW;
  const support = Math.max(1, scale);
  const weights: { start: number; w: Float32Array }[] = [];
  for (let x = 0; x < newW; x++) {
    const center = (x + 0.5) * scale;
    const start = Math.max(0, Math.floor(center - support));
    const end = Math.min(w, Math.ceil(center + support));
    const ws = new Float32Array(end - start);
    let sum = 0;
    for (let i = start; i < end; i++) {
      const t = Math.max(0, 1 - Math.abs((i + 0.5 - center) / support));
      ws[i - start] = t;
      sum += t;
    }
    if (sum === 0) {
      const nearest = Math.min(w - 1, Math.max(0, Math.floor(center)));
      weights.push({ start: nearest, w: new Float32Array([1]) });
      continue;
    }
    for (let i = 0; i < ws.length; i++) ws[i]! /= sum;
    weights.push({ start, w: ws });
  }
  for (let row = 0; row < 3 * h; row++) {
    const so = row * w;
    const oo = row * newW;
    for (let x = 0; x < newW; x++) {
      const { start, w: ws } = weights[x]!;
      let acc = 0;
      for (let i = 0; i < ws.length; i++) acc += ws[i]! * src[so + start + i]!;
      out[oo + x] = acc;
    }
  }
  return out;
}

function transposeHW(src: Float32Array, w: number, h: number): Float32Array {
  const out = new Float32Array(src.length);
  const n = w * h;
  for (let c = 0; c < 3; c++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[c * n + x * h + y] = src[c * n + y * w + x]!;
  return out;
}

/** Resizes to width × height with an anti-aliased bilinear filter. */
export function resizeImage(img: RgbImage, width: number, height: number): RgbImage {
  if (width === img.width && height === img.height) return cloneImage(img);
  const horiz = resampleAxis(img.data, img.width, img.height, width); // [3, h, width]
  const t = transposeHW(horiz, width, img.height); // [3, width, h]
  const vert = resampleAxis(t, img.height, width, height); // [3, width, height]
  return { width, height, data: transposeHW(vert, height, width) };
}

export function cropImage(img: RgbImage, x0: number, y0: number, width: number, height: number): RgbImage {
  if (x0 < 0 || y0 < 0 || x0 + width > img.width || y0 + height > img.height) throw new Error('cropImage: crop outside the image');
  const out = createImage(width, height);
  const n = img.width * img.height;
  const m = width * height;
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < height; y++) {
      const so = c * n + (y0 + y) * img.width + x0;
      out.data.set(img.data.subarray(so, so + width), c * m + y * width);
    }
  }
  return out;
}

/** Scales the shorter side to `size`, then cuts the centre size × size square. */
export function resizeCenterCrop(img: RgbImage, size: number): RgbImage {
  const s = size / Math.min(img.width, img.height);
  const w = Math.max(size, Math.round(img.width * s));
  const h = Math.max(size, Math.round(img.height * s));
  const r = resizeImage(img, w, h);
  return cropImage(r, Math.floor((w - size) / 2), Math.floor((h - size) / 2), size, size);
}

export function flipHorizontal(img: RgbImage): RgbImage {
  const out = createImage(img.width, img.height);
  const W = img.width;
  for (let row = 0; row < 3 * img.height; row++) {
    const o = row * W;
    for (let x = 0; x < W; x++) out.data[o + x] = img.data[o + W - 1 - x]!;
  }
  return out;
}

/** Tiles equally sized images row by row, `pad` pixels apart, on a `background` colour. */
export function makeGrid(images: RgbImage[], cols: number, pad = 2, background: readonly [number, number, number] = [1, 1, 1]): RgbImage {
  if (images.length === 0) throw new Error('makeGrid: no images');
  const { width: w, height: h } = images[0]!;
  if (images.some((im) => im.width !== w || im.height !== h)) throw new Error('makeGrid: images differ in size');
  const rows = Math.ceil(images.length / cols);
  const W = cols * w + (cols + 1) * pad;
  const H = rows * h + (rows + 1) * pad;
  const out = createImage(W, H, background);
  const N = W * H;
  const n = w * h;
  images.forEach((im, k) => {
    const ox = pad + (k % cols) * (w + pad);
    const oy = pad + Math.floor(k / cols) * (h + pad);
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < h; y++) out.data.set(im.data.subarray(c * n + y * w, c * n + y * w + w), c * N + (oy + y) * W + ox);
    }
  });
  return out;
}
