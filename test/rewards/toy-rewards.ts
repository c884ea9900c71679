// Toy rewards for the composite and registry tests.
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { checkImages, type Reward, type RewardOutput, type RewardScale } from '../../src/rewards/reward.js';

/** Returns queued scores (one batch per call), ignoring the images. */
export class FixedReward implements Reward {
  readonly differentiable = false;
  calls = 0;
  disposed = false;
  constructor(
    readonly name: string,
    readonly scale: RewardScale,
    private readonly batches: { scores: number[]; unscored?: boolean[] }[],
  ) {}
  async score(images: Tensor, prompts: string[]): Promise<RewardOutput> {
    checkImages(images, prompts, this.name);
    const b = this.batches[this.calls++];
    if (!b) throw new Error(`${this.name}: no more batches`);
    const out: RewardOutput = { scores: [...b.scores], details: b.scores.map((s) => ({ toy: s })) };
    if (b.unscored) out.unscored = [...b.unscored];
    return out;
  }
  dispose(): void {
    this.disposed = true;
  }
}

/** r = gain · mean(x) per image: differentiable. */
export class MeanReward implements Reward {
  readonly differentiable = true;
  constructor(
    readonly name: string,
    readonly scale: RewardScale,
    private readonly gain: number,
  ) {}
  async score(images: Tensor, prompts: string[]): Promise<RewardOutput> {
    checkImages(images, prompts, this.name);
    const scores = torch.noGrad(() => torch.tidy(() => Array.from(this.scoreDifferentiable(images, prompts).toFloat32Array())));
    return { scores };
  }
  scoreDifferentiable(images: Tensor, prompts: string[]): Tensor {
    checkImages(images, prompts, this.name);
    return torch.tidy(() => images.mean([1, 2, 3]).mul(this.gain)); // [N]
  }
}
