// A small CLIP for the embedded world (Radford et al., 2021, "Learning Transferable Visual Models
// From Natural Language Supervision"): an image encoder and a text encoder, each followed by a
// linear projection (no bias) into a shared D-dimensional space where embeddings are L2-normalised,
// and a learned temperature τ stored as logit_scale = log(1/τ), initialised to log(1/0.07) and
// clamped at log(100) (§2.5 and Figure 3's pseudocode).
//
// Image encoder: a small convolutional network for 32×32 RGB (chosen over a ViT for quality per
// CPU-minute: convolutions are the cheapest way to see shapes and textures at this size). A stem
// convolution, then per stage a residual block (GroupNorm, SiLU, 3×3 convolution, twice; He et al.
// 2016 with pre-activation) and a stride-2 convolution; the last feature map (4×4 for three stages)
// is flattened, not pooled, so where things are (left of, above) survives into the embedding.
// GroupNorm keeps every image's embedding independent of the rest of the batch.
// Text encoder: src/models/text-encoder.ts (CLIP's text-model layout, pooled at <eos>) over the
// world's words.
//
// Saved as a directory: config.json (format 'sharpen-clip/1', with the tokenizer's vocabulary) and
// model.safetensors (keys `vision.…`, `text_encoder.…`, `visual_projection.weight`,
// `text_projection.weight`, `logit_scale`).
import { z } from 'zod';
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import * as nn from '../nn/index.js';
import { Tokenizer, TokenizerConfigSchema } from './tokenizer.js';
import { TextEncoder, TextEncoderConfigSchema } from './text-encoder.js';
import { fromPretrained, readPretrainedConfig, savePretrained, type PretrainedKind } from './pretrained.js';
import { formatZodError } from '../util/config.js';

export const CLIP_FORMAT = 'sharpen-clip/1';

export const ClipConfigSchema = z
  .object({
    format: z.literal(CLIP_FORMAT),
    tokenizer: TokenizerConfigSchema,
    textEncoder: TextEncoderConfigSchema,
    vision: z
      .object({
        /** side of the (square) input the network is built for; other sizes are resized to it */
        imageSize: z.number().int().min(4),
        /** channels of each stage; each stage halves the resolution */
        channels: z.array(z.number().int().positive()).min(1).max(5),
        /** residual blocks per stage */
        blocksPerStage: z.number().int().min(0).max(4),
        /** GroupNorm groups (must divide every stage's channels) */
        groups: z.number().int().positive(),
      })
      .strict(),
    /** width of the shared embedding space */
    embedDim: z.number().int().positive(),
  })
  .strict();
export type ClipConfig = z.infer<typeof ClipConfigSchema>;

const CLIP_CHECKPOINT: PretrainedKind<ClipConfig> = {
  what: 'CLIP checkpoint',
  schema: ClipConfigSchema,
  notFound: (dir) => `CLIP checkpoint ${dir} not found (train one with: npx sharpen train-clip --out ${dir})`,
};

/** Pre-activation residual block: x + conv(σ(GN(conv(σ(GN(x)))))). */
class ResBlock extends nn.Module {
  readonly norm1: nn.GroupNorm;
  readonly conv1: nn.Conv2d;
  readonly norm2: nn.GroupNorm;
  readonly conv2: nn.Conv2d;
  constructor(ch: number, groups: number) {
    super();
    this.norm1 = this.registerModule('norm1', new nn.GroupNorm(groups, ch));
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(ch, ch, 3, { padding: 1 }));
    this.norm2 = this.registerModule('norm2', new nn.GroupNorm(groups, ch));
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(ch, ch, 3, { padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const h = this.conv1.forward(F.silu(this.norm1.forward(x)));
      return x.add(this.conv2.forward(F.silu(this.norm2.forward(h))));
    });
  }
}

