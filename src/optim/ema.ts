// An exponential moving average of parameters (Polyak averaging), kept beside the model and swapped
// in for evaluation and sampling, as diffusion models are evaluated. At each update
//
//   θ̄ ← d θ̄ + (1 − d) θ          (θ̄_0 = θ at construction)
//
// with d the decay, optionally warmed up over the first updates (n = updates made before this one):
//   'none'                 d = decay
//   'tf'                   d = min(decay, (1 + n) / (10 + n))      (tf.train.ExponentialMovingAverage
//                                                                   with num_updates)
//   { invGamma, power }    d = min(decay, 1 − (1 + n / invGamma)^(−power)), which is 0 at n = 0
//                          (the warm-up of diffusers' EMAModel, after Karras et al.; invGamma 1,
//                          power 2/3 by default)
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { sameShape, shapeString } from './optimizer.js';

export type EMAWarmup = 'none' | 'tf' | { invGamma?: number; power?: number };

export interface EMAOptions {
  /** the decay d (default 0.999) */
  decay?: number;
  /** how d rises over the first updates (default 'none') */
  warmup?: EMAWarmup;
}

export interface EMAMeta {
  decay: number;
  warmup: EMAWarmup;
  numUpdates: number;
  shapes: number[][];
}

export class EMA {
  /** the parameters averaged */
  readonly params: Tensor[];
  decay: number;
  warmup: EMAWarmup;
  /** updates made so far */
  numUpdates = 0;
  /** θ̄, one per parameter, owned by the EMA */
  private shadow: Tensor[];
  /** the parameters' own values while store() has swapped them out */
  private backup: Tensor[] | null = null;

  constructor(params: Tensor[], opts: EMAOptions = {}) {
    if (!Array.isArray(params) || params.length === 0) throw new Error('EMA: params must be a non-empty array of tensors');
    params.forEach((p, i) => {
      if (!(p instanceof torch.Tensor) || p.isDisposed) throw new Error(`EMA: params[${i}] is not a live Tensor`);
      if (!torch.isFloating(p.dtype)) throw new Error(`EMA: params[${i}] has dtype ${p.dtype}; only floating-point tensors can be averaged`);
    });
    this.params = [...params];
    this.decay = opts.decay ?? 0.999;
    this.warmup = opts.warmup ?? 'none';
    checkOptions(this.decay, this.warmup, 'EMA');
    this.shadow = torch.noGrad(() => this.params.map((p) => torch.keep(p.detach().clone())));
  }

  /** The decay the next update will use. */
  currentDecay(): number {
    const n = this.numUpdates;
    const w = this.warmup;
    if (w === 'none') return this.decay;
    if (w === 'tf') return Math.min(this.decay, (1 + n) / (10 + n));
    const { invGamma = 1, power = 2 / 3 } = w;
    return Math.min(this.decay, Math.max(0, 1 - (1 + n / invGamma) ** -power));
  }

  /** θ̄ ← d θ̄ + (1 − d) θ for every parameter. */
  update(): void {
    const d = this.currentDecay();
    torch.tidy(() =>
      torch.noGrad(() => {
        this.params.forEach((p, i) => this.shadow[i]!.mul_(d).add_(p, 1 - d));
      }),
    );
    this.numUpdates += 1;
  }

  /** Copies the averages into `params` (by default the averaged parameters themselves). */
  copyTo(params: Tensor[] = this.params): void {
    this.checkLike(params, 'copyTo');
    torch.noGrad(() => params.forEach((p, i) => p.copy_(this.shadow[i]!)));
  }

  /** Saves a copy of the parameters' values, to be put back by restore() (e.g. around copyTo for evaluation). */
  store(params: Tensor[] = this.params): void {
    this.checkLike(params, 'store');
    if (this.backup) throw new Error('EMA.store: values are already stored; call restore() first');
    this.backup = torch.noGrad(() => params.map((p) => torch.keep(p.detach().clone())));
  }

  /** Puts back the values saved by store() and frees the copy. */
  restore(params: Tensor[] = this.params): void {
    if (!this.backup) throw new Error('EMA.restore: nothing is stored; call store() first');
    this.checkLike(params, 'restore');
    const backup = this.backup;
    torch.noGrad(() => params.forEach((p, i) => p.copy_(backup[i]!)));
    for (const b of backup) b.dispose();
    this.backup = null;
  }

