// A text-conditional UNet with the shape and parameter names of diffusers' UNet2DConditionModel
// (src/diffusers/models/unets/unet_2d_condition.py and unet_2d_blocks.py), at small scale:
//   conv_in → time_proj (sinusoidal) → time_embedding (linear_1, SiLU, linear_2)
//   down_blocks.i: resnets.j (+ attentions.j where cross-attention is on), downsamplers.0 (not last)
//   mid_block: resnets.0, attentions.0, resnets.1
//   up_blocks.i: resnets.j (layersPerBlock + 1, each taking a skip), attentions.j, upsamplers.0
//   conv_norm_out → SiLU → conv_out
// Attention blocks are Transformer2DModel with linear projections (proj_in/proj_out) and one
// BasicTransformerBlock (self-attention attn1, cross-attention attn2 to the text, GEGLU feed-forward).
import * as torch from '../torch/index.js';
import { F, type Tensor } from '../torch/index.js';
import * as nn from '../nn/index.js';

export interface UNetConfig {
  sampleSize: number;
  inChannels: number;
  outChannels: number;
  /** channels per resolution level; each level after the first halves the resolution */
  blockOutChannels: number[];
  /** whether each level has cross-attention (the lower resolutions, as in Stable Diffusion) */
  crossAttention: boolean[];
  layersPerBlock: number;
  /** width of the text embeddings attended to */
  crossAttentionDim: number;
  attentionHeadDim: number;
  normNumGroups: number;
  /** 'epsilon' (predict the noise) or 'v_prediction' */
  predictionType: 'epsilon' | 'v_prediction';
}

/** Sinusoidal timestep embedding (Vaswani et al. 2017; diffusers' get_timestep_embedding with flip_sin_to_cos, shift 0). */
export function timestepEmbedding(t: Tensor, dim: number): Tensor {
  return torch.tidy(() => {
    const half = dim / 2;
    const freqs = torch.arange(0, half, 1, { dtype: 'float32' }).mul(-Math.log(10000) / half).exp(); // [half]
    const args = t.float().unsqueeze(1).mul(freqs.unsqueeze(0)); // [B, half]
    return torch.cat([args.cos(), args.sin()], 1); // [B, dim]
  });
}

class TimestepEmbedding extends nn.Module {
  readonly linear1: nn.Linear;
  readonly linear2: nn.Linear;
  constructor(inDim: number, dim: number) {
    super();
    this.linear1 = this.registerModule('linear_1', new nn.Linear(inDim, dim));
    this.linear2 = this.registerModule('linear_2', new nn.Linear(dim, dim));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.linear2.forward(this.linear1.forward(x).silu()));
  }
}

/** ResnetBlock2D: GN → SiLU → conv1 (+ time projection) → GN → SiLU → conv2, plus a 1×1 shortcut when channels change. */
export class ResnetBlock2D extends nn.Module {
  readonly norm1: nn.GroupNorm;
  readonly conv1: nn.Conv2d;
  readonly timeEmbProj: nn.Linear;
  readonly norm2: nn.GroupNorm;
  readonly conv2: nn.Conv2d;
  readonly convShortcut: nn.Conv2d | null = null;
  constructor(inC: number, outC: number, tembC: number, groups: number) {
    super();
    this.norm1 = this.registerModule('norm1', new nn.GroupNorm(Math.min(groups, inC), inC, { eps: 1e-5 }));
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(inC, outC, 3, { padding: 1 }));
    this.timeEmbProj = this.registerModule('time_emb_proj', new nn.Linear(tembC, outC));
    this.norm2 = this.registerModule('norm2', new nn.GroupNorm(Math.min(groups, outC), outC, { eps: 1e-5 }));
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(outC, outC, 3, { padding: 1 }));
    if (inC !== outC) this.convShortcut = this.registerModule('conv_shortcut', new nn.Conv2d(inC, outC, 1));
  }
  /** x [B, C, H, W], temb [B, T] */
  forward(x: Tensor, temb: Tensor): Tensor {
    return torch.tidy(() => {
      let h = this.conv1.forward(this.norm1.forward(x).silu());
      h = h.add(this.timeEmbProj.forward(temb.silu()).unsqueeze(2).unsqueeze(3)); // [B, C, 1, 1]
      h = this.conv2.forward(this.norm2.forward(h).silu());
      return (this.convShortcut ? this.convShortcut.forward(x) : x).add(h);
    });
  }
}

