// Gradient clipping by the total norm, as torch.nn.utils.clip_grad_norm_
// (https://pytorch.org/docs/stable/generated/torch.nn.utils.clip_grad_norm_.html):
//
//   total = ‖(‖g_1‖_p, …, ‖g_n‖_p)‖_p     (the p-norm of all gradients as one vector; max for p = ∞)
//   c     = maxNorm / (total + 1e-6)
//   if c < 1:  g_i ← c g_i                 (in place, for every parameter that has a gradient)
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface ClipOptions {
  /**
   * What a non-finite total norm (NaN or ±∞) does: true (default) throws an Error; false leaves
   * the gradients as they are and returns the norm, so that the caller can skip the step.
   */
  errorIfNonfinite?: boolean;
}

/**
 * Scales the gradients of `params` in place so that their total `normType`-norm is at most
 * `maxNorm`, and returns the total norm before clipping. Parameters without a gradient are left
 * out; with no gradient at all the norm is 0.
 */
export function clipGradNorm(params: Tensor | Tensor[], maxNorm: number, normType = 2, opts: ClipOptions = {}): number {
  if (!(typeof maxNorm === 'number' && maxNorm >= 0)) throw new Error(`clipGradNorm: maxNorm must be a number ≥ 0, got ${maxNorm}`);
  if (!(typeof normType === 'number' && normType > 0)) throw new Error(`clipGradNorm: normType must be a number > 0 (or Infinity), got ${normType}`);
  const list = params instanceof torch.Tensor ? [params] : params;
  return torch.tidy(() =>
    torch.noGrad(() => {
      const grads = list.map((p) => p.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return 0;
      const device = grads[0]!.device as torch.Device;
      // each gradient's norm, gathered in float64 on one device, then their norm
      const norms = grads.map((g) => g.norm(normType).to({ dtype: 'float64', device }));
      const total = torch.stack(norms).norm(normType).item();
      if (!Number.isFinite(total)) {
        if (opts.errorIfNonfinite ?? true) {
          throw new Error(
            `clipGradNorm: the total ${normType}-norm of the gradients of ${grads.length} parameters is ${total}; ` +
              'pass { errorIfNonfinite: false } to leave them unclipped and skip the step yourself',
          );
        }
        return total;
      }
      const coef = maxNorm / (total + 1e-6);
      if (coef < 1) for (const g of grads) g.mul_(coef);
      return total;
    }),
  );
}
