import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerWorldCommands } from '../../src/cli/world.js';
import { readImage } from '../../src/world/image.js';

async function run(args: string[]): Promise<{ out: string[]; err: string[]; code: number | undefined }> {
  const program = new Command().name('sharpen').exitOverride();
  registerWorldCommands(program);
  const out: string[] = [];
  const err: string[] = [];
  const log = console.log;
  const error = console.error;
  const code = process.exitCode;
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  try {
    await program.parseAsync(['node', 'sharpen', ...args]);
    return { out, err, code: process.exitCode as number | undefined };
  } finally {
    console.log = log;
    console.error = error;
    process.exitCode = code;
  }
}

test('cli: world render, prompts, check', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'world-cli-'));
  const png = join(dir, 'x.png');
  const r = await run(['world', 'render', '--prompt', 'a small red striped circle above a large blue square', '--seed', '0', '--out', png, '--scale', '2']);
  assert.equal(r.code, undefined);
  assert.ok(existsSync(png));
  assert.equal(readImage(png).width, 64);

  const bad = await run(['world', 'render', '--prompt', 'a blurple circle', '--out', png]);
  assert.equal(bad.code, 1);
  assert.match(bad.err.join('\n'), /unknown word 'blurple'/);

  const p = await run(['world', 'prompts', '--split', 'test', '--category', 'spatial']);
  const lines = p.out.join('\n').split('\n');
  assert.ok(lines.length >= 100);
  assert.ok(lines.every((l) => /(left of|right of|above|below)/.test(l)));

  const c = await run(['world', 'check', '--json', '--per-category', '2']);
  const last = JSON.parse(c.out[c.out.length - 1]!);
  assert.equal(last.categories.length, 6);
  for (const k of ['groundTruth', 'swappedRejection', 'blankScore', 'noiseScore', 'degraded']) assert.equal(typeof last.categories[0][k], 'number');
});

test('cli: world folder writes an image folder that the fine-tuning data reader and the evaluator accept', async () => {
  const { ImageFolderDataset } = await import('../../src/data/image-folder.js');
  const { evaluateImage } = await import('../../src/world/evaluate.js');
  const { parsePrompt } = await import('../../src/world/grammar.js');
  const dir = join(mkdtempSync(join(tmpdir(), 'world-cli-')), 'folder');
  const r = await run(['world', 'folder', '--split', 'val', '--unseen-only', '--category', 'spatial', '--per-prompt', '2', '--out', dir]);
  assert.equal(r.code, undefined, r.err.join('\n'));
  const ds = new ImageFolderDataset(dir, { resolution: 32 });
  assert.ok(ds.length >= 2 && ds.length % 2 === 0);
  for (let i = 0; i < ds.length; i++) {
    const text = ds.entries[i]!.text;
    assert.equal(evaluateImage(ds.load(i), parsePrompt(text), null, text).score, 1, `${ds.entries[i]!.file}: "${text}"`);
  }
  const again = await run(['world', 'folder', '--split', 'val', '--out', dir]);
  assert.equal(again.code, 1);
  assert.match(again.err.join('\n'), /exists and is not empty/);
});
