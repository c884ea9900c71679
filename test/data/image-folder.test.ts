import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { ImageFolderDataset, readMetadata } from '../../src/data/image-folder.js';
import { encodePng, resizeImage, toRGBA, createImage } from '../../src/world/image.js';
import { renderScene } from '../../src/world/render.js';
import { parsePrompt } from '../../src/world/grammar.js';

function makeFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'image-folder-'));
  const img = renderScene(parsePrompt('a red circle left of a blue square'), 0).image;
  writeFileSync(join(dir, 'wide.png'), encodePng(resizeImage(img, 48, 32)));
  const tall = resizeImage(createImage(8, 8, [0.9, 0.1, 0.1]), 40, 60);
  writeFileSync(join(dir, 'tall.jpg'), jpeg.encode({ width: 40, height: 60, data: Buffer.from(toRGBA(tall)) }, 90).data);
  const png = encodePng(img);
  writeFileSync(join(dir, 'corrupt.png'), Buffer.concat([png.subarray(0, 40), Buffer.alloc(60, 7)]));
  writeFileSync(join(dir, 'text.png'), 'hello, not an image');
  const lines = [
    { file_name: 'wide.png', text: 'a red circle to the left of a blue square' },
    { file_name: 'tall.jpg', text: 'a photo of something red' },
    { file_name: 'missing.png', text: 'a green triangle' },
    { file_name: 'corrupt.png', text: 'a yellow diamond' },
    { file_name: 'text.png', text: 'a blue circle' },
  ];
  writeFileSync(join(dir, 'metadata.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return dir;
}

test('image folder: bad files are clear errors naming them', () => {
  const dir = makeFolder();
  const ds = new ImageFolderDataset(dir, { resolution: 16 });
  assert.equal(ds.length, 5);
  assert.throws(() => ds.load(2), /missing\.png: file not found.*line 3/);
  assert.throws(() => ds.load(3), /corrupt\.png: not a readable PNG/);
  assert.throws(() => ds.load(4), /text\.png: neither PNG nor JPEG/);
  assert.throws(() => [...ds.batches(2)], /(missing|corrupt|text)\.png/);
});

test('image folder: skip mode counts bad files; PNG and JPEG resized, cropped, flipped', () => {
  const dir = makeFolder();
  const ds = new ImageFolderDataset(dir, { resolution: 16, onError: 'skip', seed: 1 });
  const batches = [...ds.batches(4)];
  assert.equal(batches.length, 1);
  const b = batches[0]!;
  assert.deepEqual(b.shape, [2, 3, 16, 16]);
  assert.equal(b.range, '[-1,1]');
  assert.ok(b.images.every((v) => v >= -1 && v <= 1));
  assert.deepEqual([...b.prompts].sort(), ['a photo of something red', 'a red circle to the left of a blue square']);
  const i = b.prompts.indexOf('a red circle to the left of a blue square');
  assert.ok(b.specs[i] !== null && b.specs[1 - i] === null);
  assert.equal(ds.skipped.length, 3);
  assert.deepEqual(ds.skipped.map((s) => s.file.split('/').pop()).sort(), ['corrupt.png', 'missing.png', 'text.png']);
  // JPEG: a red image stays red ([-1, 1] range: red channel near +0.8)
  const j = b.prompts.indexOf('a photo of something red');
  assert.ok(b.images[j * 3 * 256]! > 0.6 && b.images[j * 3 * 256 + 256]! < -0.6);
  // flips: deterministic for (seed, epoch); an unflipped load is the flip of a flipped one
  const again = [...new ImageFolderDataset(dir, { resolution: 16, onError: 'skip', seed: 1 }).batches(4)][0]!;
  assert.deepEqual(again.images, b.images);
  const plain = ds.load(0, false);
  const flipped = ds.load(0, true);
  assert.equal(flipped.data[0], plain.data[15]);
});

test('image folder: an image whose caption names a side is never flipped', () => {
  const dir = mkdtempSync(join(tmpdir(), 'image-folder-'));
  const img = renderScene(parsePrompt('a red circle left of a blue square'), 0).image;
  writeFileSync(join(dir, 'a.png'), encodePng(img));
  const texts = ['a red circle to the left of a blue square', 'a blue square to the Right of a red circle', 'a red circle and a blue square'];
  writeFileSync(join(dir, 'metadata.jsonl'), texts.map((t) => JSON.stringify({ file_name: 'a.png', text: t })).join('\n') + '\n');
  const ds = new ImageFolderDataset(dir, { resolution: 32 });
  const plain = Array.from(ds.load(0, false).data, (v) => v * 2 - 1);
  const mirrored = Array.from(ds.load(0, true).data, (v) => v * 2 - 1);
  assert.notDeepEqual(plain, mirrored);
  let flippedOther = 0;
  for (let epoch = 0; epoch < 12; epoch++) {
    for (const b of ds.batches(1, epoch)) {
      const got = Array.from(b.images, (v) => Math.fround(v));
      const same = (ref: number[]) => got.every((v, k) => Math.abs(v - ref[k]!) < 1e-5);
      if (b.prompts[0] !== texts[2]) assert.ok(same(plain), `${b.prompts[0]} was flipped in epoch ${epoch}`);
      else if (same(mirrored)) flippedOther++;
    }
  }
  assert.ok(flippedOther > 0, 'a caption without a side is still flipped sometimes');
});

test('image folder: metadata problems name the file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'image-folder-'));
  assert.throws(() => readMetadata(dir), /no metadata\.jsonl/);
  writeFileSync(join(dir, 'metadata.jsonl'), '{"file_name": "a.png", "text": "x"}\n{oops\n');
  assert.throws(() => readMetadata(dir), /metadata\.jsonl:2: not valid JSON/);
  writeFileSync(join(dir, 'metadata.jsonl'), '{"file_name": "a.png"}\n');
  assert.throws(() => readMetadata(dir), /metadata\.jsonl:1: expected \{"file_name": string, "text": string\}/);
  writeFileSync(join(dir, 'metadata.jsonl'), '{"file_name": "../a.png", "text": "x"}\n');
  assert.throws(() => readMetadata(dir), /outside the folder/);
});
