// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay
// Regularization", ICLR 2019, Algorithm 2), as torch.optim.AdamW
// (https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html):
//
//   g_t ← ∇θ f_t(θ_{t−1})
//   θ_t ← θ_{t−1} − γ λ θ_{t−1}                  (the decay, before and apart from the Adam step)
//   m_t ← β1 m_{t−1} + (1 − β1) g_t
//   v_t ← β2 v_{t−1} + (1 − β2) g_t²
//   m̂_t ← m_t / (1 − β1^t)
//   if amsgrad:  v_t^max ← max(v_{t−1}^max, v_t);  v̂_t ← v_t^max / (1 − β2^t)
//   else:        v̂_t ← v_t / (1 − β2^t)
//   θ_t ← θ_t − γ m̂_t / (√v̂_t + ε)
//
// with γ = lr, λ = weightDecay and m_0 = v_0 = v_0^max = 0; t counts the parameter's own updates.
// ε is added after the square root of the bias-corrected second moment. For amsgrad, the maximum
// is taken of the raw second moments and then bias-corrected with the current t, as PyTorch 2.x
// computes it (its 1.x documentation wrote the maximum of the bias-corrected moments).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { checkRange, Optimizer, type GroupOptions, type ParamGroupInput, type ParamState } from './optimizer.js';

export interface AdamWOptions extends GroupOptions {
  /** γ (default 1e-3) */
  lr: number;
  /** [β1, β2], the decay rates of the moment averages (default [0.9, 0.999]) */
  betas: [number, number];
  /** ε, added to the denominator (default 1e-8) */
  eps: number;
  /** λ, decoupled: θ ← θ (1 − γ λ) each step (default 1e-2) */
  weightDecay: number;
  /** the AMSGrad variant (Reddi et al., "On the Convergence of Adam and Beyond") (default false) */
  amsgrad: boolean;
}

export const ADAMW_DEFAULTS: AdamWOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false };

export class AdamW extends Optimizer<AdamWOptions> {
  constructor(params: Tensor[] | ParamGroupInput<AdamWOptions>[], opts: Partial<AdamWOptions> = {}) {
    super('AdamW', params, ADAMW_DEFAULTS, opts);
  }

  protected checkOptions(o: AdamWOptions, where: string): void {
    checkRange(o.lr, 'lr', where, 0);
    if (!Array.isArray(o.betas) || o.betas.length !== 2) throw new Error(`${where}: betas must be [β1, β2], got ${JSON.stringify(o.betas)}`);
    checkRange(o.betas[0], 'betas[0]', where, 0, 1, true);
    checkRange(o.betas[1], 'betas[1]', where, 0, 1, true);
    checkRange(o.eps, 'eps', where, 0);
    checkRange(o.weightDecay, 'weightDecay', where, 0);
    if (typeof o.amsgrad !== 'boolean') throw new Error(`${where}: amsgrad must be a boolean, got ${String(o.amsgrad)}`);
  }

  protected bufferNames(): readonly string[] {
    return ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'];
  }

  protected update(p: Tensor, g: Tensor, o: AdamWOptions, s: ParamState): void {
    const [beta1, beta2] = o.betas;
    const t = s.step;
    if (o.weightDecay !== 0) p.mul_(1 - o.lr * o.weightDecay); // θ_t ← θ_{t−1} − γ λ θ_{t−1}

    const m = (s.buffers.exp_avg ??= torch.keep(torch.zerosLike(p)));
    const v = (s.buffers.exp_avg_sq ??= torch.keep(torch.zerosLike(p)));
    m.mul_(beta1).add_(g, 1 - beta1); // m_t ← β1 m_{t−1} + (1 − β1) g_t
    v.mul_(beta2).addcmul_(g, g, 1 - beta2); // v_t ← β2 v_{t−1} + (1 − β2) g_t²

    let second = v;
    if (o.amsgrad) {
      const vMax = (s.buffers.max_exp_avg_sq ??= torch.keep(torch.zerosLike(p)));
      vMax.copy_(vMax.maximum(v)); // v_t^max ← max(v_{t−1}^max, v_t)
      second = vMax;
    }

    const biasCorrection1 = 1 - beta1 ** t;
    const biasCorrection2 = 1 - beta2 ** t;
    const denom = second.sqrt().div_(Math.sqrt(biasCorrection2)).add_(o.eps); // √v̂_t + ε
    p.addcdiv_(m, denom, -o.lr / biasCorrection1); // θ_t ← θ_t − γ m̂_t / (√v̂_t + ε)
  }
}
