// Layers with PyTorch's parameter names, shapes and default initialisations.
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import { Module, type UnaryModule } from './module.js';
import { kaimingUniform_, uniform_, fans } from './init.js';
import type { LoRA } from './lora.js';

type Pair = number | [number, number];

/**
 * y = x Wᵀ + b, W [out, in]. Init as torch.nn.Linear: W Kaiming-uniform (a = √5), b U(±1/√in).
 * A LoRA adapter (see lora.ts) may be attached as the child `lora_layer`.
 */
export class Linear extends Module implements UnaryModule {
  weight: Tensor;
  bias: Tensor | null;
  lora: LoRA | null = null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: { bias?: boolean } = {}) {
    super();
    checkPositive('Linear', { inFeatures, outFeatures });
    this.weight = this.registerParameter('weight', kaimingUniform_(torch.empty([outFeatures, inFeatures])));
    this.bias = null;
    if (opts.bias ?? true) {
      const bound = 1 / Math.sqrt(inFeatures);
      this.bias = this.registerParameter('bias', uniform_(torch.empty([outFeatures]), -bound, bound));
    }
  }

  forward(x: Tensor): Tensor {
    const lora = this.lora;
    if (!lora || lora.merged) return F.linear(x, this.weight, this.bias);
    return torch.tidy(() => F.linear(x, this.weight, this.bias).add(lora.forward(x)));
  }
}

/** 2-d convolution; weight [out, in/groups, kh, kw], init as torch.nn.Conv2d. A LoRA adapter may be attached. */
export class Conv2d extends Module implements UnaryModule {
  weight: Tensor;
  bias: Tensor | null;
  lora: LoRA | null = null;
  readonly stride: Pair;
  readonly padding: Pair;
  readonly dilation: Pair;
  readonly groups: number;
  readonly kernelSize: [number, number];

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    opts: { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number; bias?: boolean } = {},
  ) {
    super();
    this.kernelSize = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    this.stride = opts.stride ?? 1;
    this.padding = opts.padding ?? 0;
    this.dilation = opts.dilation ?? 1;
    this.groups = opts.groups ?? 1;
    checkPositive('Conv2d', { inChannels, outChannels, kh: this.kernelSize[0], kw: this.kernelSize[1], groups: this.groups });
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new Error(`Conv2d: channels ${inChannels}→${outChannels} must be divisible by groups ${this.groups}`);
    }
    const w = torch.empty([outChannels, inChannels / this.groups, ...this.kernelSize]);
    this.weight = this.registerParameter('weight', kaimingUniform_(w));
    this.bias = null;
    if (opts.bias ?? true) {
      const bound = 1 / Math.sqrt(fans(w.shape).fanIn);
      this.bias = this.registerParameter('bias', uniform_(torch.empty([outChannels]), -bound, bound));
    }
  }

  forward(x: Tensor): Tensor {
    const conv = () => F.conv2d(x, this.weight, this.bias, {
      stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups,
    });
    const lora = this.lora;
    if (!lora || lora.merged) return conv();
    return torch.tidy(() => conv().add(lora.forward(x)));
  }
}

/** GroupNorm over [N, C, …] with a per-channel affine (weight 1, bias 0). */
export class GroupNorm extends Module implements UnaryModule {
  weight: Tensor | null = null;
  bias: Tensor | null = null;
  constructor(readonly numGroups: number, readonly numChannels: number, opts: { eps?: number; affine?: boolean } = {}) {
    super();
    checkPositive('GroupNorm', { numGroups, numChannels });
    if (numChannels % numGroups) throw new Error(`GroupNorm: ${numChannels} channels are not divisible into ${numGroups} groups`);
    this.eps = opts.eps ?? 1e-5;
    if (opts.affine ?? true) {
      this.weight = this.registerParameter('weight', torch.ones([numChannels]));
      this.bias = this.registerParameter('bias', torch.zeros([numChannels]));
    }
  }
  readonly eps: number;
  forward(x: Tensor): Tensor {
    return F.groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}

/** LayerNorm over the trailing `shape` dimensions. */
export class LayerNorm extends Module implements UnaryModule {
  weight: Tensor | null = null;
  bias: Tensor | null = null;
  readonly shape: number[];
  readonly eps: number;
  constructor(shape: number | number[], opts: { eps?: number; elementwiseAffine?: boolean } = {}) {
    super();
    this.shape = typeof shape === 'number' ? [shape] : shape;
    this.eps = opts.eps ?? 1e-5;
    if (opts.elementwiseAffine ?? true) {
      this.weight = this.registerParameter('weight', torch.ones(this.shape));
      this.bias = this.registerParameter('bias', torch.zeros(this.shape));
    }
  }
  forward(x: Tensor): Tensor {
    return F.layerNorm(x, this.shape, this.weight, this.bias, this.eps);
  }
}

/** A lookup table [num, dim], init N(0, 1) as torch.nn.Embedding. */
export class Embedding extends Module {
  weight: Tensor;
  constructor(readonly numEmbeddings: number, readonly embeddingDim: number) {
    super();
    checkPositive('Embedding', { numEmbeddings, embeddingDim });
    this.weight = this.registerParameter('weight', torch.randn([numEmbeddings, embeddingDim]));
  }
  forward(indices: Tensor): Tensor {
    return F.embedding(indices, this.weight);
  }
}

/** Zeroes elements with probability p in training (scaling the rest by 1/(1−p)); identity in eval. */
export class Dropout extends Module implements UnaryModule {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? F.dropout(x, this.p, true) : x.clone();
  }
}

export class SiLU extends Module implements UnaryModule {
  forward(x: Tensor): Tensor {
    return x.silu();
  }
}

export class Identity extends Module implements UnaryModule {
  forward(x: Tensor): Tensor {
    return x.clone();
  }
}

/** An indexable list of submodules named '0', '1', … */
export class ModuleList<M extends Module = Module> extends Module implements Iterable<M> {
  private readonly items: M[] = [];
  constructor(modules: M[] = []) {
    super();
    for (const m of modules) this.push(m);
  }
  push(m: M): void {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items[i < 0 ? i + this.items.length : i];
    if (!m) throw new Error(`ModuleList: index ${i} out of range (length ${this.items.length})`);
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

/** Applies its modules in order; intermediate tensors are freed. */
export class Sequential extends ModuleList<UnaryModule> implements UnaryModule {
  constructor(...modules: UnaryModule[]) {
    super(modules);
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let h = x;
      for (const m of this) h = m.forward(h);
      return h === x ? x.clone() : h;
    });
  }
}

function checkPositive(layer: string, dims: Record<string, number>): void {
  for (const [k, v] of Object.entries(dims)) {
    if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`${layer}: ${k} must be a positive integer, got ${v}`);
  }
}
