// The Tensor class and tidy (memory scopes and gradient mode are in scope.ts, tensor creation in
// creation.ts). Names follow PyTorch in camelCase (torch.Tensor.index_select → indexSelect).
import { N, type H } from './native.js';
import { checkDevice, checkDType, typedArrayFor, type Device, type DType, type TypedArray } from './dtype.js';
import { adopt, closeScope, forgetFinalizer, openScope, type Scope, type ScopedHandle } from './scope.js';

// ---------------------------------------------------------------- memory scopes

export { keep, memory, noGrad, enableGrad, isGradEnabled } from './scope.js';

/**
 * Runs fn in a new memory scope (scope.ts): the tensors it makes are freed when it returns, except
 * those it returns (found in arrays, Maps and plain objects), which move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope = openScope();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope();
    for (const t of scope) t.dispose();
    throw e;
  }
  closeScope();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new Error('tidy(fn): fn must be synchronous (it returned a Promise); use tidy inside the async function');
  }
  const kept = new Set<ScopedHandle>();
  collectTensors(result, kept, 0);
  for (const t of scope) {
    if (kept.has(t)) adopt(t);
    else t.dispose();
  }
  return result;
}

function collectTensors(v: unknown, out: Set<ScopedHandle>, depth: number): void {
  if (depth > 6 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) for (const e of v) collectTensors(e, out, depth + 1);
  else if (v instanceof Map) for (const e of v.values()) collectTensors(e, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const e of Object.values(v)) collectTensors(e, out, depth + 1);
}

// ---------------------------------------------------------------- the Tensor class

type Shape = number[];
type Scalar = number;
type ShapeArgs = number[] | [number[]];

function shapeOf(args: ShapeArgs): number[] {
  return Array.isArray(args[0]) ? (args[0] as number[]) : (args as number[]);
}

/** @internal the handle of a tensor argument; anything else is a TypeError naming the op. */
export function handleOf(o: unknown, op: string): H {
  if (o instanceof Tensor) return o._h;
  throw new TypeError(`${op}: expected a Tensor, got ${o === null ? 'null' : typeof o === 'object' ? (o as object).constructor?.name ?? 'an object' : typeof o}`);
}

function disposedError(what: string): Error {
  return new Error(`${what}: the tensor was disposed`);
}

export class Tensor {
  /** @internal the native handle; -1 once disposed */
  _h: H;
  /** @internal the tidy scope that owns it, or null (top level: the finalizer's) */
  _scope: Scope | null = null;
  /** @internal whether it has a FinalizationRegistry entry */
  _registered = false;
  private _shape: Shape | undefined;
  private _dtype: DType | undefined;

  /** @internal use the creation functions (torch.zeros, torch.tensor, …) */
  constructor(h: H) {
    this._h = h;
    adopt(this);
  }

  // ------------------------------------------------ meta

  get shape(): Shape {
    if (this._h < 0) throw disposedError('shape');
    return (this._shape ??= N.shape(this._h));
  }
  get dtype(): DType {
    if (this._h < 0) throw disposedError('dtype');
    return (this._dtype ??= N.dtype(this._h) as DType);
  }
  get device(): string {
    return N.device(this._h);
  }
  get ndim(): number {
    return this.shape.length;
  }
  dim(): number {
    return this.shape.length;
  }
  size(d?: number): number {
    if (d === undefined) return this.numel();
    const s = this.shape;
    const i = d < 0 ? d + s.length : d;
    if (i < 0 || i >= s.length) throw new Error(`size(${d}): dimension out of range for a ${s.length}-d tensor`);
    return s[i]!;
  }
  numel(): number {
    let n = 1;
    for (const s of this.shape) n *= s;
    return n;
  }
  get isDisposed(): boolean {
    return this._h < 0;
  }
  isContiguous(): boolean {
    return N.isContiguous(this._h);
  }
  toString(): string {
    if (this._h < 0) return 'Tensor(disposed)';
    return `Tensor(${this.dtype}[${this.shape.join(', ')}]${this.device === 'cpu' ? '' : ` @${this.device}`})`;
  }

