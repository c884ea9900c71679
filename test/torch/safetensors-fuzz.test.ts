// Several hundred mutated safetensors files of a tiny text-to-image model (truncations, header
// length and field edits, dtype and shape swaps, renamed and duplicate keys, flipped bytes in the
// header and in the data, corrupted float exponents), generated deterministically in a temporary
// folder. Each is loaded as a tensor file and as a model checkpoint. Every one must be either
// rejected with an Error naming the file or the tensor, or load exactly the data its header
// declares; a model must never load something other than what it expects (dtype, shape, finite
// plausible values).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { deserialize } from '../../src/torch/safetensors-format.js';
import { TextToImageModel } from '../../src/models/t2i.js';
import { MAX_PLAUSIBLE_WEIGHT } from '../../src/nn/module.js';
import { tinyConfig } from '../helpers/tiny-model.js';
import { rng } from './helpers.js';

interface Mutation {
  name: string;
  bytes: Uint8Array;
  /** what the model load must say when it refuses this file (the tensor file may load) */
  modelRejects?: RegExp;
}

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}


function split(file: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<string, unknown>, data: file.subarray(8 + n) };
}

function assemble(headerText: string, data: Uint8Array): Uint8Array {
  const h = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function mutations(file: Uint8Array): Mutation[] {
  const r = rng(18);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const { header, data } = split(file);
  const headerLen = file.length - data.length - 8;
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const multiDim = names.filter((k) => (header[k] as Entry).shape.length >= 2 && new Set((header[k] as Entry).shape).size > 1);
  const edit = (f: (h: Record<string, Entry>) => void): string => {
    const h = structuredClone(header) as Record<string, Entry>;
    f(h);
    return JSON.stringify(h);
  };
  const out: Mutation[] = [];

  // truncations: the first bytes, around the end of the header, and anywhere
  const cuts = new Set<number>([0, 1, 7, 8, 9, 8 + headerLen - 1, 8 + headerLen, 8 + headerLen + 1, file.length - 1, file.length - 4]);
  while (cuts.size < 50) cuts.add(Math.floor(r() * file.length));
  for (const c of cuts) out.push({ name: `truncated to ${c} bytes`, bytes: file.slice(0, c) });

  // the header length field
  for (const n of [0n, 1n, BigInt(headerLen - 1), BigInt(headerLen + 1), BigInt(headerLen + 8), BigInt(file.length), 2n ** 63n, 2n ** 64n - 1n]) {
    const b = file.slice();
    new DataView(b.buffer).setBigUint64(0, n, true);
    out.push({ name: `header length ${n}`, bytes: b });
  }

  // dtype swaps: those of the same element size give a well-formed file the model must refuse
  for (let i = 0; i < 40; i++) {
    const k = pick(names);
    const d = pick(['I32', 'F16', 'BF16', 'F64', 'I64', 'U8', 'I8', 'BOOL', 'I16', 'U32', 'F8_E4M3', 'f32', '']);
    out.push({ name: `dtype of ${k} → ${d}`, bytes: assemble(edit((h) => { h[k]!.dtype = d; }), data), modelRejects: /dtype|unknown|I32/ });
  }
  // shape swaps of the same size (loadable files the model must refuse) and of another size
  for (let i = 0; i < 30; i++) {
    const k = pick(multiDim);
    const kind = pick(['reverse', 'flatten', 'grow', 'drop', 'negative', 'fraction']);
    const bytes = assemble(edit((h) => {
      const s = h[k]!.shape;
      if (kind === 'reverse') s.reverse();
      else if (kind === 'flatten') h[k]!.shape = [s.reduce((a, b) => a * b, 1)];
      else if (kind === 'grow') s[0]! += 1;
      else if (kind === 'drop') s.pop();
      else if (kind === 'negative') s[0] = -s[0]!;
      else s[0]! += 0.5;
    }), data);
    out.push({ name: `shape of ${k}: ${kind}`, bytes, modelRejects: /shape|expected \[/ });
  }
  // data offsets: shifted, swapped between two tensors, out of range, malformed
  for (let i = 0; i < 30; i++) {
    const k = pick(names);
    const kind = pick(['shift', 'swap', 'beyond', 'reversed', 'one', 'string']);
    out.push({
      name: `data_offsets of ${k}: ${kind}`,
      bytes: assemble(edit((h) => {
        const e = h[k]!;
        const [b, en] = e.data_offsets;
        if (kind === 'shift') e.data_offsets = [b + 4, en + 4];
        else if (kind === 'swap') {
          const other = names.find((o) => o !== k && h[o]!.dtype === e.dtype && String(h[o]!.shape) === String(e.shape));
          if (other) [e.data_offsets, h[other]!.data_offsets] = [h[other]!.data_offsets, e.data_offsets];
          else e.data_offsets = [b, en + 1];
        } else if (kind === 'beyond') e.data_offsets = [b, data.length + 4];
        else if (kind === 'reversed') e.data_offsets = [en, b];
        else if (kind === 'one') (e as unknown as { data_offsets: number[] }).data_offsets = [b];
        else (e as unknown as { data_offsets: unknown }).data_offsets = `${b},${en}`;
      }), data),
    });
  }
  // fields and keys: missing, unknown, renamed, metadata of the wrong type
  for (let i = 0; i < 20; i++) {
    const k = pick(names);
    const kind = pick(['no dtype', 'no shape', 'extra field', 'rename', 'metadata']);
    out.push({
      name: `${kind} (${k})`,
      bytes: assemble(edit((h) => {
        const e = h[k]! as unknown as Record<string, unknown>;
        if (kind === 'no dtype') delete e.dtype;
        else if (kind === 'no shape') delete e.shape;
        else if (kind === 'extra field') e.stride = [1];
        else if (kind === 'rename') {
          h[`${k}_x`] = h[k]!;
          delete h[k];
        } else (h as unknown as Record<string, unknown>).__metadata__ = { step: 7 };
      }), data),
      modelRejects: /missing keys|unexpected keys/,
    });
  }
  // duplicate keys: a tensor written twice (the JSON parser keeps the last one if it accepts them)
  for (let i = 0; i < 15; i++) {
    const k = pick(names);
    const e = JSON.stringify((header as Record<string, Entry>)[k]);
    const other = JSON.stringify((header as Record<string, Entry>)[pick(names)]);
    const text = JSON.stringify(header).replace(/^\{/, `{${JSON.stringify(k)}:${i % 2 ? e : other},`);
    out.push({ name: `duplicate key ${k}`, bytes: assemble(text, data) });
  }
  // flipped bytes in the header
  for (let i = 0; i < 80; i++) {
    const b = file.slice();
    const at = 8 + Math.floor(r() * headerLen);
    b[at] = b[at]! ^ (1 + Math.floor(r() * 255));
    out.push({ name: `header byte ${at} flipped`, bytes: b });
  }
  // flipped bits in the data: most give other finite weights, loaded as declared
  for (let i = 0; i < 60; i++) {
    const b = file.slice();
    const at = 8 + headerLen + Math.floor(r() * data.length);
    b[at] = b[at]! ^ (1 << Math.floor(r() * 8));
    out.push({ name: `data bit at byte ${at} flipped`, bytes: b });
  }
  // exponents corrupted: NaN, ±Inf and 1e37-sized weights, which the model must refuse
  const f32 = names.filter((k) => (header[k] as Entry).dtype === 'F32');
  for (let i = 0; i < 40; i++) {
    const k = pick(f32);
    const [b0, e0] = (header[k] as Entry).data_offsets;
    const el = b0 + 4 * Math.floor(r() * ((e0 - b0) / 4));
    const b = file.slice();
    const at = 8 + headerLen + el;
    const kind = pick(['nan', 'inf', 'huge']);
    if (kind === 'huge') b[at + 3] = (b[at + 3]! & 0x80) | 0x7e; // exponent ≈ 2^125
    else {
      b[at + 3] = (b[at + 3]! & 0x80) | 0x7f;
      b[at + 2] = b[at + 2]! | 0x80;
      if (kind === 'inf') {
        b[at + 2] = 0x80;
        b[at + 1] = 0;
        b[at] = 0;
      } else b[at] = b[at]! | 1;
    }
    out.push({ name: `${kind} written into ${k}`, bytes: b, modelRejects: new RegExp(`${k.replace(/\./g, '\\.').replace(/^(unet|text_encoder)\\./, '')}.*(NaN or infinite|beyond)`) });
  }
  // bytes appended after the data, and a header padded with spaces (allowed by the format)
  for (const extra of [1, 4, 100]) out.push({ name: `${extra} bytes appended`, bytes: new Uint8Array([...file, ...new Uint8Array(extra)]) });
  out.push({ name: 'header padded with spaces', bytes: assemble(JSON.stringify(header) + '        ', data) });
  return out;
}

/** The bytes of a tensor as a safetensors file stores them. */
function rawBytes(t: torch.Tensor): Uint8Array {
  return deserialize(torch.safetensors.toBytes({ t })).tensors.t!.data;
}

const SAFE_OF: Record<string, string> = { float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32', int16: 'I16', int8: 'I8', uint8: 'U8', bool: 'BOOL' };

test('safetensors fuzz: every mutated file is refused with a named error or loads as declared; a model never loads what it does not expect', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-fuzz-'));
  torch.manualSeed(0);
  const model = new TextToImageModel(tinyConfig());
  await model.save(dir);
  const expected = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, { dtype: t.dtype, shape: t.shape }]));
  model.dispose();
  const path = join(dir, 'model.safetensors');
  const { readFileSync } = await import('node:fs');
  const original = new Uint8Array(readFileSync(path));
  const muts = mutations(original);
  assert.ok(muts.length >= 300, `${muts.length} mutations`);
  const counts = { fileRejected: 0, fileLoaded: 0, modelRejected: 0, modelLoaded: 0 };

  for (const m of muts) {
    writeFileSync(path, m.bytes);
    // as a tensor file
    let declared: Record<string, Entry> | null = null;
    try {
      const { tensors } = await torch.safetensors.loadFile(path);
      counts.fileLoaded++;
      const { header, data } = split(m.bytes);
      declared = Object.fromEntries(Object.entries(header).filter(([k]) => k !== '__metadata__')) as Record<string, Entry>;
      assert.deepEqual(Object.keys(tensors).sort(), Object.keys(declared).sort(), m.name);
      for (const [k, t] of Object.entries(tensors)) {
        const e: Entry = declared[k]!;
        assert.equal(SAFE_OF[t.dtype], e.dtype, `${m.name}: ${k} dtype`);
        assert.deepEqual(t.shape, e.shape, `${m.name}: ${k} shape`);
        assert.deepEqual(rawBytes(t), data.subarray(e.data_offsets[0], e.data_offsets[1]), `${m.name}: ${k} bytes`);
        t.dispose();
      }
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      counts.fileRejected++;
      assert.ok(e instanceof torch.safetensors.SafetensorsError, `${m.name}: ${(e as Error).message}`);
      assert.ok((e as Error).message.startsWith(path), `${m.name}: the message names the file: ${(e as Error).message}`);
    }
    if (!declared && counts.fileRejected % 5 !== 0) continue; // a file the reader refuses is refused the same way by the model load (checked on a sample)

    // as a model checkpoint
    let loaded: TextToImageModel | null = null;
    try {
      loaded = await TextToImageModel.load(dir);
    } catch (e) {
      counts.modelRejected++;
      const msg = (e as Error).message;
      assert.match(msg, new RegExp(`^checkpoint ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}|^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), `${m.name}: ${msg}`);
      continue;
    }
    counts.modelLoaded++;
    assert.ok(declared, `${m.name}: the model loaded a file the tensor reader refused`);
    assert.equal(m.modelRejects, undefined, `${m.name}: the model should have refused it`);
    const { data } = split(m.bytes);
    for (const [k, t] of Object.entries(loaded.stateDict())) {
      assert.equal(t.dtype, expected[k]!.dtype, `${m.name}: ${k}`);
      assert.deepEqual(t.shape, expected[k]!.shape, `${m.name}: ${k}`);
      const e: Entry = declared[k]!;
      assert.deepEqual(rawBytes(t), data.subarray(e.data_offsets[0], e.data_offsets[1]), `${m.name}: ${k} holds what the header declares`);
      const worst = torch.tidy(() => t.abs().amax().item());
      assert.ok(worst <= MAX_PLAUSIBLE_WEIGHT, `${m.name}: ${k} holds ${worst}`);
    }
    loaded.dispose();
  }
  console.log(`${muts.length} mutated files: ${JSON.stringify(counts)}`);
  // the kinds of outcome all occur
  assert.ok(counts.fileRejected > 150 && counts.fileLoaded > 80 && counts.modelRejected > 60 && counts.modelLoaded > 20, JSON.stringify(counts));
});

test('safetensors fuzz: the model refuses what a tensor file accepts when it is not what the model expects', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'st-fuzz-'));
  torch.manualSeed(0);
  const model = new TextToImageModel(tinyConfig());
  await model.save(dir);
  model.dispose();
  const path = join(dir, 'model.safetensors');
  const { readFileSync } = await import('node:fs');
  const muts = mutations(new Uint8Array(readFileSync(path))).filter((m) => m.modelRejects);
  let checked = 0;
  for (const m of muts) {
    writeFileSync(path, m.bytes);
    let fileOk = true;
    try {
      const { tensors } = await torch.safetensors.loadFile(path);
      for (const t of Object.values(tensors)) t.dispose();
    } catch {
      fileOk = false;
    }
    if (!fileOk) continue;
    checked++;
    await assert.rejects(TextToImageModel.load(dir), m.modelRejects!, m.name);
  }
  assert.ok(checked >= 40, `${checked} well-formed files that the model must refuse`);
});
