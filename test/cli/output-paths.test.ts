// Output paths of the world commands: a folder where a file is expected, or a file where a folder
// is expected, is named before anything is rendered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliErrors } from '../helpers/cli.js';
import { registerWorldCommands } from '../../src/cli/world.js';
import { checkOutputDir, checkOutputFile } from '../../src/util/output-path.js';

const run = (args: string[]): Promise<string> => cliErrors(registerWorldCommands, args);

test('world render --out a folder names the path (not "illegal operation on a directory")', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'out-paths-'));
  const msg = await run(['world', 'render', '--prompt', 'a red circle', '--out', dir]);
  assert.match(msg, new RegExp(`--out ${dir}: is a folder; give a file path`));
  assert.doesNotMatch(msg, /illegal operation/);
});

test('world folder --out a file, grid --labelled a folder, and numeric flags out of range are named', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'out-paths-'));
  const file = join(dir, 'f');
  writeFileSync(file, '');
  assert.match(await run(['world', 'folder', '--out', file]), new RegExp(`--out ${file}: is a file, not a folder`));
  assert.match(await run(['world', 'grid', '--out', join(dir, 'g.png'), '--labelled', dir]), new RegExp(`--labelled ${dir}: is a folder`));
  assert.match(await run(['world', 'bench', '--seconds', 'NaN']), /--seconds must be a number > 0/);
  assert.match(await run(['world', 'render', '--prompt', 'a red circle', '--resolution', '100000']), /--resolution must be an integer between 16 and 1024/);
});

test('checkOutputFile / checkOutputDir: missing parents are fine, a file in the way or an unwritable folder is not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'out-paths-'));
  checkOutputFile(join(dir, 'a', 'b', 'c.png'), '--out');
  checkOutputDir(join(dir, 'x', 'y'), '--out');
  mkdirSync(join(dir, 'd'));
  assert.throws(() => checkOutputFile(join(dir, 'd'), '--out'), /is a folder/);
  writeFileSync(join(dir, 'f'), '');
  assert.throws(() => checkOutputDir(join(dir, 'f', 'sub'), '--out'), /'.*\/f' is a file, not a folder/);
  assert.throws(() => checkOutputFile('/proc/x/y.png', '--out'), /folder '\/proc' is not writable/);
});
