// Training the two learned rewards from labels (src/data/preferences.ts):
//   trainPreference — the preference model (models/preference.ts) with the Bradley–Terry loss on
//                     pairs, ties as ½; reports agreement on held-out pairs (ties excluded, and
//                     with ties as ½);
//   trainAesthetic  — the aesthetic head (models/aesthetic.ts) with MSE on 1–10 ratings of
//                     frozen-CLIP embeddings; reports Pearson and Spearman on held-out images.
// Held-out = the pairs/images whose prompt hashes into the held-out fraction (isHeldOut), so no
// held-out prompt is ever trained on. Both run in minutes on a CPU.
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AdamW, cosineSchedule, LRScheduler } from '../optim/index.js';
import { ImageCache, isHeldOut, readPreferencePairs, readRatings, type PreferenceChoice } from '../data/preferences.js';
import type { RgbImage } from '../world/image.js';
import { PreferenceModel, bradleyTerryLoss, choiceTarget, pairAgreement, type PreferenceConfig } from '../models/preference.js';
import { AestheticHead, pearson, spearman, type AestheticConfig } from '../models/aesthetic.js';
import type { ImageTextEmbedder } from '../models/embedder.js';
import type { TextEncoderConfig } from '../models/text-encoder.js';
import type { TokenizerConfig } from '../models/tokenizer.js';
import { Progress } from '../util/progress.js';

// ---------------------------------------------------------------------------------------------
// data

/** Pairs over a table of images: images [M, 3, H, W] in [0, 1], pair k compares a[k] with b[k]. */
export interface PairData {
  images: Tensor;
  a: Int32Array;
  b: Int32Array;
  prompts: string[];
  choices: PreferenceChoice[];
  heldOut: boolean[];
}

/** Rated images: images [M, 3, H, W] in [0, 1] with their ratings. */
export interface RatingData {
  images: Tensor;
  prompts: string[];
  ratings: Float32Array;
  heldOut: boolean[];
}

function stackImages(list: RgbImage[]): Tensor {
  if (list.length === 0) throw new Error('no images');
  const { width: W, height: H } = list[0]!;
  const per = 3 * W * H;
  const all = new Float32Array(list.length * per);
  list.forEach((img, i) => all.set(img.data, i * per));
  return torch.fromTypedArray(all, [list.length, 3, H, W]);
}

/** Loads pairs files (e.g. `dir/pairs.jsonl` of several label directories) and their images. */
export function loadPairData(files: string | string[], heldOutFraction: number): PairData {
  const list0 = Array.isArray(files) ? files : [files];
  const pairs = list0.flatMap((f) => readPreferencePairs(f));
  if (pairs.length === 0) throw new Error(`${list0.join(', ')}: no pairs`);
  const cache = new ImageCache();
  const index = new Map<string, number>();
  const list: RgbImage[] = [];
  const idx = (p: string) => {
    let i = index.get(p);
    if (i === undefined) {
      i = list.length;
      index.set(p, i);
      list.push(cache.get(p));
    }
    return i;
  };
  const a = new Int32Array(pairs.length);
  const b = new Int32Array(pairs.length);
  pairs.forEach((p, k) => {
    a[k] = idx(p.pathA);
    b[k] = idx(p.pathB);
  });
  return {
    images: stackImages(list),
    a, b,
    prompts: pairs.map((p) => p.prompt),
    choices: pairs.map((p) => p.choice),
    heldOut: pairs.map((p) => isHeldOut(p.prompt, heldOutFraction)),
  };
}

/** Loads ratings files (e.g. `dir/ratings.jsonl` of several label directories) and their images. */
export function loadRatingData(files: string | string[], heldOutFraction: number): RatingData {
  const list0 = Array.isArray(files) ? files : [files];
  const recs = list0.flatMap((f) => readRatings(f));
  if (recs.length === 0) throw new Error(`${list0.join(', ')}: no ratings`);
  const cache = new ImageCache();
  return {
    images: stackImages(recs.map((r) => cache.get(r.path))),
    prompts: recs.map((r) => r.prompt),
    ratings: Float32Array.from(recs.map((r) => r.rating)),
    heldOut: recs.map((r) => isHeldOut(r.prompt, heldOutFraction)),
  };
}