  /** Frees the tensor's memory now. Using it afterwards is an error; disposing twice is not. */
  dispose(): void {
    if (this._h < 0) return;
    N.dispose(this._h);
    forgetFinalizer(this);
    this._h = -1;
  }

  // ------------------------------------------------ reading back

  /** The elements in row-major order (float16/bfloat16 come back as Float32Array). */
  toTypedArray(): TypedArray {
    if (this.dtype === 'float16' || this.dtype === 'bfloat16') {
      return tidy(() => this.to('float32').toTypedArray());
    }
    return typedArrayFor(this.dtype, N.toBuffer(this._h));
  }
  /** Float32Array of the elements, whatever the dtype. */
  toFloat32Array(): Float32Array {
    if (this.dtype === 'float32') return this.toTypedArray() as Float32Array;
    return tidy(() => this.to('float32').toTypedArray() as Float32Array);
  }
  /** Nested JS arrays (int64 as numbers, bool as booleans). */
  toArray(): unknown {
    const flat = this.toTypedArray();
    const isBool = this.dtype === 'bool';
    const get = (i: number): number | boolean =>
      isBool ? flat[i] !== 0 : typeof flat[i] === 'bigint' ? Number(flat[i]) : (flat[i] as number);
    const shape = this.shape;
    if (shape.length === 0) return get(0);
    let pos = 0;
    const build = (d: number): unknown[] => {
      const out: unknown[] = [];
      for (let i = 0; i < shape[d]!; i++) out.push(d === shape.length - 1 ? get(pos++) : build(d + 1));
      return out;
    };
    return build(0);
  }
  /** The value of a one-element tensor (a bool tensor gives 1 or 0). */
  item(): number {
    return Number(N.item(this._h));
  }

  // ------------------------------------------------ conversion

  to(target: DType | Device | { dtype?: DType; device?: Device; copy?: boolean }): Tensor {
    let dtype: string | null = null;
    let device: string | null = null;
    let copy = false;
    if (typeof target === 'string') {
      if (target === 'cpu' || target.startsWith('cuda')) device = checkDevice(target);
      else dtype = checkDType(target);
    } else {
      if (target.dtype) dtype = checkDType(target.dtype);
      if (target.device) device = checkDevice(target.device);
      copy = target.copy ?? false;
    }
    return wrapHandle(N.to(this._h, dtype, device, copy));
  }
  float(): Tensor { return this.to('float32'); }
  double(): Tensor { return this.to('float64'); }
  half(): Tensor { return this.to('float16'); }
  long(): Tensor { return this.to('int64'); }
  int(): Tensor { return this.to('int32'); }
  bool(): Tensor { return this.to('bool'); }
  cpu(): Tensor { return this.to('cpu'); }
  cuda(): Tensor { return this.to('cuda'); }
  clone(): Tensor { return wrapHandle(N.clone(this._h)); }
  contiguous(): Tensor { return wrapHandle(N.contiguous(this._h)); }
  detach(): Tensor { return wrapHandle(N.detach(this._h)); }

  // ------------------------------------------------ elementwise

