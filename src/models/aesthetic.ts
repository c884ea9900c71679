// The aesthetic predictor, LAION-aesthetics style (C. Schuhmann et al., "LAION-Aesthetics" and the
// improved aesthetic predictor: an MLP on the L2-normalised CLIP image embedding, trained with MSE
// on 1–10 ratings). Here the ratings are the scripted annotator's prompt-free ratings of base-model
// samples (docs/annotator.md) and CLIP is the project's small CLIP, frozen.
import { z } from 'zod';
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { fromPretrained, savePretrained, type PretrainedKind } from './pretrained.js';

export const AestheticConfigSchema = z
  .object({
    format: z.literal('sharpen-aesthetic/1'),
    /** width of the CLIP image embedding */
    embedDim: z.number().int().positive(),
    /** hidden widths of the MLP (LAION's: 1024, 128, 64, 16 on ViT-L/14's 768) */
    hidden: z.array(z.number().int().positive()).min(1),
    dropout: z.number().min(0).max(0.9),
    /** the CLIP checkpoint the head was trained on: a directory relative to this checkpoint, and its weights' SHA-256 */
    clip: z.object({ dir: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
    /** the ratings' mean and std, so the MLP regresses a standardised target */
    target: z.object({ mean: z.number(), std: z.number().positive() }).strict(),
  })
  .strict();

export type AestheticConfig = z.infer<typeof AestheticConfigSchema>;

const AESTHETIC_CHECKPOINT: PretrainedKind<AestheticConfig> = { what: 'aesthetic checkpoint', schema: AestheticConfigSchema };

/** L2-normalises embeddings along the last dimension (as LAION's predictor does). */
export function l2Normalize(x: Tensor): Tensor {
  return torch.tidy(() => x.div(x.norm(2, [x.ndim - 1], true).clamp(1e-6)));
}

export class AestheticHead extends nn.Module {
  readonly layers: nn.ModuleList<nn.Linear>;
  constructor(readonly config: AestheticConfig) {
    super();
    AestheticConfigSchema.parse(config);
    this.layers = this.registerModule('layers', new nn.ModuleList<nn.Linear>());
    const widths = [config.embedDim, ...config.hidden, 1];
    for (let i = 0; i + 1 < widths.length; i++) this.layers.push(new nn.Linear(widths[i]!, widths[i + 1]!));
  }

  /** Predicted rating for raw (unnormalised) CLIP image embeddings [N, D] → [N], on the 1–10 scale (not clamped). */
  forward(embeddings: Tensor): Tensor {
    return torch.tidy(() => {
      if (embeddings.ndim !== 2 || embeddings.shape[1] !== this.config.embedDim) {
        throw new Error(`aesthetic head: expected embeddings [N, ${this.config.embedDim}], got [${embeddings.shape.join(', ')}]`);
      }
      let h = l2Normalize(embeddings.float());
      const n = this.layers.length;
      for (let i = 0; i < n; i++) {
        h = this.layers.at(i).forward(h);
        if (i + 1 < n) h = F.dropout(F.gelu(h), this.config.dropout, this.training);
      }
      const { mean, std } = this.config.target;
      return h.squeeze(1).mul(std).add(mean);
    });
  }

  /** Writes config.json and model.safetensors into `dir`. */
  async save(dir: string, extra?: Record<string, unknown>): Promise<void> {
    await savePretrained(dir, this.config, this.stateDict(), extra);
  }

  /** Loads a checkpoint written by save(), frozen and in eval mode. */
  static async load(dir: string): Promise<AestheticHead> {
    const head = await fromPretrained(dir, AESTHETIC_CHECKPOINT, (config) => new AestheticHead(config));
    head.requiresGrad_(false);
    head.eval();
    return head;
  }
}

/** Pearson correlation of two equal-length series (NaN when either is constant). */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (n !== b.length) throw new Error(`pearson: lengths ${n} and ${b.length} differ`);
  if (n < 2) return NaN;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]!; mb += b[i]!; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma, db = b[i]! - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

/** Ranks with ties averaged (1-based). */
function ranks(a: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: a.length }, (_, i) => i).sort((i, j) => a[i]! - a[j]!);
  const r = new Float64Array(a.length);
  for (let s = 0; s < idx.length; ) {
    let e = s;
    while (e + 1 < idx.length && a[idx[e + 1]!] === a[idx[s]!]) e++;
    const avg = (s + e) / 2 + 1;
    for (let k = s; k <= e; k++) r[idx[k]!] = avg;
    s = e + 1;
  }
  return r;
}

/** Spearman rank correlation (Pearson of the ranks, ties averaged). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return pearson(ranks(a), ranks(b));
}
