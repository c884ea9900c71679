// Captions are read as "prompt" or "text" everywhere (the two are synonyms): a world folder's
// metadata.jsonl ("text") is a valid --prompts file, and a prompt file's "prompt" a valid caption
// of an image folder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../../src/torch/index.js'; // the engine first, as the command line loads it
import { readCaptionFile, evaluateFolder } from '../../src/data/eval-folder.js';
import { readMetadata, captionOf } from '../../src/data/image-folder.js';
import { scoreFolder } from '../../src/cli/reward.js';
import { renderScene } from '../../src/world/render.js';
import { writePng } from '../../src/world/image.js';
import { parsePrompt } from '../../src/world/grammar.js';

const P1 = 'a red circle above a blue square';
const P2 = 'two green triangles';

function folder(field: 'text' | 'prompt'): string {
  const dir = mkdtempSync(join(tmpdir(), 'captions-'));
  [P1, P2].forEach((p, i) => writePng(join(dir, `${i}.png`), renderScene(parsePrompt(p), i).image));
  writeFileSync(join(dir, 'metadata.jsonl'), [P1, P2].map((p, i) => JSON.stringify({ file_name: `${i}.png`, [field]: p })).join('\n') + '\n');
  return dir;
}

test('captions: "text" and "prompt" are read alike by every reader', () => {
  for (const field of ['text', 'prompt'] as const) {
    const dir = folder(field);
    assert.deepEqual(readCaptionFile(join(dir, 'metadata.jsonl')).map((r) => r.prompt), [P1, P2], field);
    assert.deepEqual(readMetadata(dir).map((e) => e.text), [P1, P2], field);
    assert.equal(evaluateFolder(dir, join(dir, 'metadata.jsonl')).scored.length, 2, field);
  }
});

test('captions: reward score --prompts takes an image folder\'s metadata.jsonl ("text")', async () => {
  const dir = folder('text');
  const r = await scoreFolder({ reward: 'compositional', images: dir, prompts: join(dir, 'metadata.jsonl') });
  assert.deepEqual(r.images.map((x) => x.prompt), [P1, P2]);
});

test('captions: a line with neither, or with two different captions, is an Error naming the file and line', () => {
  assert.throws(() => captionOf({ file_name: 'a.png' }, 'm.jsonl:3'), /m\.jsonl:3: no caption: expected a "prompt" \(or "text", its synonym\) string/);
  assert.throws(() => captionOf({ prompt: 'a', text: 'b' }, 'm.jsonl:1'), /m\.jsonl:1: "prompt" and "text" differ/);
  assert.equal(captionOf({ prompt: 'a', text: 'a' }, 'x'), 'a');
  const dir = mkdtempSync(join(tmpdir(), 'captions-'));
  writeFileSync(join(dir, 'p.jsonl'), `${JSON.stringify({ text: P1 })}\n${JSON.stringify({ caption: P2 })}\n`);
  assert.throws(() => readCaptionFile(join(dir, 'p.jsonl')), /p\.jsonl:2: no caption/);
  mkdirSync(join(dir, 'sub'));
  assert.throws(() => readCaptionFile(join(dir, 'sub')), /sub: is a folder; give a JSONL file/);
});