  add(o: Tensor | Scalar, alpha?: number): Tensor {
    if (typeof o === 'number') return wrapHandle(N.addScalar(this._h, alpha === undefined ? o : o * alpha));
    return wrapHandle(N.add(this._h, handleOf(o, 'add'), alpha ?? null));
  }
  sub(o: Tensor | Scalar, alpha?: number): Tensor {
    if (typeof o === 'number') return wrapHandle(N.subScalar(this._h, alpha === undefined ? o : o * alpha));
    return wrapHandle(N.sub(this._h, handleOf(o, 'sub'), alpha ?? null));
  }
  mul(o: Tensor | Scalar): Tensor {
    return wrapHandle(typeof o === 'number' ? N.mulScalar(this._h, o) : N.mul(this._h, handleOf(o, 'mul')));
  }
  div(o: Tensor | Scalar): Tensor {
    return wrapHandle(typeof o === 'number' ? N.divScalar(this._h, o) : N.div(this._h, handleOf(o, 'div')));
  }
  pow(o: Tensor | Scalar): Tensor {
    return wrapHandle(typeof o === 'number' ? N.powScalar(this._h, o) : N.pow(this._h, handleOf(o, 'pow')));
  }
  remainder(o: Tensor | Scalar): Tensor {
    return wrapHandle(typeof o === 'number' ? N.remainderScalar(this._h, o) : N.remainder(this._h, handleOf(o, 'remainder')));
  }
  fmod(o: Tensor | Scalar): Tensor {
    return wrapHandle(typeof o === 'number' ? N.fmodScalar(this._h, o) : N.fmod(this._h, handleOf(o, 'fmod')));
  }
  /** s − this */
  rsub(s: Scalar): Tensor { return wrapHandle(N.rsub(this._h, s)); }
  /** s / this */
  rdiv(s: Scalar): Tensor { return wrapHandle(N.rdiv(this._h, s)); }
  /** s ** this */
  rpow(s: Scalar): Tensor { return wrapHandle(N.rpow(this._h, s)); }
  maximum(o: Tensor): Tensor { return wrapHandle(N.maximum(this._h, handleOf(o, 'maximum'))); }
  minimum(o: Tensor): Tensor { return wrapHandle(N.minimum(this._h, handleOf(o, 'minimum'))); }
  atan2(o: Tensor): Tensor { return wrapHandle(N.atan2(this._h, handleOf(o, 'atan2'))); }
  eq(o: Tensor | Scalar | boolean): Tensor {
    return wrapHandle(o instanceof Tensor ? N.eq(this._h, handleOf(o, 'eq')) : N.eqScalar(this._h, o));
  }
  ne(o: Tensor | Scalar | boolean): Tensor {
    return wrapHandle(o instanceof Tensor ? N.ne(this._h, handleOf(o, 'ne')) : N.neScalar(this._h, o));
  }
  lt(o: Tensor | Scalar): Tensor { return wrapHandle(typeof o === 'number' ? N.ltScalar(this._h, o) : N.lt(this._h, handleOf(o, 'lt'))); }
  le(o: Tensor | Scalar): Tensor { return wrapHandle(typeof o === 'number' ? N.leScalar(this._h, o) : N.le(this._h, handleOf(o, 'le'))); }
  gt(o: Tensor | Scalar): Tensor { return wrapHandle(typeof o === 'number' ? N.gtScalar(this._h, o) : N.gt(this._h, handleOf(o, 'gt'))); }
  ge(o: Tensor | Scalar): Tensor { return wrapHandle(typeof o === 'number' ? N.geScalar(this._h, o) : N.ge(this._h, handleOf(o, 'ge'))); }
  logicalAnd(o: Tensor): Tensor { return wrapHandle(N.logicalAnd(this._h, handleOf(o, 'logicalAnd'))); }
  logicalOr(o: Tensor): Tensor { return wrapHandle(N.logicalOr(this._h, handleOf(o, 'logicalOr'))); }
  logicalXor(o: Tensor): Tensor { return wrapHandle(N.logicalXor(this._h, handleOf(o, 'logicalXor'))); }
  logicalNot(): Tensor { return wrapHandle(N.logicalNot(this._h)); }
  clamp(min: number | null, max: number | null = null): Tensor {
    return wrapHandle(N.clamp(this._h, min, max));
  }
  /** this + weight · (end − this) */
  lerp(end: Tensor, weight: number): Tensor { return wrapHandle(N.lerp(this._h, handleOf(end, 'lerp'), weight)); }
  neg(): Tensor { return wrapHandle(N.neg(this._h)); }
  abs(): Tensor { return wrapHandle(N.abs(this._h)); }
  exp(): Tensor { return wrapHandle(N.exp(this._h)); }
  log(): Tensor { return wrapHandle(N.log(this._h)); }
  log2(): Tensor { return wrapHandle(N.log2(this._h)); }
  log1p(): Tensor { return wrapHandle(N.log1p(this._h)); }
  expm1(): Tensor { return wrapHandle(N.expm1(this._h)); }
  sqrt(): Tensor { return wrapHandle(N.sqrt(this._h)); }
  rsqrt(): Tensor { return wrapHandle(N.rsqrt(this._h)); }
  sin(): Tensor { return wrapHandle(N.sin(this._h)); }
  cos(): Tensor { return wrapHandle(N.cos(this._h)); }
  tanh(): Tensor { return wrapHandle(N.tanh(this._h)); }
  sigmoid(): Tensor { return wrapHandle(N.sigmoid(this._h)); }
  relu(): Tensor { return wrapHandle(N.relu(this._h)); }
  silu(): Tensor { return wrapHandle(N.silu(this._h)); }
  sign(): Tensor { return wrapHandle(N.sign(this._h)); }
  floor(): Tensor { return wrapHandle(N.floor(this._h)); }
  ceil(): Tensor { return wrapHandle(N.ceil(this._h)); }
  round(): Tensor { return wrapHandle(N.round(this._h)); }
  trunc(): Tensor { return wrapHandle(N.trunc(this._h)); }
  reciprocal(): Tensor { return wrapHandle(N.reciprocal(this._h)); }
  square(): Tensor { return wrapHandle(N.square(this._h)); }
  erf(): Tensor { return wrapHandle(N.erf(this._h)); }
  isnan(): Tensor { return wrapHandle(N.isnan(this._h)); }
  isinf(): Tensor { return wrapHandle(N.isinf(this._h)); }
  isfinite(): Tensor { return wrapHandle(N.isfinite(this._h)); }

