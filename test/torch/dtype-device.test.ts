// dtype conversions, type promotion, and devices (CUDA checks run only where CUDA is available).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { f64, vals } from './helpers.js';

const ALL: torch.DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];

describe('dtype conversions', () => {
  test('.to(dtype) for every dtype: values round-trip where representable', () => {
    const values = [0, 1, 2, 5, 100];
    const src = f64(values);
    for (const d of ALL) {
      const t = src.to(d);
      assert.equal(t.dtype, d, d);
      assert.deepEqual(t.shape, [5], d);
      if (d === 'bool') {
        assert.deepEqual(t.toArray(), [false, true, true, true, true], d);
        assert.deepEqual(vals(t.to('float64')), [0, 1, 1, 1, 1], d);
      } else {
        assert.deepEqual(t.toArray(), values, d);
        assert.deepEqual(vals(t.to('float64')), values, `${d} → float64`);
        // through every other numeric dtype and back
        for (const e of ALL) if (e !== 'bool') assert.deepEqual(t.to(e).to(d).toArray(), values, `${d} → ${e} → ${d}`);
      }
    }
  });

  test('ELEMENT_SIZE and memory().bytes agree for every dtype', () => {
    for (const d of ALL) {
      const before = torch.memory().bytes;
      const t = torch.zeros([10], { dtype: d });
      assert.equal(torch.memory().bytes - before, 10 * torch.ELEMENT_SIZE[d], d);
      t.dispose();
    }
    assert.equal(torch.isFloating('bfloat16'), true);
    assert.equal(torch.isFloating('int64'), false);
    assert.deepEqual([...torch.DTYPES].sort(), [...ALL].sort());
  });

  test('rounding of fractions: float32, float16, bfloat16; float → int truncates toward zero', () => {
    const x = f64([0.1, -2.7, 2.7, 1 / 3]);
    assert.deepEqual(vals(x.to('float32')), [0.1, -2.7, 2.7, 1 / 3].map(Math.fround));
    // nearest float16: 0.1 → 0.0999755859375, 1/3 → 0.333251953125
    assert.deepEqual(vals(x.to('float16')), [0.0999755859375, -2.69921875, 2.69921875, 0.333251953125]);
    // nearest bfloat16 (8 bits of mantissa): 0.1 → 0.10009765625
    assert.deepEqual(vals(x.to('bfloat16')), [0.10009765625, -2.703125, 2.703125, 0.333984375]);
    assert.deepEqual(x.to('int64').toArray(), [0, -2, 2, 0]);
    assert.deepEqual(x.to('int32').toArray(), [0, -2, 2, 0]);
    assert.deepEqual(f64([0, 0.5, -1]).to('bool').toArray(), [false, true, true]);
    // float16 and bfloat16 read back as float32
    assert.ok(x.to('bfloat16').toTypedArray() instanceof Float32Array);
  });

  test('int64 keeps integers beyond 2^31; float16 saturates at its range', () => {
    const big = torch.fromTypedArray(new BigInt64Array([2n ** 40n + 1n, -(2n ** 35n)]));
    assert.deepEqual(big.toArray(), [2 ** 40 + 1, -(2 ** 35)]);
    assert.deepEqual(big.to('float64').toArray(), [2 ** 40 + 1, -(2 ** 35)]);
    assert.equal(big.sum().item(), 2 ** 40 + 1 - 2 ** 35);
    assert.deepEqual(vals(f64([65504, 1e6]).to('float16')), [65504, Infinity]);
  });

  test('shortcuts float, double, half, long, int, bool; to({ dtype, copy })', () => {
    const x = f64([1.5, -2]);
    assert.equal(x.float().dtype, 'float32');
    assert.equal(x.double().dtype, 'float64');
    assert.equal(x.half().dtype, 'float16');
    assert.equal(x.long().dtype, 'int64');
    assert.equal(x.int().dtype, 'int32');
    assert.equal(x.bool().dtype, 'bool');
    const c = x.to({ dtype: 'float64', copy: true });
    c.fill_(0);
    assert.deepEqual(x.toArray(), [1.5, -2], 'copy: true gives independent memory');
    const y = x.to({ dtype: 'float32' });
    assert.deepEqual(y.toArray(), [1.5, -2]);
  });

  test('type promotion follows PyTorch', () => {
    const cases: [torch.DType, torch.DType, torch.DType][] = [
      ['float32', 'float64', 'float64'],
      ['int64', 'float32', 'float32'],
      ['int32', 'int64', 'int64'],
      ['bool', 'int32', 'int32'],
      ['uint8', 'int8', 'int16'],
      ['float16', 'float32', 'float32'],
      ['bfloat16', 'float16', 'float32'],
    ];
    for (const [a, b, r] of cases) {
      assert.equal(torch.ones([2], { dtype: a }).add(torch.ones([2], { dtype: b })).dtype, r, `${a} + ${b}`);
    }
    // a Python-like scalar does not promote a float32 tensor
    assert.equal(torch.ones([2]).mul(2.5).dtype, 'float32');
    assert.equal(torch.ones([2], { dtype: 'float16' }).add(1).dtype, 'float16');
  });

  test('half-precision arithmetic works on the CPU', () => {
    const h = torch.tensor([1, 2, 3], { dtype: 'float16' });
    assert.deepEqual(vals(h.mul(2).add(0.5)), [2.5, 4.5, 6.5]);
    const b = torch.tensor([1, 2, 3], { dtype: 'bfloat16' });
    assert.deepEqual(vals(b.sum()), [6]);
  });
});

describe('devices', () => {
  test('tensors live on the cpu; .to("cpu") and .cpu() keep values', () => {
    const x = torch.tensor([1, 2, 3]);
    assert.equal(x.device, 'cpu');
    const y = x.to('cpu');
    assert.equal(y.device, 'cpu');
    assert.deepEqual(y.toArray(), [1, 2, 3]);
    assert.deepEqual(x.cpu().toArray(), [1, 2, 3]);
    assert.equal(torch.zeros([2], { device: 'cpu' }).device, 'cpu');
    assert.equal(String(torch.zeros([2, 3])), 'Tensor(float32[2, 3])');
  });

  test('torch.cuda.isAvailable() is a boolean; deviceCount agrees', () => {
    const avail = torch.cuda.isAvailable();
    assert.equal(typeof avail, 'boolean');
    assert.equal(typeof torch.cuda.deviceCount(), 'number');
    assert.equal(avail, torch.cuda.deviceCount() > 0 && torch.buildInfo().cuda);
    assert.match(torch.buildInfo().torch, /^\d+\.\d+/);
  });

  test('without CUDA, moving to cuda is an Error, not a crash', { skip: torch.cuda.isAvailable() }, () => {
    assert.throws(() => torch.ones([2]).to('cuda'), (e: unknown) => e instanceof Error && /^to\(float32\[2\].*'cuda'/.test(e.message));
    assert.throws(() => torch.zeros([2], { device: 'cuda' }), Error);
    assert.deepEqual(torch.ones([2]).add(1).toArray(), [2, 2]);
  });

  test('cuda: values round-trip and ops run on the device', { skip: !torch.cuda.isAvailable() }, () => {
    const x = f64([1, 2, 3]);
    const g = x.to('cuda');
    assert.match(g.device, /^cuda/);
    const r = g.mul(2).add(1).cpu();
    assert.equal(r.device, 'cpu');
    assert.deepEqual(r.toArray(), [3, 5, 7]);
    const z = torch.randn([4, 4], { device: 'cuda' });
    assert.deepEqual(z.matmul(z).cpu().shape, [4, 4]);
  });
});
