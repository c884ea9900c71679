// torch.autograd.grad: gradients of outputs with respect to inputs, without touching .grad.
import { N } from './native.js';
import { Tensor, wrapHandle } from './tensor.js';

export function grad(
  outputs: Tensor | Tensor[],
  inputs: Tensor | Tensor[],
  opts: { gradOutputs?: Tensor[]; retainGraph?: boolean; createGraph?: boolean; allowUnused?: boolean } = {},
): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const r = N.autogradGrad(
    outs.map((t) => t._h), ins.map((t) => t._h), opts.gradOutputs ? opts.gradOutputs.map((t) => t._h) : null,
    opts.retainGraph ?? null, opts.createGraph ?? false, opts.allowUnused ?? false,
  );
  return r.map((h) => (h === null ? null : wrapHandle(h)));
}
