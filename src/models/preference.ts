// The preference reward model (the ImageReward analogue): an image + prompt scorer s(x, c) trained
// on pairwise labels with the Bradley–Terry model, P(A ≻ B) = σ(s_A − s_B) (Bradley & Terry, 1952;
// the pairwise loss of ImageReward, Xu et al., 2023, §3.2 eq. 1). Ties count as half a win each, the
// target (½, ½) of PickScore's objective (Kirstain et al., 2023, "Pick-a-Pic", §4):
//
//   L = −[ y · log σ(s_A − s_B) + (1 − y) · log σ(s_B − s_A) ],   y = 1 (A), 0 (B), ½ (tie).
//
// Two image encoders, chosen by held-out agreement (README, "Reward models"):
//   'conv' — its own small convolutional encoder, FiLM-conditioned (Perez et al., 2018, "FiLM",
//            §2) at every level on the prompt's features from the world's text encoder (frozen,
//            copied from the base model so the checkpoint is self-contained);
//   'clip' — an MLP head on frozen CLIP embeddings [e_img, e_txt, e_img ⊙ e_txt, cos].
// Scores are standardised with the mean and std measured over base-model samples, so the reward is
// ≈ N(0, 1) on them, as ImageReward's are.
import { z } from 'zod';
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { Tokenizer, TokenizerConfigSchema } from './tokenizer.js';
import { TextEncoder, TextEncoderConfigSchema } from './text-encoder.js';
import type { ImageTextEmbedder } from './embedder.js';
import { fromPretrained, readPretrainedConfig, savePretrained, type PretrainedKind } from './pretrained.js';

export const PreferenceConfigSchema = z
  .object({
    format: z.literal('sharpen-preference/1'),
    /** which image encoder */
    encoder: z.enum(['conv', 'clip']),
    /** images are resized (bilinear) to this side before the conv encoder */
    imageSize: z.number().int().min(8),
    /** conv encoder: channels per level (each level after the first halves the resolution), GroupNorm groups */
    conv: z.object({ channels: z.array(z.number().int().positive()).min(1), groups: z.number().int().positive() }).strict().optional(),
    /** conv encoder: the world's tokenizer and text encoder (weights under text_encoder.) */
    tokenizer: TokenizerConfigSchema.optional(),
    textEncoder: TextEncoderConfigSchema
      .optional(),
    /** clip encoder: the CLIP checkpoint (relative to this checkpoint's directory) and its weights' SHA-256 */
    clip: z.object({ dir: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/), embedDim: z.number().int().positive() }).strict().optional(),
    /** the scoring MLP's hidden width and dropout */
    head: z.object({ hidden: z.number().int().positive(), dropout: z.number().min(0).max(0.9) }).strict(),
    /** reward = (s − mean) / std, measured over base-model samples */
    standardize: z.object({ mean: z.number(), std: z.number().positive() }).strict(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.encoder === 'conv') {
      for (const k of ['conv', 'tokenizer', 'textEncoder'] as const) if (!c[k]) ctx.addIssue({ code: 'custom', path: [k], message: `required by encoder 'conv'` });
    } else if (!c.clip) ctx.addIssue({ code: 'custom', path: ['clip'], message: `required by encoder 'clip'` });
  });

export type PreferenceConfig = z.infer<typeof PreferenceConfigSchema>;

const PREFERENCE_CHECKPOINT: PretrainedKind<PreferenceConfig> = { what: 'preference checkpoint', schema: PreferenceConfigSchema };

/** Target probability that A wins: 1, 0 or ½ (tie). */
export function choiceTarget(choice: 'A' | 'B' | 'tie'): number {
  if (choice === 'A') return 1;
  if (choice === 'B') return 0;
  if (choice === 'tie') return 0.5;
  throw new Error(`unknown choice '${String(choice)}' (expected A, B or tie)`);
}

/**
 * Bradley–Terry loss with ties as half (see the top of this file), averaged over pairs.
 * sA, sB [P] scores, y [P] targets in [0, 1]. L = log 2 when s_A = s_B, whatever y.
 */
