// LoRA: low-rank adapters on Linear and Conv2d (Hu et al., 2021, "LoRA: Low-Rank Adaptation of
// Large Language Models", Sec. 4.1): W x + (α / r) · B A x, with A [r, in] Kaiming-uniform and
// B [out, r] zero, so training starts from the base model. For a convolution, A is a convolution
// with the base's kernel, stride and padding into r channels, and B a 1×1 convolution (the layout
// of diffusers' LoRACompatibleConv). Adapters are children named `lora_layer` (with `down` and
// `up`), so the base weights keep their names and the adapter saves and loads alone.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Module } from './module.js';
import { Conv2d, Linear } from './layers.js';
import { zeros_ } from './init.js';

export interface LoRAOptions {
  rank: number;
  /** scale numerator: the update is (alpha / rank) · B A (default alpha = rank, i.e. scale 1) */
  alpha?: number;
}

export class LoRA extends Module {
  readonly down: Linear | Conv2d;
  readonly up: Linear | Conv2d;
  readonly scale: number;
  /** whether the update is folded into the base weight (forward then skips the adapter) */
  merged = false;

  constructor(readonly base: Linear | Conv2d, opts: LoRAOptions) {
    super();
    const r = opts.rank;
    if (!Number.isSafeInteger(r) || r <= 0) throw new Error(`LoRA: rank must be a positive integer, got ${r}`);
    this.scale = (opts.alpha ?? r) / r;
    if (base instanceof Linear) {
      this.down = this.registerModule('down', new Linear(base.inFeatures, r, { bias: false }));
      this.up = this.registerModule('up', new Linear(r, base.outFeatures, { bias: false }));
    } else {
      if (base.groups !== 1) throw new Error('LoRA: grouped convolutions are not supported');
      this.down = this.registerModule('down', new Conv2d(base.inChannels, r, base.kernelSize, {
        stride: base.stride, padding: base.padding, dilation: base.dilation, bias: false,
      }));
      this.up = this.registerModule('up', new Conv2d(r, base.outChannels, 1, { bias: false }));
    }
    zeros_(this.up.weight);
    this.down.weight.requiresGrad = true;
    this.up.weight.requiresGrad = true;
  }

  /** The adapter's contribution (α / r) · B A x. */
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.up.forward(this.down.forward(x)).mul(this.scale));
  }

  /** ΔW = (α / r) · B A in the base weight's shape. */
  delta(): Tensor {
    return torch.tidy(() => {
      const B = this.up.weight.flatten(1); // [out, r]
      const A = this.down.weight.flatten(1); // [r, in·kh·kw]
      return B.matmul(A).mul(this.scale).reshape(this.base.weight.shape);
    });
  }

  merge(): void {
    if (this.merged) return;
    torch.noGrad(() => torch.tidy(() => void this.base.weight.add_(this.delta())));
    this.merged = true;
  }

  unmerge(): void {
    if (!this.merged) return;
    torch.noGrad(() => torch.tidy(() => void this.base.weight.sub_(this.delta())));
    this.merged = false;
  }
}

/**
 * Attaches a LoRA adapter to every Linear and Conv2d whose dotted name matches `target`, and freezes
 * every other parameter of the model. Returns the names of the adapted layers.
 */
export function injectLoRA(model: Module, opts: LoRAOptions & { target: RegExp | ((name: string) => boolean) }): string[] {
  const match = typeof opts.target === 'function' ? opts.target : (n: string) => (opts.target as RegExp).test(n);
  const adapted: string[] = [];
  const targets = model.namedModules().filter(([name, m]) => (m instanceof Linear || m instanceof Conv2d) && match(name));
  model.requiresGrad_(false);
  for (const [name, m] of targets) {
    const layer = m as Linear | Conv2d;
    if (layer.lora) throw new Error(`injectLoRA: ${name} already has a LoRA adapter`);
    layer.lora = layer.registerModule('lora_layer', new LoRA(layer, opts));
    adapted.push(name);
  }
  if (adapted.length === 0) throw new Error(`injectLoRA: no Linear or Conv2d matched ${String(opts.target)}`);
  return adapted;
}

function adapters(model: Module): LoRA[] {
  return model.namedModules().map(([, m]) => m).filter((m): m is LoRA => m instanceof LoRA);
}

/** The adapter weights alone (names containing `.lora_layer.`), to save apart from the base. */
export function loraStateDict(model: Module): Record<string, Tensor> {
  const sd: Record<string, Tensor> = {};
  for (const [n, t] of Object.entries(model.stateDict())) if (n.includes('lora_layer.')) sd[n] = t;
  return sd;
}

/** Loads adapter weights saved by loraStateDict into a model with the same adapters (strict). */
export function loadLoRAStateDict(model: Module, sd: Record<string, Tensor>): void {
  const own = loraStateDict(model);
  const missing = Object.keys(own).filter((k) => !(k in sd));
  const unexpected = Object.keys(sd).filter((k) => !(k in own));
  const mismatched = Object.keys(own).filter((k) => k in sd && sd[k]!.shape.join() !== own[k]!.shape.join());
  if (missing.length || unexpected.length || mismatched.length) {
    throw new Error(
      `loadLoRAStateDict: missing [${missing.join(', ')}] unexpected [${unexpected.join(', ')}] mis-shaped [${mismatched.join(', ')}]`,
    );
  }
  torch.noGrad(() => torch.tidy(() => {
    for (const [k, t] of Object.entries(own)) t.copy_(sd[k]!);
  }));
}

export function mergeLoRA(model: Module): void {
  for (const a of adapters(model)) a.merge();
}

export function unmergeLoRA(model: Module): void {
  for (const a of adapters(model)) a.unmerge();
}
