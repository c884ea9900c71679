// Tensor creation (torch.zeros, torch.tensor, torch.randn, …) and the functions over several
// tensors (cat, stack, where). Names follow PyTorch in camelCase.
import { N } from './native.js';
import { checkDevice, checkDType, dtypeOfTypedArray, ELEMENT_SIZE, isFloating, type Device, type DType } from './dtype.js';
import { Tensor, handleOf, tidy, wrapHandle } from './tensor.js';
import { getDefaultDevice } from './device.js';

export interface CreateOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

function checkShape(shape: number[], fn: string): number[] {
  for (const s of shape) {
    if (!Number.isSafeInteger(s) || s < 0) {
      throw new Error(`${fn}: shape [${shape.join(', ')}] must hold non-negative integers`);
    }
  }
  return shape;
}

function finish(t: Tensor, opts: CreateOptions | undefined): Tensor {
  if (opts?.requiresGrad) t.requiresGrad = true;
  return t;
}

/** The dtype that opts ask for (checked), else `fallback`. */
function requestedDtype(opts: CreateOptions | undefined, fallback: DType = 'float32'): string {
  return opts?.dtype ? checkDType(opts.dtype) : fallback;
}
/** The device that opts ask for (checked), else the default device (device.ts; null: the CPU). */
function requestedDevice(opts: CreateOptions | undefined): string | null {
  if (opts?.device) return checkDevice(opts.device);
  const d = getDefaultDevice();
  return d === 'cpu' ? null : d;
}

export function zeros(shape: number[], opts?: CreateOptions): Tensor {
  return finish(wrapHandle(N.zeros(checkShape(shape, 'zeros'), requestedDtype(opts), requestedDevice(opts))), opts);
}
export function ones(shape: number[], opts?: CreateOptions): Tensor {
  return finish(wrapHandle(N.ones(checkShape(shape, 'ones'), requestedDtype(opts), requestedDevice(opts))), opts);
}
export function empty(shape: number[], opts?: CreateOptions): Tensor {
  return finish(wrapHandle(N.empty(checkShape(shape, 'empty'), requestedDtype(opts), requestedDevice(opts))), opts);
}
export function full(shape: number[], value: number | boolean, opts?: CreateOptions): Tensor {
  const fallback: DType = typeof value === 'boolean' ? 'bool' : 'float32';
  return finish(wrapHandle(N.full(checkShape(shape, 'full'), value, requestedDtype(opts, fallback), requestedDevice(opts))), opts);
}
/** A 0-d tensor holding one value. */
export function scalarTensor(value: number | boolean, opts?: CreateOptions): Tensor {
  return full([], value, opts);
}
export function zerosLike(t: Tensor, opts?: CreateOptions): Tensor {
  return zeros(t.shape, { dtype: t.dtype, device: t.device as Device, ...opts });
}
export function onesLike(t: Tensor, opts?: CreateOptions): Tensor {
  return ones(t.shape, { dtype: t.dtype, device: t.device as Device, ...opts });
}
export function fullLike(t: Tensor, value: number, opts?: CreateOptions): Tensor {
  return full(t.shape, value, { dtype: t.dtype, device: t.device as Device, ...opts });
}
export function randnLike(t: Tensor, opts?: CreateOptions): Tensor {
  return randn(t.shape, { dtype: t.dtype, device: t.device as Device, ...opts });
}
export function randLike(t: Tensor, opts?: CreateOptions): Tensor {
  return rand(t.shape, { dtype: t.dtype, device: t.device as Device, ...opts });
}
/** [start, end) by step; int64 when all three are integers (as in PyTorch), else float32. */
export function arange(start: number, end?: number, step = 1, opts?: CreateOptions): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new Error('arange: step must not be 0');
  const ints = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  return finish(wrapHandle(N.arange(start, end, step, requestedDtype(opts, ints ? 'int64' : 'float32'), requestedDevice(opts))), opts);
}
export function linspace(start: number, end: number, steps: number, opts?: CreateOptions): Tensor {
  if (!Number.isSafeInteger(steps) || steps < 0) throw new Error(`linspace: steps must be a non-negative integer, got ${steps}`);
  return finish(wrapHandle(N.linspace(start, end, steps, requestedDtype(opts), requestedDevice(opts))), opts);
}
/** Standard normal samples from the global generator (see manualSeed). */
export function randn(shape: number[], opts?: CreateOptions): Tensor {
  return finish(wrapHandle(N.randn(checkShape(shape, 'randn'), requestedDtype(opts), requestedDevice(opts))), opts);
}
/** Uniform samples in [0, 1). */
export function rand(shape: number[], opts?: CreateOptions): Tensor {
  return finish(wrapHandle(N.rand(checkShape(shape, 'rand'), requestedDtype(opts), requestedDevice(opts))), opts);
}
/** Integers in [low, high), int64 by default. */
export function randint(low: number, high: number, shape: number[], opts?: CreateOptions): Tensor {
  if (!(high > low)) throw new Error(`randint: high (${high}) must be greater than low (${low})`);
  return wrapHandle(N.randint(low, high, checkShape(shape, 'randint'), requestedDtype(opts, 'int64'), requestedDevice(opts)));
}
export function randperm(n: number, opts?: CreateOptions): Tensor {
  return wrapHandle(N.randperm(n, requestedDtype(opts, 'int64'), requestedDevice(opts)));
}
export function multinomial(probs: Tensor, n: number, replacement = false): Tensor {
  return wrapHandle(N.multinomial(probs._h, n, replacement));
}