export function bradleyTerryLoss(sA: Tensor, sB: Tensor, y: Tensor): Tensor {
  return torch.tidy(() => {
    if (sA.ndim !== 1 || sB.ndim !== 1 || y.ndim !== 1 || sA.shape[0] !== sB.shape[0] || sA.shape[0] !== y.shape[0]) {
      throw new Error(`bradleyTerryLoss: expected three [P] tensors, got [${sA.shape}], [${sB.shape}], [${y.shape}]`);
    }
    const d = sA.sub(sB); // [P]
    // −[y log σ(d) + (1 − y) log σ(−d)]
    return y.mul(F.logsigmoid(d)).add(y.rsub(1).mul(F.logsigmoid(d.neg()))).neg().mean();
  });
}

/**
 * Agreement of scores with labels. `agreement`: over decided pairs (ties excluded), the fraction whose
 * higher score is the chosen image (equal scores count ½). `agreementTiesHalf`: over all pairs, with
 * every tie counted as ½ (a scorer that never predicts ties gets exactly chance on them).
 */
export function pairAgreement(sA: ArrayLike<number>, sB: ArrayLike<number>, choices: readonly ('A' | 'B' | 'tie')[]): {
  agreement: number;
  decided: number;
  agreementTiesHalf: number;
  pairs: number;
} {
  let ok = 0, decided = 0, half = 0;
  choices.forEach((c, i) => {
    if (c === 'tie') {
      half += 0.5;
      return;
    }
    decided++;
    const d = sA[i]! - sB[i]!;
    const hit = d === 0 ? 0.5 : (d > 0) === (c === 'A') ? 1 : 0;
    ok += hit;
    half += hit;
  });
  return { agreement: decided ? ok / decided : NaN, decided, agreementTiesHalf: choices.length ? half / choices.length : NaN, pairs: choices.length };
}

class FiLMBlock extends nn.Module {
  readonly conv: nn.Conv2d;
  readonly norm: nn.GroupNorm;
  readonly film: nn.Linear;
  readonly down: nn.Conv2d | null;
  constructor(cin: number, cout: number | null, groups: number, textDim: number) {
    super();
    this.conv = this.registerModule('conv', new nn.Conv2d(cin, cin, 3, { padding: 1 }));
    this.norm = this.registerModule('norm', new nn.GroupNorm(Math.min(groups, cin), cin));
    this.film = this.registerModule('film', new nn.Linear(textDim, 2 * cin));
    // FiLM starts as the identity (γ = 0 → scale 1, β = 0)
    torch.noGrad(() => {
      this.film.weight.zero_();
      this.film.bias?.zero_();
    });
    this.down = cout === null ? null : this.registerModule('down', new nn.Conv2d(cin, cout, 3, { stride: 2, padding: 1 }));
  }
  /** x [N, C, H, W], t [N, T] → [N, C', H', W'] */
  forward(x: Tensor, t: Tensor): Tensor {
    return torch.tidy(() => {
      const C = x.shape[1]!;
      const [g, b] = this.film.forward(t).chunk(2, 1) as [Tensor, Tensor]; // [N, C] each
      let h = this.norm.forward(this.conv.forward(x));
      h = h.mul(g.add(1).reshape(-1, C, 1, 1)).add(b.reshape(-1, C, 1, 1));
      h = x.add(F.silu(h)); // residual
      return this.down ? this.down.forward(h) : h;
    });
  }
}

/**
 * The conv encoder: a stem, FiLM blocks (halving the resolution between levels), then the last
 * map average-pooled to 2×2 (where things are, coarsely: enough for left/right/above/below) and
 * max-pooled globally (whether something is anywhere).
 */
