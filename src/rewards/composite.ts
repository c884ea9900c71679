// A weighted sum of rewards, each normalised first so that no reward dominates by its units
// (docs/methods.md, "Rewards' scales": rewards have different scales (CLIP ×100, ImageReward ≈ N(0,1),
// an MLLM 0–10), so any sum of rewards normalises each term first).
//
//   R(x, c) = Σ_k w_k · norm_k(R_k(x, c))
//
// norm_k is either
//   'scale'   — from the reward's declared scale: range → (r − min)/(max − min) ∈ [0, 1];
//               normal → (r − mean)/std ≈ N(0, 1);
//   'running' — from running statistics of everything this composite has seen of reward k,
//               (r − mean_k)/std_k, with mean and variance kept by Welford's online algorithm
//               (B. P. Welford, Technometrics 4(3), 1962; Knuth, TAOCP vol. 2, §4.2.2). The current
//               batch is added to the statistics before it is normalised.
// A sample unscored by any term is unscored in the sum (score NaN, unscored[i] = true).
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { checkImages, checkOutput, checkScale, type Reward, type RewardOutput, type RewardScale } from './reward.js';

export type Normalize = 'scale' | 'running';

export interface CompositeTerm {
  reward: Reward;
  /** finite, non-zero; negative weights penalise */
  weight: number;
}

export interface CompositeOptions {
  terms: CompositeTerm[];
  /** default 'scale' */
  normalize?: Normalize;
  /** default composite(name1*w1+name2*w2…) */
  name?: string;
  /** running normalisation: std below this counts as this (avoids dividing by ~0); default 1e-6 */
  eps?: number;
  /** dispose the terms' rewards with the composite; default true */
  ownsTerms?: boolean;
}

/** Running mean and variance of one stream of numbers (Welford). */
export class RunningStats {
  count = 0;
  mean = 0;
  /** Σ (x − mean)², updated online */
  m2 = 0;

  push(x: number): void {
    if (!Number.isFinite(x)) return;
    this.count += 1;
    const d = x - this.mean;
    this.mean += d / this.count;
    this.m2 += d * (x - this.mean);
  }
  /** unbiased variance; 0 with fewer than two values */
  get variance(): number {
    return this.count >= 2 ? this.m2 / (this.count - 1) : 0;
  }
  get std(): number {
    return Math.sqrt(this.variance);
  }
  state(): { count: number; mean: number; m2: number } {
    return { count: this.count, mean: this.mean, m2: this.m2 };
  }
  load(s: { count: number; mean: number; m2: number }): void {
    if (!(Number.isSafeInteger(s.count) && s.count >= 0 && Number.isFinite(s.mean) && Number.isFinite(s.m2) && s.m2 >= 0)) {
      throw new Error(`RunningStats.load: invalid state ${JSON.stringify(s)}`);
    }
    this.count = s.count;
    this.mean = s.mean;
    this.m2 = s.m2;
  }
}

/** What one term contributed to one sample. */
export interface CompositeTermDetail {
  name: string;
  weight: number;
  raw: number;
  normalized: number;
  unscored: boolean;
  detail?: unknown;
}

export class CompositeReward implements Reward {
  readonly name: string;
  readonly differentiable: boolean;
  readonly normalize: Normalize;
  readonly terms: readonly CompositeTerm[];
  /** one per term (running normalisation; kept but unused under 'scale') */
  readonly stats: RunningStats[];
  /** when true, running statistics are read but not updated (e.g. during evaluation) */
  frozen = false;
  private readonly eps: number;
  private readonly ownsTerms: boolean;

