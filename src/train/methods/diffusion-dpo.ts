// Diffusion-DPO (Wallace, Dang, Rafailov, Zhou, Lou, Purushwalkam, Ermon, Xiong, Joty & Naik 2023,
// "Diffusion Model Alignment Using Direct Preference Optimization", arXiv 2311.12908, eq. 14);
// docs/methods.md §5. Offline pairs (x_w, x_l, c): both images are noised with the same t
// and the same ε, and
//
//   L^θ_w = ‖ε_θ(x^w_t, t, c) − ε‖²,  L^θ_l likewise, L^ref_* under the frozen reference,
//   loss  = −log σ( β · ((L^ref_w − L^ref_l) − (L^θ_w − L^θ_l)) ),
//
// with ‖·‖² the mean over C·H·W (F.mse_loss). β = 2500 in this no-½ convention; the authors' code
// writes −log σ(−½ β' ((L^θ_w − L^θ_l) − (L^ref_w − L^ref_l))) with β' = 5000, the same loss.
// (eq. 14 writes the factor as −βT ω(λ_t); like the authors' code, the per-t weight is folded into β.)
//
// Pairs come from (a) the base model's own samples ranked by a reward: for each prompt, k images,
// the best against the worst (rewardRankedPairs), or (b) preference labels in the project's format
// (src/data/preferences.ts: pairs.jsonl of {prompt, imageA, imageB, choice}; PreferencePairFile).
// As fine-tuning methods (bottom of this file): 'diffusion-dpo' (a) with --reward, and
// 'diffusion-dpo-labels' (b) with --set pairs=FILE and no reward.
//
// Decisions:
// - t ~ U{0, …, T−1} and one ε per pair, shared by x_w and x_l (eq. 14's expectation).
// - The target is the schedule's training target (ε, or v for a v-prediction model), for the
//   policy and the reference alike.
// - A pair whose two rewards are equal (a tie in (a)) carries no preference: it gets weight 0. The
//   loss is Σ_i w_i ℓ_i / max(1, Σ_i w_i), so a batch of ties has loss 0 and no gradient. Ties in
//   label files are skipped when loading.
// - Policy equal to reference ⇒ the inside term is 0 and every pair's loss is log 2.
import { z } from 'zod';
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';
import type { NoiseSchedule } from '../../diffusion/index.js';
import { generate } from '../../models/generate.js';
import type { TextToImageModel } from '../../models/t2i.js';
import { readPreferencePairs, ImageCache } from '../../data/preferences.js';
import { Rng } from '../../world/rng.js';
import { selectPerExample, type RewardFn } from '../rollout.js';
import type { FinetuneMethod, MethodState } from '../finetune-method.js';
import { repeatEach } from '../../util/arrays.js';

export interface DiffusionDpoOptions {
  /** β in the no-½ convention (docs/methods.md §5: 2500 = the authors' 5000 with the ½) */
  beta: number;
}

export const DIFFUSION_DPO_DEFAULTS: Readonly<DiffusionDpoOptions> = Object.freeze({ beta: 2500 });

/** A batch of preference pairs: images [P, 3, H, W] in [−1, 1], the preferred and the other. */
export interface PreferenceBatch {
  xw: Tensor;
  xl: Tensor;
  prompts: string[];
  /** per-pair weights (default all 1; 0 drops a pair, e.g. a tie) */
  weights?: number[];
}

/** Fixed draws instead of the global generator's (tests, exact replays). */
export interface DpoDraws {
  /** t per pair, integers in [0, T) */
  t: number[];
  /** ε per pair [P, C, H, W] (shared by x_w and x_l) */
  noise: Tensor;
}

export interface DiffusionDpoResult {
  /** scalar with the graph to the model's parameters */
  loss: Tensor;
  logs: {
    /** mean over weighted pairs of L^θ_w − L^θ_l and of L^ref_w − L^ref_l */
    modelDiff: number;
    refDiff: number;
    /** fraction of weighted pairs where the policy prefers x_w more than the reference does:
     *  (L^ref_w − L^ref_l) − (L^θ_w − L^θ_l) > 0 (the authors' "implicit accuracy") */
    implicitAccuracy: number;
    /** pairs with non-zero weight */
    pairs: number;
  };
}