class ConvEncoder extends nn.Module {
  readonly stem: nn.Conv2d;
  readonly blocks: nn.ModuleList<FiLMBlock>;
  readonly outFeatures: number;
  constructor(imageSize: number, channels: number[], groups: number, textDim: number) {
    super();
    this.stem = this.registerModule('stem', new nn.Conv2d(3, channels[0]!, 3, { padding: 1 }));
    this.blocks = this.registerModule('blocks', new nn.ModuleList<FiLMBlock>());
    channels.forEach((c, i) => this.blocks.push(new FiLMBlock(c, i + 1 < channels.length ? channels[i + 1]! : null, groups, textDim)));
    let side = imageSize;
    for (let i = 1; i < channels.length; i++) side = Math.floor((side - 1) / 2) + 1;
    if (side < 2 || side % 2) throw new Error(`preference model: the last feature map is ${side}×${side}; it must be even (image size ${imageSize}, ${channels.length} levels)`);
    this.side = side;
    this.outFeatures = 5 * channels[channels.length - 1]!;
  }
  private readonly side: number;
  forward(x: Tensor, t: Tensor): Tensor {
    return torch.tidy(() => {
      let h = this.stem.forward(x);
      for (const b of this.blocks) h = b.forward(h, t);
      h = F.silu(h); // [N, C, s, s]
      const quad = F.avgPool2d(h, this.side / 2).flatten(1); // [N, 4C]
      const peak = h.amax([2, 3]); // [N, C]
      return torch.cat([quad, peak], 1); // [N, 5C]
    });
  }
}

class Mlp extends nn.Module {
  readonly fc1: nn.Linear;
  readonly fc2: nn.Linear;
  constructor(inF: number, hidden: number, private readonly dropout: number) {
    super();
    this.fc1 = this.registerModule('fc1', new nn.Linear(inF, hidden));
    this.fc2 = this.registerModule('fc2', new nn.Linear(hidden, 1));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.fc2.forward(F.dropout(F.silu(this.fc1.forward(x)), this.dropout, this.training)).squeeze(1));
  }
}

/** Text features for FiLM: [pooled at <eos>, masked mean of the tokens], layer-normalised. */
function textFeatures(te: TextEncoder, tok: Tokenizer, prompts: string[]): Tensor {
  return torch.tidy(() => {
    const enc = te.encodeTexts(tok, prompts);
    const m = enc.mask.float().unsqueeze(2); // [N, L, 1]
    const mean = enc.hidden.mul(m).sum([1]).div(m.sum([1]).clamp(1)); // [N, D]
    const f = torch.cat([enc.pooled, mean], 1); // [N, 2D]
    return F.layerNorm(f, [f.shape[1]!]);
  });
}

export class PreferenceModel extends nn.Module {
  readonly tokenizer: Tokenizer | null = null;
  readonly textEncoder: TextEncoder | null = null;
  readonly encoder: ConvEncoder | null = null;
  readonly head: Mlp;
  private textCache = new Map<string, Float32Array>();

  private cfg: PreferenceConfig;

  /** `clip` is required for encoder 'clip' (frozen; not owned by the model). */
  constructor(config: PreferenceConfig, readonly clip: ImageTextEmbedder | null = null) {
    super();
    this.cfg = PreferenceConfigSchema.parse(config);
    if (config.encoder === 'conv') {
      this.tokenizer = new Tokenizer(config.tokenizer!, () => {});
      this.textEncoder = this.registerModule('text_encoder', new TextEncoder(config.textEncoder!));
      this.textEncoder.requiresGrad_(false);
      const textDim = 2 * config.textEncoder!.hiddenSize;
      this.encoder = this.registerModule('encoder', new ConvEncoder(config.imageSize, config.conv!.channels, config.conv!.groups, textDim));
      this.head = this.registerModule('head', new Mlp(this.encoder.outFeatures, config.head.hidden, config.head.dropout));
    } else {
      if (!clip) throw new Error(`preference model: encoder 'clip' needs a CLIP embedder`);
      if (clip.embedDim !== config.clip!.embedDim) throw new Error(`preference model: CLIP embeds in ${clip.embedDim} dimensions, the head expects ${config.clip!.embedDim}`);
      this.head = this.registerModule('head', new Mlp(3 * clip.embedDim + 1, config.head.hidden, config.head.dropout));
    }
  }

  get config(): PreferenceConfig {
    return this.cfg;
  }

  /** Sets the standardisation (mean, std) measured over base-model samples. */
  setStandardization(mean: number, std: number): void {
    if (!Number.isFinite(mean) || !(std > 0) || !Number.isFinite(std)) throw new Error(`preference model: standardisation needs a finite mean and std > 0, got ${mean}, ${std}`);
    this.cfg = { ...this.cfg, standardize: { mean, std } };
  }

