// The text-to-image model as one unit: tokenizer + text encoder + UNet + noise-schedule settings,
// saved as a checkpoint directory: model.safetensors (keys `text_encoder.…` and `unet.…`) and
// config.json (everything needed to rebuild it), in the spirit of a diffusers pipeline folder.
import { z } from 'zod';
import type { Device, Tensor } from '../torch/index.js';
import { Tokenizer, TokenizerConfigSchema } from './tokenizer.js';
import { TextEncoder, TextEncoderConfigSchema, type TextEncoding } from './text-encoder.js';
import { UNet2DConditionModel } from './unet.js';
import { fromPretrained, savePretrained, type PretrainedKind } from './pretrained.js';

export const ModelConfigSchema = z.object({
  format: z.literal('sharpen-t2i/1'),
  tokenizer: TokenizerConfigSchema,
  textEncoder: TextEncoderConfigSchema,
  unet: z.object({
    sampleSize: z.number().int().positive(),
    inChannels: z.number().int().positive(),
    outChannels: z.number().int().positive(),
    blockOutChannels: z.array(z.number().int().positive()).min(1),
    crossAttention: z.array(z.boolean()).min(1),
    layersPerBlock: z.number().int().min(1),
    crossAttentionDim: z.number().int().positive(),
    attentionHeadDim: z.number().int().positive(),
    normNumGroups: z.number().int().positive(),
    predictionType: z.enum(['epsilon', 'v_prediction']),
  }).strict(),
  schedule: z.object({
    numTrainTimesteps: z.number().int().positive(),
    betaSchedule: z.enum(['linear', 'scaled_linear', 'cosine']),
    betaStart: z.number().positive(),
    betaEnd: z.number().positive(),
  }).strict(),
  /** defaults for sampling with this model */
  sampling: z.object({ steps: z.number().int().positive(), guidanceScale: z.number().min(0) }).strict(),
}).strict();

export type ModelConfig = z.infer<typeof ModelConfigSchema>;

const T2I_CHECKPOINT: PretrainedKind<ModelConfig> = { what: 'checkpoint', schema: ModelConfigSchema };

export class TextToImageModel {
  readonly tokenizer: Tokenizer;
  readonly textEncoder: TextEncoder;
  readonly unet: UNet2DConditionModel;

  constructor(readonly config: ModelConfig) {
    ModelConfigSchema.parse(config);
    this.tokenizer = new Tokenizer(config.tokenizer);
    if (config.textEncoder.vocabSize !== this.tokenizer.vocabSize) {
      throw new Error(`model config: textEncoder.vocabSize ${config.textEncoder.vocabSize} ≠ tokenizer's ${this.tokenizer.vocabSize}`);
    }
    if (config.unet.crossAttentionDim !== config.textEncoder.hiddenSize) {
      throw new Error(`model config: unet.crossAttentionDim ${config.unet.crossAttentionDim} ≠ textEncoder.hiddenSize ${config.textEncoder.hiddenSize}`);
    }
    this.textEncoder = new TextEncoder(config.textEncoder);
    this.unet = new UNet2DConditionModel(config.unet);
  }

  /** Encodes prompts ('' is the unconditional prompt of classifier-free guidance). */
  encode(prompts: string[]): TextEncoding {
    return this.textEncoder.encodeTexts(this.tokenizer, prompts);
  }

  /** Network evaluations × images so far: the UNet's count (each forward() adds its batch size). */
  get nfe(): number {
    return this.unet.nfe;
  }

  /** The UNet's output (ε or v) for x_t at timesteps t under an encoding. */
  predict(x: Tensor, t: Tensor, text: TextEncoding): Tensor {
    return this.unet.forward(x, t, { context: text.hidden, mask: text.mask });
  }

  stateDict(): Record<string, Tensor> {
    const sd: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(this.textEncoder.stateDict())) sd[`text_encoder.${k}`] = v;
    for (const [k, v] of Object.entries(this.unet.stateDict())) sd[`unet.${k}`] = v;
    return sd;
  }

  loadStateDict(sd: Record<string, Tensor>): void {
    const split = (prefix: string) =>
      Object.fromEntries(Object.entries(sd).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    const unknown = Object.keys(sd).filter((k) => !k.startsWith('text_encoder.') && !k.startsWith('unet.'));
    if (unknown.length) throw new Error(`model weights: unexpected keys ${unknown.slice(0, 5).join(', ')}`);
    this.textEncoder.loadStateDict(split('text_encoder.'));
    this.unet.loadStateDict(split('unet.'));
  }

  numParameters(): { textEncoder: number; unet: number } {
    return { textEncoder: this.textEncoder.numParameters(), unet: this.unet.numParameters() };
  }

  train(on = true): this {
    this.textEncoder.train(on);
    this.unet.train(on);
    return this;
  }

  /** Moves the text encoder and the UNet to `device` in place (Module.to). */
  to(device: Device): this {
    this.textEncoder.to(device);
    this.unet.to(device);
    return this;
  }

  dispose(): void {
    this.textEncoder.dispose();
    this.unet.dispose();
  }

  /**
   * Writes config.json and model.safetensors into `dir` (weights: this model's, or `weights` when
   * given, e.g. an EMA copy). Each file is written to a temporary name and renamed.
   */
  async save(dir: string, opts: { weights?: Record<string, Tensor>; extra?: Record<string, unknown> } = {}): Promise<void> {
    await savePretrained(dir, this.config, opts.weights ?? this.stateDict(), opts.extra);
  }

  /** Loads a checkpoint directory written by save(); a bad or missing file is an Error naming it. */
  static async load(dir: string): Promise<TextToImageModel> {
    return fromPretrained(dir, T2I_CHECKPOINT, (config) => new TextToImageModel(config));
  }
}
