// Stochastic gradient descent with momentum, dampening, Nesterov momentum and (L2) weight decay,
// as torch.optim.SGD (https://pytorch.org/docs/stable/generated/torch.optim.SGD.html):
//
//   g_t ← ∇θ f_t(θ_{t−1})
//   if λ ≠ 0:  g_t ← g_t + λ θ_{t−1}
//   if μ ≠ 0:
//     b_t ← g_t                        at the first step (no buffer yet)
//     b_t ← μ b_{t−1} + (1 − τ) g_t    afterwards
//     g_t ← g_t + μ b_t                if nesterov,  else  g_t ← b_t
//   θ_t ← θ_{t−1} − γ g_t
//
// with γ = lr, λ = weightDecay, μ = momentum, τ = dampening.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { checkRange, Optimizer, type GroupOptions, type ParamGroupInput, type ParamState } from './optimizer.js';

export interface SGDOptions extends GroupOptions {
  /** γ (default 1e-3, as in recent PyTorch) */
  lr: number;
  /** μ (default 0: plain SGD, no state) */
  momentum: number;
  /** τ (default 0) */
  dampening: number;
  /** λ, an L2 penalty added to the gradient (default 0) */
  weightDecay: number;
  /** Nesterov momentum; needs momentum > 0 and dampening 0 (default false) */
  nesterov: boolean;
}

export const SGD_DEFAULTS: SGDOptions = { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false };

export class SGD extends Optimizer<SGDOptions> {
  constructor(params: Tensor[] | ParamGroupInput<SGDOptions>[], opts: Partial<SGDOptions> = {}) {
    super('SGD', params, SGD_DEFAULTS, opts);
  }

  protected checkOptions(o: SGDOptions, where: string): void {
    checkRange(o.lr, 'lr', where, 0);
    checkRange(o.momentum, 'momentum', where, 0);
    checkRange(o.dampening, 'dampening', where, 0);
    checkRange(o.weightDecay, 'weightDecay', where, 0);
    if (typeof o.nesterov !== 'boolean') throw new Error(`${where}: nesterov must be a boolean, got ${String(o.nesterov)}`);
    if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
      throw new Error(`${where}: nesterov needs momentum > 0 and dampening 0 (got momentum ${o.momentum}, dampening ${o.dampening})`);
    }
  }

  protected bufferNames(): readonly string[] {
    return ['momentum_buffer'];
  }

  protected update(p: Tensor, grad: Tensor, o: SGDOptions, s: ParamState): void {
    let g = o.weightDecay !== 0 ? grad.add(p, o.weightDecay) : grad; // g_t + λ θ_{t−1}
    if (o.momentum !== 0) {
      let b = s.buffers.momentum_buffer;
      if (b === undefined) {
        b = s.buffers.momentum_buffer = torch.keep(g.clone()); // b_1 ← g_1
      } else {
        b.mul_(o.momentum).add_(g, 1 - o.dampening); // b_t ← μ b_{t−1} + (1 − τ) g_t
      }
      g = o.nesterov ? g.add(b, o.momentum) : b;
    }
    p.add_(g, -o.lr); // θ_t ← θ_{t−1} − γ g_t
  }
}