/** eq. 14 on a batch of pairs; t and ε from the global generator unless `draws` gives them. */
export function diffusionDpoLoss(
  model: TextToImageModel, reference: TextToImageModel, schedule: NoiseSchedule, batch: PreferenceBatch,
  opts: Partial<DiffusionDpoOptions> = {}, draws?: DpoDraws,
): DiffusionDpoResult {
  const fn = 'diffusionDpoLoss';
  const o = { ...DIFFUSION_DPO_DEFAULTS, ...opts };
  if (!(o.beta > 0) || !Number.isFinite(o.beta)) throw new Error(`${fn}: beta must be a positive number, got ${o.beta}`);
  const { xw, xl, prompts } = batch;
  if (xw.ndim !== 4) throw new Error(`${fn}: xw must be [P, C, H, W], got [${xw.shape.join(', ')}]`);
  if (xl.shape.join() !== xw.shape.join()) throw new Error(`${fn}: xl has shape [${xl.shape.join(', ')}], xw [${xw.shape.join(', ')}]`);
  const P = xw.shape[0]!;
  if (prompts.length !== P) throw new Error(`${fn}: ${prompts.length} prompts for ${P} pairs`);
  const weights = batch.weights ?? new Array<number>(P).fill(1);
  if (weights.length !== P) throw new Error(`${fn}: ${weights.length} weights for ${P} pairs`);
  weights.forEach((w, i) => {
    if (!(w >= 0) || !Number.isFinite(w)) throw new Error(`${fn}: weight ${i} is ${w}; weights must be finite and ≥ 0`);
  });
  const T = schedule.numTrainTimesteps;
  let t: number[];
  if (draws) {
    t = [...draws.t];
    if (t.length !== P) throw new Error(`${fn}: draws.t has ${t.length} timesteps for ${P} pairs`);
    for (const v of t) if (!Number.isInteger(v) || v < 0 || v >= T) throw new Error(`${fn}: draws.t holds ${v}, outside [0, ${T - 1}]`);
    if (draws.noise.shape.join() !== xw.shape.join()) {
      throw new Error(`${fn}: draws.noise has shape [${draws.noise.shape.join(', ')}], expected [${xw.shape.join(', ')}]`);
    }
  } else {
    t = torch.tidy(() => Array.from(torch.randint(0, T, [P]).toTypedArray() as BigInt64Array, Number)); // t ~ U{0, …, T−1}
  }
  let stats = { modelDiff: 0, refDiff: 0, implicitAccuracy: 0 };
  const loss = torch.tidy(() => {
    const eps = draws ? draws.noise.detach() : torch.randn(xw.shape, { dtype: xw.dtype }); // ε [P, C, H, W]
    const x0 = torch.cat([xw.detach(), xl.detach()]); // [2P, C, H, W]: winners, then losers
    const eps2 = torch.cat([eps, eps]); // the same ε for both
    const tt = torch.fromTypedArray(BigInt64Array.from([...t, ...t].map(BigInt)), [2 * P]); // the same t for both
    const xt = schedule.addNoise(x0, eps2, tt); // √ᾱ_t x0 + √(1−ᾱ_t) ε
    const target = schedule.trainingTarget(x0, eps2, tt); // ε (or v)
    const text = model.encode([...prompts, ...prompts]);
    const perRow = (out: Tensor) => out.sub(target).square().mean([1, 2, 3]); // ‖·‖² [2P]
    const L = perRow(model.predict(xt, tt, text)); // policy, with graph
    const Lref = torch.noGrad(() => perRow(reference.predict(xt, tt, reference.encode([...prompts, ...prompts]))));
    const [Lw, Ll] = L.chunk(2, 0) as [Tensor, Tensor];
    const [Rw, Rl] = Lref.chunk(2, 0) as [Tensor, Tensor];
    const modelDiff = Lw.sub(Ll); // L^θ_w − L^θ_l  [P]
    const refDiff = Rw.sub(Rl); // L^ref_w − L^ref_l  [P]
    const inside = refDiff.sub(modelDiff).mul(o.beta); // β((L^ref_w − L^ref_l) − (L^θ_w − L^θ_l))
    const perPair = torch.F.logsigmoid(inside).neg(); // [P]
    const w = torch.fromTypedArray(Float32Array.from(weights), [P]).to(perPair.dtype);
    const wSum = weights.reduce((a, c) => a + c, 0);
    const denom = Math.max(1, wSum);
    const wMean = (v: Tensor) => (wSum > 0 ? v.detach().mul(w).sum().item() / wSum : 0);
    stats = {
      modelDiff: wMean(modelDiff),
      refDiff: wMean(refDiff),
      implicitAccuracy: wMean(inside.detach().gt(0).to(perPair.dtype)),
    };
    return perPair.mul(w).sum().div(denom);
  });
  return { loss, logs: { ...stats, pairs: weights.filter((v) => v > 0).length } };
}