class Stage extends nn.Module {
  readonly blocks: nn.ModuleList<ResBlock>;
  readonly down: nn.Conv2d;
  constructor(ch: number, outCh: number, blocks: number, groups: number) {
    super();
    this.blocks = this.registerModule('blocks', new nn.ModuleList<ResBlock>());
    for (let i = 0; i < blocks; i++) this.blocks.push(new ResBlock(ch, groups));
    this.down = this.registerModule('downsample', new nn.Conv2d(ch, outCh, 3, { stride: 2, padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      let h = x;
      for (const b of this.blocks) h = b.forward(h);
      return this.down.forward(h);
    });
  }
}

/** The image tower: [N, 3, S, S] in [0, 1] → flattened features [N, C_last·(S/2^stages)²]. */
export class ClipVision extends nn.Module {
  readonly stem: nn.Conv2d;
  readonly stages: nn.ModuleList<Stage>;
  readonly norm: nn.GroupNorm;
  readonly outSide: number;
  readonly featureSize: number;
  constructor(readonly config: ClipConfig['vision']) {
    super();
    const { channels, groups, imageSize } = config;
    for (const c of channels) if (c % groups) throw new Error(`CLIP vision: ${c} channels are not divisible into ${groups} groups`);
    const stages = channels.length;
    if (imageSize % 2 ** stages) throw new Error(`CLIP vision: imageSize ${imageSize} is not divisible by 2^${stages} (one halving per stage)`);
    this.stem = this.registerModule('stem', new nn.Conv2d(3, channels[0]!, 3, { padding: 1 }));
    this.stages = this.registerModule('stages', new nn.ModuleList<Stage>());
    for (let s = 0; s < stages; s++) {
      this.stages.push(new Stage(channels[s]!, channels[Math.min(s + 1, stages - 1)]!, config.blocksPerStage, groups));
    }
    const last = channels[stages - 1]!;
    this.norm = this.registerModule('norm', new nn.GroupNorm(groups, last));
    this.outSide = imageSize / 2 ** stages;
    this.featureSize = last * this.outSide * this.outSide;
  }
  forward(images01: Tensor): Tensor {
    return torch.tidy(() => {
      let h = this.stem.forward(images01.mul(2).sub(1)); // [N, C0, S, S], input in [−1, 1]
      for (const s of this.stages) h = s.forward(h);
      return F.silu(this.norm.forward(h)).flatten(1); // [N, C·s·s]
    });
  }
}

/** The options of a new CLIP (everything but the vocabulary, which comes from the world). */
export interface ClipArchitecture {
  embedDim: number;
  textEncoder: Omit<ClipConfig['textEncoder'], 'vocabSize'>;
  vision: ClipConfig['vision'];
}

/** A full config from an architecture and the tokenizer's words. */
export function clipConfigFor(arch: ClipArchitecture, words: string[]): ClipConfig {
  return {
    format: CLIP_FORMAT,
    tokenizer: { words: [...words], maxLength: arch.textEncoder.maxLength },
    textEncoder: { vocabSize: words.length + 4, ...arch.textEncoder },
    vision: { ...arch.vision },
    embedDim: arch.embedDim,
  };
}

const LOGIT_SCALE_INIT = Math.log(1 / 0.07);
const LOGIT_SCALE_MAX = Math.log(100);

export class ClipModel extends nn.Module {
  readonly tokenizer: Tokenizer;
  readonly vision: ClipVision;
  readonly textEncoder: TextEncoder;
  readonly visualProjection: nn.Linear;
  readonly textProjection: nn.Linear;
  /** log(1/τ), learned (CLIP §2.5) */
  logitScale: Tensor;

  constructor(readonly config: ClipConfig) {
    super();
    const parsed = ClipConfigSchema.safeParse(config);
    if (!parsed.success) throw new Error(formatZodError(parsed.error, 'CLIP config'));
    this.tokenizer = new Tokenizer(config.tokenizer);
    if (config.textEncoder.vocabSize !== this.tokenizer.vocabSize) {
      throw new Error(`CLIP config: textEncoder.vocabSize ${config.textEncoder.vocabSize} ≠ tokenizer's ${this.tokenizer.vocabSize}`);
    }
    if (config.textEncoder.maxLength !== config.tokenizer.maxLength) {
      throw new Error(`CLIP config: textEncoder.maxLength ${config.textEncoder.maxLength} ≠ tokenizer.maxLength ${config.tokenizer.maxLength}`);
    }
    this.vision = this.registerModule('vision', new ClipVision(config.vision));
    this.textEncoder = this.registerModule('text_encoder', new TextEncoder(config.textEncoder));
    this.visualProjection = this.registerModule('visual_projection', new nn.Linear(this.vision.featureSize, config.embedDim, { bias: false }));
    this.textProjection = this.registerModule('text_projection', new nn.Linear(config.textEncoder.hiddenSize, config.embedDim, { bias: false }));
    this.logitScale = this.registerParameter('logit_scale', torch.full([], LOGIT_SCALE_INIT));
  }