  constructor(opts: CompositeOptions) {
    if (!opts || !Array.isArray(opts.terms) || opts.terms.length === 0)
      throw new Error('composite reward: needs at least one term');
    this.normalize = opts.normalize ?? 'scale';
    if (this.normalize !== 'scale' && this.normalize !== 'running') {
      throw new Error(`composite reward: normalize must be 'scale' or 'running', got '${String(this.normalize)}'`);
    }
    for (const [k, t] of opts.terms.entries()) {
      if (!t?.reward || typeof t.reward.score !== 'function') throw new Error(`composite reward: term ${k} has no reward`);
      if (!Number.isFinite(t.weight) || t.weight === 0) {
        throw new Error(`composite reward: term ${k} ('${t.reward.name}') needs a finite non-zero weight, got ${t.weight}`);
      }
      checkScale(t.reward.scale, t.reward.name);
    }
    this.terms = opts.terms.map((t) => ({ reward: t.reward, weight: t.weight }));
    this.name = opts.name ?? `composite(${this.terms.map((t) => `${t.reward.name}*${t.weight}`).join('+')})`;
    this.differentiable = this.terms.every((t) => t.reward.differentiable && typeof t.reward.scoreDifferentiable === 'function');
    this.stats = this.terms.map(() => new RunningStats());
    this.eps = opts.eps ?? 1e-6;
    if (!(this.eps > 0)) throw new Error(`composite reward: eps must be > 0, got ${this.eps}`);
    this.ownsTerms = opts.ownsTerms ?? true;
  }

  /**
   * The scale of the sum. Under 'scale', a sum of ranges is a range (each term in [0, 1]·w);
   * otherwise an approximate normal assuming independent terms: a range term counts as uniform
   * on [0, 1]·w (mean w/2, variance w²/12), a normal or running-normalised term as N(0, w²).
   */
  get scale(): RewardScale {
    if (this.normalize === 'scale' && this.terms.every((t) => t.reward.scale.kind === 'range')) {
      let min = 0;
      let max = 0;
      for (const { weight } of this.terms) {
        min += Math.min(0, weight);
        max += Math.max(0, weight);
      }
      return { kind: 'range', min, max };
    }
    let mean = 0;
    let variance = 0;
    for (const { reward, weight } of this.terms) {
      if (this.normalize === 'scale' && reward.scale.kind === 'range') {
        mean += weight / 2;
        variance += (weight * weight) / 12;
      } else {
        variance += weight * weight;
      }
    }
    return { kind: 'normal', mean, std: Math.sqrt(variance) };
  }

  /** (shift, divisor) so that norm(r) = (r − shift) / divisor for term k, with the current statistics. */
  private affine(k: number): { shift: number; div: number } {
    const scale = this.terms[k]!.reward.scale;
    if (this.normalize === 'scale') {
      return scale.kind === 'range' ? { shift: scale.min, div: scale.max - scale.min } : { shift: scale.mean, div: scale.std };
    }
    const s = this.stats[k]!;
    // Fewer than two values: centre only (no spread is known yet).
    return { shift: s.mean, div: s.count >= 2 ? Math.max(s.std, this.eps) : 1 };
  }

  private observe(k: number, scores: readonly number[], unscored: readonly boolean[] | undefined): void {
    if (this.normalize !== 'running' || this.frozen) return;
    scores.forEach((v, i) => {
      if (!unscored?.[i]) this.stats[k]!.push(v);
    });
  }

  async score(images: Tensor, prompts: string[]): Promise<RewardOutput> {
    const n = checkImages(images, prompts, this.name);
    // Every term runs; if one fails, the others are still awaited so none is left running.
    const settled = await Promise.allSettled(this.terms.map((t) => t.reward.score(images, prompts)));
    const outs: RewardOutput[] = settled.map((s, k) => {
      const name = this.terms[k]!.reward.name;
      if (s.status === 'rejected') {
        const e = s.reason instanceof Error ? s.reason : new Error(String(s.reason));
        throw new Error(`composite reward '${this.name}': term '${name}' failed: ${e.message}`, { cause: e });
      }
      checkOutput(s.value, n, name);
      return s.value;
    });

    const scores = new Array<number>(n).fill(0);
    const unscored = new Array<boolean>(n).fill(false);
    const details: CompositeTermDetail[][] = Array.from({ length: n }, () => []);
    outs.forEach((out, k) => {
      this.observe(k, out.scores, out.unscored);
      const { shift, div } = this.affine(k);
      const { reward, weight } = this.terms[k]!;
      for (let i = 0; i < n; i++) {
        const raw = out.scores[i]!;
        const un = out.unscored?.[i] === true;
        const normalized = un ? NaN : (raw - shift) / div;
        if (un) unscored[i] = true;
        else scores[i]! += weight * normalized;
        const d: CompositeTermDetail = { name: reward.name, weight, raw, normalized, unscored: un };
        if (out.details) d.detail = out.details[i];
        details[i]!.push(d);
      }
    });
    for (let i = 0; i < n; i++) if (unscored[i]) scores[i] = NaN;
    const result: RewardOutput = { scores, details };
    if (unscored.some(Boolean)) result.unscored = unscored;
    return result;
  }