/** A seeded Fisher–Yates permutation (the engine's generator, so torch.manualSeed fixes it). */
function permutation(n: number): number[] {
  return Array.from(torch.tidy(() => torch.randperm(n).toFloat32Array()), (v) => v | 0);
}

/** Embeds images [M, 3, H, W] in batches without a graph → [M, D]. */
export function embedImages(clip: ImageTextEmbedder, images: Tensor, batch = 256): Tensor {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const parts: Tensor[] = [];
      for (let s = 0; s < images.shape[0]!; s += batch) parts.push(clip.encodeImages(images.narrow(0, s, Math.min(batch, images.shape[0]! - s))));
      return torch.cat(parts, 0);
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// preference

export const PreferenceTrainSchema = z
  .object({
    /** seeds the initialisation and the batch order */
    seed: z.number().int().min(0),
    /** 'conv': own encoder + the world's text encoder; 'clip': head on frozen CLIP embeddings */
    encoder: z.enum(['conv', 'clip']),
    /** fraction of prompts held out for measuring agreement */
    heldOut: z.number().min(0).max(0.9),
    epochs: z.number().int().positive(),
    /** pairs per step */
    batchSize: z.number().int().positive(),
    lr: z.number().positive(),
    weightDecay: z.number().min(0),
    /** conv encoder's channels per level and GroupNorm groups */
    conv: z.object({ channels: z.array(z.number().int().positive()).min(1), groups: z.number().int().positive() }).strict(),
    head: z.object({ hidden: z.number().int().positive(), dropout: z.number().min(0).max(0.9) }).strict(),
    /**
     * conv encoder: mirror each training pair left–right with probability ½, swapping 'left' and
     * 'right' in its prompt — a change that keeps every label (the world's shapes are symmetric
     * about the vertical axis, and the annotator's terms do not care about the side)
     */
    flip: z.boolean(),
    /** stop after this many minutes (the run keeps what it has) */
    maxMinutes: z.number().positive(),
  })
  .strict();
export type PreferenceTrainConfig = z.infer<typeof PreferenceTrainSchema>;

export const PREFERENCE_TRAIN_DEFAULTS: PreferenceTrainConfig = {
  seed: 0,
  encoder: 'conv',
  heldOut: 0.15,
  epochs: 12,
  batchSize: 64,
  lr: 1e-3,
  weightDecay: 1e-4,
  conv: { channels: [16, 32, 64, 128], groups: 8 },
  head: { hidden: 128, dropout: 0.1 },
  flip: true,
  maxMinutes: 9,
};

export interface PreferenceTrainResult {
  model: PreferenceModel;
  /** the checkpoint's config (standardisation filled in) */
  config: PreferenceConfig;
  metrics: {
    trainPairs: number;
    heldOutPairs: number;
    /** held-out agreement, ties excluded */
    heldOutAgreement: number;
    heldOutDecided: number;
    /** held-out agreement over all pairs, ties counted as ½ */
    heldOutAgreementTiesHalf: number;
    trainAgreement: number;
    finalLoss: number;
    epochs: number;
    seconds: number;
    scoreMean: number;
    scoreStd: number;
  };
}

export interface PreferenceTrainDeps {
  /** conv encoder: the world's tokenizer and text encoder (config and weights), e.g. the base model's */
  text?: { tokenizer: TokenizerConfig; textEncoder: TextEncoderConfig; weights: Record<string, Tensor> };
  /** clip encoder: the frozen CLIP and where its checkpoint is */
  clip?: { embedder: ImageTextEmbedder; dir: string; sha256: string };
  /** called after every epoch */
  onEpoch?: (rec: Record<string, number>) => void;
  progress?: boolean;
}

/** Scores every image of the table (no graph): raw s [M] as numbers, for prompt[k] of each. */
function scoreTable(model: PreferenceModel, data: PairData, featureOf: ((rows: Int32Array, prompts: string[]) => Tensor) | null): { sA: Float32Array; sB: Float32Array } {
  const P = data.a.length;
  const sA = new Float32Array(P);
  const sB = new Float32Array(P);
  const B = 256;
  torch.noGrad(() => {
    for (let s = 0; s < P; s += B) {
      const n = Math.min(B, P - s);
      const rowsA = data.a.subarray(s, s + n);
      const rowsB = data.b.subarray(s, s + n);
      const prompts = data.prompts.slice(s, s + n);
      const out = torch.tidy(() => {
        const rows = torch.fromTypedArray(Int32Array.from([...rowsA, ...rowsB]), [2 * n]).long();
        const both = [...prompts, ...prompts];
        const scores = featureOf
          ? model.forwardClipFeatures(featureOf(Int32Array.from([...rowsA, ...rowsB]), both))
          : model.forward(data.images.indexSelect(0, rows), both);
        return scores.toFloat32Array();
      });
      sA.set(out.subarray(0, n), s);
      sB.set(out.subarray(n), s);
    }
  });
  return { sA, sB };
}

export function trainPreference(data: PairData, cfg: PreferenceTrainConfig, deps: PreferenceTrainDeps = {}): PreferenceTrainResult {
  const P = data.a.length;
  const train = [...Array(P).keys()].filter((k) => !data.heldOut[k]);
  const held = [...Array(P).keys()].filter((k) => data.heldOut[k]);
  if (train.length === 0) throw new Error('preference training: no training pairs (every prompt is held out)');
  torch.manualSeed(cfg.seed);

  const [, , H] = data.images.shape as [number, number, number, number];
  let config: PreferenceConfig;
  if (cfg.encoder === 'conv') {
    if (!deps.text) throw new Error(`preference training: encoder 'conv' needs the world's text encoder (e.g. from the base checkpoint)`);
    config = {
      format: 'sharpen-preference/1', encoder: 'conv', imageSize: H, conv: cfg.conv,
      tokenizer: deps.text.tokenizer, textEncoder: deps.text.textEncoder, head: cfg.head, standardize: { mean: 0, std: 1 },
    };
  } else {
    if (!deps.clip) throw new Error(`preference training: encoder 'clip' needs the CLIP checkpoint`);
    config = {
      format: 'sharpen-preference/1', encoder: 'clip', imageSize: H,
      clip: { dir: deps.clip.dir, sha256: deps.clip.sha256, embedDim: deps.clip.embedder.embedDim }, head: cfg.head, standardize: { mean: 0, std: 1 },
    };
  }
  const model = new PreferenceModel(config, deps.clip?.embedder ?? null);
  if (cfg.encoder === 'conv') {
    model.textEncoder!.loadStateDict(deps.text!.weights);
    model.textEncoder!.requiresGrad_(false);
  }

  // CLIP: embed every image and prompt once; the head trains on the cached features
  let featureOf: ((rows: Int32Array, prompts: string[]) => Tensor) | null = null;
  let imgEmb: Tensor | null = null;
  let txtEmb: Tensor | null = null;
  const promptRow = new Map<string, number>();
  if (cfg.encoder === 'clip') {
    const clip = deps.clip!.embedder;
    imgEmb = torch.keep(embedImages(clip, data.images));
    const uniq = [...new Set(data.prompts)];
    uniq.forEach((p, i) => promptRow.set(p, i));
    txtEmb = torch.keep(torch.noGrad(() => clip.encodeText(uniq)));
    featureOf = (rows, prompts) =>
      torch.tidy(() => {
        const ri = torch.fromTypedArray(rows, [rows.length]).long();
        const ti = torch.fromTypedArray(Int32Array.from(prompts.map((p) => promptRow.get(p)!)), [prompts.length]).long();
        return PreferenceModel.clipFeatures(imgEmb!.indexSelect(0, ri), txtEmb!.indexSelect(0, ti));
      });
  }

  const params = model.trainableParameters();
  const opt = new AdamW(params, { lr: cfg.lr, weightDecay: cfg.weightDecay });
  const stepsPerEpoch = Math.ceil(train.length / cfg.batchSize);
  const totalSteps = stepsPerEpoch * cfg.epochs;
  const sched = new LRScheduler(opt, cosineSchedule({ totalSteps, warmupSteps: Math.min(50, Math.floor(totalSteps / 10)), minLr: cfg.lr / 20 }));
  const progress = deps.progress ? new Progress({ total: totalSteps, label: 'train-preference', unit: 'pair', unitsPerTick: cfg.batchSize }) : null;
  const t0 = performance.now();
  let step = 0;
  let epochsDone = 0;
  let lastLoss = NaN;
  const heldData = (): { agreement: number; decided: number; agreementTiesHalf: number } => {
    const { sA, sB } = scoreTable(model, sub(data, held), featureOf);
    return pairAgreement(sA, sB, held.map((k) => data.choices[k]!));
  };
  outer: for (let epoch = 0; epoch < cfg.epochs; epoch++) {
    model.train(true);
    const order = permutation(train.length).map((i) => train[i]!);
    let lossSum = 0;
    let lossN = 0;
    for (let s = 0; s < order.length; s += cfg.batchSize) {
      const ks = order.slice(s, s + cfg.batchSize);
      const n = ks.length;
      const rows = Int32Array.from([...ks.map((k) => data.a[k]!), ...ks.map((k) => data.b[k]!)]);
      const prompts = ks.map((k) => data.prompts[k]!);
      const y = Float32Array.from(ks.map((k) => choiceTarget(data.choices[k]!)));
      const loss = torch.tidy(() => {
        let scores: Tensor;
        if (featureOf) {
          scores = model.forwardClipFeatures(featureOf(rows, [...prompts, ...prompts]));
        } else {
          let x = data.images.indexSelect(0, torch.fromTypedArray(rows, [2 * n]).long()); // [2n, 3, H, W]
          let ps = prompts;
          if (cfg.flip) {
            const flips = torch.rand([n]).lt(0.5);
            const f = Array.from(flips.toFloat32Array(), (v) => v > 0);
            ps = prompts.map((p, i) => (f[i] ? swapLeftRight(p) : p));
            const m = torch.cat([flips, flips]).reshape(2 * n, 1, 1, 1);
            x = torch.where(m, x.flip([3]), x);
          }
          scores = model.forward(x, [...ps, ...ps]); // [2n]
        }
        const [sA, sB] = scores.chunk(2, 0) as [Tensor, Tensor];
        const l = bradleyTerryLoss(sA, sB, torch.fromTypedArray(y, [n]));
        l.backward();
        return l.item();
      });
      opt.step();
      opt.zeroGrad();
      sched.step();
      step++;
      lossSum += loss * n;
      lossN += n;
      progress?.update(step, { loss: loss.toFixed(4) });
      if ((performance.now() - t0) / 60000 > cfg.maxMinutes) {
        console.error(`train-preference: stopping after ${cfg.maxMinutes} minutes (epoch ${epoch + 1}, step ${step} of ${totalSteps})`);
        lastLoss = lossSum / lossN;
        break outer;
      }
    }
    lastLoss = lossSum / lossN;
    epochsDone = epoch + 1;
    model.train(false);
    const rec: Record<string, number> = { epoch: epochsDone, step, loss: lastLoss, seconds: (performance.now() - t0) / 1000 };
    if (held.length) {
      const h = heldData();
      rec.heldOutAgreement = h.agreement;
      rec.heldOutAgreementTiesHalf = h.agreementTiesHalf;
    }
    deps.onEpoch?.(rec);
  }
  progress?.finish();
  model.train(false);

  // standardise over every image (all base-model samples), each scored for its own pair's prompt
  const all = scoreTable(model, data, featureOf);
  const scores = [...all.sA, ...all.sB];
  const mean = scores.reduce((s, v) => s + v, 0) / scores.length;
  const std = Math.sqrt(scores.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, scores.length - 1)) || 1;
  model.setStandardization(mean, std);
  config = model.config;

  const trainAg = pairAgreement(train.map((k) => all.sA[k]!), train.map((k) => all.sB[k]!), train.map((k) => data.choices[k]!));
  const heldAg = held.length
    ? pairAgreement(held.map((k) => all.sA[k]!), held.map((k) => all.sB[k]!), held.map((k) => data.choices[k]!))
    : { agreement: NaN, decided: 0, agreementTiesHalf: NaN };
  imgEmb?.dispose();
  txtEmb?.dispose();
  opt.dispose();
  return {
    model,
    config,
    metrics: {
      trainPairs: train.length,
      heldOutPairs: held.length,
      heldOutAgreement: heldAg.agreement,
      heldOutDecided: heldAg.decided,
      heldOutAgreementTiesHalf: heldAg.agreementTiesHalf,
      trainAgreement: trainAg.agreement,
      finalLoss: lastLoss,
      epochs: epochsDone,
      seconds: (performance.now() - t0) / 1000,
      scoreMean: mean,
      scoreStd: std,
    },
  };
}