  /** The frozen text features of prompts (cached: the text side never trains). */
  private promptFeatures(prompts: string[]): Tensor {
    const te = this.textEncoder!;
    const missing = [...new Set(prompts.filter((p) => !this.textCache.has(p)))];
    if (missing.length) {
      const f = torch.noGrad(() => torch.tidy(() => textFeatures(te, this.tokenizer!, missing).contiguous().toFloat32Array()));
      const D = f.length / missing.length;
      missing.forEach((p, i) => this.textCache.set(p, f.slice(i * D, (i + 1) * D)));
    }
    const D = this.textCache.get(prompts[0]!)!.length;
    const all = new Float32Array(prompts.length * D);
    prompts.forEach((p, i) => all.set(this.textCache.get(p)!, i * D));
    return torch.fromTypedArray(all, [prompts.length, D]);
  }

  /**
   * For encoder 'clip': the head's input from precomputed (unnormalised) embeddings
   * img [N, D], txt [N, D] → [N, 3D + 1].
   */
  static clipFeatures(img: Tensor, txt: Tensor): Tensor {
    return torch.tidy(() => {
      const i = img.div(img.norm(2, [1], true).clamp(1e-6));
      const t = txt.div(txt.norm(2, [1], true).clamp(1e-6));
      const cos = i.mul(t).sum([1], true);
      return torch.cat([i, t, i.mul(t), cos], 1);
    });
  }

  /** Raw scores s(x, c) [N] for images [N, 3, H, W] in [0, 1]; differentiable with respect to the images. */
  forward(images01: Tensor, prompts: string[]): Tensor {
    return torch.tidy(() => {
      const N = images01.shape[0]!;
      if (images01.ndim !== 4 || images01.shape[1] !== 3) throw new Error(`preference model: images must be [N, 3, H, W], got [${images01.shape.join(', ')}]`);
      if (prompts.length !== N) throw new Error(`preference model: ${N} images but ${prompts.length} prompts`);
      if (this.config.encoder === 'clip') {
        const clip = this.clip!;
        const img = clip.encodeImages(images01);
        const txt = torch.noGrad(() => clip.encodeText(prompts));
        return this.head.forward(PreferenceModel.clipFeatures(img, txt));
      }
      const S = this.config.imageSize;
      let x = images01.float();
      if (x.shape[2] !== S || x.shape[3] !== S) x = F.interpolate(x, { size: [S, S], mode: 'bilinear' });
      x = x.mul(2).sub(1); // [-1, 1]
      const t = this.promptFeatures(prompts);
      return this.head.forward(this.encoder!.forward(x, t));
    });
  }

  /** The head alone on precomputed CLIP features [N, 3D + 1] (training on cached embeddings). */
  forwardClipFeatures(features: Tensor): Tensor {
    if (this.config.encoder !== 'clip') throw new Error('forwardClipFeatures: the model uses the conv encoder');
    return this.head.forward(features);
  }

  /** Standardised scores (s − mean) / std, as the reward reports them. */
  standardize(raw: Tensor): Tensor {
    const { mean, std } = this.config.standardize;
    return torch.tidy(() => raw.sub(mean).div(std));
  }

  /** Weights that belong to the checkpoint (the frozen CLIP is not one of them). */
  async save(dir: string, config: PreferenceConfig = this.config, extra?: Record<string, unknown>): Promise<void> {
    PreferenceConfigSchema.parse(config);
    await savePretrained(dir, config, this.stateDict(), extra);
  }

  /** Reads config.json (checked; `extra` is returned apart). */
  static async readConfig(dir: string): Promise<{ config: PreferenceConfig; extra: Record<string, unknown> }> {
    const { config, extra } = await readPretrainedConfig(dir, PREFERENCE_CHECKPOINT);
    return { config, extra: extra ?? {} };
  }

  /** Loads a checkpoint written by save(); encoder 'clip' needs the embedder (see rewards/preference.ts). */
  static async load(dir: string, clip: ImageTextEmbedder | null = null): Promise<PreferenceModel> {
    const model = await fromPretrained(dir, PREFERENCE_CHECKPOINT, (config) => new PreferenceModel(config, clip));
    model.requiresGrad_(false);
    model.eval();
    return model;
  }
}
