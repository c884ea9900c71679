// `sharpen sample` and `sharpen eval`: every numeric flag is range-checked where it is parsed and
// named in the error; output paths are checked before the checkpoint is even loaded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerModelCommands } from '../../src/cli/model.js';
import { TextToImageModel } from '../../src/models/t2i.js';
import * as torch from '../../src/torch/index.js';
import { tinyConfig } from '../helpers/tiny-model.js';

async function run(args: string[]): Promise<{ out: string[]; err: string[] }> {
  const program = new Command().name('sharpen').exitOverride();
  registerModelCommands(program);
  const out: string[] = [];
  const err: string[] = [];
  const { log, error, warn } = console;
  console.log = (...a: unknown[]) => out.push(a.join(' '));
  console.error = (...a: unknown[]) => err.push(a.join(' '));
  console.warn = (...a: unknown[]) => err.push(a.join(' '));
  try {
    await program.parseAsync(['node', 'sharpen', ...args]);
    return { out, err };
  } finally {
    Object.assign(console, { log, error, warn });
  }
}

let dir = '';
let ckpt = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'model-cli-'));
  ckpt = join(dir, 'ckpt');
  torch.manualSeed(0);
  const m = new TextToImageModel(tinyConfig());
  await m.save(ckpt);
  m.dispose();
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('eval and sample: counts and other numbers out of range are refused where parsed, naming the flag', async () => {
  const missing = join(dir, 'no-such-ckpt');
  const cases: [string[], RegExp][] = [
    [['eval', '--per-category', '-1'], /--per-category must be an integer at least 1, got '-1'/],
    [['eval', '--per-category', '0'], /--per-category must be an integer at least 1, got '0'/],
    [['eval', '--images-per-prompt', '0'], /--images-per-prompt must be an integer between 1 and 1000, got '0'/],
    [['eval', '--images-per-prompt', '-2'], /--images-per-prompt must be an integer between 1 and 1000, got '-2'/],
    [['eval', '--steps', '0'], /--steps must be an integer between 1 and 1000/],
    [['eval', '--cfg', 'Infinity'], /--cfg must be a finite number between 0 and 100/],
    [['eval', '--seed', '-3'], /--seed must be an integer ≥ 0/],
    [['eval', '--budget-nfe', '0'], /--budget-nfe must be an integer at least 1/],
    [['sample', '--prompt', 'a', '--n', '0'], /--n must be an integer between 1 and 1000, got '0'/],
    [['sample', '--prompt', 'a', '--steps', '2.5'], /--steps must be an integer between 1 and 1000, got '2.5'/],
    [['sample', '--prompt', 'a', '--cfg', 'NaN'], /--cfg must be a finite number/],
    [['sample', '--prompt', 'a', '--cfg', '1e30'], /--cfg must be a number between 0 and 100, got '1e30'/],
    [['sample', '--prompt', 'a', '--eta', '2'], /--eta must be a number between 0 and 1/],
    [['sample', '--prompt', 'a', '--n', ''], /--n must be an integer/],
  ];
  for (const [args, re] of cases) {
    const [cmd, ...rest] = args;
    await assert.rejects(run([cmd!, '--ckpt', missing, ...rest]), re, args.join(' '));
  }
});

test('sample --out and eval --samples: a folder, or a folder that cannot be written, is refused before the checkpoint loads', async () => {
  const missing = join(dir, 'no-such-ckpt');
  const folder = join(dir, 'a-folder');
  mkdirSync(folder, { recursive: true });
  const file = join(dir, 'a-file');
  writeFileSync(file, 'x');
  // the checkpoint does not exist: the error would name it if the path were checked after loading
  await assert.rejects(run(['sample', '--ckpt', missing, '--prompt', 'a', '--out', folder]), new RegExp(`--out ${folder}: is a folder; give a file path`));
  await assert.rejects(run(['sample', '--ckpt', missing, '--prompt', 'a', '--out', join(file, 'grid.png')]), new RegExp(`--out ${file}/grid.png: '${file}' is a file, not a folder`));
  await assert.rejects(run(['sample', '--ckpt', missing, '--prompt', 'a', '--out', '/proc/grid.png']), /--out \/proc\/grid.png: folder '\/proc' is not writable/);
  await assert.rejects(run(['eval', '--ckpt', missing, '--samples', folder]), new RegExp(`--samples ${folder}: is a folder`));
  await assert.rejects(run(['eval', '--ckpt', missing, '--samples', '/proc/s.jsonl']), /--samples \/proc\/s.jsonl: folder '\/proc' is not writable/);
});

test('sample and eval still run with counts in range (a new output folder is created)', async () => {
  const out = join(dir, 'new', 'sub', 'grid.png');
  const s = await run(['sample', '--ckpt', ckpt, '--prompt', 'a red circle', '--n', '1', '--steps', '2', '--out', out]);
  assert.ok(existsSync(out), s.err.join('\n'));
  const samples = join(dir, 'eval', 'samples.jsonl');
  const e = await run(['eval', '--ckpt', ckpt, '--per-category', '1', '--images-per-prompt', '1', '--steps', '2', '--metrics', 'none', '--json', '--samples', samples]);
  const last = JSON.parse(e.out[e.out.length - 1]!) as Record<string, unknown>;
  assert.equal(typeof last.mean, 'number');
  assert.equal(readFileSync(samples, 'utf8').trim().split('\n').length, 6);
});