  /**
   * `shadow.<i>`: new handles on the live averages (the next update() changes them), and the
   * meta to save as JSON.
   */
  stateDict(): { tensors: Record<string, Tensor>; meta: EMAMeta } {
    const tensors: Record<string, Tensor> = {};
    this.shadow.forEach((s, i) => (tensors[`shadow.${i}`] = s.detach()));
    const meta = { decay: this.decay, warmup: structuredClone(this.warmup), numUpdates: this.numUpdates, shapes: this.params.map((p) => p.shape) };
    return { tensors, meta };
  }

  /** Loads a state dict of stateDict(); checked whole before anything changes; the tensors are copied. */
  loadStateDict(sd: { tensors: Record<string, Tensor>; meta: unknown }): void {
    const where = 'EMA.loadStateDict';
    const meta = sd?.meta as Partial<EMAMeta> | undefined;
    if (typeof meta !== 'object' || meta === null) throw new Error(`${where}: the state dict's meta is missing`);
    checkOptions(meta.decay, meta.warmup, where);
    if (!Number.isSafeInteger(meta.numUpdates) || meta.numUpdates! < 0) {
      throw new Error(`${where}: numUpdates must be a non-negative integer, got ${String(meta.numUpdates)}`);
    }
    if (!Array.isArray(meta.shapes) || meta.shapes.length !== this.params.length) {
      throw new Error(`${where}: the state dict has ${Array.isArray(meta.shapes) ? meta.shapes.length : 'no'} parameter shapes, this EMA has ${this.params.length} parameters`);
    }
    const tensors = sd.tensors ?? {};
    const names = this.params.map((_, i) => `shadow.${i}`);
    for (const name of Object.keys(tensors)) {
      if (!names.includes(name)) throw new Error(`${where}: unexpected tensor '${name}' (expected shadow.0 … shadow.${this.params.length - 1})`);
    }
    this.params.forEach((p, i) => {
      const t = tensors[names[i]!];
      if (!t) throw new Error(`${where}: tensor '${names[i]}' is missing from the state dict`);
      if (!(t instanceof torch.Tensor) || t.isDisposed) throw new Error(`${where}: tensor '${names[i]}' is not a live Tensor`);
      if (!sameShape(meta.shapes![i]!, p.shape)) {
        throw new Error(`${where}: parameter ${i} has shape ${shapeString(p.shape)} here but ${shapeString(meta.shapes![i]!)} in the state dict`);
      }
      if (!sameShape(t.shape, p.shape)) {
        throw new Error(`${where}: tensor '${names[i]}' has shape ${shapeString(t.shape)}, its parameter has ${shapeString(p.shape)}`);
      }
    });
    const shadow = torch.noGrad(() =>
      this.params.map((p, i) => torch.keep(tensors[names[i]!]!.to({ dtype: p.dtype, device: p.device as torch.Device, copy: true }))),
    );
    for (const s of this.shadow) s.dispose();
    this.shadow = shadow;
    this.decay = meta.decay!;
    this.warmup = structuredClone(meta.warmup!);
    this.numUpdates = meta.numUpdates!;
  }

  /** Frees the averages (and any stored copy). */
  dispose(): void {
    for (const s of this.shadow) s.dispose();
    for (const b of this.backup ?? []) b.dispose();
    this.backup = null;
  }

  private checkLike(params: Tensor[], fn: string): void {
    if (params.length !== this.params.length) {
      throw new Error(`EMA.${fn}: got ${params.length} tensors, the EMA averages ${this.params.length}`);
    }
    params.forEach((p, i) => {
      if (!sameShape(p.shape, this.params[i]!.shape)) {
        throw new Error(`EMA.${fn}: tensor ${i} has shape ${shapeString(p.shape)}, the averaged parameter ${shapeString(this.params[i]!.shape)}`);
      }
    });
  }
}

function checkOptions(decay: unknown, warmup: unknown, where: string): void {
  if (!(typeof decay === 'number' && decay >= 0 && decay <= 1)) throw new Error(`${where}: decay must be a number in [0, 1], got ${String(decay)}`);
  if (warmup === 'none' || warmup === 'tf') return;
  if (typeof warmup === 'object' && warmup !== null) {
    const { invGamma = 1, power = 2 / 3, ...rest } = warmup as { invGamma?: unknown; power?: unknown };
    if (Object.keys(rest).length) throw new Error(`${where}: unknown warmup option '${Object.keys(rest)[0]}' (valid: invGamma, power)`);
    if (typeof invGamma === 'number' && invGamma > 0 && typeof power === 'number' && power > 0) return;
    throw new Error(`${where}: warmup invGamma and power must be numbers > 0, got ${JSON.stringify(warmup)}`);
  }
  throw new Error(`${where}: warmup must be 'none', 'tf' or { invGamma, power }, got ${JSON.stringify(warmup)}`);
}