/** The prompt of the left–right mirror image: 'left' and 'right' swapped. */
export function swapLeftRight(prompt: string): string {
  return prompt.replace(/\b(left|right)\b/g, (w) => (w === 'left' ? 'right' : 'left'));
}

/** The pairs `ks` of a pair table (sharing its images). */
function sub(data: PairData, ks: number[]): PairData {
  return {
    images: data.images,
    a: Int32Array.from(ks.map((k) => data.a[k]!)),
    b: Int32Array.from(ks.map((k) => data.b[k]!)),
    prompts: ks.map((k) => data.prompts[k]!),
    choices: ks.map((k) => data.choices[k]!),
    heldOut: ks.map((k) => data.heldOut[k]!),
  };
}

// ---------------------------------------------------------------------------------------------
// aesthetic

export const AestheticTrainSchema = z
  .object({
    seed: z.number().int().min(0),
    /** fraction of prompts whose images are held out */
    heldOut: z.number().min(0).max(0.9),
    epochs: z.number().int().positive(),
    batchSize: z.number().int().positive(),
    lr: z.number().positive(),
    weightDecay: z.number().min(0),
    hidden: z.array(z.number().int().positive()).min(1),
    dropout: z.number().min(0).max(0.9),
  })
  .strict();
export type AestheticTrainConfig = z.infer<typeof AestheticTrainSchema>;

