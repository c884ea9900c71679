// torch.nn.functional, in camelCase. Attention is composed here from matmul and softmax.
import { N } from './native.js';
import { Tensor, tidy, wrapHandle as w } from './tensor.js';

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);
type Reduction = 'none' | 'mean' | 'sum';
// ATen's at::Reduction enum: None = 0, Mean = 1, Sum = 2.
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };
function reduction(r: Reduction | undefined): number {
  const v = REDUCTION[r ?? 'mean'];
  if (v === undefined) throw new Error(`unknown reduction '${r}': expected none, mean or sum`);
  return v;
}

export function conv2d(
  x: Tensor, weight: Tensor, bias?: Tensor | null,
  opts: { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number } = {},
): Tensor {
  return w(N.conv2d(x._h, weight._h, bias ? bias._h : null, pair(opts.stride ?? 1), pair(opts.padding ?? 0),
    pair(opts.dilation ?? 1), opts.groups ?? 1));
}

export function convTranspose2d(
  x: Tensor, weight: Tensor, bias?: Tensor | null,
  opts: { stride?: Pair; padding?: Pair; outputPadding?: Pair; groups?: number; dilation?: Pair } = {},
): Tensor {
  return w(N.convTranspose2d(x._h, weight._h, bias ? bias._h : null, pair(opts.stride ?? 1), pair(opts.padding ?? 0),
    pair(opts.outputPadding ?? 0), opts.groups ?? 1, pair(opts.dilation ?? 1)));
}

/** x · Wᵀ + b */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return w(N.linear(x._h, weight._h, bias ? bias._h : null));
}

export function groupNorm(x: Tensor, numGroups: number, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return w(N.groupNorm(x._h, numGroups, weight ? weight._h : null, bias ? bias._h : null, eps));
}

export function layerNorm(x: Tensor, normalizedShape: number[], weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  return w(N.layerNorm(x._h, normalizedShape, weight ? weight._h : null, bias ? bias._h : null, eps));
}

export const relu = (x: Tensor): Tensor => x.relu();
export const silu = (x: Tensor): Tensor => x.silu();
export const sigmoid = (x: Tensor): Tensor => x.sigmoid();
export const tanh = (x: Tensor): Tensor => x.tanh();
/** GELU, exact (erf) by default or with the tanh approximation. */
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return w(N.gelu(x._h, approximate));
}
export function softplus(x: Tensor, beta = 1, threshold = 20): Tensor {
  return w(N.softplus(x._h, beta, threshold));
}
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return w(N.leakyRelu(x._h, negativeSlope));
}
export function logsigmoid(x: Tensor): Tensor {
  return w(N.logSigmoid(x._h));
}
export function softmax(x: Tensor, dim: number): Tensor {
  return w(N.softmax(x._h, dim));
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return w(N.logSoftmax(x._h, dim));
}
export function dropout(x: Tensor, p = 0.5, training = true): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p must be in [0, 1], got ${p}`);
  return w(N.dropout(x._h, p, training));
}

/** Resizes [N, C, H, W] to `size` or by `scaleFactor`, nearest or bilinear (PyTorch's rules). */
export function interpolate(
  x: Tensor,
  opts: { size?: Pair; scaleFactor?: number; mode?: 'nearest' | 'bilinear'; alignCorners?: boolean },
): Tensor {
  if (x.ndim !== 4) throw new Error(`interpolate: expected a 4-d [N, C, H, W] input, got [${x.shape.join(', ')}]`);
  let size: [number, number];
  let scale: number | null = null;
  if (opts.size !== undefined) size = pair(opts.size);
  else if (opts.scaleFactor !== undefined) {
    if (!(opts.scaleFactor > 0)) throw new Error(`interpolate: scaleFactor must be positive, got ${opts.scaleFactor}`);
    scale = opts.scaleFactor;
    size = [Math.floor(x.shape[2]! * scale), Math.floor(x.shape[3]! * scale)];
  } else throw new Error('interpolate: give size or scaleFactor');
  const mode = opts.mode ?? 'nearest';
  if (mode === 'nearest') return w(N.upsampleNearest2d(x._h, size, scale, scale));
  if (mode === 'bilinear') return w(N.upsampleBilinear2d(x._h, size, opts.alignCorners ?? false, scale, scale));
  throw new Error(`interpolate: unknown mode '${mode as string}': expected nearest or bilinear`);
}

export function avgPool2d(x: Tensor, kernel: Pair, stride?: Pair, padding: Pair = 0): Tensor {
  return w(N.avgPool2d(x._h, pair(kernel), pair(stride ?? kernel), pair(padding)));
}
export function maxPool2d(x: Tensor, kernel: Pair, stride?: Pair, padding: Pair = 0): Tensor {
  return w(N.maxPool2d(x._h, pair(kernel), pair(stride ?? kernel), pair(padding)));
}

export function embedding(indices: Tensor, weight: Tensor): Tensor {
  return w(N.embedding(weight._h, indices._h));
}

export function mseLoss(input: Tensor, target: Tensor, reduction_: Reduction = 'mean'): Tensor {
  return w(N.mseLoss(input._h, target._h, reduction(reduction_)));
}

/** Cross-entropy of logits [N, C] (or [N, C, …]) against class indices (int64) or probabilities. */
export function crossEntropy(
  logits: Tensor, target: Tensor,
  opts: { reduction?: Reduction; ignoreIndex?: number; labelSmoothing?: number } = {},
): Tensor {
  return w(N.crossEntropy(logits._h, target._h, reduction(opts.reduction), opts.ignoreIndex ?? -100, opts.labelSmoothing ?? 0));
}

export function binaryCrossEntropyWithLogits(logits: Tensor, target: Tensor, reduction_: Reduction = 'mean'): Tensor {
  return w(N.bceWithLogits(logits._h, target._h, reduction(reduction_)));
}

export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return w(N.oneHot(indices._h, numClasses));
}

/**
 * Scaled dot-product attention: softmax(Q Kᵀ / √d + mask) V, with q [..., Lq, d], k [..., Lk, d],
 * v [..., Lk, dv]. A boolean mask (broadcast to [..., Lq, Lk]) keeps the positions where it is true;
 * a float mask is added to the scores. A query whose keys are all masked gets zeros, not NaN.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: { mask?: Tensor | null; scale?: number } = {}): Tensor {
  return tidy(() => {
    const d = q.shape[q.ndim - 1]!;
    const scale = opts.scale ?? 1 / Math.sqrt(d);
    let scores = q.matmul(k.mT).mul(scale); // [..., Lq, Lk]
    const mask = opts.mask;
    if (mask) {
      if (mask.dtype === 'bool') {
        scores = scores.maskedFill(mask.logicalNot(), -Infinity);
        const p = softmax(scores, -1);
        // rows with every key masked: softmax gives NaN; make them 0.
        return p.maskedFill(p.isnan(), 0).matmul(v);
      }
      scores = scores.add(mask);
    }
    return softmax(scores, -1).matmul(v);
  });
}
