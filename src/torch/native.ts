// The native addon's whole surface, in one interface (docs/architecture.md, "Conventions": one
// TypeScript interface describes all of it). A tensor handle `H` is a plain number naming a slot in
// the addon's table; nothing outside src/torch/ sees handles. Every function throws a JS Error
// "op(args): message" on bad input; none aborts the process.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type H = number;
type Dims = number[] | null;

export interface NativeAddon {
  // handles and meta
  dispose(h: H): boolean;
  isAlive(h: H): boolean;
  shape(h: H): number[];
  dtype(h: H): string;
  device(h: H): string;
  isContiguous(h: H): boolean;
  memory(): { tensors: number; bytes: number };
  version(): { torch: string; cuda: boolean; cudaDeviceCount: number; parallel: string };
  setNumThreads(n: number): void;
  getNumThreads(): number;
  // creation and data
  zeros(shape: number[], dtype: string, device: string | null): H;
  ones(shape: number[], dtype: string, device: string | null): H;
  empty(shape: number[], dtype: string, device: string | null): H;
  full(shape: number[], value: number | boolean, dtype: string, device: string | null): H;
  arange(start: number, end: number, step: number, dtype: string, device: string | null): H;
  linspace(start: number, end: number, steps: number, dtype: string, device: string | null): H;
  randn(shape: number[], dtype: string, device: string | null): H;
  rand(shape: number[], dtype: string, device: string | null): H;
  randint(low: number, high: number, shape: number[], dtype: string, device: string | null): H;
  randperm(n: number, dtype: string, device: string | null): H;
  multinomial(probs: H, n: number, replacement: boolean): H;
  fromBuffer(data: ArrayBufferView, shape: number[], dtype: string): H;
  toBuffer(h: H): ArrayBuffer;
  item(h: H): number | boolean;
  to(h: H, dtype: string | null, device: string | null, copy: boolean): H;
  contiguous(h: H): H;
  clone(h: H): H;
  // elementwise: tensor forms and scalar forms
  add(a: H, b: H, alpha: number | null): H;
  sub(a: H, b: H, alpha: number | null): H;
  mul(a: H, b: H): H;
  div(a: H, b: H): H;
  pow(a: H, b: H): H;
  remainder(a: H, b: H): H;
  fmod(a: H, b: H): H;
  eq(a: H, b: H): H;
  ne(a: H, b: H): H;
  lt(a: H, b: H): H;
  le(a: H, b: H): H;
  gt(a: H, b: H): H;
  ge(a: H, b: H): H;
  addScalar(a: H, s: number): H;
  subScalar(a: H, s: number): H;
  mulScalar(a: H, s: number): H;
  divScalar(a: H, s: number): H;
  powScalar(a: H, s: number): H;
  remainderScalar(a: H, s: number): H;
  fmodScalar(a: H, s: number): H;
  eqScalar(a: H, s: number | boolean): H;
  neScalar(a: H, s: number | boolean): H;
  ltScalar(a: H, s: number): H;
  leScalar(a: H, s: number): H;
  gtScalar(a: H, s: number): H;
  geScalar(a: H, s: number): H;
  rsub(a: H, s: number): H;
  rdiv(a: H, s: number): H;
  rpow(a: H, s: number): H;
  maximum(a: H, b: H): H;
  minimum(a: H, b: H): H;
  atan2(a: H, b: H): H;
  logicalAnd(a: H, b: H): H;
  logicalOr(a: H, b: H): H;
  logicalXor(a: H, b: H): H;
  where(cond: H, a: H, b: H): H;
  clamp(a: H, min: number | null, max: number | null): H;
  lerp(a: H, end: H, weight: number): H;
  neg(a: H): H;
  abs(a: H): H;
  exp(a: H): H;
  log(a: H): H;
  log2(a: H): H;
  log1p(a: H): H;
  expm1(a: H): H;
  sqrt(a: H): H;
  rsqrt(a: H): H;
  sin(a: H): H;
  cos(a: H): H;
  tanh(a: H): H;
  sigmoid(a: H): H;
  relu(a: H): H;
  silu(a: H): H;
  logSigmoid(a: H): H;
  sign(a: H): H;
  floor(a: H): H;
  ceil(a: H): H;
  round(a: H): H;
  trunc(a: H): H;
  reciprocal(a: H): H;
  square(a: H): H;
  erf(a: H): H;
  logicalNot(a: H): H;
  isnan(a: H): H;
  isinf(a: H): H;
  isfinite(a: H): H;
  gelu(a: H, approximate: string | null): H;
  softplus(a: H, beta: number, threshold: number): H;
  leakyRelu(a: H, slope: number): H;
  // reductions
  sum(a: H, dims: Dims, keepdim: boolean): H;
  mean(a: H, dims: Dims, keepdim: boolean): H;
  prod(a: H, dim: number | null, keepdim: boolean): H;
  amax(a: H, dims: Dims, keepdim: boolean): H;
  amin(a: H, dims: Dims, keepdim: boolean): H;
  maxAll(a: H): H;
  minAll(a: H): H;
  maxDim(a: H, dim: number, keepdim: boolean): [H, H];
  minDim(a: H, dim: number, keepdim: boolean): [H, H];
  argmax(a: H, dim: number | null, keepdim: boolean): H;
  argmin(a: H, dim: number | null, keepdim: boolean): H;
  std(a: H, dims: Dims, unbiased: boolean, keepdim: boolean): H;
  var(a: H, dims: Dims, unbiased: boolean, keepdim: boolean): H;
  logsumexp(a: H, dims: number[], keepdim: boolean): H;
  all(a: H): H;
  any(a: H): H;
  cumsum(a: H, dim: number): H;
  norm(a: H, p: number, dims: Dims, keepdim: boolean): H;
  topk(a: H, k: number, dim: number, largest: boolean): [H, H];
  sort(a: H, dim: number, descending: boolean): [H, H];
  // shape and indexing
  reshape(a: H, shape: number[]): H;
  view(a: H, shape: number[]): H;
  permute(a: H, dims: number[]): H;
  transpose(a: H, d0: number, d1: number): H;
  flatten(a: H, start: number, end: number): H;
  squeeze(a: H, dim: number | null): H;
  unsqueeze(a: H, dim: number): H;
  expand(a: H, shape: number[]): H;
  repeat(a: H, reps: number[]): H;
  cat(ts: H[], dim: number): H;
  stack(ts: H[], dim: number): H;
  split(a: H, sizes: number | number[], dim: number): H[];
  chunk(a: H, n: number, dim: number): H[];
  narrow(a: H, dim: number, start: number, length: number): H;
  slice(a: H, dim: number, start: number, end: number, step: number): H;
  select(a: H, dim: number, index: number): H;
  indexSelect(a: H, dim: number, index: H): H;
  gather(a: H, dim: number, index: H): H;
  scatter(a: H, dim: number, index: H, src: H): H;
  scatterAdd(a: H, dim: number, index: H, src: H): H;
  maskedFill(a: H, mask: H, value: number | boolean): H;
  index(a: H, indices: (H | null)[]): H;
  flip(a: H, dims: number[]): H;
  roll(a: H, shifts: number[], dims: number[]): H;
  tril(a: H, k: number): H;
  triu(a: H, k: number): H;
  oneHot(a: H, numClasses: number): H;
  repeatInterleave(a: H, repeats: number, dim: number): H;
  // linear algebra
  matmul(a: H, b: H): H;
  bmm(a: H, b: H): H;
  mm(a: H, b: H): H;
  // in place
  add_(a: H, b: H, alpha: number | null): void;
  sub_(a: H, b: H, alpha: number | null): void;
  mul_(a: H, b: H): void;
  div_(a: H, b: H): void;
  addScalar_(a: H, s: number): void;
  subScalar_(a: H, s: number): void;
  mulScalar_(a: H, s: number): void;
  divScalar_(a: H, s: number): void;
  addcmul_(a: H, t1: H, t2: H, value: number): void;
  addcdiv_(a: H, t1: H, t2: H, value: number): void;
  lerp_(a: H, end: H, weight: number): void;
  copy_(a: H, src: H): void;
  zero_(a: H): void;
  fill_(a: H, value: number | boolean): void;
  clamp_(a: H, min: number | null, max: number | null): void;
  sqrt_(a: H): void;
  uniform_(a: H, low: number, high: number): void;
  normal_(a: H, mean: number, std: number): void;
  maskedFill_(a: H, mask: H, value: number | boolean): void;
  // neural-network functions
  conv2d(x: H, w: H, b: H | null, stride: number[], padding: number[], dilation: number[], groups: number): H;
  convTranspose2d(
    x: H, w: H, b: H | null, stride: number[], padding: number[], outputPadding: number[], groups: number, dilation: number[],
  ): H;
  linear(x: H, w: H, b: H | null): H;
  groupNorm(x: H, groups: number, w: H | null, b: H | null, eps: number): H;
  layerNorm(x: H, shape: number[], w: H | null, b: H | null, eps: number): H;
  softmax(x: H, dim: number): H;
  logSoftmax(x: H, dim: number): H;
  dropout(x: H, p: number, train: boolean): H;
  upsampleNearest2d(x: H, size: number[], scaleH: number | null, scaleW: number | null): H;
  upsampleBilinear2d(x: H, size: number[], alignCorners: boolean, scaleH: number | null, scaleW: number | null): H;
  avgPool2d(x: H, kernel: number[], stride: number[], padding: number[]): H;
  maxPool2d(x: H, kernel: number[], stride: number[], padding: number[]): H;
  embedding(weight: H, indices: H): H;
  mseLoss(a: H, b: H, reduction: number): H;
  crossEntropy(logits: H, target: H, reduction: number, ignoreIndex: number, labelSmoothing: number): H;
  bceWithLogits(logits: H, target: H, reduction: number): H;
  // autograd
  requiresGrad(a: H): boolean;
  setRequiresGrad(a: H, on: boolean): void;
  isLeaf(a: H): boolean;
  grad(a: H): H | null;
  setGrad(a: H, g: H | null): void;
  retainGrad(a: H): void;
  backward(a: H, grad: H | null, retainGraph: boolean | null, createGraph: boolean): void;
  autogradGrad(
    outputs: H[], inputs: H[], gradOutputs: H[] | null, retainGraph: boolean | null, createGraph: boolean, allowUnused: boolean,
  ): (H | null)[];
  detach(a: H): H;
  setGradEnabled(on: boolean): boolean;
  isGradEnabled(): boolean;
  // torch.distributed (native/src/distributed.cc; used by src/distributed/)
  distInit(rank: number, worldSize: number, masterAddr: string, masterPort: number, timeoutMs: number, backend: string): void;
  distAllReduce(t: H, op: string): void;
  distBroadcast(t: H, src: number): void;
  distAllGather(t: H): H[];
  distBarrier(): void;
  distDestroy(): void;
  distInfo(): { rank: number; worldSize: number; backend: string; timeoutMs: number } | null;
  distBackends(): string[];
  // devices and mixed precision (native/src/device.cc)
  setData(t: H, src: H): void;
  setAutocast(device: string, enabled: boolean, dtype: string): boolean;
  isAutocast(device: string): boolean;
  // random number generators
  manualSeed(seed: number): void;
  getRngState(device: string | null): ArrayBuffer;
  setRngState(device: string | null, state: Uint8Array): void;
}

function load(): NativeAddon {
  const here = dirname(fileURLToPath(import.meta.url));
  const path = join(here, '..', '..', 'native', 'build', 'Release', 'sharpen_native.node');
  if (!existsSync(path)) {
    throw new Error(`the native addon is not built (${path} is missing): run \`npm run setup\``);
  }
  const require = createRequire(import.meta.url);
  return require(path) as NativeAddon;
}

export const N: NativeAddon = load();
