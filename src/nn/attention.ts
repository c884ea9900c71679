// Multi-head attention, self and cross, named as diffusers' Attention (to_q, to_k, to_v, to_out.0)
// so that real checkpoints map onto it.
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import { Module } from './module.js';
import { Dropout, Linear, ModuleList } from './layers.js';

export interface AttentionOptions {
  /** channels of the context for cross-attention (default: self-attention, = queryDim) */
  crossAttentionDim?: number;
  heads?: number;
  dimHead?: number;
  dropout?: number;
  /** bias on to_q, to_k, to_v (diffusers' default: none) */
  qkvBias?: boolean;
}

export class Attention extends Module {
  readonly heads: number;
  readonly dimHead: number;
  readonly isCross: boolean;
  readonly toQ: Linear;
  readonly toK: Linear;
  readonly toV: Linear;
  readonly toOut: ModuleList;

  constructor(readonly queryDim: number, opts: AttentionOptions = {}) {
    super();
    this.heads = opts.heads ?? 8;
    this.dimHead = opts.dimHead ?? Math.floor(queryDim / this.heads);
    if (this.dimHead <= 0) throw new Error(`Attention: queryDim ${queryDim} is too small for ${this.heads} heads`);
    const inner = this.heads * this.dimHead;
    const ctxDim = opts.crossAttentionDim ?? queryDim;
    this.isCross = opts.crossAttentionDim !== undefined;
    const bias = opts.qkvBias ?? false;
    this.toQ = this.registerModule('to_q', new Linear(queryDim, inner, { bias }));
    this.toK = this.registerModule('to_k', new Linear(ctxDim, inner, { bias }));
    this.toV = this.registerModule('to_v', new Linear(ctxDim, inner, { bias }));
    this.toOut = this.registerModule('to_out', new ModuleList([new Linear(inner, queryDim), new Dropout(opts.dropout ?? 0)]));
  }

  /**
   * x [B, L, queryDim]; context [B, S, crossAttentionDim] (default x); mask [B, S] boolean, true for
   * keys to attend to (e.g. non-padding tokens). Returns [B, L, queryDim].
   */
  forward(x: Tensor, context?: Tensor | null, mask?: Tensor | null): Tensor {
    return torch.tidy(() => {
      const ctx = context ?? x;
      const [B, L] = x.shape as [number, number];
      const S = ctx.shape[1]!;
      const split = (t: Tensor, n: number) => t.reshape(B, n, this.heads, this.dimHead).transpose(1, 2); // [B, h, n, d]
      const q = split(this.toQ.forward(x), L);
      const k = split(this.toK.forward(ctx), S);
      const v = split(this.toV.forward(ctx), S);
      const m = mask ? mask.reshape(B, 1, 1, S) : null; // broadcast over heads and queries
      const o = F.attention(q, k, v, { mask: m }); // [B, h, L, d]
      const merged = o.transpose(1, 2).reshape(B, L, this.heads * this.dimHead);
      const out = (this.toOut.at(0) as Linear).forward(merged);
      return (this.toOut.at(1) as Dropout).forward(out);
    });
  }
}
