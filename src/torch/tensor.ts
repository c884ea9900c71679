// The Tensor class, memory scopes (tidy/keep), gradient mode and tensor creation.
// Names follow PyTorch in camelCase (torch.Tensor.index_select → indexSelect).
import { N, type H } from './native.js';
import {
  checkDevice, checkDType, dtypeOfTypedArray, ELEMENT_SIZE, isFloating, typedArrayFor,
  type Device, type DType, type TypedArray,
} from './dtype.js';

// ---------------------------------------------------------------- memory scopes

/**
 * Tensors made inside `tidy(fn)` belong to its scope and are freed when fn returns, except those
 * it returns (found in arrays and plain objects), which move to the enclosing scope.
 *
 * Tensors made outside any scope get a FinalizationRegistry entry, the safety net by which the
 * garbage collector frees what was never disposed. Registering costs about as much as a tiny op,
 * so it is done lazily, as a nursery: such tensors wait in `young` until the next turn of the
 * event loop (or until 4096 wait), and only those not yet disposed by then are registered.
 */
type Scope = Tensor[];
const scopes: Scope[] = [];
const registry = new FinalizationRegistry<H>((h) => {
  N.dispose(h); // a handle already disposed is ignored by the addon
});
const young: Tensor[] = [];
const NURSERY_SIZE = 4096;
let flushPending = false;

function flushYoung(): void {
  flushPending = false;
  for (const t of young) {
    if (t._h >= 0 && t._scope === null && !t._registered) {
      registry.register(t, t._h, t);
      t._registered = true;
    }
  }
  young.length = 0;
}

function adopt(t: Tensor): void {
  const scope = scopes.length ? scopes[scopes.length - 1]! : null;
  if (scope) {
    t._scope = scope;
    scope.push(t);
  } else {
    toTopLevel(t);
  }
}

function toTopLevel(t: Tensor): void {
  t._scope = null;
  young.push(t);
  if (young.length >= NURSERY_SIZE) flushYoung();
  else if (!flushPending) {
    flushPending = true;
    setImmediate(flushYoung).unref();
  }
}

export function tidy<T>(fn: () => T): T {
  const scope: Scope = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) t.dispose();
    throw e;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of scope) t.dispose();
    throw new Error('tidy(fn): fn must be synchronous (it returned a Promise); use tidy inside the async function');
  }
  const kept = new Set<Tensor>();
  collectTensors(result, kept, 0);
  for (const t of scope) {
    if (kept.has(t)) adopt(t);
    else t.dispose();
  }
  return result;
}

function collectTensors(v: unknown, out: Set<Tensor>, depth: number): void {
  if (depth > 6 || v === null || typeof v !== 'object') return;
  if (v instanceof Tensor) out.add(v);
  else if (Array.isArray(v)) for (const e of v) collectTensors(e, out, depth + 1);
  else if (v instanceof Map) for (const e of v.values()) collectTensors(e, out, depth + 1);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const e of Object.values(v)) collectTensors(e, out, depth + 1);
}

/** Takes a tensor out of its tidy scope: it lives until disposed (or collected). */
export function keep<T extends Tensor>(t: T): T {
  if (t._scope) {
    const i = t._scope.lastIndexOf(t);
    if (i >= 0) t._scope.splice(i, 1);
    toTopLevel(t);
  }
  return t;
}

/** Live tensor handles and their bytes (numel × element size; views count again). */
export function memory(): { tensors: number; bytes: number } {
  return N.memory();
}

/** Runs fn with gradient recording off (torch.no_grad). */
export function noGrad<T>(fn: () => T): T {
  const prev = N.setGradEnabled(false);
  try {
    return fn();
  } finally {
    N.setGradEnabled(prev);
  }
}