class GEGLU extends nn.Module {
  readonly proj: nn.Linear;
  constructor(dim: number, inner: number) {
    super();
    this.proj = this.registerModule('proj', new nn.Linear(dim, inner * 2));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => {
      const [a, gate] = this.proj.forward(x).chunk(2, -1) as [Tensor, Tensor];
      return a.mul(F.gelu(gate));
    });
  }
}

/** FeedForward as diffusers names it: net.0 = GEGLU, net.1 = dropout, net.2 = Linear. */
class FeedForward extends nn.Module {
  readonly net: nn.ModuleList;
  constructor(dim: number, mult = 4) {
    super();
    this.net = this.registerModule('net', new nn.ModuleList([new GEGLU(dim, dim * mult), new nn.Dropout(0), new nn.Linear(dim * mult, dim)]));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => (this.net.at(2) as nn.Linear).forward((this.net.at(0) as GEGLU).forward(x)));
  }
}

class BasicTransformerBlock extends nn.Module {
  readonly norm1: nn.LayerNorm;
  readonly attn1: nn.Attention;
  readonly norm2: nn.LayerNorm;
  readonly attn2: nn.Attention;
  readonly norm3: nn.LayerNorm;
  readonly ff: FeedForward;
  constructor(dim: number, heads: number, headDim: number, ctxDim: number) {
    super();
    this.norm1 = this.registerModule('norm1', new nn.LayerNorm(dim));
    this.attn1 = this.registerModule('attn1', new nn.Attention(dim, { heads, dimHead: headDim }));
    this.norm2 = this.registerModule('norm2', new nn.LayerNorm(dim));
    this.attn2 = this.registerModule('attn2', new nn.Attention(dim, { heads, dimHead: headDim, crossAttentionDim: ctxDim }));
    this.norm3 = this.registerModule('norm3', new nn.LayerNorm(dim));
    this.ff = this.registerModule('ff', new FeedForward(dim));
  }
  forward(x: Tensor, ctx: Tensor, ctxMask: Tensor | null): Tensor {
    return torch.tidy(() => {
      let h = x.add(this.attn1.forward(this.norm1.forward(x)));
      h = h.add(this.attn2.forward(this.norm2.forward(h), ctx, ctxMask));
      return h.add(this.ff.forward(this.norm3.forward(h)));
    });
  }
}

/** Transformer2DModel: GN → proj_in → transformer block over the H·W tokens → proj_out, residual. */
export class Transformer2D extends nn.Module {
  readonly norm: nn.GroupNorm;
  readonly projIn: nn.Linear;
  readonly blocks: nn.ModuleList<BasicTransformerBlock>;
  readonly projOut: nn.Linear;
  constructor(channels: number, headDim: number, ctxDim: number, groups: number) {
    super();
    const heads = Math.max(1, Math.floor(channels / headDim));
    this.norm = this.registerModule('norm', new nn.GroupNorm(Math.min(groups, channels), channels, { eps: 1e-6 }));
    this.projIn = this.registerModule('proj_in', new nn.Linear(channels, channels));
    this.blocks = this.registerModule('transformer_blocks', new nn.ModuleList([new BasicTransformerBlock(channels, heads, headDim, ctxDim)]));
    this.projOut = this.registerModule('proj_out', new nn.Linear(channels, channels));
  }
  forward(x: Tensor, ctx: Tensor, ctxMask: Tensor | null): Tensor {
    return torch.tidy(() => {
      const [B, C, H, W] = x.shape as [number, number, number, number];
      let h = this.norm.forward(x).permute(0, 2, 3, 1).reshape(B, H * W, C); // [B, HW, C]
      h = this.projIn.forward(h);
      for (const blk of this.blocks) h = blk.forward(h, ctx, ctxMask);
      h = this.projOut.forward(h).reshape(B, H, W, C).permute(0, 3, 1, 2);
      return h.add(x);
    });
  }
}

