// Bad input gives a JS Error whose message names the op and its arguments; the process lives on.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { assertThrowsMsg as throwsMsg } from './helpers.js';

const F = torch.F;

// After every test the engine still computes.
afterEach(() => {
  assert.equal(torch.tidy(() => torch.ones([2]).add(1).sum().item()), 4);
});

describe('mismatched shapes', () => {
  test('elementwise ops that cannot broadcast name the op and both shapes', () => {
    throwsMsg(() => torch.ones([2, 3]).add(torch.ones([4])), /^add\(float32\[2,3\], float32\[4\].*size of tensor a \(3\) must match.*\(4\)/);
    throwsMsg(() => torch.ones([2, 3]).mul(torch.ones([2, 2])), /^mul\(float32\[2,3\], float32\[2,2\]\)/);
    throwsMsg(() => torch.ones([3]).add_(torch.ones([2, 3])), /^add_\(float32\[3\], float32\[2,3\].*broadcast shape \[2, 3\]/);
    throwsMsg(() => F.mseLoss(torch.ones([2, 3]), torch.ones([4])), /^mseLoss\(float32\[2,3\], float32\[4\]/);
  });

  test('matmul, bmm, linear, conv2d, norms with incompatible shapes', () => {
    throwsMsg(() => torch.ones([2, 3]).matmul(torch.ones([2, 3])), /^matmul\(float32\[2,3\], float32\[2,3\]\).*2x3 and 2x3/);
    throwsMsg(() => torch.ones([2, 3]).bmm(torch.ones([3, 2])), /^bmm\(float32\[2,3\], float32\[3,2\]\).*3D/);
    throwsMsg(() => F.linear(torch.ones([2, 3]), torch.ones([4, 5])), /^linear\(float32\[2,3\], float32\[4,5\]/);
    throwsMsg(() => F.conv2d(torch.ones([1, 3, 5, 5]), torch.ones([2, 4, 3, 3])),
      /^conv2d\(float32\[1,3,5,5\], float32\[2,4,3,3\].*4 channels, but got 3/);
    throwsMsg(() => F.groupNorm(torch.ones([2, 3, 4, 4]), 2), /^groupNorm\(float32\[2,3,4,4\], 2.*divisible/);
    throwsMsg(() => F.layerNorm(torch.ones([2, 3]), [4]), /^layerNorm\(float32\[2,3\], \[4\].*normalized_shape/);
    throwsMsg(() => F.attention(torch.ones([2, 3]), torch.ones([4, 5]), torch.ones([4, 5])), /matmul.*\[2,3\].*\[5,4\]/);
  });

  test('shape ops: reshape, view, cat, stack, expand, permute, split, dims out of range', () => {
    throwsMsg(() => torch.ones([2, 3]).reshape(4, 2), /^reshape\(float32\[2,3\], \[4,2\]\).*invalid for input of size 6/);
    throwsMsg(() => torch.ones([2, 3]).transpose(0, 1).view(6), /^view\(float32\[3,2\], \[6\]\).*reshape/);
    throwsMsg(() => torch.cat([torch.ones([2, 3]), torch.ones([2, 4])]), /^cat\(\[float32\[2,3\],float32\[2,4\]\], 0\).*size 3 but got size 4/);
    throwsMsg(() => torch.cat([]), /cat.*non-empty/);
    throwsMsg(() => torch.stack([torch.ones([2, 3]), torch.ones([3, 2])]), /^stack\(.*\[2, 3\] at entry 0 and \[3, 2\] at entry 1/);
    throwsMsg(() => torch.ones([2, 3]).expand(4, 3), /^expand\(float32\[2,3\], \[4,3\]\)/);
    throwsMsg(() => torch.ones([2, 3]).permute(0), /^permute\(float32\[2,3\], \[0\]\)/);
    throwsMsg(() => torch.ones([4]).split([1, 2]), /^split\(float32\[4\], \[1,2\], 0\).*sum exactly to 4/);
    throwsMsg(() => torch.ones([2, 3]).sum(2), /^sum\(float32\[2,3\], \[2\].*Dimension out of range/);
    throwsMsg(() => F.softmax(torch.ones([2, 3]), 2), /^softmax\(float32\[2,3\], 2\).*Dimension out of range/);
    throwsMsg(() => torch.ones([2, 3]).squeeze(4), /^squeeze\(float32\[2,3\], 4\)/);
    throwsMsg(() => torch.ones([2]).size(5), /size\(5\).*out of range/);
  });

  test('indices out of range', () => {
    throwsMsg(() => torch.ones([2, 3]).select(0, 5), /^select\(float32\[2,3\], 0, 5\).*out of range/);
    throwsMsg(() => torch.ones([2, 3]).gather(1, torch.tensor([[5]])), /^gather\(float32\[2,3\], 1, int64\[1,1\]\).*out of bounds/);
    throwsMsg(() => torch.ones([2, 3]).indexSelect(0, torch.tensor([5])), /^indexSelect\(float32\[2,3\], 0, int64\[1\]\).*out of range/);
    throwsMsg(() => F.crossEntropy(torch.ones([2, 3]), torch.tensor([0, 7])), /^crossEntropy\(float32\[2,3\], int64\[2\].*Target 7 is out of bounds/);
  });
});

describe('wrong dtypes', () => {
  test('matmul of int and float, mm of float32 and float64', () => {
    throwsMsg(() => torch.ones([2, 3]).matmul(torch.tensor([[1, 2], [3, 4], [5, 6]])), /^matmul\(float32\[2,3\], int64\[3,2\]\)/);
    throwsMsg(() => torch.ones([2, 3]).mm(torch.ones([3, 2], { dtype: 'float64' })), /^mm\(float32\[2,3\], float64\[3,2\]\)/);
  });

  test('index with a float tensor: the message names the op and the index tensor', () => {
    throwsMsg(() => torch.ones([3]).index([torch.tensor([0, 1.5])]), /^index\(.*long, byte or bool/);
    throwsMsg(() => torch.ones([3]).index([torch.tensor([0, 1.5])]), /^index\(float32\[3\], \[float32\[2\]\]\)/);
  });

  test('other dtype errors: mean of ints, embedding with float indices, float class targets, requiresGrad on ints', () => {
    throwsMsg(() => torch.tensor([1, 2]).mean(), /^mean\(int64\[2\].*floating point/);
    throwsMsg(() => F.embedding(torch.ones([2]), torch.ones([4, 3])), /^embedding\(float32\[4,3\], float32\[2\]\).*indices/);
    throwsMsg(() => F.crossEntropy(torch.ones([2, 3]), torch.ones([2])), /^crossEntropy\(float32\[2,3\], float32\[2\].*Long/);
    throwsMsg(() => torch.tensor([1, 2]).requiresGrad_(), /setRequiresGrad\(int64\[2\].*floating point/);
    throwsMsg(() => torch.tensor([1, 2]).add_(torch.ones([2]).mul(0.5)), /^add_\(int64\[2\], float32\[2\].*Float can't be cast to.*Long/);
    throwsMsg(() => torch.where(torch.ones([2]), torch.ones([2]), torch.zeros([2])), /^where\(float32\[2\].*boolean/);
    throwsMsg(() => torch.tensor([1, 2]).uniform_(), /^uniform_\(int64\[2\]/);
  });

  test('maskedFill with a float mask is refused (it must not silently ignore the mask)', () => {
    throwsMsg(() => torch.ones([2]).maskedFill(torch.tensor([1, 0]).float(), 0), /maskedFill.*(bool|mask)/);
  });
});

describe('disposed tensors', () => {
  test('every use of a disposed tensor is an Error mentioning "disposed"', () => {
    const d = torch.ones([2]);
    d.dispose();
    const uses: [string, () => unknown][] = [
      ['add', () => d.add(1)],
      ['as second argument', () => torch.ones([2]).add(d)],
      ['in a list', () => torch.cat([torch.ones([2]), d])],
      ['as an index', () => torch.ones([2]).index([d])],
      ['toArray', () => d.toArray()],
      ['toTypedArray', () => d.toTypedArray()],
      ['item', () => d.item()],
      ['to', () => d.to('float64')],
      ['in place', () => d.add_(1)],
      ['requiresGrad', () => d.requiresGrad],
      ['grad', () => d.grad],
      ['backward', () => d.backward()],
      ['F.conv2d', () => F.conv2d(d, torch.ones([1, 1, 1, 1]))],
      ['shape', () => d.shape],
    ];
    for (const [what, use] of uses) {
      assert.throws(use, (e: unknown) => e instanceof Error && /disposed/.test(e.message), what);
    }
    assert.equal(d.isDisposed, true);
    assert.equal(String(d), 'Tensor(disposed)');
  });

  test('a tensor freed by tidy is disposed afterwards', () => {
    let inner: torch.Tensor | null = null;
    torch.tidy(() => { inner = torch.ones([3]); });
    throwsMsg(() => inner!.sum(), /^sum\(<disposed>.*disposed/);
  });

  test('metadata of a disposed tensor is an error too, even when it was read before', () => {
    const d = torch.ones([2, 2]);
    assert.deepEqual(d.shape, [2, 2]);
    d.dispose();
    throwsMsg(() => d.shape, /disposed/);
    throwsMsg(() => d.numel(), /disposed/);
  });

  test('an error message describes the other tensor arguments even when a later one is bad', () => {
    const d = torch.ones([2]);
    d.dispose();
    throwsMsg(() => torch.ones([3]).add(d), /^add\(float32\[3\], <disposed>/);
  });
});

describe('absurd sizes and wrong argument kinds', () => {
  test('an absurd allocation is an Error, not a crash', () => {
    throwsMsg(() => torch.zeros([1e12]), /^zeros\(\[1e\+12\].*allocate/);
    throwsMsg(() => torch.randn([1e13]), /^randn\(.*allocate/);
    throwsMsg(() => torch.ones([1e12], { dtype: 'float64' }), /^ones\(.*allocate/);
    throwsMsg(() => torch.zeros([2 ** 52, 2 ** 12]), /^zeros\(.*overflow/);
    // memory accounting is unharmed
    const before = torch.memory().tensors;
    assert.throws(() => torch.empty([1e12]));
    assert.equal(torch.memory().tensors, before);
  });

  test('bad shapes, dtypes, devices and options are refused in TypeScript with the function name', () => {
    throwsMsg(() => torch.zeros([-1]), /^zeros: shape \[-1\] must hold non-negative integers/);
    throwsMsg(() => torch.ones([1.5]), /^ones: shape \[1\.5\]/);
    throwsMsg(() => torch.tensor(['a'] as unknown as number[]), /^tensor: \[0\] is not a number/);
    throwsMsg(() => torch.zeros([2]).to('float8' as torch.DType), /unknown dtype 'float8'.*float32/);
    throwsMsg(() => torch.zeros([2], { device: 'tpu' as torch.Device }), /unknown device 'tpu'/);
    throwsMsg(() => torch.randint(5, 5, [2]), /^randint: high \(5\) must be greater than low \(5\)/);
    throwsMsg(() => torch.arange(0, 5, 0), /^arange: step/);
    throwsMsg(() => torch.linspace(0, 1, -1), /^linspace: steps/);
    throwsMsg(() => torch.fromTypedArray([1, 2] as unknown as Float32Array), /cannot infer a dtype from Array/);
    throwsMsg(() => F.interpolate(torch.ones([1, 2, 3]), { size: 2 }), /^interpolate: expected a 4-d.*\[1, 2, 3\]/);
    throwsMsg(() => F.interpolate(torch.ones([1, 1, 2, 3]), { size: 2, mode: 'bicubic' as 'nearest' }), /interpolate: unknown mode 'bicubic'/);
    throwsMsg(() => F.interpolate(torch.ones([1, 1, 2, 3]), {}), /interpolate: give size or scaleFactor/);
    throwsMsg(() => F.mseLoss(torch.ones([2]), torch.ones([2]), 'avg' as 'mean'), /unknown reduction 'avg'/);
    throwsMsg(() => F.dropout(torch.ones([2]), 2), /^dropout: p must be in \[0, 1\]/);
    throwsMsg(() => torch.setNumThreads(0), /^setNumThreads/);
    throwsMsg(() => torch.manualSeed(-1), /^manualSeed/);
    throwsMsg(() => torch.manualSeed(1.5), /^manualSeed/);
  });

  test('item of a many-element tensor, backward of a non-scalar, grad of a constant', () => {
    throwsMsg(() => torch.ones([2, 3]).item(), /^item\(float32\[2,3\]\).*one element/);
    throwsMsg(() => torch.ones([2, 3], { requiresGrad: true }).mul(2).backward(), /^backward\(float32\[2,3\].*scalar outputs/);
    throwsMsg(() => torch.grad(torch.ones([1]).sum(), torch.ones([1])), /^autogradGrad\(.*does not require grad/);
  });

  test('assigning a gradient of the wrong shape or dtype is refused at once (as PyTorch does)', () => {
    const p = torch.ones([3], { requiresGrad: true });
    assert.throws(() => { p.grad = torch.zeros([5]); }, /grad.*(size|shape)/i);
    assert.throws(() => { p.grad = torch.zeros([3], { dtype: 'float64' }); }, /grad.*(type|dtype)/i);
    // a correct one is accepted
    p.grad = torch.zeros([3]);
    p.sum().backward();
    assert.deepEqual(p.grad!.toArray(), [1, 1, 1]);
  });

  test('a non-tensor where a tensor is expected names the op', () => {
    throwsMsg(() => torch.ones([2]).add({} as unknown as torch.Tensor), /^add\b.*(argument 1 is not a tensor|expected a Tensor, got Object)/);
    throwsMsg(() => torch.ones([2]).matmul(null as unknown as torch.Tensor), /matmul/);
  });

  test('fractional dimensions and indices are refused, not truncated', () => {
    const x = torch.arange(4, undefined, 1, { dtype: 'float32' });
    throwsMsg(() => x.reshape(1.5, 4), /reshape.*integer/);
    throwsMsg(() => x.sum(0.5), /sum.*integer/);
    throwsMsg(() => x.select(0, 1.7), /select.*integer/);
  });

  test('the process lives on after a burst of errors', () => {
    for (let i = 0; i < 20; i++) assert.throws(() => torch.ones([2, 3]).matmul(torch.ones([2, 3])));
    assert.deepEqual(torch.ones([2, 3]).matmul(torch.ones([3, 1])).toArray(), [[3], [3]]);
  });
});