// ------------------------------------------------------------------ pairs from a reward

export interface RankedPairsOptions {
  /** k, samples per prompt (≥ 2): the pair is the best and the worst of them */
  k: number;
  /** sampling steps and guidance of the generator (its own sampling settings by default) */
  steps?: number;
  guidanceScale?: number;
}

export interface RankedPairs {
  batch: PreferenceBatch;
  logs: { rewardMean: number; rewardBest: number; rewardWorst: number; ties: number };
}

/**
 * (a) Pairs from a model's own samples: k images per prompt (DDIM η = 0, x_T from the global
 * generator), scored by `reward`; x_w = the best, x_l = the worst (ties: the lowest index); a prompt
 * whose k rewards are all equal gets weight 0. The caller disposes batch.xw and batch.xl.
 */
export async function rewardRankedPairs(
  generator: TextToImageModel, prompts: string[], reward: RewardFn, o: RankedPairsOptions,
): Promise<RankedPairs> {
  const fn = 'rewardRankedPairs';
  if (!Number.isSafeInteger(o.k) || o.k < 2) throw new Error(`${fn}: k must be an integer ≥ 2 (a best and a worst), got ${o.k}`);
  if (prompts.length === 0) throw new Error(`${fn}: no prompts`);
  const k = o.k;
  const B = prompts.length;
  const rows = repeatEach(prompts, k); // rows b·k + i
  const unet = generator.unet;
  const wasTraining = unet.training;
  unet.train(false);
  let images: Tensor;
  try {
    ({ images } = generate(generator, rows, {
      ...(o.steps !== undefined ? { steps: o.steps } : {}), ...(o.guidanceScale !== undefined ? { guidanceScale: o.guidanceScale } : {}), eta: 0,
    })); // [B·k, 3, H, W] in [0, 1]
  } finally {
    unet.train(wasTraining);
  }
  try {
    const R = await reward(images, rows);
    if (!Array.isArray(R) || R.length !== rows.length) throw new Error(`${fn}: the reward returned ${Array.isArray(R) ? R.length : String(R)} values for ${rows.length} images`);
    R.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new Error(`${fn}: the reward is ${String(v)} for sample ${i % k} of prompt ${JSON.stringify(rows[i])}; a reward must be a finite number`);
      }
    });
    const within = selectPerExample(R, B, k);
    const best = within.best.map((i, b) => b * k + i); // rows b·k + i
    const worst = within.worst.map((i, b) => b * k + i);
    const weights = best.map((w, b) => (R[w]! > R[worst[b]!]! ? 1 : 0));
    const { xw, xl } = torch.tidy(() => {
      const x = images.mul(2).sub(1); // [0, 1] → [−1, 1]
      const idx = (v: number[]) => torch.fromTypedArray(BigInt64Array.from(v.map(BigInt)), [v.length]);
      return { xw: x.indexSelect(0, idx(best)), xl: x.indexSelect(0, idx(worst)) };
    });
    const mean = (v: number[]) => v.reduce((a, c) => a + c, 0) / v.length;
    return {
      batch: { xw, xl, prompts: [...prompts], weights },
      logs: { rewardMean: mean(R), rewardBest: mean(best.map((i) => R[i]!)), rewardWorst: mean(worst.map((i) => R[i]!)), ties: weights.filter((w) => w === 0).length },
    };
  } finally {
    images.dispose();
  }
}

// ------------------------------------------------------------------ pairs from label files

