// `sharpen finetune`'s numeric flags are range-checked where they are parsed, naming the flag, before
// any config is built or anything is loaded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliErrors } from '../helpers/cli.js';
import { registerFinetuneCommands } from '../../src/cli/finetune.js';

const run = (args: string[]): Promise<string> => cliErrors(registerFinetuneCommands, args);

test('finetune numeric flags out of range are refused, naming the flag', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-flags-'));
  const out = join(dir, 'run');
  const cases: [string, string, RegExp][] = [
    ['--steps', '0', /--steps must be an integer at least 1, got '0'/],
    ['--steps', '2.5', /--steps must be an integer at least 1, got '2\.5'/],
    ['--batch', '0', /--batch must be an integer at least 1, got '0'/],
    ['--batch', '-3', /--batch must be an integer at least 1, got '-3'/],
    ['--checkpoint-every', '0', /--checkpoint-every must be an integer at least 1, got '0'/],
    ['--seed', '-1', /--seed must be an integer ≥ 0, got '-1'/],
    ['--lora-rank', '-2', /--lora-rank must be an integer ≥ 0, got '-2'/],
    ['--eval-every', '-1', /--eval-every must be an integer ≥ 0, got '-1'/],
    ['--eval-every', 'x', /--eval-every must be an integer ≥ 0, got 'x'/],
    ['--lr', '0', /--lr must be a number > 0, got '0'/],
    ['--lr', '-1e-4', /--lr must be a number > 0, got '-1e-4'/],
    ['--lr', 'Infinity', /--lr must be a finite number, got 'Infinity'/],
    ['--lr', 'abc', /--lr must be a finite number, got 'abc'/],
  ];
  for (const [flag, value, expected] of cases) {
    const msg = await run(['finetune', '--method', 'standard-ft', '--out', out, '--base', join(dir, 'no-base'), flag, value]);
    assert.match(msg, expected, `${flag} ${value}: ${msg}`);
  }
  assert.ok(!existsSync(out), 'nothing was written');
});

test('finetune flags in range reach the config (they fail later only for the missing base)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'finetune-flags-'));
  const msg = await run([
    'finetune', '--method', 'standard-ft', '--out', join(dir, 'run'), '--base', join(dir, 'no-base'), '--store', join(dir, 's.sqlite'),
    '--steps', '1', '--batch', '1', '--checkpoint-every', '1', '--seed', '0', '--lora-rank', '0', '--eval-every', '0', '--lr', '1e-4',
  ]);
  assert.match(msg, /--base .*no-base.*model\.safetensors is missing/);
});