  get embedDim(): number {
    return this.config.embedDim;
  }

  /** images [N, 3, H, W] in [0, 1] → L2-normalised embeddings [N, D]; differentiable with respect to the images. */
  encodeImages(images01: Tensor): Tensor {
    const s = images01.shape;
    if (s.length !== 4 || s[1] !== 3) throw new Error(`CLIP.encodeImages: images must have shape [N, 3, H, W], got [${s.join(', ')}]`);
    if (!images01.dtype.startsWith('float')) throw new Error(`CLIP.encodeImages: images must be floating point in [0, 1], got ${images01.dtype}`);
    return torch.tidy(() => {
      const S = this.config.vision.imageSize;
      let x = images01.float();
      const [h, w] = [s[2]!, s[3]!];
      if (h !== S || w !== S) {
        // an integer multiple is averaged down (area); any other size is resampled bilinearly
        x = h === w && h % S === 0 ? F.avgPool2d(x, h / S) : F.interpolate(x, { size: S, mode: 'bilinear' });
      }
      return l2normalize(this.visualProjection.forward(this.vision.forward(x))); // [N, D]
    });
  }

  /** prompts → L2-normalised embeddings [N, D]. */
  encodeText(prompts: string[]): Tensor {
    if (!Array.isArray(prompts) || prompts.some((p) => typeof p !== 'string')) throw new Error('CLIP.encodeText: prompts must be an array of strings');
    return torch.tidy(() => {
      if (prompts.length === 0) return torch.zeros([0, this.embedDim]);
      const { pooled } = this.textEncoder.encodeTexts(this.tokenizer, prompts); // [N, hidden] at <eos>
      return l2normalize(this.textProjection.forward(pooled)); // [N, D]
    });
  }

  /** exp(logit_scale), clamped at 100 as in CLIP; a scalar tensor with a gradient to logit_scale. */
  temperatureScale(): Tensor {
    return torch.tidy(() => this.logitScale.clamp(null, LOGIT_SCALE_MAX).exp());
  }

  /** CLIP score: 100 · cos(image, prompt), one per pair [N] (Hessel et al. 2021 use w = 2.5 on top; here plain 100·cos). */
  score(images01: Tensor, prompts: string[]): Tensor {
    if (images01.shape[0] !== prompts.length) {
      throw new Error(`CLIP.score: ${images01.shape[0]} images but ${prompts.length} prompts`);
    }
    return torch.tidy(() => this.encodeImages(images01).mul(this.encodeText(prompts)).sum(1).mul(100));
  }

  /** Writes config.json and model.safetensors into `dir` (each to a temporary name, then renamed). */
  async save(dir: string, opts: { extra?: Record<string, unknown> } = {}): Promise<void> {
    await savePretrained(dir, this.config, this.stateDict(), opts.extra);
  }

  /** Reads and checks a checkpoint's config.json (and its optional `extra`). */
  static async readConfig(dir: string): Promise<{ config: ClipConfig; extra: Record<string, unknown> | undefined }> {
    return readPretrainedConfig(dir, CLIP_CHECKPOINT);
  }

  /** Loads a directory written by save(), in eval mode; a bad or missing file is an Error naming it. */
  static async load(dir: string): Promise<ClipModel> {
    const model = await fromPretrained(dir, CLIP_CHECKPOINT, (config) => new ClipModel(config));
    model.eval();
    return model;
  }
}

/** x / ‖x‖ along the last dimension (with a floor against division by zero). */
export function l2normalize(x: Tensor): Tensor {
  return torch.tidy(() => x.div(x.norm(2, -1, true).clamp(1e-8)));
}
