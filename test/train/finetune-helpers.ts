// Shared pieces of the fine-tuning tests: a tiny base checkpoint that reads the world's prompts,
// and toy rewards registered by name (the registry is process-wide, so registration is idempotent).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { TextToImageModel } from '../../src/models/t2i.js';
import { tinyWorldConfig } from '../../src/models/tiny-world.js';
import { hasReward, registerReward } from '../../src/rewards/index.js';
import { checkImages, type Reward, type RewardOutput } from '../../src/rewards/reward.js';
import { generate, noiseSchedule } from '../../src/models/generate.js';
import { AdamW } from '../../src/optim/index.js';
import { diffusionLoss } from '../../src/train/pretrain.js';
import { loadSplit } from '../../src/world/splits.js';
import { createImage, writePng } from '../../src/world/image.js';

/** tinyConfig() with the world's vocabulary (it reads the train split's prompts) at 16×16 (the world's smallest rendering). */
export { tinyWorldConfig } from '../../src/models/tiny-world.js';

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `sharpen-${label}-`));
}

/**
 * Saves a freshly initialised tiny model (seeded) as a base checkpoint; returns its folder. 16×16
 * reads the world's images; 8×8 is enough (and cheaper) for methods that learn from prompts.
 */
/** A preference label file of four 8×8 pairs in a new temporary folder (for diffusion-dpo-labels): red against blue, 'A' and 'B' alternating. */
export function preferenceLabelFile(label: string): string {
  const dir = tempDir(label);
  const time = '2026-01-01T00:00:00Z';
  const lines: string[] = [];
  for (let i = 0; i < 4; i++) {
    writePng(join(dir, `r${i}.png`), createImage(8, 8, [0.8, 0.1 * i, 0.1]));
    writePng(join(dir, `b${i}.png`), createImage(8, 8, [0.1, 0.1 * i, 0.8]));
    lines.push(JSON.stringify({ prompt: 'a red circle', imageA: `r${i}.png`, imageB: `b${i}.png`, choice: i % 2 ? 'B' : 'A', annotator: 'test', time }));
  }
  writeFileSync(join(dir, 'pairs.jsonl'), lines.join('\n') + '\n');
  return join(dir, 'pairs.jsonl');
}

export async function saveTinyBase(seed = 0, opts: { size?: 8 | 16; dir?: string } = {}): Promise<string> {
  const dir = opts.dir ?? tempDir('base');
  torch.manualSeed(seed);
  const cfg = tinyWorldConfig();
  const m = new TextToImageModel({ ...cfg, unet: { ...cfg.unet, sampleSize: opts.size ?? 16 } });
  await m.save(dir);
  m.dispose();
  return dir;
}

/** redness = mean R − mean(G, B) per image, in [−1, 1]. */
export function redness(images: Tensor): number[] {
  return torch.noGrad(() => torch.tidy(() => {
    const [r, g, b] = images.chunk(3, 1) as [Tensor, Tensor, Tensor];
    return Array.from(r.mean([1, 2, 3]).sub(g.add(b).div(2).mean([1, 2, 3])).toFloat32Array());
  }));
}

class FnReward implements Reward {
  readonly differentiable = false;
  readonly scale = { kind: 'range', min: -1, max: 1 } as const;
  constructor(readonly name: string, private readonly fn: (images: Tensor, prompts: string[]) => RewardOutput) {}
  async score(images: Tensor, prompts: string[]): Promise<RewardOutput> {
    checkImages(images, prompts, this.name);
    return this.fn(images, prompts);
  }
}

/** redness as a tensor [N] with the graph to the images (the differentiable form). */
function rednessTensor(images: Tensor): Tensor {
  return torch.tidy(() => {
    const [r, g, b] = images.chunk(3, 1) as [Tensor, Tensor, Tensor];
    return r.mean([1, 2, 3]).sub(g.add(b).div(2).mean([1, 2, 3]));
  });
}

