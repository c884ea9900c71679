// A small transformer text encoder in the layout of CLIP's text model (Radford et al., 2021):
// token + position embeddings, pre-LayerNorm blocks with causal-free self-attention over the
// non-padding tokens, a final LayerNorm; per-token embeddings for cross-attention and a pooled
// embedding taken at <eos>, as CLIP pools. Parameter names follow transformers' CLIPTextModel
// (`embeddings.token_embedding.weight`, `encoder.layers.0.self_attn.q_proj.weight`, …).
import { z } from 'zod';
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { Tokenizer, type Encoded } from './tokenizer.js';

/** The text encoder's part of a model's config.json (TextEncoderConfig). */
export const TextEncoderConfigSchema = z
  .object({
    vocabSize: z.number().int().positive(),
    maxLength: z.number().int().positive(),
    hiddenSize: z.number().int().positive(),
    layers: z.number().int().min(1),
    heads: z.number().int().min(1),
    mlpRatio: z.number().int().min(1),
  })
  .strict();

export interface TextEncoderConfig {
  vocabSize: number;
  maxLength: number;
  /** embedding width (the UNet's cross-attention dimension) */
  hiddenSize: number;
  layers: number;
  heads: number;
  /** MLP width as a multiple of hiddenSize */
  mlpRatio: number;
}

class Embeddings extends nn.Module {
  readonly token: nn.Embedding;
  readonly position: nn.Embedding;
  constructor(cfg: TextEncoderConfig) {
    super();
    this.token = this.registerModule('token_embedding', new nn.Embedding(cfg.vocabSize, cfg.hiddenSize));
    this.position = this.registerModule('position_embedding', new nn.Embedding(cfg.maxLength, cfg.hiddenSize));
    // CLIP initialises embeddings with std 0.02
    torch.noGrad(() => {
      this.token.weight.normal_(0, 0.02);
      this.position.weight.normal_(0, 0.01);
    });
  }
  forward(ids: Tensor): Tensor {
    return torch.tidy(() => {
      const L = ids.shape[1]!;
      const pos = torch.arange(0, L).unsqueeze(0); // [1, L]
      return this.token.forward(ids).add(this.position.forward(pos)); // [B, L, D]
    });
  }
}

class SelfAttention extends nn.Module {
  readonly q: nn.Linear;
  readonly k: nn.Linear;
  readonly v: nn.Linear;
  readonly out: nn.Linear;
  constructor(dim: number, private readonly heads: number) {
    super();
    this.q = this.registerModule('q_proj', new nn.Linear(dim, dim));
    this.k = this.registerModule('k_proj', new nn.Linear(dim, dim));
    this.v = this.registerModule('v_proj', new nn.Linear(dim, dim));
    this.out = this.registerModule('out_proj', new nn.Linear(dim, dim));
  }
  /** x [B, L, D], keep [B, 1, 1, L] boolean */
  forward(x: Tensor, keep: Tensor): Tensor {
    return torch.tidy(() => {
      const [B, L, D] = x.shape as [number, number, number];
      const dh = D / this.heads;
      const split = (t: Tensor) => t.reshape(B, L, this.heads, dh).transpose(1, 2); // [B, h, L, dh]
      const o = F.attention(split(this.q.forward(x)), split(this.k.forward(x)), split(this.v.forward(x)), { mask: keep });
      return this.out.forward(o.transpose(1, 2).reshape(B, L, D));
    });
  }
}

class Mlp extends nn.Module {
  readonly fc1: nn.Linear;
  readonly fc2: nn.Linear;
  constructor(dim: number, hidden: number) {
    super();
    this.fc1 = this.registerModule('fc1', new nn.Linear(dim, hidden));
    this.fc2 = this.registerModule('fc2', new nn.Linear(hidden, dim));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.fc2.forward(F.gelu(this.fc1.forward(x))));
  }
}

class EncoderLayer extends nn.Module {
  readonly ln1: nn.LayerNorm;
  readonly attn: SelfAttention;
  readonly ln2: nn.LayerNorm;
  readonly mlp: Mlp;
  constructor(cfg: TextEncoderConfig) {
    super();
    this.ln1 = this.registerModule('layer_norm1', new nn.LayerNorm(cfg.hiddenSize));
    this.attn = this.registerModule('self_attn', new SelfAttention(cfg.hiddenSize, cfg.heads));
    this.ln2 = this.registerModule('layer_norm2', new nn.LayerNorm(cfg.hiddenSize));
    this.mlp = this.registerModule('mlp', new Mlp(cfg.hiddenSize, cfg.hiddenSize * cfg.mlpRatio));
  }
  forward(x: Tensor, keep: Tensor): Tensor {
    return torch.tidy(() => {
      const h = x.add(this.attn.forward(this.ln1.forward(x), keep));
      return h.add(this.mlp.forward(this.ln2.forward(h)));
    });
  }
}

class Encoder extends nn.Module {
  readonly layers: nn.ModuleList<EncoderLayer>;
  constructor(cfg: TextEncoderConfig) {
    super();
    this.layers = this.registerModule('layers', new nn.ModuleList<EncoderLayer>());
    for (let i = 0; i < cfg.layers; i++) this.layers.push(new EncoderLayer(cfg));
  }
}

export interface TextEncoding {
  /** per-token embeddings [B, L, D] (the UNet's cross-attention context) */
  hidden: Tensor;
  /** pooled embedding at <eos> [B, D] */
  pooled: Tensor;
  /** [B, L] boolean, true for real tokens */
  mask: Tensor;
}

export class TextEncoder extends nn.Module {
  embeddings: Embeddings;
  encoder: Encoder;
  finalNorm: nn.LayerNorm;

  constructor(readonly config: TextEncoderConfig) {
    super();
    if (config.hiddenSize % config.heads) throw new Error(`TextEncoder: hiddenSize ${config.hiddenSize} is not divisible by ${config.heads} heads`);
    this.embeddings = this.registerModule('embeddings', new Embeddings(config));
    this.encoder = this.registerModule('encoder', new Encoder(config));
    this.finalNorm = this.registerModule('final_layer_norm', new nn.LayerNorm(config.hiddenSize));
  }

  /** Encodes token ids made by a Tokenizer with the same maxLength. */
  forward(enc: Encoded): TextEncoding {
    return torch.tidy(() => {
      const { batch: B, maxLength: L } = enc;
      if (L !== this.config.maxLength) throw new Error(`TextEncoder: sequences of length ${L}, the model takes ${this.config.maxLength}`);
      const ids = torch.fromTypedArray(enc.ids, [B, L]).long();
      const mask = torch.fromTypedArray(enc.mask, [B, L]).bool();
      const keep = mask.reshape(B, 1, 1, L);
      let h = this.embeddings.forward(ids);
      for (const layer of this.encoder.layers) h = layer.forward(h, keep);
      h = this.finalNorm.forward(h); // [B, L, D]
      const eos = torch.fromTypedArray(enc.eosIndex, [B]).long();
      const pooled = h.index([torch.arange(0, B), eos]); // [B, D]
      return { hidden: h, pooled, mask };
    });
  }

  /** Tokenises and encodes texts. */
  encodeTexts(tokenizer: Tokenizer, texts: string[]): TextEncoding {
    return this.forward(tokenizer.encode(texts));
  }
}