  /** Σ_k w_k · norm_k(R_k) as a [N] tensor with a gradient path to images (all terms differentiable). */
  scoreDifferentiable(images: Tensor, prompts: string[]): Tensor {
    if (!this.differentiable) {
      const not = this.terms.filter((t) => !t.reward.differentiable || !t.reward.scoreDifferentiable).map((t) => t.reward.name);
      throw new Error(`composite reward '${this.name}': not differentiable (terms ${not.join(', ')} are not)`);
    }
    const n = checkImages(images, prompts, this.name);
    return torch.tidy(() => {
      let total: Tensor | null = null;
      for (let k = 0; k < this.terms.length; k++) {
        const { reward, weight } = this.terms[k]!;
        const r = reward.scoreDifferentiable!(images, prompts); // [N]
        if (r.shape.length !== 1 || r.shape[0] !== n) {
          throw new Error(
            `composite reward '${this.name}': term '${reward.name}' returned shape [${r.shape.join(', ')}], expected [${n}]`,
          );
        }
        if (this.normalize === 'running' && !this.frozen) {
          this.observe(k, Array.from(torch.noGrad(() => r.detach().toFloat32Array())), undefined);
        }
        const { shift, div } = this.affine(k);
        const term = r.sub(shift).mul(weight / div); // [N]
        total = total ? total.add(term) : term;
      }
      return total!;
    });
  }

  /** The running statistics, for checkpoints (a resumed run normalises as before). */
  state(): { normalize: Normalize; stats: { name: string; count: number; mean: number; m2: number }[] } {
    return { normalize: this.normalize, stats: this.stats.map((s, k) => ({ name: this.terms[k]!.reward.name, ...s.state() })) };
  }

  loadState(state: { stats: { name: string; count: number; mean: number; m2: number }[] }): void {
    if (!state || !Array.isArray(state.stats) || state.stats.length !== this.terms.length) {
      throw new Error(`composite reward '${this.name}': state has ${state?.stats?.length} terms, expected ${this.terms.length}`);
    }
    state.stats.forEach((s, k) => {
      const name = this.terms[k]!.reward.name;
      if (s.name !== name) throw new Error(`composite reward '${this.name}': state term ${k} is '${s.name}', expected '${name}'`);
      this.stats[k]!.load(s);
    });
  }

  dispose(): void {
    if (this.ownsTerms) for (const t of this.terms) t.reward.dispose?.();
  }
}

/** Options of the registered 'composite' reward: terms by registry name. */
export const compositeConfigSchema = z
  .object({
    /** the rewards to add, by registry name, with their weights and options */
    terms: z
      .array(
        z
          .object({
            name: z.string().min(1),
            weight: z.number().finite().default(1),
            opts: z.record(z.string(), z.unknown()).default({}),
          })
          .strict(),
      )
      .min(1),
    /** 'scale': by each reward's declared scale; 'running': by running mean/std of what was seen */
    normalize: z.enum(['scale', 'running']).default('scale'),
    /** display name */
    name: z.string().optional(),
    /** running normalisation: floor of std */
    eps: z.number().positive().optional(),
  })
  .strict();
export type CompositeConfig = z.infer<typeof compositeConfigSchema>;