/** A tensor over a copy of a typed array's elements, with the given shape (default: 1-d). */
export function fromTypedArray(data: ArrayBufferView, shape?: number[], opts?: CreateOptions): Tensor {
  const dtype = opts?.dtype ? checkDType(opts.dtype) : dtypeOfTypedArray(data);
  const n = data.byteLength / ELEMENT_SIZE[dtype];
  const s = checkShape(shape ?? [n], 'fromTypedArray');
  const numel = s.reduce((a, b) => a * b, 1);
  if (numel !== n) {
    throw new Error(`fromTypedArray: shape [${s.join(', ')}] holds ${numel} elements, the array has ${n} of ${dtype}`);
  }
  let t = wrapHandle(N.fromBuffer(data, s, dtype));
  const device = requestedDevice(opts);
  if (device && device !== 'cpu') {
    const moved = t.to(device as Device);
    t.dispose();
    t = moved;
  }
  return finish(t, opts);
}

type Nested = number | boolean | Nested[];

/**
 * A tensor from nested JS arrays or a typed array. The dtype is inferred as PyTorch does:
 * booleans → bool, all integers → int64, otherwise float32.
 */
export function tensor(data: Nested | ArrayBufferView, opts?: CreateOptions): Tensor {
  if (ArrayBuffer.isView(data)) return fromTypedArray(data, undefined, opts);
  const shape: number[] = [];
  for (let d: Nested = data; Array.isArray(d); d = d[0]!) {
    shape.push(d.length);
    if (d.length === 0) break;
  }
  const flat: (number | boolean)[] = [];
  const walk = (v: Nested, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(v)) throw new Error(`tensor: ragged nested array at ${path || 'the top'} (expected a number)`);
      if (typeof v !== 'number' && typeof v !== 'boolean') throw new Error(`tensor: ${path} is not a number`);
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw new Error(`tensor: ragged nested array at ${path || 'the top'} (expected length ${shape[depth]})`);
    }
    v.forEach((e, i) => walk(e, depth + 1, `${path}[${i}]`));
  };
  walk(data, 0, '');
  let dtype: DType = opts?.dtype ? checkDType(opts.dtype) : 'float32';
  if (!opts?.dtype && flat.length > 0) {
    if (flat.every((v) => typeof v === 'boolean')) dtype = 'bool';
    else if (flat.every((v) => typeof v === 'number' && Number.isInteger(v))) dtype = 'int64';
  }
  const buf = new Float64Array(flat.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v)));
  const t64 = fromTypedArray(buf, shape, { device: opts?.device });
  if (dtype === 'float64') return finish(t64, opts);
  const t = t64.to(dtype);
  t64.dispose();
  return finish(t, opts);
}

// ---------------------------------------------------------------- functions over several tensors

export function cat(ts: Tensor[], dim = 0): Tensor {
  return wrapHandle(N.cat(ts.map((t) => t._h), dim));
}
export function stack(ts: Tensor[], dim = 0): Tensor {
  return wrapHandle(N.stack(ts.map((t) => t._h), dim));
}
/** cond ? a : b elementwise; numbers become 0-d tensors of the other operand's dtype. */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  return tidy(() => {
    const like = a instanceof Tensor ? a : b instanceof Tensor ? b : null;
    // a number takes the other operand's dtype, unless it is fractional and that dtype is not
    // floating (then float32, as PyTorch promotes int tensor + 0.5)
    const scalar = (v: number): Tensor => {
      let dtype: DType = like ? like.dtype : Number.isInteger(v) ? 'int64' : 'float32';
      if (!Number.isInteger(v) && !isFloating(dtype)) dtype = 'float32';
      return scalarTensor(v, { dtype, device: (like?.device ?? 'cpu') as Device });
    };
    const ta = a instanceof Tensor ? a : scalar(a);
    const tb = b instanceof Tensor ? b : scalar(b);
    return wrapHandle(N.where(handleOf(cond, 'where'), ta._h, tb._h));
  });
}
