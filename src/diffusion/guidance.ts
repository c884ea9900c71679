// Classifier-free guidance (Ho & Salimans 2022, eq. 6 in the ε form used by diffusers):
//   ε̃ = ε_uncond + w · (ε_cond − ε_uncond).
// NFE convention (docs/methods.md): a network call counts 1 per sample batch evaluated, so a guided step
// (w ≠ 1) costs 2 NFE (conditional and unconditional) and an unguided one (w = 1) costs 1: at
// w = 1 the unconditional branch cancels and is not evaluated. A caller that batches both branches
// into one forward pass of doubled batch still counts 2.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** uncond + scale · (cond − uncond). Works on ε, v or x̂0 outputs alike (the map is affine). */
export function cfg(uncond: Tensor, cond: Tensor, scale: number): Tensor {
  if (!Number.isFinite(scale)) throw new Error(`cfg: scale must be a finite number, got ${scale}`);
  if (uncond.shape.length !== cond.shape.length || uncond.shape.some((s, i) => s !== cond.shape[i])) {
    throw new Error(`cfg: uncond [${uncond.shape.join(', ')}] and cond [${cond.shape.join(', ')}] differ in shape`);
  }
  if (scale === 1) return cond.view(cond.shape);
  return torch.tidy(() => uncond.add(cond.sub(uncond), scale));
}

/** Network evaluations per denoising step at guidance scale w: 2 when w ≠ 1, else 1. */
export function nfePerStep(scale: number): number {
  return scale === 1 ? 1 : 2;
}