/** 'toy-redness-diff': redness with scoreDifferentiable (ReFL's reward in the tests). */
class DiffRedness implements Reward {
  readonly name = 'toy-redness-diff';
  readonly differentiable = true;
  readonly scale = { kind: 'range', min: -1, max: 1 } as const;
  async score(images: Tensor, prompts: string[]): Promise<RewardOutput> {
    checkImages(images, prompts, this.name);
    return { scores: redness(images) };
  }
  scoreDifferentiable(images: Tensor, prompts: string[]): Tensor {
    checkImages(images, prompts, this.name);
    return rednessTensor(images);
  }
}

/**
 * Registers the toy rewards once: 'toy-redness', 'toy-anti-redness', 'toy-nan' (always NaN),
 * 'toy-unscored', 'toy-nan-calls' (NaN at listed calls), 'toy-redness-diff' (differentiable).
 */
export function registerToyRewards(): void {
  if (hasReward('toy-redness')) return;
  registerReward('toy-redness', () => new FnReward('toy-redness', (x) => ({ scores: redness(x) })), 'test: mean red minus mean green/blue');
  registerReward('toy-anti-redness', () => new FnReward('toy-anti-redness', (x) => ({ scores: redness(x).map((v) => -v) })), 'test: minus redness');
  registerReward('toy-nan', () => new FnReward('toy-nan', (x) => ({ scores: redness(x).map(() => NaN) })), 'test: NaN always');
  registerReward('toy-unscored', () => new FnReward('toy-unscored', (x) => {
    const s = redness(x);
    return { scores: s.map((v, i) => (i === 0 ? NaN : v)), unscored: s.map((_, i) => i === 0) };
  }), 'test: the first image is unscored');
  registerReward('toy-nan-calls', (opts) => {
    const nanCalls = new Set((opts.calls as number[] | undefined) ?? []);
    let call = 0;
    return new FnReward('toy-nan-calls', (x) => {
      const bad = nanCalls.has(call++);
      return { scores: redness(x).map((v) => (bad ? NaN : v)) };
    });
  }, 'test: redness, but NaN at the listed calls (0-based)');
  registerReward('toy-redness-diff', () => new DiffRedness(), 'test: differentiable redness');
}

/**
 * A tiny 8×8 base that has learned something: `steps` steps of the diffusion loss on solid colours
 * of random hue, captioned with the world's train prompts (so that its samples vary in colour for
 * any prompt). From a random initialisation, ranking trajectories by a reward of x̂0 mostly ranks
 * the network's own error; after this it ranks the images.
 */
export async function saveColourBase(opts: { seed?: number; steps?: number; batch?: number; dir?: string } = {}): Promise<string> {
  const dir = opts.dir ?? tempDir('colour-base');
  const B = opts.batch ?? 16;
  torch.manualSeed(opts.seed ?? 0);
  const cfg = tinyWorldConfig();
  const m = new TextToImageModel({ ...cfg, unet: { ...cfg.unet, sampleSize: 8 } });
  m.textEncoder.requiresGrad_(false);
  const schedule = noiseSchedule(m);
  const opt = new AdamW(m.unet.parameters(), { lr: 3e-3, weightDecay: 0 });
  const prompts = loadSplit('train').map((r) => r.prompt);
  for (let i = 0; i < (opts.steps ?? 100); i++) {
    torch.tidy(() => {
      const x0 = torch.rand([B, 3, 1, 1]).mul(2).sub(1).expand([B, 3, 8, 8]).contiguous(); // solid colours in [−1, 1]
      const p = Array.from({ length: B }, (_, j) => prompts[(i * B + j) % prompts.length]!);
      diffusionLoss(m, schedule, x0, p).backward();
    });
    opt.step();
    opt.zeroGrad();
  }
  await m.save(dir);
  m.dispose();
  schedule.dispose();
  return dir;
}

/** Mean redness of images generated from fixed noise for a fixed set of prompts (S DDIM steps, the model's guidance). */
export async function generatedRedness(dir: string, steps = 10): Promise<number> {
  const m = await TextToImageModel.load(dir);
  const rng = torch.getRngState();
  torch.manualSeed(999);
  const prompts = ['a red circle', 'a blue square', 'a green triangle', 'a small yellow circle'].flatMap((p) => new Array<string>(8).fill(p));
  const { images } = generate(m, prompts, { steps });
  torch.setRngState(rng);
  const r = redness(images);
  images.dispose();
  m.dispose();
  return r.reduce((a, b) => a + b, 0) / r.length;
}