/** Runs fn with gradient recording on (torch.enable_grad), e.g. inside noGrad. */
export function enableGrad<T>(fn: () => T): T {
  const prev = N.setGradEnabled(true);
  try {
    return fn();
  } finally {
    N.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return N.isGradEnabled();
}

// ---------------------------------------------------------------- the Tensor class

type Shape = number[];
type Scalar = number;
type ShapeArgs = number[] | [number[]];

function shapeOf(args: ShapeArgs): number[] {
  return Array.isArray(args[0]) ? (args[0] as number[]) : (args as number[]);
}

function w(h: H): Tensor {
  return new Tensor(h);
}

/** The handle of a tensor argument; anything else is a TypeError naming the op. */
function th(o: unknown, op: string): H {
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
    if (this._registered) {
      registry.unregister(this);
      this._registered = false;
    }
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
    return w(N.to(this._h, dtype, device, copy));
  }
  float(): Tensor { return this.to('float32'); }
  double(): Tensor { return this.to('float64'); }
  half(): Tensor { return this.to('float16'); }
  long(): Tensor { return this.to('int64'); }
  int(): Tensor { return this.to('int32'); }
  bool(): Tensor { return this.to('bool'); }
  cpu(): Tensor { return this.to('cpu'); }
  cuda(): Tensor { return this.to('cuda'); }
  clone(): Tensor { return w(N.clone(this._h)); }
  contiguous(): Tensor { return w(N.contiguous(this._h)); }
  detach(): Tensor { return w(N.detach(this._h)); }

  // ------------------------------------------------ elementwise

  add(o: Tensor | Scalar, alpha?: number): Tensor {
    if (typeof o === 'number') return w(N.addScalar(this._h, alpha === undefined ? o : o * alpha));
    return w(N.add(this._h, th(o, 'add'), alpha ?? null));
  }
  sub(o: Tensor | Scalar, alpha?: number): Tensor {
    if (typeof o === 'number') return w(N.subScalar(this._h, alpha === undefined ? o : o * alpha));
    return w(N.sub(this._h, th(o, 'sub'), alpha ?? null));
  }
  mul(o: Tensor | Scalar): Tensor {
    return w(typeof o === 'number' ? N.mulScalar(this._h, o) : N.mul(this._h, th(o, 'mul')));
  }
  div(o: Tensor | Scalar): Tensor {
    return w(typeof o === 'number' ? N.divScalar(this._h, o) : N.div(this._h, th(o, 'div')));
  }
  pow(o: Tensor | Scalar): Tensor {
    return w(typeof o === 'number' ? N.powScalar(this._h, o) : N.pow(this._h, th(o, 'pow')));
  }
  remainder(o: Tensor | Scalar): Tensor {
    return w(typeof o === 'number' ? N.remainderScalar(this._h, o) : N.remainder(this._h, th(o, 'remainder')));
  }
  fmod(o: Tensor | Scalar): Tensor {
    return w(typeof o === 'number' ? N.fmodScalar(this._h, o) : N.fmod(this._h, th(o, 'fmod')));
  }
  /** s − this */
  rsub(s: Scalar): Tensor { return w(N.rsub(this._h, s)); }
  /** s / this */
  rdiv(s: Scalar): Tensor { return w(N.rdiv(this._h, s)); }
  /** s ** this */
  rpow(s: Scalar): Tensor { return w(N.rpow(this._h, s)); }
  maximum(o: Tensor): Tensor { return w(N.maximum(this._h, th(o, 'maximum'))); }
  minimum(o: Tensor): Tensor { return w(N.minimum(this._h, th(o, 'minimum'))); }
  atan2(o: Tensor): Tensor { return w(N.atan2(this._h, th(o, 'atan2'))); }
  eq(o: Tensor | Scalar | boolean): Tensor {
    return w(o instanceof Tensor ? N.eq(this._h, th(o, 'eq')) : N.eqScalar(this._h, o));
  }
  ne(o: Tensor | Scalar | boolean): Tensor {
    return w(o instanceof Tensor ? N.ne(this._h, th(o, 'ne')) : N.neScalar(this._h, o));
  }
  lt(o: Tensor | Scalar): Tensor { return w(typeof o === 'number' ? N.ltScalar(this._h, o) : N.lt(this._h, th(o, 'lt'))); }
  le(o: Tensor | Scalar): Tensor { return w(typeof o === 'number' ? N.leScalar(this._h, o) : N.le(this._h, th(o, 'le'))); }
  gt(o: Tensor | Scalar): Tensor { return w(typeof o === 'number' ? N.gtScalar(this._h, o) : N.gt(this._h, th(o, 'gt'))); }
  ge(o: Tensor | Scalar): Tensor { return w(typeof o === 'number' ? N.geScalar(this._h, o) : N.ge(this._h, th(o, 'ge'))); }
  logicalAnd(o: Tensor): Tensor { return w(N.logicalAnd(this._h, th(o, 'logicalAnd'))); }
  logicalOr(o: Tensor): Tensor { return w(N.logicalOr(this._h, th(o, 'logicalOr'))); }
  logicalXor(o: Tensor): Tensor { return w(N.logicalXor(this._h, th(o, 'logicalXor'))); }
  logicalNot(): Tensor { return w(N.logicalNot(this._h)); }
  clamp(min: number | null, max: number | null = null): Tensor {
    return w(N.clamp(this._h, min, max));
  }
  /** this + weight · (end − this) */
  lerp(end: Tensor, weight: number): Tensor { return w(N.lerp(this._h, th(end, 'lerp'), weight)); }
  neg(): Tensor { return w(N.neg(this._h)); }
  abs(): Tensor { return w(N.abs(this._h)); }
  exp(): Tensor { return w(N.exp(this._h)); }
  log(): Tensor { return w(N.log(this._h)); }
  log2(): Tensor { return w(N.log2(this._h)); }
  log1p(): Tensor { return w(N.log1p(this._h)); }
  expm1(): Tensor { return w(N.expm1(this._h)); }
  sqrt(): Tensor { return w(N.sqrt(this._h)); }
  rsqrt(): Tensor { return w(N.rsqrt(this._h)); }
  sin(): Tensor { return w(N.sin(this._h)); }
  cos(): Tensor { return w(N.cos(this._h)); }
  tanh(): Tensor { return w(N.tanh(this._h)); }
  sigmoid(): Tensor { return w(N.sigmoid(this._h)); }
  relu(): Tensor { return w(N.relu(this._h)); }
  silu(): Tensor { return w(N.silu(this._h)); }
  sign(): Tensor { return w(N.sign(this._h)); }
  floor(): Tensor { return w(N.floor(this._h)); }
  ceil(): Tensor { return w(N.ceil(this._h)); }
  round(): Tensor { return w(N.round(this._h)); }
  trunc(): Tensor { return w(N.trunc(this._h)); }
  reciprocal(): Tensor { return w(N.reciprocal(this._h)); }
  square(): Tensor { return w(N.square(this._h)); }
  erf(): Tensor { return w(N.erf(this._h)); }
  isnan(): Tensor { return w(N.isnan(this._h)); }
  isinf(): Tensor { return w(N.isinf(this._h)); }
  isfinite(): Tensor { return w(N.isfinite(this._h)); }

  // ------------------------------------------------ reductions

  sum(dim?: number | number[] | null, keepdim = false): Tensor {
    return w(N.sum(this._h, dimList(dim), keepdim));
  }
  mean(dim?: number | number[] | null, keepdim = false): Tensor {
    return w(N.mean(this._h, dimList(dim), keepdim));
  }
  prod(dim?: number | null, keepdim = false): Tensor {
    return w(N.prod(this._h, dim ?? null, keepdim));
  }
  amax(dim?: number | number[] | null, keepdim = false): Tensor {
    return w(N.amax(this._h, dimList(dim), keepdim));
  }
  amin(dim?: number | number[] | null, keepdim = false): Tensor {
    return w(N.amin(this._h, dimList(dim), keepdim));
  }
  /** max() over all elements; max(dim) gives { values, indices } as PyTorch does. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return w(N.maxAll(this._h));
    const [v, i] = N.maxDim(this._h, dim, keepdim);
    return { values: w(v), indices: w(i) };
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return w(N.minAll(this._h));
    const [v, i] = N.minDim(this._h, dim, keepdim);
    return { values: w(v), indices: w(i) };
  }
  argmax(dim?: number | null, keepdim = false): Tensor {
    return w(N.argmax(this._h, dim ?? null, keepdim));
  }
  argmin(dim?: number | null, keepdim = false): Tensor {
    return w(N.argmin(this._h, dim ?? null, keepdim));
  }
  /** Standard deviation; unbiased (Bessel's correction) by default, as in PyTorch. */
  std(dim?: number | number[] | null, opts: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return w(N.std(this._h, dimList(dim), opts.unbiased ?? true, opts.keepdim ?? false));
  }
  var(dim?: number | number[] | null, opts: { unbiased?: boolean; keepdim?: boolean } = {}): Tensor {
    return w(N.var(this._h, dimList(dim), opts.unbiased ?? true, opts.keepdim ?? false));
  }
  logsumexp(dim: number | number[], keepdim = false): Tensor {
    return w(N.logsumexp(this._h, dimList(dim)!, keepdim));
  }
  all(): Tensor { return w(N.all(this._h)); }
  any(): Tensor { return w(N.any(this._h)); }
  cumsum(dim: number): Tensor { return w(N.cumsum(this._h, dim)); }
  norm(p = 2, dim?: number | number[] | null, keepdim = false): Tensor {
    return w(N.norm(this._h, p, dimList(dim), keepdim));
  }
  topk(k: number, dim = -1, largest = true): { values: Tensor; indices: Tensor } {
    const [v, i] = N.topk(this._h, k, dim, largest);
    return { values: w(v), indices: w(i) };
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [v, i] = N.sort(this._h, dim, descending);
    return { values: w(v), indices: w(i) };
  }

  // ------------------------------------------------ shape and indexing

  reshape(...shape: ShapeArgs): Tensor { return w(N.reshape(this._h, shapeOf(shape))); }
  view(...shape: ShapeArgs): Tensor { return w(N.view(this._h, shapeOf(shape))); }
  permute(...dims: ShapeArgs): Tensor { return w(N.permute(this._h, shapeOf(dims))); }
  transpose(d0: number, d1: number): Tensor { return w(N.transpose(this._h, d0, d1)); }
  /** The transpose of the last two dimensions. */
  get mT(): Tensor { return this.transpose(-2, -1); }
  flatten(start = 0, end = -1): Tensor { return w(N.flatten(this._h, start, end)); }
  squeeze(dim?: number): Tensor { return w(N.squeeze(this._h, dim ?? null)); }
  unsqueeze(dim: number): Tensor { return w(N.unsqueeze(this._h, dim)); }
  expand(...shape: ShapeArgs): Tensor { return w(N.expand(this._h, shapeOf(shape))); }
  expandAs(o: Tensor): Tensor { return this.expand(o.shape); }
  repeat(...reps: ShapeArgs): Tensor { return w(N.repeat(this._h, shapeOf(reps))); }
  split(sizes: number | number[], dim = 0): Tensor[] { return N.split(this._h, sizes, dim).map(w); }
  chunk(n: number, dim = 0): Tensor[] { return N.chunk(this._h, n, dim).map(w); }
  narrow(dim: number, start: number, length: number): Tensor { return w(N.narrow(this._h, dim, start, length)); }
  /** this[..., start:end:step, ...] along dim (a view). */
  slice(dim: number, start = 0, end = Number.MAX_SAFE_INTEGER, step = 1): Tensor {
    return w(N.slice(this._h, dim, start, end, step));
  }
  select(dim: number, index: number): Tensor { return w(N.select(this._h, dim, index)); }
  indexSelect(dim: number, index: Tensor): Tensor { return w(N.indexSelect(this._h, dim, th(index, 'indexSelect'))); }
  gather(dim: number, index: Tensor): Tensor { return w(N.gather(this._h, dim, th(index, 'gather'))); }
  scatter(dim: number, index: Tensor, src: Tensor): Tensor { return w(N.scatter(this._h, dim, th(index, 'scatter'), th(src, 'scatter'))); }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return w(N.scatterAdd(this._h, dim, th(index, 'scatterAdd'), th(src, 'scatterAdd')));
  }
  maskedFill(mask: Tensor, value: number | boolean): Tensor {
    checkBoolMask(mask, 'maskedFill');
    return w(N.maskedFill(this._h, mask._h, value));
  }
  /** Advanced indexing: this[i0, i1, …] with index tensors; null keeps a dimension whole. */
  index(indices: (Tensor | null)[]): Tensor {
    return w(N.index(this._h, indices.map((t) => (t ? t._h : null))));
  }
  flip(dims: number[]): Tensor { return w(N.flip(this._h, dims)); }
  roll(shifts: number | number[], dims: number | number[]): Tensor {
    return w(N.roll(this._h, typeof shifts === 'number' ? [shifts] : shifts, typeof dims === 'number' ? [dims] : dims));
  }
  tril(k = 0): Tensor { return w(N.tril(this._h, k)); }
  triu(k = 0): Tensor { return w(N.triu(this._h, k)); }
  repeatInterleave(repeats: number, dim: number): Tensor { return w(N.repeatInterleave(this._h, repeats, dim)); }

  // ------------------------------------------------ linear algebra

  matmul(o: Tensor): Tensor { return w(N.matmul(this._h, th(o, 'matmul'))); }
  bmm(o: Tensor): Tensor { return w(N.bmm(this._h, th(o, 'bmm'))); }
  mm(o: Tensor): Tensor { return w(N.mm(this._h, th(o, 'mm'))); }

  // ------------------------------------------------ in place (return this)

  add_(o: Tensor | Scalar, alpha?: number): this {
    if (typeof o === 'number') N.addScalar_(this._h, alpha === undefined ? o : o * alpha);
    else N.add_(this._h, th(o, 'add_'), alpha ?? null);
    return this;
  }
  sub_(o: Tensor | Scalar, alpha?: number): this {
    if (typeof o === 'number') N.subScalar_(this._h, alpha === undefined ? o : o * alpha);
    else N.sub_(this._h, th(o, 'sub_'), alpha ?? null);
    return this;
  }
  mul_(o: Tensor | Scalar): this {
    if (typeof o === 'number') N.mulScalar_(this._h, o);
    else N.mul_(this._h, th(o, 'mul_'));
    return this;
  }
  div_(o: Tensor | Scalar): this {
    if (typeof o === 'number') N.divScalar_(this._h, o);
    else N.div_(this._h, th(o, 'div_'));
    return this;
  }
  /** this += value · t1 · t2 */
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    N.addcmul_(this._h, th(t1, 'addcmul_'), th(t2, 'addcmul_'), value);
    return this;
  }
  /** this += value · t1 / t2 */
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    N.addcdiv_(this._h, th(t1, 'addcdiv_'), th(t2, 'addcdiv_'), value);
    return this;
  }
  lerp_(end: Tensor, weight: number): this {
    N.lerp_(this._h, th(end, 'lerp_'), weight);
    return this;
  }
  copy_(src: Tensor): this {
    N.copy_(this._h, th(src, 'copy_'));
    return this;
  }
  zero_(): this {
    N.zero_(this._h);
    return this;
  }
  fill_(v: number | boolean): this {
    N.fill_(this._h, v);
    return this;
  }
  clamp_(min: number | null, max: number | null = null): this {
    N.clamp_(this._h, min, max);
    return this;
  }
  sqrt_(): this {
    N.sqrt_(this._h);
    return this;
  }
  uniform_(low = 0, high = 1): this {
    N.uniform_(this._h, low, high);
    return this;
  }
  normal_(mean = 0, std = 1): this {
    N.normal_(this._h, mean, std);
    return this;
  }
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
    return g === null ? null : w(g);
  }
  set grad(g: Tensor | null) {
    N.setGrad(this._h, g === null ? null : th(g, 'grad ='));
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
  th(mask, op);
  const d = (mask as Tensor).dtype;
  if (d !== 'bool') throw new TypeError(`${op}: the mask must be a bool tensor, got ${d} (use .bool() or a comparison)`);
}