  // ------------------------------------------------ reductions

  sum(dim?: number | number[] | null, keepdim = false): Tensor {
    return wrapHandle(N.sum(this._h, dimList(dim), keepdim));
  }
  mean(dim?: number | number[] | null, keepdim = false): Tensor {
    return wrapHandle(N.mean(this._h, dimList(dim), keepdim));
  }
  prod(dim?: number | null, keepdim = false): Tensor {
    return wrapHandle(N.prod(this._h, dim ?? null, keepdim));
  }
  amax(dim?: number | number[] | null, keepdim = false): Tensor {
    return wrapHandle(N.amax(this._h, dimList(dim), keepdim));
  }
  amin(dim?: number | number[] | null, keepdim = false): Tensor {
    return wrapHandle(N.amin(this._h, dimList(dim), keepdim));
  }
  /** max() over all elements; max(dim) gives { values, indices } as PyTorch does. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return wrapHandle(N.maxAll(this._h));
    const [v, i] = N.maxDim(this._h, dim, keepdim);
    return { values: wrapHandle(v), indices: wrapHandle(i) };
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return wrapHandle(N.minAll(this._h));
    const [v, i] = N.minDim(this._h, dim, keepdim);
    return { values: wrapHandle(v), indices: wrapHandle(i) };
  }
  argmax(dim?: number | null, keepdim = false): Tensor {
    return wrapHandle(N.argmax(this._h, dim ?? null, keepdim));
  }
  argmin(dim?: number | null, keepdim = false): Tensor {
    return wrapHandle(N.argmin(this._h, dim ?? null, keepdim));
  }
  /** Standard deviation; unbiased (Bessel's correction) by default, as in PyTorch. */
  std(dim?: number | number[] | null, opts: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return wrapHandle(N.std(this._h, dimList(dim), opts.unbiased ?? true, opts.keepdim ?? false));
  }
  var(dim?: number | number[] | null, opts: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return wrapHandle(N.var(this._h, dimList(dim), opts.unbiased ?? true, opts.keepdim ?? false));
  }
  logsumexp(dim: number | number[], keepdim = false): Tensor {
    return wrapHandle(N.logsumexp(this._h, dimList(dim)!, keepdim));
  }
  all(): Tensor { return wrapHandle(N.all(this._h)); }
  any(): Tensor { return wrapHandle(N.any(this._h)); }
  cumsum(dim: number): Tensor { return wrapHandle(N.cumsum(this._h, dim)); }
  norm(p = 2, dim?: number | number[] | null, keepdim = false): Tensor {
    return wrapHandle(N.norm(this._h, p, dimList(dim), keepdim));
  }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
    const [v, i] = N.topk(this._h, k, dim, largest);
    return { values: wrapHandle(v), indices: wrapHandle(i) };
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [v, i] = N.sort(this._h, dim, descending);
    return { values: wrapHandle(v), indices: wrapHandle(i) };
  }

  // ------------------------------------------------ shape and indexing

  reshape(...shape: ShapeArgs): Tensor { return wrapHandle(N.reshape(this._h, shapeOf(shape))); }
  view(...shape: ShapeArgs): Tensor { return wrapHandle(N.view(this._h, shapeOf(shape))); }
  permute(...dims: ShapeArgs): Tensor { return wrapHandle(N.permute(this._h, shapeOf(dims))); }
  transpose(d0: number, d1: number): Tensor { return wrapHandle(N.transpose(this._h, d0, d1)); }
  /** The transpose of the last two dimensions. */
  get mT(): Tensor { return this.transpose(-2, -1); }
  flatten(start = 0, end = -1): Tensor { return wrapHandle(N.flatten(this._h, start, end)); }
  squeeze(dim?: number): Tensor { return wrapHandle(N.squeeze(this._h, dim ?? null)); }
  unsqueeze(dim: number): Tensor { return wrapHandle(N.unsqueeze(this._h, dim)); }
  expand(...shape: ShapeArgs): Tensor { return wrapHandle(N.expand(this._h, shapeOf(shape))); }
  expandAs(o: Tensor): Tensor { return this.expand(o.shape); }
  repeat(...reps: ShapeArgs): Tensor { return wrapHandle(N.repeat(this._h, shapeOf(reps))); }
  split(sizes: number | number[], dim = 0): Tensor[] { return N.split(this._h, sizes, dim).map(wrapHandle); }
  chunk(n: number, dim = 0): Tensor[] { return N.chunk(this._h, n, dim).map(wrapHandle); }
  narrow(dim: number, start: number, length: number): Tensor { return wrapHandle(N.narrow(this._h, dim, start, length)); }
  /** this[..., start:end:step, ...] along dim (a view). */
  slice(dim: number, start = 0, end = Number.MAX_SAFE_INTEGER, step = 1): Tensor {
    return wrapHandle(N.slice(this._h, dim, start, end, step));
  }
  select(dim: number, index: number): Tensor { return wrapHandle(N.select(this._h, dim, index)); }
  indexSelect(dim: number, index: Tensor): Tensor { return wrapHandle(N.indexSelect(this._h, dim, handleOf(index, 'indexSelect'))); }
  gather(dim: number, index: Tensor): Tensor { return wrapHandle(N.gather(this._h, dim, handleOf(index, 'gather'))); }
  scatter(dim: number, index: Tensor, src: Tensor): Tensor { return wrapHandle(N.scatter(this._h, dim, handleOf(index, 'scatter'), handleOf(src, 'scatter'))); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return wrapHandle(N.scatterAdd(this._h, dim, handleOf(index, 'scatterAdd'), handleOf(src, 'scatterAdd')));
  }
  maskedFill(mask: Tensor, value: number | boolean): Tensor {
    checkBoolMask(mask, 'maskedFill');
    return wrapHandle(N.maskedFill(this._h, mask._h, value));
  }
  /** Advanced indexing: this[i0, i1, …] with index tensors; null keeps a dimension whole. */
  index(indices: (Tensor | null)[]): Tensor {
    return wrapHandle(N.index(this._h, indices.map((t) => (t ? t._h : null))));
  }
  flip(dims: number[]): Tensor { return wrapHandle(N.flip(this._h, dims)); }
  roll(shifts: number | number[], dims: number | number[]): Tensor {
    return wrapHandle(N.roll(this._h, typeof shifts === 'number' ? [shifts] : shifts, typeof dims === 'number' ? [dims] : dims));
  }
  tril(k = 0): Tensor { return wrapHandle(N.tril(this._h, k)); }
  triu(k = 0): Tensor { return wrapHandle(N.triu(this._h, k)); }
  repeatInterleave(repeats: number, dim: number): Tensor { return wrapHandle(N.repeatInterleave(this._h, repeats, dim)); }

  // ------------------------------------------------ linear algebra

  matmul(o: Tensor): Tensor { return wrapHandle(N.matmul(this._h, handleOf(o, 'matmul'))); }
  bmm(o: Tensor): Tensor { return wrapHandle(N.bmm(this._h, handleOf(o, 'bmm'))); }
  mm(o: Tensor): Tensor { return wrapHandle(N.mm(this._h, handleOf(o, 'mm'))); }

  // ------------------------------------------------ in place (return this)

  add_(o: Tensor | Scalar, alpha?: number): this {
    if (typeof o === 'number') N.addScalar_(this._h, alpha === undefined ? o : o * alpha);
    else N.add_(this._h, handleOf(o, 'add_'), alpha ?? null);
    return this;
  }
  sub_(o: Tensor | Scalar, alpha?: number): this {
    if (typeof o === 'number') N.subScalar_(this._h, alpha === undefined ? o : o * alpha);
    else N.sub_(this._h, handleOf(o, 'sub_'), alpha ?? null);
    return this;
  }
  mul_(o: Tensor | Scalar): this {
    if (typeof o === 'number') N.mulScalar_(this._h, o);
    else N.mul_(this._h, handleOf(o, 'mul_'));
    return this;
  }
  div_(o: Tensor | Scalar): this {
    if (typeof o === 'number') N.divScalar_(this._h, o);
    else N.div_(this._h, handleOf(o, 'div_'));
    return this;
  }
  /** this += value · t1 · t2 */
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    N.addcmul_(this._h, handleOf(t1, 'addcmul_'), handleOf(t2, 'addcmul_'), value);
    return this;
  }
  /** this += value · t1 / t2 */
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    N.addcdiv_(this._h, handleOf(t1, 'addcdiv_'), handleOf(t2, 'addcdiv_'), value);
    return this;
  }
  lerp_(end: Tensor, weight: number): this { N.lerp_(this._h, handleOf(end, 'lerp_'), weight); return this; }
  copy_(src: Tensor): this { N.copy_(this._h, handleOf(src, 'copy_')); return this; }
  zero_(): this { N.zero_(this._h); return this; }
  fill_(v: number | boolean): this { N.fill_(this._h, v); return this; }
  clamp_(min: number | null, max: number | null = null): this { N.clamp_(this._h, min, max); return this; }
  sqrt_(): this { N.sqrt_(this._h); return this; }
  uniform_(low = 0, high = 1): this { N.uniform_(this._h, low, high); return this; }
  normal_(mean = 0, std = 1): this { N.normal_(this._h, mean, std); return this; }
  maskedFill_(mask: Tensor, value: number | boolean): this {
    checkBoolMask(mask, 'maskedFill_');
    N.maskedFill_(this._h, mask._h, value);
    return this;
  }

  // ------------------------------------------------ autograd

  get requiresGrad(): boolean {
    return N.requiresGrad(this._h);
  }
  set requiresGrad(on: boolean) {
    N.setRequiresGrad(this._h, on);
  }
  requiresGrad_(on = true): this {
    N.setRequiresGrad(this._h, on);
    return this;
  }
  get isLeaf(): boolean {
    return N.isLeaf(this._h);
  }
  /** The accumulated gradient (a new handle on the same memory each time), or null. */
  get grad(): Tensor | null {
    const g = N.grad(this._h);
    return g === null ? null : wrapHandle(g);
  }
  set grad(g: Tensor | null) {
    N.setGrad(this._h, g === null ? null : handleOf(g, 'grad ='));
  }
  retainGrad(): this {
    N.retainGrad(this._h);
    return this;
  }
  backward(grad?: Tensor | null, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    N.backward(this._h, grad ? grad._h : null, opts.retainGraph ?? null, opts.createGraph ?? false);
  }
}

function checkBoolMask(mask: unknown, op: string): void {
  handleOf(mask, op);
  const d = (mask as Tensor).dtype;
  if (d !== 'bool') throw new TypeError(`${op}: the mask must be a bool tensor, got ${d} (use .bool() or a comparison)`);
}

function dimList(dim: number | number[] | null | undefined): number[] | null {
  if (dim === undefined || dim === null) return null;
  return typeof dim === 'number' ? [dim] : dim;
}

/** @internal wraps a native handle in a Tensor (owned by the current scope) */
export function wrapHandle(h: H): Tensor {
  return new Tensor(h);
}
