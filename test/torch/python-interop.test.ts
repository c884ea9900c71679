// The project's tensor files are the documented safetensors format, checked against a reader and a
// writer that share no code with ours: scripts/interop/safetensors_stdlib.py, plain Python (standard
// library only; python3 is installed by scripts/setup.sh). Files go both ways, and the shipped base
// model is read in Python tensor by tensor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { vals } from './helpers.js';

const SCRIPT = join(import.meta.dirname, '../../scripts/interop/safetensors_stdlib.py');
const BASE = join(import.meta.dirname, '../../checkpoints/base/model.safetensors');

interface PyTensor { dtype: string; shape: number[]; count: number; sum: number; first: number[]; values?: number[] }

function python(...args: string[]): string {
  return execFileSync('python3', [SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
}

function pyRead(path: string, full = false): { metadata: Record<string, string>; tensors: Record<string, PyTensor> } {
  return JSON.parse(python('read', path, ...(full ? ['--full'] : [])));
}

const SAFE: Record<torch.DType, string> = {
  float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL',
};

/** Each tensor here has its twin there: the same safetensors dtype, shape and values (as float64), and no name is extra on either side. */
function assertSameTensors(here: Record<string, torch.Tensor>, there: Record<string, { dtype: string; shape: number[]; values?: number[] }>): void {
  assert.deepEqual(Object.keys(there).sort(), Object.keys(here).sort());
  for (const [name, x] of Object.entries(here)) {
    const p = there[name]!;
    assert.equal(p.dtype, SAFE[x.dtype], `${name}: dtype`);
    assert.deepEqual(p.shape, x.shape, `${name}: shape`);
    assert.deepEqual(p.values, vals(x.to('float64')), `${name}: values`);
  }
}

test('a file written here is read in Python with the same dtypes, shapes, values and metadata', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'interop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const tensors: Record<string, torch.Tensor> = {};
  // values every dtype holds exactly (bool: 0/1; uint8: 0..11)
  for (const d of torch.DTYPES) tensors[d] = torch.tensor([0, 1, -2, 3.5, 4, -5.25, 6, 7, 8, 9, 10, 11]).abs().reshape(3, 4).to(d);
  tensors['signed'] = torch.tensor([-1.5, 2.25, -1e-3, 1e5]);
  tensors['scalar'] = torch.scalarTensor(2.5);
  tensors['empty'] = torch.zeros([0, 3]);
  tensors['transposed'] = torch.arange(0, 6).reshape(2, 3).transpose(0, 1); // not contiguous in memory
  const path = join(dir, 'ours.safetensors');
  await torch.safetensors.saveFile(path, tensors, { step: '7', note: 'ünïcode ✓' });

  const py = pyRead(path, true);
  assert.deepEqual(py.metadata, { step: '7', note: 'ünïcode ✓' });
  assertSameTensors(tensors, py.tensors);
});

test('a file written in Python is read here with the same dtypes, shapes, values and metadata', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'interop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'theirs.safetensors');
  const written = JSON.parse(python('write', path)) as Record<string, { dtype: string; shape: number[]; values: number[] }>;
  const { tensors, metadata } = await torch.safetensors.loadFile(path);
  assert.deepEqual(metadata, { written_by: 'safetensors_stdlib.py', step: '12' });
  assertSameTensors(tensors, written);
});

test('the shipped base model is read in Python tensor by tensor, as here', async () => {
  const py = pyRead(BASE);
  const { tensors, metadata } = await torch.safetensors.loadFile(BASE);
  assert.deepEqual(py.metadata, metadata);
  assert.deepEqual(Object.keys(py.tensors).sort(), Object.keys(tensors).sort());
  for (const [name, x] of Object.entries(tensors)) {
    const p = py.tensors[name]!;
    assert.equal(p.dtype, SAFE[x.dtype], `${name}: dtype`);
    assert.deepEqual(p.shape, x.shape, `${name}: shape`);
    const v = vals(x.to('float64'));
    assert.deepEqual(p.first, v.slice(0, 16), `${name}: first values`);
    const sum = v.reduce((a, b) => a + b, 0);
    const scale = v.reduce((a, b) => a + Math.abs(b), 0);
    assert.ok(Math.abs(p.sum - sum) <= 1e-12 * Math.max(1, scale), `${name}: sum ${p.sum} in Python, ${sum} here`);
  }
});

test('the Python reader refuses a file with a hole in its buffer, so the checks above can fail', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'interop-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const header = JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } });
  const bytes = Buffer.alloc(8 + header.length + 8);
  bytes.writeBigUInt64LE(BigInt(header.length), 0);
  bytes.write(header, 8, 'utf8');
  const path = join(dir, 'hole.safetensors');
  writeFileSync(path, bytes);
  assert.throws(() => python('read', path), (e: Error & { stderr?: string }) => /starts at byte 4 of the buffer, expected 0/.test(String(e.stderr)));
  // and our own reader refuses it too
  await assert.rejects(torch.safetensors.loadFile(path), torch.safetensors.SafetensorsError);
});