/**
 * (b) Pairs from a preference label file (src/data/preferences.ts format). Ties are skipped. Batches
 * are read by position: pair g = position·size + j of the stream, which runs through the pairs in a
 * fresh seeded order every epoch, so the batch at a position is always the same.
 */
export class PreferencePairFile {
  readonly file: string;
  /** the usable (non-tie) pairs: prompt, winner's path, loser's path */
  readonly pairs: { prompt: string; win: string; lose: string; line: number }[];
  readonly ties: number;
  private readonly cache = new ImageCache();
  private orders = new Map<number, number[]>();

  constructor(file: string, readonly resolution: number, readonly seed = 0) {
    this.file = file;
    const all = readPreferencePairs(file);
    this.pairs = all.filter((p) => p.choice !== 'tie').map((p) => ({
      prompt: p.prompt, win: p.choice === 'A' ? p.pathA : p.pathB, lose: p.choice === 'A' ? p.pathB : p.pathA, line: p.line,
    }));
    this.ties = all.length - this.pairs.length;
    if (this.pairs.length === 0) throw new Error(`${file}: no usable pairs (${all.length} lines, ${this.ties} ties); Diffusion-DPO needs pairs with a choice A or B`);
  }

  get length(): number {
    return this.pairs.length;
  }

  private order(epoch: number): number[] {
    let o = this.orders.get(epoch);
    if (!o) {
      const rng = new Rng(this.seed, 'diffusion-dpo-pairs', epoch);
      o = Array.from({ length: this.pairs.length }, (_, i) => i);
      for (let i = o.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [o[i], o[j]] = [o[j]!, o[i]!];
      }
      if (this.orders.size > 4) this.orders.clear();
      this.orders.set(epoch, o);
    }
    return o;
  }

  /** The pairs at a stream position: images [size, 3, H, W] in [−1, 1]; the caller disposes xw, xl. */
  batchAt(position: number, size: number): PreferenceBatch {
    if (!Number.isSafeInteger(position) || position < 0) throw new Error(`PreferencePairFile.batchAt: position must be an integer ≥ 0, got ${position}`);
    if (!Number.isSafeInteger(size) || size < 1) throw new Error(`PreferencePairFile.batchAt: size must be a positive integer, got ${size}`);
    const n = this.pairs.length;
    const picked = Array.from({ length: size }, (_, j) => {
      const g = position * size + j;
      return this.pairs[this.order(Math.floor(g / n))[g % n]!]!;
    });
    const r = this.resolution;
    const stack = (paths: string[]) => {
      const per = 3 * r * r;
      const all = new Float32Array(paths.length * per);
      paths.forEach((p, i) => {
        const img = this.cache.get(p);
        if (img.width !== r || img.height !== r) {
          throw new Error(`${this.file}: image ${p} is ${img.width}×${img.height}, the model makes ${r}×${r} (label images of this model's samples, or resize them)`);
        }
        for (let v = 0; v < per; v++) all[i * per + v] = img.data[v]! * 2 - 1; // [0, 1] → [−1, 1]
      });
      return torch.fromTypedArray(all, [paths.length, 3, r, r]);
    };
    const xw = stack(picked.map((p) => p.win));
    let xl: Tensor;
    try {
      xl = stack(picked.map((p) => p.lose));
    } catch (e) {
      xw.dispose();
      throw e;
    }
    return { xw, xl, prompts: picked.map((p) => p.prompt) };
  }
}

// ------------------------------------------------------------------ the fine-tuning methods

// Two registered methods share the loss, one per source of pairs, since a method either always or
// never takes --reward: 'diffusion-dpo' ranks k samples of the frozen base per prompt by the run's
// reward (the pairs are offline: always the base's, never the policy's); 'diffusion-dpo-labels'
// reads a preference label file and takes no reward.

const dpoFields = {
  /** β in the no-½ convention (docs/methods.md §5: 2500; the authors' 5000 with the ½) */
  beta: z.number().positive().default(DIFFUSION_DPO_DEFAULTS.beta),
};

