// Training the preference model (models/preference.ts) with the Bradley–Terry loss on pairs, ties
// as ½; reports agreement on held-out pairs (ties excluded, and with ties as ½). reward-data.ts
// loads the pairs and says what is held out. Runs in minutes on a CPU.
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AdamW, cosineSchedule, LRScheduler } from '../optim/index.js';
import { PreferenceModel, bradleyTerryLoss, choiceTarget, pairAgreement, type PreferenceConfig } from '../models/preference.js';
import type { ImageTextEmbedder } from '../models/embedder.js';
import type { TextEncoderConfig } from '../models/text-encoder.js';
import type { TokenizerConfig } from '../models/tokenizer.js';
import { Progress } from '../util/progress.js';
import { embedImages, permutation, type PairData } from './reward-data.js';

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

type FeatureOf = (rows: Int32Array, prompts: string[]) => Tensor;

/** Trains the preference model on the pairs not held out; standardises its scores over every image. */
export function trainPreference(data: PairData, cfg: PreferenceTrainConfig, deps: PreferenceTrainDeps = {}): PreferenceTrainResult {
  const P = data.a.length;
  const train = [...Array(P).keys()].filter((k) => !data.heldOut[k]);
  const held = [...Array(P).keys()].filter((k) => data.heldOut[k]);
  if (train.length === 0) throw new Error('preference training: no training pairs (every prompt is held out)');
  torch.manualSeed(cfg.seed);

  const [, , H] = data.images.shape as [number, number, number, number];
  const model = buildPreferenceModel(cfg, deps, H);
  const cache = cfg.encoder === 'clip' ? clipFeatureCache(deps.clip!.embedder, data) : null;
  const featureOf = cache?.featureOf ?? null;
  const t0 = performance.now();
  const { epochsDone, lastLoss } = runPreferenceEpochs(model, data, train, held, cfg, deps, featureOf, t0);
  model.train(false);

  // standardise over every image (all base-model samples), each scored for its own pair's prompt
  const all = scoreTable(model, data, featureOf);
  const scores = [...all.sA, ...all.sB];
  const mean = scores.reduce((s, v) => s + v, 0) / scores.length;
  const std = Math.sqrt(scores.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, scores.length - 1)) || 1;
  model.setStandardization(mean, std);
  const config = model.config;

  const trainAg = pairAgreement(train.map((k) => all.sA[k]!), train.map((k) => all.sB[k]!), train.map((k) => data.choices[k]!));
  const heldAg = held.length
    ? pairAgreement(held.map((k) => all.sA[k]!), held.map((k) => all.sB[k]!), held.map((k) => data.choices[k]!))
    : { agreement: NaN, decided: 0, agreementTiesHalf: NaN };
  cache?.dispose();
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

/** The model for the chosen encoder (standardisation 0/1); the conv encoder's text encoder is the world's, frozen. */
function buildPreferenceModel(cfg: PreferenceTrainConfig, deps: PreferenceTrainDeps, imageSize: number): PreferenceModel {
  let config: PreferenceConfig;
  if (cfg.encoder === 'conv') {
    if (!deps.text) throw new Error(`preference training: encoder 'conv' needs the world's text encoder (e.g. from the base checkpoint)`);
    config = {
      format: 'sharpen-preference/1', encoder: 'conv', imageSize, conv: cfg.conv,
      tokenizer: deps.text.tokenizer, textEncoder: deps.text.textEncoder, head: cfg.head, standardize: { mean: 0, std: 1 },
    };
  } else {
    if (!deps.clip) throw new Error(`preference training: encoder 'clip' needs the CLIP checkpoint`);
    config = {
      format: 'sharpen-preference/1', encoder: 'clip', imageSize,
      clip: { dir: deps.clip.dir, sha256: deps.clip.sha256, embedDim: deps.clip.embedder.embedDim }, head: cfg.head, standardize: { mean: 0, std: 1 },
    };
  }
  const model = new PreferenceModel(config, deps.clip?.embedder ?? null);
  if (cfg.encoder === 'conv') {
    model.textEncoder!.loadStateDict(deps.text!.weights);
    model.textEncoder!.requiresGrad_(false);
  }
  return model;
}

