// Shared helpers of the engine tests: numeric comparison, deterministic data, finite-difference
// gradient checks and small plain-JS reference implementations (float64).
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';

type Num = ArrayLike<number>;

/** The elements of a tensor (any dtype) as plain float64 numbers, row-major. */
export function vals(t: torch.Tensor): number[] {
  const a = t.toTypedArray();
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) out.push(Number(a[i]));
  return out;
}

/** Asserts |a - e| <= tol · max(1, |e|) elementwise (NaN equals NaN; ±Infinity must match exactly). */
export function assertClose(actual: Num | torch.Tensor | number, expected: Num | number, tol = 1e-6, msg = ''): void {
  const a = actual instanceof torch.Tensor ? vals(actual) : typeof actual === 'number' ? [actual] : Array.from(actual);
  const e = typeof expected === 'number' ? [expected] : Array.from(expected);
  assert.equal(a.length, e.length, `${msg} length: got ${a.length}, expected ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = e[i]!;
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (!Number.isFinite(y)) {
      assert.equal(x, y, `${msg} [${i}]: got ${x}, expected ${y}`);
      continue;
    }
    assert.ok(Math.abs(x - y) <= tol * Math.max(1, Math.abs(y)),
      `${msg} [${i}]: got ${x}, expected ${y} (tol ${tol})\n actual:   ${fmt(a)}\n expected: ${fmt(e)}`);
  }
}

function fmt(a: number[]): string {
  const s = a.slice(0, 24).map((v) => +v.toPrecision(6)).join(', ');
  return `[${s}${a.length > 24 ? ', …' : ''}]`;
}

/** A deterministic pseudo-random generator (mulberry32) for test data, independent of torch's RNG. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform numbers in [lo, hi), deterministic in seed. */
export function randomValues(n: number, seed: number, lo = -1, hi = 1): number[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * r());
}

export const numel = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** A float64 tensor of the given shape with deterministic values in [lo, hi). */
export function rand64(shape: number[], seed: number, lo = -1, hi = 1): torch.Tensor {
  return torch.fromTypedArray(new Float64Array(randomValues(numel(shape), seed, lo, hi)), shape);
}

/** A float32 tensor of the given shape from plain numbers. */
export function f32(data: number[], shape?: number[]): torch.Tensor {
  return torch.fromTypedArray(new Float32Array(data), shape ?? [data.length]);
}

/** A float64 tensor of the given shape from plain numbers. */
export function f64(data: number[], shape?: number[]): torch.Tensor {
  return torch.fromTypedArray(new Float64Array(data), shape ?? [data.length]);
}

/**
 * Checks autograd's gradient of fn against central finite differences in float64.
 *
 * The scalar checked is L = Σ fn(inputs) ⊙ R for a fixed random R of fn's output shape, so every
 * output element contributes. Each floating input (float64 required) is perturbed element by element
 * by ±eps; integer inputs (indices, class targets) are passed through unchanged. Only the inputs
 * listed in `wrt` (default: every floating one) are checked.
 */
export function gradcheck(
  fn: (...xs: torch.Tensor[]) => torch.Tensor,
  inputs: torch.Tensor[],
  opts: { eps?: number; tol?: number; wrt?: number[]; name?: string } = {},
): void {
  const eps = opts.eps ?? 1e-6;
  const tol = opts.tol ?? 1e-5;
  const name = opts.name ?? 'gradcheck';
  const wrt = opts.wrt ?? inputs.map((_, i) => i).filter((i) => torch.isFloating(inputs[i]!.dtype));
  for (const i of wrt) assert.equal(inputs[i]!.dtype, 'float64', `${name}: input ${i} must be float64`);
  const data = inputs.map((t, i) => (wrt.includes(i) ? Float64Array.from(vals(t)) : null));
  const shapes = inputs.map((t) => t.shape);

  torch.tidy(() => {
    // autograd
    const xs = inputs.map((t, i) => (data[i] ? torch.fromTypedArray(data[i]!.slice(), shapes[i]).requiresGrad_() : t));
    const out = fn(...xs);
    assert.equal(out.dtype, 'float64', `${name}: output must be float64`);
    const R = rand64(out.shape, 12345);
    const L = out.mul(R).sum();
    const grads = torch.grad(L, wrt.map((i) => xs[i]!));
    const Rv = vals(R);

    const evalL = (): number =>
      torch.tidy(() => torch.noGrad(() => {
        const ys = inputs.map((t, i) => (data[i] ? torch.fromTypedArray(data[i]!, shapes[i]) : t));
        const o = vals(fn(...ys));
        let s = 0;
        for (let k = 0; k < o.length; k++) s += o[k]! * Rv[k]!;
        return s;
      }));

    let maxNumeric = 0;
    wrt.forEach((i, gi) => {
      const g = grads[gi];
      assert.ok(g, `${name}: no gradient for input ${i}`);
      const analytic = vals(g!);
      const arr = data[i]!;
      const numeric: number[] = [];
      for (let k = 0; k < arr.length; k++) {
        const v = arr[k]!;
        arr[k] = v + eps;
        const lp = evalL();
        arr[k] = v - eps;
        const lm = evalL();
        arr[k] = v;
        numeric.push((lp - lm) / (2 * eps));
      }
      for (const n of numeric) maxNumeric = Math.max(maxNumeric, Math.abs(n));
      assertClose(analytic, numeric, tol, `${name}: d/d(input ${i})`);
    });
    // a check against an all-zero gradient would prove nothing
    assert.ok(maxNumeric > 1e-3, `${name}: the numeric gradient is ~0; the check is vacuous`);
  });
}

// ---------------------------------------------------------------- plain-JS references (float64)

/** conv2d over [N, C, H, W] with weight [O, C/groups, kh, kw]. */
export function jsConv2d(
  x: number[], xs: number[], w: number[], ws: number[], b: number[] | null,
  stride: [number, number], pad: [number, number], dil: [number, number] = [1, 1], groups = 1,
): { out: number[]; shape: number[] } {
  const [N, C, H, W] = xs as [number, number, number, number];
  const [O, Cg, kh, kw] = ws as [number, number, number, number];
  const Ho = Math.floor((H + 2 * pad[0] - dil[0] * (kh - 1) - 1) / stride[0]) + 1;
  const Wo = Math.floor((W + 2 * pad[1] - dil[1] * (kw - 1) - 1) / stride[1]) + 1;
  const Og = O / groups;
  const out = new Array<number>(N * O * Ho * Wo).fill(0);
  for (let n = 0; n < N; n++)
    for (let o = 0; o < O; o++) {
      const g = Math.floor(o / Og);
      for (let i = 0; i < Ho; i++)
        for (let j = 0; j < Wo; j++) {
          let s = b ? b[o]! : 0;
          for (let c = 0; c < Cg; c++)
            for (let p = 0; p < kh; p++)
              for (let q = 0; q < kw; q++) {
                const y = i * stride[0] - pad[0] + p * dil[0];
                const xx = j * stride[1] - pad[1] + q * dil[1];
                if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
                s += x[((n * C + g * Cg + c) * H + y) * W + xx]! * w[((o * Cg + c) * kh + p) * kw + q]!;
              }
          out[((n * O + o) * Ho + i) * Wo + j] = s;
        }
    }
  return { out, shape: [N, O, Ho, Wo] };
}

/** conv_transpose2d over [N, Cin, H, W] with weight [Cin, Cout, kh, kw] (groups 1): scatter form. */
export function jsConvTranspose2d(
  x: number[], xs: number[], w: number[], ws: number[], b: number[] | null,
  stride: [number, number], pad: [number, number], outPad: [number, number] = [0, 0],
): { out: number[]; shape: number[] } {
  const [N, Ci, H, W] = xs as [number, number, number, number];
  const [, Co, kh, kw] = ws as [number, number, number, number];
  const Ho = (H - 1) * stride[0] - 2 * pad[0] + kh + outPad[0];
  const Wo = (W - 1) * stride[1] - 2 * pad[1] + kw + outPad[1];
  const out = new Array<number>(N * Co * Ho * Wo).fill(0);
  for (let n = 0; n < N; n++)
    for (let co = 0; co < Co; co++)
      for (let y = 0; y < Ho; y++) for (let xx = 0; xx < Wo; xx++) out[((n * Co + co) * Ho + y) * Wo + xx] = b ? b[co]! : 0;
  for (let n = 0; n < N; n++)
    for (let ci = 0; ci < Ci; ci++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++) {
          const v = x[((n * Ci + ci) * H + i) * W + j]!;
          for (let co = 0; co < Co; co++)
            for (let p = 0; p < kh; p++)
              for (let q = 0; q < kw; q++) {
                const y = i * stride[0] - pad[0] + p;
                const xx = j * stride[1] - pad[1] + q;
                if (y < 0 || y >= Ho || xx < 0 || xx >= Wo) continue;
                out[((n * Co + co) * Ho + y) * Wo + xx]! += v * w[((ci * Co + co) * kh + p) * kw + q]!;
              }
        }
  return { out, shape: [N, Co, Ho, Wo] };
}

/** Softmax of each row of a [rows, n] matrix given flat. */
export function jsSoftmaxRows(x: number[], n: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / n; r++) {
    const row = x.slice(r * n, r * n + n);
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((v) => v / s));
  }
  return out;
}

/** Runs fn and asserts it throws an Error whose message matches re. */
export function assertThrowsMsg(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof Error, `expected an Error, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}