export const diffusionDpoOptionsSchema = z.object({
  ...dpoFields,
  /** samples of the base per prompt; the pair is the best and the worst of them by the reward */
  k: z.number().int().min(2).default(4),
  /** sampling steps of those samples (null: the model's own, config.json sampling.steps) */
  pairSteps: z.number().int().positive().nullable().default(null),
  /** their classifier-free guidance (null: the model's own sampling guidance) */
  pairGuidance: z.number().min(0).nullable().default(null),
}).strict();
export type DiffusionDpoMethodOptions = z.infer<typeof diffusionDpoOptionsSchema>;

export const diffusionDpoLabelsOptionsSchema = z.object({
  ...dpoFields,
  /** the preference label file (pairs.jsonl of src/data/preferences.ts; its images at the model's resolution) */
  pairs: z.string().min(1).default('data/preferences/pairs.jsonl'),
  /** seeds the order in which the pairs are read (a new order every pass) */
  shuffleSeed: z.number().int().min(0).default(0),
}).strict();
export type DiffusionDpoLabelsOptions = z.infer<typeof diffusionDpoLabelsOptionsSchema>;

interface DpoBatch {
  batch: PreferenceBatch;
  logs: Record<string, number>;
}

function dpoLogs(r: DiffusionDpoResult, extra: Record<string, number>): Record<string, number> {
  return { ...extra, modelDiff: r.logs.modelDiff, refDiff: r.logs.refDiff, implicitAccuracy: r.logs.implicitAccuracy, pairs: r.logs.pairs };
}

export const diffusionDpo: FinetuneMethod<DiffusionDpoMethodOptions, DpoBatch> = {
  name: 'diffusion-dpo',
  description: 'Diffusion-DPO (Wallace et al.): offline pairs, the best vs the worst of k base samples per prompt by the reward, against the frozen base (needs --reward)',
  optionsSchema: diffusionDpoOptionsSchema,
  needsReference: () => true,
  needsData: false,
  needsReward: true,

  async makeBatch(ctx) {
    const o = ctx.options;
    const prompts = ctx.prompts.promptsAt(ctx.position, ctx.batchSize);
    const r = await rewardRankedPairs(ctx.reference!, prompts, ctx.reward!, {
      k: o.k, ...(o.pairSteps !== null ? { steps: o.pairSteps } : {}), ...(o.pairGuidance !== null ? { guidanceScale: o.pairGuidance } : {}),
    });
    return { batch: r.batch, logs: { rewardMean: r.logs.rewardMean, rewardBest: r.logs.rewardBest, rewardWorst: r.logs.rewardWorst, ties: r.logs.ties } };
  },

  async loss(ctx, b) {
    const r = diffusionDpoLoss(ctx.model, ctx.reference!, ctx.schedule, b.batch, { beta: ctx.options.beta });
    return { loss: r.loss, logs: dpoLogs(r, b.logs) };
  },

  disposeBatch(b) {
    b.batch.xw.dispose();
    b.batch.xl.dispose();
  },
};

/** A run's state: the label file's reader, made once per run (it reads pairs by position: nothing to checkpoint). */
interface LabelsState extends MethodState {
  file: PreferencePairFile;
}

export const diffusionDpoLabels: FinetuneMethod<DiffusionDpoLabelsOptions, DpoBatch, LabelsState> = {
  name: 'diffusion-dpo-labels',
  description: 'Diffusion-DPO (Wallace et al.) on a preference label file (--set pairs=FILE, default data/preferences/pairs.jsonl), against the frozen base (no reward)',
  optionsSchema: diffusionDpoLabelsOptionsSchema,
  needsReference: () => true,
  needsData: false,
  needsReward: false,

  async init({ model, options: o }) {
    return { file: new PreferencePairFile(o.pairs, model.config.unet.sampleSize, o.shuffleSeed) };
  },

  async makeBatch(ctx) {
    return { batch: ctx.state.file.batchAt(ctx.position, ctx.batchSize), logs: {} };
  },

  async loss(ctx, b) {
    const r = diffusionDpoLoss(ctx.model, ctx.reference!, ctx.schedule, b.batch, { beta: ctx.options.beta });
    return { loss: r.loss, logs: dpoLogs(r, b.logs) };
  },

  disposeBatch(b) {
    b.batch.xw.dispose();
    b.batch.xl.dispose();
  },
};