/** CLIP: every image and prompt embedded once; the head trains on the cached features. */
function clipFeatureCache(clip: ImageTextEmbedder, data: PairData): { featureOf: FeatureOf; dispose: () => void } {
  const promptRow = new Map<string, number>();
  const imgEmb = torch.keep(embedImages(clip, data.images));
  const uniq = [...new Set(data.prompts)];
  uniq.forEach((p, i) => promptRow.set(p, i));
  const txtEmb = torch.keep(torch.noGrad(() => clip.encodeText(uniq)));
  const featureOf: FeatureOf = (rows, prompts) =>
    torch.tidy(() => {
      const ri = torch.fromTypedArray(rows, [rows.length]).long();
      const ti = torch.fromTypedArray(Int32Array.from(prompts.map((p) => promptRow.get(p)!)), [prompts.length]).long();
      return PreferenceModel.clipFeatures(imgEmb.indexSelect(0, ri), txtEmb.indexSelect(0, ti));
    });
  return {
    featureOf,
    dispose: () => {
      imgEmb.dispose();
      txtEmb.dispose();
    },
  };
}

/**
 * The training epochs: AdamW with a cosine schedule over shuffled training pairs, the held-out
 * agreement after every epoch (to `deps.onEpoch`); stops early after `cfg.maxMinutes` from `t0`.
 */
function runPreferenceEpochs(
  model: PreferenceModel, data: PairData, train: number[], held: number[], cfg: PreferenceTrainConfig,
  deps: PreferenceTrainDeps, featureOf: FeatureOf | null, t0: number,
): { epochsDone: number; lastLoss: number } {
  const params = model.trainableParameters();
  const opt = new AdamW(params, { lr: cfg.lr, weightDecay: cfg.weightDecay });
  const stepsPerEpoch = Math.ceil(train.length / cfg.batchSize);
  const totalSteps = stepsPerEpoch * cfg.epochs;
  const sched = new LRScheduler(opt, cosineSchedule({ totalSteps, warmupSteps: Math.min(50, Math.floor(totalSteps / 10)), minLr: cfg.lr / 20 }));
  const progress = deps.progress ? new Progress({ total: totalSteps, label: 'train-preference', unit: 'pair', unitsPerTick: cfg.batchSize }) : null;
  let step = 0;
  let epochsDone = 0;
  let lastLoss = NaN;
  outer: for (let epoch = 0; epoch < cfg.epochs; epoch++) {
    model.train(true);
    const order = permutation(train.length).map((i) => train[i]!);
    let lossSum = 0;
    let lossN = 0;
    for (let s = 0; s < order.length; s += cfg.batchSize) {
      const ks = order.slice(s, s + cfg.batchSize);
      const loss = preferenceBatchLoss(model, data, ks, cfg, featureOf);
      opt.step();
      opt.zeroGrad();
      sched.step();
      step++;
      lossSum += loss * ks.length;
      lossN += ks.length;
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
      const { sA, sB } = scoreTable(model, sub(data, held), featureOf);
      const h = pairAgreement(sA, sB, held.map((k) => data.choices[k]!));
      rec.heldOutAgreement = h.agreement;
      rec.heldOutAgreementTiesHalf = h.agreementTiesHalf;
    }
    deps.onEpoch?.(rec);
  }
  progress?.finish();
  opt.dispose();
  return { epochsDone, lastLoss };
}

/**
 * The Bradley–Terry loss of the pairs `ks`, backpropagated; returns its value. The conv encoder
 * mirrors each pair left–right with probability ½ when `cfg.flip` (its prompt's sides swapped).
 */
function preferenceBatchLoss(model: PreferenceModel, data: PairData, ks: number[], cfg: PreferenceTrainConfig, featureOf: FeatureOf | null): number {
  const n = ks.length;
  const rows = Int32Array.from([...ks.map((k) => data.a[k]!), ...ks.map((k) => data.b[k]!)]);
  const prompts = ks.map((k) => data.prompts[k]!);
  const y = Float32Array.from(ks.map((k) => choiceTarget(data.choices[k]!)));
  return torch.tidy(() => {
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