function dimList(dim: number | number[] | null | undefined): number[] | null {
  if (dim === undefined || dim === null) return null;
  return typeof dim === 'number' ? [dim] : dim;
}

/** @internal wraps a native handle */
export function wrapHandle(h: H): Tensor {
  return new Tensor(h);
}

// ---------------------------------------------------------------- creation

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

function dt(opts: CreateOptions | undefined, fallback: DType = 'float32'): string {
  return opts?.dtype ? checkDType(opts.dtype) : fallback;
}
function dev(opts: CreateOptions | undefined): string | null {
  return opts?.device ? checkDevice(opts.device) : null;
}

export function zeros(shape: number[], opts?: CreateOptions): Tensor {
  return finish(w(N.zeros(checkShape(shape, 'zeros'), dt(opts), dev(opts))), opts);
}
export function ones(shape: number[], opts?: CreateOptions): Tensor {
  return finish(w(N.ones(checkShape(shape, 'ones'), dt(opts), dev(opts))), opts);
}
export function empty(shape: number[], opts?: CreateOptions): Tensor {
  return finish(w(N.empty(checkShape(shape, 'empty'), dt(opts), dev(opts))), opts);
}
export function full(shape: number[], value: number | boolean, opts?: CreateOptions): Tensor {
  const fallback: DType = typeof value === 'boolean' ? 'bool' : 'float32';
  return finish(w(N.full(checkShape(shape, 'full'), value, dt(opts, fallback), dev(opts))), opts);
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
  return finish(w(N.arange(start, end, step, dt(opts, ints ? 'int64' : 'float32'), dev(opts))), opts);
}
export function linspace(start: number, end: number, steps: number, opts?: CreateOptions): Tensor {
  if (!Number.isSafeInteger(steps) || steps < 0) throw new Error(`linspace: steps must be a non-negative integer, got ${steps}`);
  return finish(w(N.linspace(start, end, steps, dt(opts), dev(opts))), opts);
}
/** Standard normal samples from the global generator (see manualSeed). */
export function randn(shape: number[], opts?: CreateOptions): Tensor {
  return finish(w(N.randn(checkShape(shape, 'randn'), dt(opts), dev(opts))), opts);
}
/** Uniform samples in [0, 1). */
export function rand(shape: number[], opts?: CreateOptions): Tensor {
  return finish(w(N.rand(checkShape(shape, 'rand'), dt(opts), dev(opts))), opts);
}
/** Integers in [low, high), int64 by default. */
export function randint(low: number, high: number, shape: number[], opts?: CreateOptions): Tensor {
  if (!(high > low)) throw new Error(`randint: high (${high}) must be greater than low (${low})`);
  return w(N.randint(low, high, checkShape(shape, 'randint'), dt(opts, 'int64'), dev(opts)));
}
export function randperm(n: number, opts?: CreateOptions): Tensor {
  return w(N.randperm(n, dt(opts, 'int64'), dev(opts)));
}
export function multinomial(probs: Tensor, n: number, replacement = false): Tensor {
  return w(N.multinomial(probs._h, n, replacement));
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
  let t = w(N.fromBuffer(data, s, dtype));
  if (opts?.device && opts.device !== 'cpu') {
    const moved = t.to(checkDevice(opts.device));
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
  return w(N.cat(ts.map((t) => t._h), dim));
}
export function stack(ts: Tensor[], dim = 0): Tensor {
  return w(N.stack(ts.map((t) => t._h), dim));
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
    return w(N.where(th(cond, 'where'), ta._h, tb._h));
  });
}
