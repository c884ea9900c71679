import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';

const dir = mkdtempSync(join(tmpdir(), 'st-'));

test('every dtype round-trips through a file, with metadata', async () => {
  const tensors: Record<string, torch.Tensor> = {};
  for (const d of torch.DTYPES) tensors[`t.${d}`] = torch.arange(0, 12).reshape(3, 4).to(d);
  tensors['scalar'] = torch.scalarTensor(2.5);
  tensors['strided'] = torch.arange(0, 12).reshape(3, 4).transpose(0, 1); // not contiguous
  const path = join(dir, 'all.safetensors');
  await torch.safetensors.saveFile(path, tensors, { step: '7' });
  const back = await torch.safetensors.loadFile(path);
  assert.equal(back.metadata.step, '7');
  for (const [k, t] of Object.entries(tensors)) {
    const b = back.tensors[k]!;
    assert.equal(b.dtype, t.dtype, k);
    assert.deepEqual(b.shape, t.shape, k);
    assert.deepEqual(b.toArray(), t.toArray(), k);
  }
});

test('float16 and bfloat16 keep their exact bits', () => {
  const x = torch.tensor([0.1, -3.14159, 65504, 1e-4]);
  for (const d of ['float16', 'bfloat16'] as const) {
    const h = x.to(d);
    const back = torch.safetensors.fromBytes(torch.safetensors.toBytes({ h })).tensors.h!;
    assert.deepEqual(back.toArray(), h.toArray());
  }
});

test('a corrupt file is a SafetensorsError naming it', async () => {
  const path = join(dir, 'bad.safetensors');
  await torch.safetensors.saveFile(path, { a: torch.ones([4]) });
  const bytes = readFileSync(path);
  writeFileSync(path, bytes.subarray(0, bytes.length - 3));
  await assert.rejects(torch.safetensors.loadFile(path), (e: Error) => e instanceof torch.safetensors.SafetensorsError && e.message.includes(path));
});
