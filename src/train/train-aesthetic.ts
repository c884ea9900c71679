// Training the aesthetic head (models/aesthetic.ts) with MSE on 1–10 ratings of frozen-CLIP
// embeddings; reports Pearson and Spearman on held-out images (reward-data.ts: what is held out).
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AdamW, cosineSchedule, LRScheduler } from '../optim/index.js';
import { AestheticHead, pearson, spearman, type AestheticConfig } from '../models/aesthetic.js';
import { Progress } from '../util/progress.js';
import { permutation } from './reward-data.js';

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
