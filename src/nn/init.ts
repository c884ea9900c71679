// Parameter initialisations with PyTorch's defaults (torch.nn.init).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** fan_in and fan_out of a weight [out, in, ...kernel], as torch.nn.init._calculate_fan_in_and_fan_out. */
export function fans(shape: number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`fans: need a weight of at least 2 dimensions, got [${shape.join(', ')}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1]! * receptive, fanOut: shape[0]! * receptive };
}

export function uniform_(t: Tensor, low: number, high: number): Tensor {
  return torch.noGrad(() => t.uniform_(low, high));
}
export function normal_(t: Tensor, mean = 0, std = 1): Tensor {
  return torch.noGrad(() => t.normal_(mean, std));
}
export function zeros_(t: Tensor): Tensor {
  return torch.noGrad(() => t.zero_());
}
export function ones_(t: Tensor): Tensor {
  return torch.noGrad(() => t.fill_(1));
}

/**
 * Kaiming (He) uniform for a leaky-ReLU gain with slope `a`: U(−b, b), b = gain·√(3 / fan_in),
 * gain = √(2 / (1 + a²)). With a = √5 (PyTorch's default for Linear and Conv) b = 1/√fan_in.
 */
export function kaimingUniform_(t: Tensor, a = Math.sqrt(5)): Tensor {
  const { fanIn } = fans(t.shape);
  const gain = Math.sqrt(2 / (1 + a * a));
  const bound = gain * Math.sqrt(3 / fanIn);
  return uniform_(t, -bound, bound);
}

/** Xavier (Glorot) uniform: U(−b, b), b = gain·√(6 / (fan_in + fan_out)). */
export function xavierUniform_(t: Tensor, gain = 1): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -bound, bound);
}
