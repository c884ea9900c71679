import assert from 'node:assert/strict';
import { mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  SAFE_DTYPES,
  SafetensorsError,
  deserialize,
  elementSize,
  parseHeader,
  readSafetensorsFile,
  serialize,
  writeSafetensorsFile,
  type RawTensor,
  type SafeDType,
} from '../../src/torch/safetensors-format.js';
import { rng } from './helpers.js';

function randomBytes(n: number, rand: () => number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function tensor(dtype: SafeDType, shape: number[], rand: () => number): RawTensor {
  return { dtype, shape, data: randomBytes(numel(shape) * elementSize(dtype), rand) };
}

/** Builds a file by hand from the spec's layout. */
function buildFile(header: unknown, data: Uint8Array, pad = 0, rawJson?: string): Uint8Array {
  const json = new TextEncoder().encode((rawJson ?? JSON.stringify(header)) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Asserts that fn throws a SafetensorsError whose message matches re. */
function throwsSafe(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

/** A small valid file with several dtypes and metadata. */
function sampleFile(): Uint8Array {
  const rand = rng(7);
  return serialize(
    {
      'a.weight': tensor('F32', [2, 3], rand),
      'b.bias': tensor('F16', [3], rand),
      c: tensor('I64', [], rand),
      d: tensor('BOOL', [2, 2], rand),
      e: tensor('U8', [0, 4], rand),
    },
    { format: 'pt', note: 'héllo ✓' },
  );
}

describe('elementSize', () => {
  test('sizes of all dtypes', () => {
    const expected: Record<SafeDType, number> = {
      F64: 8,
      F32: 4,
      F16: 2,
      BF16: 2,
      I64: 8,
      I32: 4,
      I16: 2,
      I8: 1,
      U8: 1,
      BOOL: 1,
      U16: 2,
      U32: 4,
      U64: 8,
      F8_E4M3: 1,
      F8_E5M2: 1,
    };
    for (const d of SAFE_DTYPES) assert.equal(elementSize(d), expected[d], d);
    throwsSafe(() => elementSize('Q4' as SafeDType), /unknown dtype 'Q4'/);
  });
});

describe('round trips', () => {
  test('every dtype, with scalars, empty tensors and metadata', () => {
    const rand = rng(1);
    const tensors: Record<string, RawTensor> = {};
    for (const d of SAFE_DTYPES) {
      tensors[`${d}.matrix`] = tensor(d, [3, 5], rand);
      tensors[`${d}.scalar`] = tensor(d, [], rand);
      tensors[`${d}.empty`] = tensor(d, [0], rand);
      tensors[`${d}.empty2`] = tensor(d, [4, 0, 2], rand);
      tensors[`${d}.cube`] = tensor(d, [2, 1, 3], rand);
    }
    const metadata = { format: 'pt', 'ünïcode ✓': 'value "quoted" \\ \n', empty: '' };
    const bytes = serialize(tensors, metadata);
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    assert.equal(headerLen % 8, 0, 'header padded to a multiple of 8');
    const back = deserialize(bytes);
    assert.deepEqual(back.metadata, metadata);
    assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const r = back.tensors[name]!;
      assert.equal(r.dtype, t.dtype, name);
      assert.deepEqual(r.shape, t.shape, name);
      assert.deepEqual(Array.from(r.data), Array.from(t.data), name);
      // serialize orders by element size first, so the data is aligned.
      assert.equal((r.data.byteOffset - (8 + headerLen)) % elementSize(r.dtype), 0, name);
    }
  });

  test('serialization is deterministic and independent of insertion order', () => {
    const rand = rng(2);
    const a = tensor('F32', [2], rand);
    const b = tensor('I8', [3], rand);
    const c = tensor('F64', [1], rand);
    const one = serialize({ a, b, c }, { y: '1', x: '2' });
    const two = serialize({ c, b, a }, { x: '2', y: '1' });
    assert.deepEqual(one, two);
  });

  test('no tensors, no metadata', () => {
    const bytes = serialize({});
    assert.equal(bytes.length, 16); // '{}' padded to 8
    const back = deserialize(bytes);
    assert.deepEqual(back, { metadata: {}, tensors: {} });
  });

  test('awkward names: __proto__, unicode, quotes, empty', () => {
    const rand = rng(3);
    const tensors: Record<string, RawTensor> = {};
    const names = ['__proto__', 'constructor', 'ñame ✓ 🙂', 'a"b\\c', '', 'x\u0001y'];
    for (const n of names) {
      Object.defineProperty(tensors, n, {
        value: tensor('F32', [1], rand),
        enumerable: true,
      });
    }
    const back = deserialize(serialize(tensors));
    assert.deepEqual(Object.keys(back.tensors).sort(), [...names].sort());
    assert.equal(Object.getPrototypeOf(back.tensors), Object.prototype);
    for (const n of names) {
      assert.deepEqual(back.tensors[n]!.data, tensors[n]!.data, n);
    }
  });

  test('deserialize returns views into the input buffer', () => {
    const bytes = sampleFile();
    const back = deserialize(bytes);
    assert.equal(back.tensors['a.weight']!.data.buffer, bytes.buffer);
  });

  test('parseHeader accepts a prefix with the file size', () => {
    const bytes = sampleFile();
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const h = parseHeader(bytes.subarray(0, 8 + n), { fileSize: bytes.length });
    assert.equal(h.dataStart, 8 + n);
    assert.deepEqual(
      h.entries.map((e) => e.name),
      ['c', 'a.weight', 'b.bias', 'd', 'e'],
    );
    assert.equal(h.entries.at(-1)!.end, bytes.length - h.dataStart);
    throwsSafe(
      () => parseHeader(bytes.subarray(0, 8 + n - 1), { fileSize: bytes.length }),
      /buffer holds/,
    );
  });

  test('serialize rejects invalid input', () => {
    const ok: RawTensor = { dtype: 'F32', shape: [2], data: new Uint8Array(8) };
    throwsSafe(
      () => serialize({ a: { dtype: 'F32', shape: [2, 3], data: new Uint8Array(8) } }),
      /tensor 'a' has 8 bytes of data but shape \[2,3\] of F32 needs 24 bytes/,
    );
    throwsSafe(() => serialize({ a: { ...ok, dtype: 'F31' as SafeDType } }), /unknown dtype 'F31'/);
    throwsSafe(() => serialize({ a: { ...ok, shape: [-2] } }), /shape must be/);
    throwsSafe(() => serialize({ a: { ...ok, shape: [1.5] } }), /shape must be/);
    throwsSafe(() => serialize({ __metadata__: ok }), /reserved/);
    throwsSafe(
      () => serialize({ a: ok }, { k: 3 as unknown as string }),
      /metadata value for key 'k' must be a string/,
    );
  });
});

describe('hand-built files', () => {
  function handFile(pad: number): Uint8Array {
    // a: F32 [2] = [1.5, -2]; b: I16 [3] = [1, -1, 300]; c: BF16 [] = 1.0
    const data = new Uint8Array(8 + 6 + 2);
    const dv = new DataView(data.buffer);
    dv.setFloat32(0, 1.5, true);
    dv.setFloat32(4, -2, true);
    dv.setInt16(8, 1, true);
    dv.setInt16(10, -1, true);
    dv.setInt16(12, 300, true);
    dv.setUint16(14, 0x3f80, true); // bfloat16 1.0
    const header = {
      __metadata__: { format: 'pt' },
      b: { dtype: 'I16', shape: [3], data_offsets: [8, 14] },
      c: { dtype: 'BF16', shape: [], data_offsets: [14, 16] },
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
    };
    return buildFile(header, data, pad);
  }

  for (const pad of [0, 1, 5, 8, 13]) {
    test(`read correctly with ${pad} padding spaces`, () => {
      const bytes = handFile(pad);
      const back = deserialize(bytes);
      assert.deepEqual(back.metadata, { format: 'pt' });
      assert.deepEqual(Object.keys(back.tensors), ['a', 'b', 'c']);
      const a = back.tensors.a!;
      assert.equal(a.dtype, 'F32');
      assert.deepEqual(a.shape, [2]);
      const av = new DataView(a.data.buffer, a.data.byteOffset, a.data.byteLength);
      assert.deepEqual([av.getFloat32(0, true), av.getFloat32(4, true)], [1.5, -2]);
      const b = back.tensors.b!;
      const bv = new DataView(b.data.buffer, b.data.byteOffset, b.data.byteLength);
      assert.deepEqual(
        [bv.getInt16(0, true), bv.getInt16(2, true), bv.getInt16(4, true)],
        [1, -1, 300],
      );
      const c = back.tensors.c!;
      assert.equal(c.dtype, 'BF16');
      assert.deepEqual(c.shape, []);
      assert.deepEqual(Array.from(c.data), [0x80, 0x3f]);
    });
  }

  test('JSON whitespace and escapes in the header', () => {
    const raw =
      '\n { "\\u0061" : {"shape":[ 1 ],"data_offsets":[0,1],"dtype":"U8"} ,' +
      '"__metadata__":{"k\\/":"v\\n\\u00e9"}}\t';
    const bytes = buildFile(null, new Uint8Array([42]), 3, raw);
    const back = deserialize(bytes);
    assert.deepEqual(back.metadata, { 'k/': 'v\né' });
    assert.deepEqual(Array.from(back.tensors.a!.data), [42]);
  });

  test('null __metadata__ is accepted as empty', () => {
    const bytes = buildFile({ __metadata__: null }, new Uint8Array(0));
    assert.deepEqual(deserialize(bytes), { metadata: {}, tensors: {} });
  });

  test('empty tensors may share an offset with a neighbour', () => {
    const bytes = buildFile(
      {
        z: { dtype: 'F32', shape: [0], data_offsets: [4, 4] },
        a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
        e: { dtype: 'F32', shape: [0, 3], data_offsets: [0, 0] },
        b: { dtype: 'U8', shape: [2], data_offsets: [4, 6] },
      },
      new Uint8Array(6),
    );
    const back = deserialize(bytes);
    assert.deepEqual(Object.keys(back.tensors), ['e', 'a', 'z', 'b']);
  });
});

describe('bad files', () => {
  const F32_2 = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };

  test('too short', () => {
    throwsSafe(() => deserialize(new Uint8Array(5)), /5 bytes, too short/);
  });

  test('huge header length', () => {
    const bytes = new Uint8Array(64);
    new DataView(bytes.buffer).setBigUint64(0, 2n ** 60n, true);
    throwsSafe(
      () => deserialize(bytes, { source: 'model.safetensors' }),
      /^model\.safetensors: header length 1152921504606846976 exceeds the limit of 100000000 bytes$/,
    );
    new DataView(bytes.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
    throwsSafe(() => deserialize(bytes), /exceeds the limit/);
  });

  test('header length beyond the end of the file', () => {
    const bytes = buildFile({}, new Uint8Array(0));
    new DataView(bytes.buffer).setBigUint64(0, 1000n, true);
    throwsSafe(() => deserialize(bytes), /header length 1000 does not fit in the file \(10 bytes/);
  });

  test('header not JSON', () => {
    throwsSafe(
      () => deserialize(buildFile(null, new Uint8Array(0), 0, '{"a": nope}')),
      /header is not valid JSON: unexpected character "n"/,
    );
    throwsSafe(
      () => deserialize(buildFile(null, new Uint8Array(0), 0, '{"a":1,}')),
      /not valid JSON/,
    );
    throwsSafe(() => deserialize(buildFile(null, new Uint8Array(0), 0, '')), /not valid JSON/);
    throwsSafe(() => deserialize(buildFile(null, new Uint8Array(0), 0, '{}x')), /after the JSON/);
    throwsSafe(
      () => deserialize(buildFile(null, new Uint8Array(0), 0, '\ufeff{}')),
      /not valid JSON/,
    );
    throwsSafe(
      () => deserialize(buildFile(null, new Uint8Array(0), 0, '[]')),
      /header must be a JSON object, got \[\]/,
    );
    throwsSafe(
      () => deserialize(buildFile(null, new Uint8Array(0), 0, '"{}"')),
      /must be a JSON object/,
    );
    const deep = '{"a":' + '['.repeat(10000) + ']'.repeat(10000) + '}';
    throwsSafe(() => deserialize(buildFile(null, new Uint8Array(0), 0, deep)), /nesting too deep/);
  });

  test('header not UTF-8', () => {
    const bytes = buildFile(null, new Uint8Array(0), 0, '{"\u00e9":1}');
    bytes[10] = 0xff;
    throwsSafe(() => deserialize(bytes), /not valid UTF-8/);
  });

  test('padding other than whitespace is rejected', () => {
    const bytes = buildFile({}, new Uint8Array(0), 2);
    bytes[bytes.length - 1] = 0;
    throwsSafe(() => deserialize(bytes), /not valid JSON/);
  });

  test('duplicate keys', () => {
    const raw =
      '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}';
    throwsSafe(() => deserialize(buildFile(null, new Uint8Array(1), 0, raw)), /duplicate key 'a'/);
  });

  test('unknown dtype', () => {
    throwsSafe(
      () =>
        deserialize(
          buildFile(
            { w: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } },
            new Uint8Array(16),
          ),
          { source: 'm.st' },
        ),
      /^m\.st: unknown dtype 'F128' for tensor 'w'$/,
    );
    throwsSafe(
      () =>
        deserialize(
          buildFile({ w: { dtype: 4, shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
        ),
      /dtype must be a string/,
    );
  });

  test('shape / offset mismatch', () => {
    throwsSafe(
      () =>
        deserialize(
          buildFile(
            { 'a.weight': { dtype: 'F32', shape: [2, 3], data_offsets: [0, 10] } },
            new Uint8Array(10),
          ),
          { source: 'model.safetensors' },
        ),
      /^model\.safetensors: tensor 'a\.weight' data_offsets \[0, 10\] do not match shape \[2,3\] of F32 \(24 bytes\)$/,
    );
  });

  test('overlapping ranges', () => {
    throwsSafe(
      () =>
        deserialize(
          buildFile(
            {
              a: { dtype: 'F32', shape: [3], data_offsets: [0, 12] },
              b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
            },
            new Uint8Array(16),
          ),
        ),
      /tensor 'b' data_offsets \[8, 16\] overlap tensor 'a' \[0, 12\]/,
    );
    // identical ranges
    throwsSafe(() => deserialize(buildFile({ a: F32_2, b: F32_2 }, new Uint8Array(8))), /overlap/);
    // an empty tensor inside another one
    throwsSafe(
      () =>
        deserialize(
          buildFile(
            { a: F32_2, e: { dtype: 'F32', shape: [0], data_offsets: [4, 4] } },
            new Uint8Array(8),
          ),
        ),
      /tensor 'e' data_offsets \[4, 4\] overlap tensor 'a'/,
    );
  });

  test('range outside the file', () => {
    throwsSafe(
      () =>
        deserialize(
          buildFile({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)),
        ),
      /tensor 'a' data_offsets \[0, 16\] lie outside the data part \(8 bytes\)/,
    );
  });

  test('hole and trailing bytes', () => {
    throwsSafe(
      () =>
        deserialize(
          buildFile(
            { a: F32_2, b: { dtype: 'F32', shape: [1], data_offsets: [12, 16] } },
            new Uint8Array(16),
          ),
        ),
      /hole in the data: bytes \[8, 12\) belong to no tensor \(before tensor 'b'\)/,
    );
    throwsSafe(
      () =>
        deserialize(
          buildFile({ b: { dtype: 'U8', shape: [2], data_offsets: [2, 4] } }, new Uint8Array(4)),
        ),
      /hole in the data: bytes \[0, 2\)/,
    );
    throwsSafe(
      () => deserialize(buildFile({ a: F32_2 }, new Uint8Array(11))),
      /3 trailing bytes after the last tensor \(tensors cover 8 of 11 data bytes\)/,
    );
    throwsSafe(() => deserialize(buildFile({}, new Uint8Array(1))), /1 trailing bytes/);
  });

  test('non-string metadata', () => {
    throwsSafe(
      () =>
        deserialize(
          buildFile({ __metadata__: { format: 'pt', epoch: 3 }, a: F32_2 }, new Uint8Array(8)),
        ),
      /__metadata__ value for key 'epoch' must be a string, got 3/,
    );
    throwsSafe(
      () => deserialize(buildFile({ __metadata__: ['x'] }, new Uint8Array(0))),
      /__metadata__ must be an object of strings/,
    );
  });

  test('negative, fractional, non-integer and unsafe numbers', () => {
    const cases: Array<[string, RegExp]> = [
      [
        '{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}',
        /tensor 'a' shape must be an array of non-negative integers, got \[-1\]/,
      ],
      [
        '{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,0]}}',
        /shape must be an array of non-negative integers, got \[1\.5\]/,
      ],
      ['{"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}', /shape must be/],
      ['{"a":{"dtype":"U8","shape":[1e0],"data_offsets":[0,1]}}', /shape must be/],
      ['{"a":{"dtype":"U8","shape":[-0],"data_offsets":[0,0]}}', /shape must be/],
      ['{"a":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}}', /shape must be/],
      ['{"a":{"dtype":"U8","shape":1,"data_offsets":[0,1]}}', /shape must be/],
      ['{"a":{"dtype":"U8","shape":[9007199254740993],"data_offsets":[0,1]}}', /shape must be/],
      [
        '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,9007199254740993]}}',
        /data_offsets must be two non-negative integers/,
      ],
      ['{"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}', /data_offsets must be two/],
      ['{"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}}', /data_offsets must be two/],
      ['{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}', /data_offsets must be two/],
      ['{"a":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}}', /\[1, 0\] have begin > end/],
      ['{"a":{"dtype":"U8","shape":[1]}}', /tensor 'a' has no data_offsets/],
      ['{"a":{"shape":[1],"data_offsets":[0,1]}}', /tensor 'a' has no dtype/],
      ['{"a":{"dtype":"U8","data_offsets":[0,1]}}', /tensor 'a' has no shape/],
      ['{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}}', /unknown field 'x'/],
      ['{"a":[1]}', /tensor 'a' must be an object/],
    ];
    for (const [raw, re] of cases) {
      throwsSafe(() => deserialize(buildFile(null, new Uint8Array(1), 0, raw)), re);
    }
  });

  test('shape whose numel overflows is rejected, not rounded', () => {
    const raw =
      '{"a":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]},' +
      '"b":{"dtype":"F64","shape":[9007199254740991,2],"data_offsets":[0,0]}}';
    throwsSafe(
      () => deserialize(buildFile(null, new Uint8Array(0), 0, raw)),
      /tensor 'b' data_offsets \[0, 0\] do not match shape \[9007199254740991,2\] of F64 \(144115188075855856 bytes\)/,
    );
  });
});

describe('robustness', () => {
  /** Runs deserialize; returns true on success, false on SafetensorsError, fails otherwise. */
  function tryParse(bytes: Uint8Array, label: string): boolean {
    try {
      const r = deserialize(bytes);
      // A successful parse must describe a well-formed file.
      for (const [name, t] of Object.entries(r.tensors)) {
        assert.equal(t.data.byteLength, numel(t.shape) * elementSize(t.dtype), `${label} ${name}`);
      }
      return true;
    } catch (e) {
      if (e instanceof SafetensorsError) return false;
      assert.fail(`${label}: expected SafetensorsError, got ${String(e)}`);
    }
  }

  test('every truncation of a valid file throws SafetensorsError', () => {
    const bytes = sampleFile();
    assert.ok(tryParse(bytes, 'full'));
    assert.ok(bytes.length > 150);
    for (let len = 0; len < bytes.length; len++) {
      const cut = bytes.slice(0, len);
      assert.throws(() => deserialize(cut), SafetensorsError, `truncated to ${len}`);
    }
  });

  test('random byte flips never throw anything but SafetensorsError', () => {
    const bytes = sampleFile();
    const rand = rng(12345);
    let ok = 0;
    let bad = 0;
    for (let i = 0; i < 2000; i++) {
      const m = bytes.slice();
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) {
        // bias towards the length and header, where structure lives
        const pos =
          rand() < 0.8
            ? Math.floor(rand() * Math.min(m.length, 200))
            : Math.floor(rand() * m.length);
        if (rand() < 0.5) m[pos] = m[pos]! ^ (1 << Math.floor(rand() * 8));
        else m[pos] = Math.floor(rand() * 256);
      }
      if (tryParse(m, `mutation ${i}`)) ok++;
      else bad++;
    }
    assert.ok(ok > 0 && bad > 0, `ok=${ok} bad=${bad}`);
  });

  test('random header text mutations never throw anything but SafetensorsError', () => {
    const rand = rng(99);
    const base =
      '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"U8","shape":[],"data_offsets":[8,9]}}';
    const alphabet = '{}[]":,0123456789-.eE \\u"tfn';
    for (let i = 0; i < 1000; i++) {
      const chars = base.split('');
      const edits = 1 + Math.floor(rand() * 3);
      for (let k = 0; k < edits; k++) {
        const pos = Math.floor(rand() * chars.length);
        const ch = alphabet[Math.floor(rand() * alphabet.length)]!;
        const op = rand();
        if (op < 0.4) chars[pos] = ch;
        else if (op < 0.7) chars.splice(pos, 1);
        else chars.splice(pos, 0, ch);
      }
      tryParse(buildFile(null, new Uint8Array(9), 0, chars.join('')), `text mutation ${i}`);
    }
  });
});

describe('files', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'safetensors-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('write then read', async () => {
    const rand = rng(5);
    const tensors = {
      'w.f64': tensor('F64', [3, 2], rand),
      'w.bf16': tensor('BF16', [5], rand),
      'w.bool': tensor('BOOL', [3], rand),
      scalar: tensor('I32', [], rand),
      empty: tensor('F32', [0, 7], rand),
    };
    const path = join(dir, 'model.safetensors');
    await writeSafetensorsFile(path, tensors, { format: 'pt' });
    assert.deepEqual(await readdir(dir), ['model.safetensors'], 'no temporary file left');
    const onDisk = new Uint8Array(await readFile(path));
    assert.deepEqual(onDisk, serialize(tensors, { format: 'pt' }));
    const back = await readSafetensorsFile(path);
    assert.deepEqual(back.metadata, { format: 'pt' });
    for (const [name, t] of Object.entries(tensors)) {
      const r = back.tensors[name]!;
      assert.equal(r.dtype, t.dtype);
      assert.deepEqual(r.shape, t.shape);
      assert.deepEqual(r.data, t.data);
      assert.equal(r.data.byteOffset % elementSize(r.dtype), 0, `${name} aligned`);
    }
    // overwrite atomically
    await writeSafetensorsFile(path, { x: tensor('U8', [1], rand) });
    assert.deepEqual(Object.keys((await readSafetensorsFile(path)).tensors), ['x']);
    assert.deepEqual(await readdir(dir), ['model.safetensors']);
  });

  test('invalid tensors create no file', async () => {
    const path = join(dir, 'bad.safetensors');
    await assert.rejects(
      writeSafetensorsFile(path, { a: { dtype: 'F32', shape: [2], data: new Uint8Array(3) } }),
      SafetensorsError,
    );
    assert.ok(!(await readdir(dir)).some((f) => f.startsWith('bad.')));
  });

  test('errors name the file', async () => {
    const path = join(dir, 'broken.safetensors');
    const bytes = sampleFile();
    await writeFile(path, bytes.subarray(0, bytes.length - 1));
    await assert.rejects(readSafetensorsFile(path), (e: unknown) => {
      assert.ok(e instanceof SafetensorsError);
      assert.ok(e.message.startsWith(`${path}: `), e.message);
      assert.match(e.message, /outside the data part|trailing|hole/);
      return true;
    });
    await writeFile(path, new Uint8Array(3));
    await assert.rejects(readSafetensorsFile(path), /3 bytes, too short/);
    await assert.rejects(readSafetensorsFile(join(dir, 'missing')), { code: 'ENOENT' });
  });

  test('a corrupt length is rejected without reading the file', async () => {
    // A sparse 64 MiB file. Lengths above the 100 MB limit, and a length under
    // the limit that overruns the file, must fail before any header buffer is
    // allocated or any byte past the 8-byte length is read.
    const path = join(dir, 'huge.safetensors');
    const size = 64 * 2 ** 20;
    const fh = await open(path, 'w');
    try {
      await fh.truncate(size);
      const len = new Uint8Array(8);
      const cases: Array<[bigint, RegExp]> = [
        [2n ** 60n, /header length 1152921504606846976 exceeds the limit/],
        [200_000_000n, /header length 200000000 exceeds the limit/],
        [90_000_000n, /header length 90000000 does not fit in the file \(67108864 bytes/],
        [BigInt(size - 7), /does not fit in the file/],
      ];
      for (const [n, re] of cases) {
        new DataView(len.buffer).setBigUint64(0, n, true);
        await fh.write(len, 0, 8, 0);
        const before = process.memoryUsage().arrayBuffers;
        await assert.rejects(readSafetensorsFile(path), (e: unknown) => {
          assert.ok(e instanceof SafetensorsError);
          assert.ok(e.message.startsWith(`${path}: `));
          assert.match(e.message, re);
          return true;
        });
        assert.ok(
          process.memoryUsage().arrayBuffers - before < 16 * 2 ** 20,
          'no large allocation',
        );
      }
    } finally {
      await fh.close();
    }
  });
});