class Downsample2D extends nn.Module {
  readonly conv: nn.Conv2d;
  constructor(c: number) {
    super();
    this.conv = this.registerModule('conv', new nn.Conv2d(c, c, 3, { stride: 2, padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    return this.conv.forward(x);
  }
}

class Upsample2D extends nn.Module {
  readonly conv: nn.Conv2d;
  constructor(c: number) {
    super();
    this.conv = this.registerModule('conv', new nn.Conv2d(c, c, 3, { padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    return torch.tidy(() => this.conv.forward(F.interpolate(x, { scaleFactor: 2, mode: 'nearest' })));
  }
}

/** A resolution level: resnets (with attentions when cross-attention is on) and a resampler. */
class Block extends nn.Module {
  readonly resnets: nn.ModuleList<ResnetBlock2D>;
  readonly attentions: nn.ModuleList<Transformer2D> | null = null;
  readonly resampler: Downsample2D | Upsample2D | null = null;
  constructor(resnets: ResnetBlock2D[], attentions: Transformer2D[] | null, resampler: 'down' | 'up' | null, outC: number) {
    super();
    this.resnets = this.registerModule('resnets', new nn.ModuleList(resnets));
    if (attentions) this.attentions = this.registerModule('attentions', new nn.ModuleList(attentions));
    if (resampler === 'down') this.resampler = this.registerModule('downsamplers', new nn.ModuleList([new Downsample2D(outC)])).at(0);
    if (resampler === 'up') this.resampler = this.registerModule('upsamplers', new nn.ModuleList([new Upsample2D(outC)])).at(0);
  }
}

export interface UNetConditioning {
  /** text embeddings [B, L, crossAttentionDim] */
  context: Tensor;
  /** [B, L] boolean, true for real tokens (null: attend to all) */
  mask?: Tensor | null;
}

export class UNet2DConditionModel extends nn.Module {
  readonly convIn: nn.Conv2d;
  readonly timeEmbedding: TimestepEmbedding;
  readonly downBlocks: nn.ModuleList<Block>;
  readonly midBlock: Block;
  readonly upBlocks: nn.ModuleList<Block>;
  readonly convNormOut: nn.GroupNorm;
  readonly convOut: nn.Conv2d;
  private readonly timeProjDim: number;
  /** network evaluations × images: forward() adds its batch size (CFG's doubled batch counts 2) */
  nfe = 0;

  constructor(readonly config: UNetConfig) {
    super();
    validateConfig(config);
    const ch = config.blockOutChannels;
    const g = config.normNumGroups;
    const n = ch.length;
    this.timeProjDim = ch[0]!;
    const tembC = ch[0]! * 4;
    const attn = (c: number) => new Transformer2D(c, config.attentionHeadDim, config.crossAttentionDim, g);

    this.convIn = this.registerModule('conv_in', new nn.Conv2d(config.inChannels, ch[0]!, 3, { padding: 1 }));
    this.timeEmbedding = this.registerModule('time_embedding', new TimestepEmbedding(this.timeProjDim, tembC));

    // down path; record the channels of every skip connection as forward() will push them
    const skips: number[] = [ch[0]!];
    const down: Block[] = [];
    let c = ch[0]!;
    for (let i = 0; i < n; i++) {
      const out = ch[i]!;
      const resnets: ResnetBlock2D[] = [];
      const attns: Transformer2D[] = [];
      for (let j = 0; j < config.layersPerBlock; j++) {
        resnets.push(new ResnetBlock2D(c, out, tembC, g));
        if (config.crossAttention[i]) attns.push(attn(out));
        c = out;
        skips.push(c);
      }
      const last = i === n - 1;
      down.push(new Block(resnets, config.crossAttention[i] ? attns : null, last ? null : 'down', out));
      if (!last) skips.push(c);
    }
    this.downBlocks = this.registerModule('down_blocks', new nn.ModuleList(down));

    const top = ch[n - 1]!;
    this.midBlock = this.registerModule('mid_block', new Block(
      [new ResnetBlock2D(top, top, tembC, g), new ResnetBlock2D(top, top, tembC, g)], [attn(top)], null, top));

    const up: Block[] = [];
    for (let i = 0; i < n; i++) {
      const level = n - 1 - i;
      const out = ch[level]!;
      const resnets: ResnetBlock2D[] = [];
      const attns: Transformer2D[] = [];
      for (let j = 0; j <= config.layersPerBlock; j++) {
        const skip = skips.pop()!;
        resnets.push(new ResnetBlock2D(c + skip, out, tembC, g));
        if (config.crossAttention[level]) attns.push(attn(out));
        c = out;
      }
      const last = i === n - 1;
      up.push(new Block(resnets, config.crossAttention[level] ? attns : null, last ? null : 'up', out));
    }
    this.upBlocks = this.registerModule('up_blocks', new nn.ModuleList(up));

    this.convNormOut = this.registerModule('conv_norm_out', new nn.GroupNorm(Math.min(g, ch[0]!), ch[0]!, { eps: 1e-5 }));
    this.convOut = this.registerModule('conv_out', new nn.Conv2d(ch[0]!, config.outChannels, 3, { padding: 1 }));
  }

  /**
   * The model output (ε or v) for noisy images x [B, C, H, W] at timesteps t [B] (int64 or float),
   * conditioned on text embeddings.
   */
  forward(x: Tensor, t: Tensor, cond: UNetConditioning): Tensor {
    this.nfe += x.shape[0]!;
    return torch.tidy(() => {
      const { context, mask = null } = cond;
      if (x.ndim !== 4 || x.shape[1] !== this.config.inChannels) {
        throw new Error(`UNet: expected x [B, ${this.config.inChannels}, H, W], got [${x.shape.join(', ')}]`);
      }
      const B = x.shape[0]!;
      if (t.numel() !== B || context.shape[0] !== B) {
        throw new Error(`UNet: batch sizes differ: x ${B}, t ${t.numel()}, context ${context.shape[0]}`);
      }
      const temb = this.timeEmbedding.forward(timestepEmbedding(t.reshape(B), this.timeProjDim)); // [B, 4·C0]

      let h = this.convIn.forward(x);
      const skips: Tensor[] = [h];
      for (const blk of this.downBlocks) {
        for (let j = 0; j < blk.resnets.length; j++) {
          h = blk.resnets.at(j).forward(h, temb);
          if (blk.attentions) h = blk.attentions.at(j).forward(h, context, mask);
          skips.push(h);
        }
        if (blk.resampler) {
          h = blk.resampler.forward(h);
          skips.push(h);
        }
      }

      h = this.midBlock.resnets.at(0).forward(h, temb);
      h = this.midBlock.attentions!.at(0).forward(h, context, mask);
      h = this.midBlock.resnets.at(1).forward(h, temb);

      for (const blk of this.upBlocks) {
        for (let j = 0; j < blk.resnets.length; j++) {
          h = torch.cat([h, skips.pop()!], 1);
          h = blk.resnets.at(j).forward(h, temb);
          if (blk.attentions) h = blk.attentions.at(j).forward(h, context, mask);
        }
        if (blk.resampler) h = blk.resampler.forward(h);
      }
      return this.convOut.forward(this.convNormOut.forward(h).silu());
    });
  }
}

function validateConfig(c: UNetConfig): void {
  const n = c.blockOutChannels.length;
  if (n < 1) throw new Error('UNet: blockOutChannels must have at least one level');
  if (c.crossAttention.length !== n) throw new Error(`UNet: crossAttention has ${c.crossAttention.length} entries, blockOutChannels ${n}`);
  if (c.sampleSize % 2 ** (n - 1)) throw new Error(`UNet: sampleSize ${c.sampleSize} is not divisible by 2^${n - 1}`);
  for (const ch of c.blockOutChannels) {
    if (ch % c.normNumGroups) throw new Error(`UNet: channels ${ch} are not divisible into ${c.normNumGroups} groups`);
  }
  if (!['epsilon', 'v_prediction'].includes(c.predictionType)) throw new Error(`UNet: unknown predictionType '${c.predictionType}'`);
}