export const AESTHETIC_TRAIN_DEFAULTS: AestheticTrainConfig = {
  seed: 0,
  heldOut: 0.15,
  epochs: 150,
  batchSize: 128,
  lr: 1e-3,
  weightDecay: 1e-3,
  hidden: [256, 64, 16],
  dropout: 0.1,
};

export interface AestheticTrainResult {
  head: AestheticHead;
  metrics: {
    trainImages: number;
    heldOutImages: number;
    heldOutPearson: number;
    heldOutSpearman: number;
    heldOutMse: number;
    /** MSE of always predicting the training mean (what the head must beat) */
    heldOutMseOfMean: number;
    trainPearson: number;
    epochs: number;
    seconds: number;
  };
}

/** Trains the head on precomputed CLIP image embeddings [M, D] and ratings. */
export function trainAesthetic(
  embeddings: Tensor,
  ratings: Float32Array,
  heldOut: boolean[],
  cfg: AestheticTrainConfig,
  clip: { dir: string; sha256: string },
  opts: { onEpoch?: (rec: Record<string, number>) => void; progress?: boolean } = {},
): AestheticTrainResult {
  const M = ratings.length;
  if (embeddings.ndim !== 2 || embeddings.shape[0] !== M) throw new Error(`aesthetic training: ${embeddings.shape[0]} embeddings for ${M} ratings`);
  const train = [...Array(M).keys()].filter((k) => !heldOut[k]);
  const held = [...Array(M).keys()].filter((k) => heldOut[k]);
  if (train.length < 2) throw new Error('aesthetic training: fewer than two training images');
  torch.manualSeed(cfg.seed);
  const tr = train.map((k) => ratings[k]!);
  const mean = tr.reduce((s, v) => s + v, 0) / tr.length;
  const std = Math.sqrt(tr.reduce((s, v) => s + (v - mean) ** 2, 0) / (tr.length - 1)) || 1;
  const config: AestheticConfig = {
    format: 'sharpen-aesthetic/1', embedDim: embeddings.shape[1]!, hidden: cfg.hidden, dropout: cfg.dropout,
    clip, target: { mean, std },
  };
  const head = new AestheticHead(config);
  const opt = new AdamW(head.trainableParameters(), { lr: cfg.lr, weightDecay: cfg.weightDecay });
  const stepsPerEpoch = Math.ceil(train.length / cfg.batchSize);
  const totalSteps = stepsPerEpoch * cfg.epochs;
  const sched = new LRScheduler(opt, cosineSchedule({ totalSteps, warmupSteps: Math.min(100, Math.floor(totalSteps / 10)), minLr: cfg.lr / 20 }));
  const y = torch.fromTypedArray(ratings, [M]);
  const progress = opts.progress ? new Progress({ total: totalSteps, label: 'train-aesthetic', unit: 'img', unitsPerTick: cfg.batchSize }) : null;
  const t0 = performance.now();
  const predict = (ks: number[]): Float32Array =>
    ks.length === 0
      ? new Float32Array(0)
      : torch.noGrad(() => torch.tidy(() => head.forward(embeddings.indexSelect(0, torch.fromTypedArray(Int32Array.from(ks), [ks.length]).long())).toFloat32Array()));
  let step = 0;
  for (let epoch = 0; epoch < cfg.epochs; epoch++) {
    head.train(true);
    const order = permutation(train.length).map((i) => train[i]!);
    let lossSum = 0;
    for (let s = 0; s < order.length; s += cfg.batchSize) {
      const ks = order.slice(s, s + cfg.batchSize);
      const loss = torch.tidy(() => {
        const idx = torch.fromTypedArray(Int32Array.from(ks), [ks.length]).long();
        // MSE on the standardised rating (the head's output before de-standardising)
        const pred = head.forward(embeddings.indexSelect(0, idx)).sub(mean).div(std);
        const l = torch.F.mseLoss(pred, y.indexSelect(0, idx).sub(mean).div(std));
        l.backward();
        return l.item();
      });
      opt.step();
      opt.zeroGrad();
      sched.step();
      step++;
      lossSum += loss * ks.length;
      progress?.update(step, { mse: loss.toFixed(4) });
    }
    if (opts.onEpoch && (epoch + 1) % 10 === 0) {
      head.train(false);
      const p = predict(held);
      opts.onEpoch({ epoch: epoch + 1, step, loss: lossSum / train.length, heldOutPearson: pearson(p, held.map((k) => ratings[k]!)) });
    }
  }
  progress?.finish();
  head.train(false);
  const pHeld = predict(held);
  const yHeld = held.map((k) => ratings[k]!);
  const pTrain = predict(train);
  y.dispose();
  opt.dispose();
  const mse = (p: ArrayLike<number>, t: number[]) => t.reduce((s, v, i) => s + (p[i]! - v) ** 2, 0) / Math.max(1, t.length);
  return {
    head,
    metrics: {
      trainImages: train.length,
      heldOutImages: held.length,
      heldOutPearson: pearson(pHeld, yHeld),
      heldOutSpearman: spearman(pHeld, yHeld),
      heldOutMse: mse(pHeld, yHeld),
      heldOutMseOfMean: mse(new Float32Array(yHeld.length).fill(mean), yHeld),
      trainPearson: pearson(pTrain, tr),
      epochs: cfg.epochs,
      seconds: (performance.now() - t0) / 1000,
    },
  };
}
