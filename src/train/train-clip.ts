// Training and measuring the small CLIP (src/models/clip-model.ts) on the embedded world.
//
// Loss: CLIP's symmetric contrastive InfoNCE (Radford et al., 2021, §2.3 and Figure 3): for a batch
// of B images and their B prompts, logits = exp(logit_scale) · I Tᵀ, cross-entropy over texts for
// each image and over images for each text, averaged. Plus hard negatives, as NegCLIP does
// (Yuksekgonul et al., 2023, §4): each image also gets K prompts that differ from its own by one
// compositional change (world/negatives.ts: attributes or shapes swapped between objects, a relation
// changed or its objects swapped, a colour/shape/size/texture/count changed); they enter that
// image's softmax as extra text candidates:
//   L_i2t = −log softmax([s(I_i, T_1..T_B), s(I_i, N_i1..N_iK)])_i,   L_t2i = −log softmax(s(I_1..I_B, T_i))_i
// In-batch texts that a rendering of image i may also satisfy (world/negatives.ts scenesCompatible)
// are masked out of i's softmax, and the batch never holds one prompt twice.
//
// Data: the world's train-split prompts rendered on the fly (renderScene; every image its own seed,
// so the CLIP never sees one picture twice), and with probability `degradeProb` corrupted like a
// generated image (world/degrade.ts: Gaussian blur, colour shift, pixel noise of random strength), so
// that it transfers to the base model's samples. Batch k is a pure function of (seed, k): a resumed
// run sees exactly the data it would have seen.
//
// Measure: clip-measure.ts (hard-negative accuracy on held-out renderings and the base model's samples).
import { copyFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { AdamW, LRScheduler, clipGradNorm, makeSchedule } from '../optim/index.js';
import { ClipModel, clipConfigFor, ClipConfigSchema } from '../models/clip-model.js';
import { Rng } from '../world/rng.js';
import { parsePrompt } from '../world/grammar.js';
import { renderScene } from '../world/render.js';
import { degrade } from '../world/degrade.js';
import { hardNegatives, scenesCompatible } from '../world/negatives.js';
import type { SceneSpec } from '../world/spec.js';
import type { PromptRecord } from '../world/splits.js';
import { JsonlWriter } from '../util/jsonl.js';
import { Progress } from '../util/progress.js';
import { saveCheckpoint, loadCheckpoint, disposeCheckpoint, rngStateToBase64, restoreRngState } from './checkpoint.js';
import { recordedRun, openCheckpointedRun, checkpointStep, type RunRecord } from './training-run.js';

export const ClipTrainConfigSchema = z
  .object({
    /** seeds the initialisation and the data */
    seed: z.number().int().min(0),
    /** the architecture (the checkpoint's config.json without the vocabulary) */
    model: z
      .object({
        embedDim: ClipConfigSchema.shape.embedDim,
        textEncoder: ClipConfigSchema.shape.textEncoder.omit({ vocabSize: true }),
        vision: ClipConfigSchema.shape.vision,
      })
      .strict(),
    data: z
      .object({
        /** hard negative prompts per image (extra text candidates in its softmax) */
        hardNegatives: z.number().int().min(0).max(16),
        /** probability that an image's negatives focus on its category's concept (else any change) */
        negativeFocus: z.number().min(0).max(1),
        /** probability of corrupting an image like a generated one */
        degradeProb: z.number().min(0).max(1),
        /** largest Gaussian-blur σ (pixels); each corrupted image draws σ uniformly in [0.3, this] */
        blurMax: z.number().min(0.3),
        /** largest pixel-noise σ (drawn uniformly in [0, this]) */
        noiseMax: z.number().min(0),
        /** largest colour shift (drawn uniformly in [0, this]) */
        shiftMax: z.number().min(0),
      })
      .strict(),
    train: z
      .object({
        batchSize: z.number().int().min(2),
        steps: z.number().int().positive(),
        lr: z.number().positive(),
        warmupSteps: z.number().int().min(0),
        /** final lr of the cosine schedule */
        minLr: z.number().min(0),
        /** decoupled weight decay on matrices and kernels (not on biases, norms, logit_scale) */
        weightDecay: z.number().min(0),
        gradClip: z.number().positive(),
      })
      .strict(),
    eval: z
      .object({
        /** test prompts per category for the ground-truth measurement (0: all) */
        perCategory: z.number().int().min(0),
        /** hard negatives each true prompt competes with */
        negatives: z.number().int().min(1).max(16),
        /** seeds of the held-out renderings and of the negatives */
        seed: z.number().int().min(0),
        /** test prompts per category sampled from the base model (0: skip that measurement) */
        basePerCategory: z.number().int().min(0),
        /** sampling steps for the base model's images (default: its own) */
        baseSteps: z.number().int().positive().optional(),
      })
      .strict(),
    output: z
      .object({
        /** run directory: config.json, metrics.jsonl, checkpoints/ */
        dir: z.string().min(1),
        logEvery: z.number().int().positive(),
        checkpointEvery: z.number().int().positive(),
      })
      .strict(),
  })
  .strict();
export type ClipTrainConfig = z.infer<typeof ClipTrainConfigSchema>;

// ---------------------------------------------------------------------------------------------
// data

export interface ClipBatch {
  /** [B, 3, S, S] in [0, 1] */
  images: Tensor;
  prompts: string[];
  specs: SceneSpec[];
  /** negatives[i]: the hard negative prompts of image i (all of one length K) */
  negatives: string[][];
}

export interface ClipDataOptions {
  seed: number;
  imageSize: number;
  data: ClipTrainConfig['data'];
}

/** A deterministic source of contrastive batches over prompt records (batch k is a function of (seed, k)). */
export class ClipBatchSource {
  private readonly specs: SceneSpec[];
  constructor(readonly records: Pick<PromptRecord, 'prompt' | 'category'>[], readonly opts: ClipDataOptions) {
    if (records.length < 2) throw new Error(`CLIP data: need at least 2 prompts, got ${records.length}`);
    this.specs = records.map((r) => parsePrompt(r.prompt));
  }

  batch(k: number, size: number): ClipBatch {
    const { seed, imageSize: S, data } = this.opts;
    if (size > this.records.length) throw new Error(`CLIP data: batch of ${size} from only ${this.records.length} prompts`);
    const rng = new Rng(seed, 'clip-batch', k);
    // B distinct prompts (partial Fisher–Yates)
    const idx = [...this.records.keys()];
    for (let i = 0; i < size; i++) {
      const j = i + rng.int(idx.length - i);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    const plane = 3 * S * S;
    const pixels = new Float32Array(size * plane);
    const prompts: string[] = [];
    const specs: SceneSpec[] = [];
    const negatives: string[][] = [];
    for (let i = 0; i < size; i++) {
      const r = this.records[idx[i]!]!;
      const spec = this.specs[idx[i]!]!;
      const irng = new Rng(seed, 'clip-image', k, i);
      let img = renderScene(spec, irng.u32(), { resolution: S }).image;
      if (irng.bool(data.degradeProb)) {
        img = degrade(img, irng, {
          blur: irng.uniform(0.3, data.blurMax),
          noise: irng.uniform(0, data.noiseMax),
          shift: irng.uniform(0, data.shiftMax),
        });
      }
      pixels.set(img.data, i * plane);
      prompts.push(r.prompt);
      specs.push(spec);
      if (data.hardNegatives > 0) {
        const focus = irng.bool(data.negativeFocus) ? { category: r.category } : {};
        const negs = hardNegatives(spec, data.hardNegatives, irng, focus).map((n) => n.prompt);
        // pad with repeats so every image has K candidates (the grammar gives fewer only rarely)
        if (negs.length === 0) throw new Error(`CLIP data: no hard negative for '${r.prompt}'`);
        for (let j = 0; negs.length < data.hardNegatives; j++) negs.push(negs[j]!);
        negatives.push(negs);
      } else negatives.push([]);
    }
    return { images: torch.fromTypedArray(pixels, [size, 3, S, S]), prompts, specs, negatives };
  }
}

// ---------------------------------------------------------------------------------------------
// loss

export interface ClipLossResult {
  loss: Tensor;
  /** image→text top-1 accuracy over in-batch texts and the image's own negatives */
  accuracy: number;
  /** fraction of images whose true prompt beats all its hard negatives */
  hardAccuracy: number;
}

/**
 * The symmetric InfoNCE loss with per-image hard negatives (see the file's header). `mask[i][j]`
 * true removes text j from image i's candidates and image i from text j's (a possible match that
 * is not the pair). Returns the loss (with a graph) and batch accuracies.
 */
export function clipContrastiveLoss(model: ClipModel, images: Tensor, prompts: string[], negatives: string[][], mask?: boolean[][]): ClipLossResult {
  const B = prompts.length;
  if (images.shape[0] !== B) throw new Error(`clipContrastiveLoss: ${images.shape[0]} images but ${B} prompts`);
  if (negatives.length !== B) throw new Error(`clipContrastiveLoss: negatives for ${negatives.length} images, expected ${B}`);
  const K = negatives[0]?.length ?? 0;
  if (negatives.some((n) => n.length !== K)) throw new Error('clipContrastiveLoss: every image needs the same number of negatives');
  let accuracy = 0;
  let hardAccuracy = 1;
  const loss = torch.tidy(() => {
    const I = model.encodeImages(images); // [B, D]
    const texts = model.encodeText([...prompts, ...negatives.flat()]); // [B + B·K, D]
    const T = texts.narrow(0, 0, B); // [B, D]
    const scale = model.temperatureScale(); // exp(logit_scale)
    let sim = I.matmul(T.transpose(0, 1)); // [B, B], image i · text j
    if (mask) {
      const m = new Uint8Array(B * B);
      for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) if (i !== j && mask[i]![j]) m[i * B + j] = 1;
      sim = sim.maskedFill(torch.fromTypedArray(m, [B, B]).bool(), -1e4);
    }
    let i2t = sim;
    if (K > 0) {
      const N = texts.narrow(0, B, B * K).reshape(B, K, -1); // [B, K, D]
      const hard = N.mul(I.unsqueeze(1)).sum(2); // [B, K]
      i2t = torch.cat([sim, hard], 1); // [B, B + K]
      const own = I.mul(T).sum(1); // [B], image i · its own prompt
      hardAccuracy = own.unsqueeze(1).gt(hard).float().amin(1).mean().item();
    }
    const target = torch.arange(0, B).long();
    accuracy = i2t.argmax(1).eq(target).float().mean().item();
    const lI = torch.F.crossEntropy(i2t.mul(scale), target);
    const lT = torch.F.crossEntropy(sim.transpose(0, 1).mul(scale), target);
    return lI.add(lT).div(2);
  });
  return { loss, accuracy, hardAccuracy };
}

/** mask[i][j]: prompt j is not prompt i's but a rendering of i may satisfy it. */
export function compatibilityMask(specs: SceneSpec[]): boolean[][] {
  return specs.map((a, i) => specs.map((b, j) => i !== j && scenesCompatible(a, b)));
}

// ---------------------------------------------------------------------------------------------
// training

export interface TrainClipHooks {
  /** stop after this many steps in this process (tests: simulate a kill) */
  stopAfter?: number;
  /** resume from this checkpoint (`checkpoint-N`) instead of `latest` (when `latest` is broken); what it skips is logged */
  resumeFrom?: string;
  /** the run store where the run gets its row (kind 'train-clip'; none when not given) */
  store?: string;
  log?: (msg: string) => void;
  /** show the progress bar (default true) */
  progress?: boolean;
}

type TrainClipResult = { finished: boolean; step: number; model: ClipModel; seconds: number };

/** Runs (or resumes) CLIP training; returns the trained model (the caller disposes it). */
export async function trainClip(
  cfg: ClipTrainConfig,
  records: Pick<PromptRecord, 'prompt' | 'category'>[],
  words: string[],
  hooks: TrainClipHooks = {},
): Promise<TrainClipResult> {
  const log = hooks.log ?? ((m: string) => console.error(m));
  const out = cfg.output.dir;
  // `latest`, or hooks.resumeFrom; a broken `latest` is an Error naming the newest intact checkpoint
  const { latest } = await openCheckpointedRun(out, cfg, { resumeFrom: hooks.resumeFrom, flag: 'resumeFrom', log });
  const run = hooks.store === undefined ? null : {
    store: hooks.store, kind: 'train-clip', out, config: cfg, resuming: latest !== null, step: latest ? checkpointStep(latest) : 0, log,
  };
  return recordedRun(run, async (record) => {
    const r = await runTrainClip(cfg, records, words, hooks, latest, record, log);
    return { result: r, finished: r.finished, step: r.step, summary: { trainSeconds: r.seconds } };
  });
}

async function runTrainClip(
  cfg: ClipTrainConfig, records: Pick<PromptRecord, 'prompt' | 'category'>[], words: string[], hooks: TrainClipHooks,
  latest: string | null, record: RunRecord | null, log: (msg: string) => void,
): Promise<TrainClipResult> {
  const out = cfg.output.dir;
  const ckptRoot = join(out, 'checkpoints');
  torch.manualSeed(cfg.seed);
  const model = new ClipModel(clipConfigFor(cfg.model, words));
  model.train(true);
  const params = model.parameters();
  const decay = model.namedParameters().filter(([, p]) => p.ndim >= 2).map(([, p]) => p);
  const noDecay = model.namedParameters().filter(([, p]) => p.ndim < 2).map(([, p]) => p);
  const opt = new AdamW(
    [
      { params: decay, weightDecay: cfg.train.weightDecay },
      { params: noDecay, weightDecay: 0 },
    ],
    { lr: cfg.train.lr, betas: [0.9, 0.98], eps: 1e-6 }, // CLIP's Adam β2 and ε (§2.5)
  );
  const sched = new LRScheduler(opt, makeSchedule('cosine', { warmupSteps: cfg.train.warmupSteps, totalSteps: cfg.train.steps, minLr: cfg.train.minLr }));
  const metrics = new JsonlWriter(join(out, 'metrics.jsonl'));
  const data = new ClipBatchSource(records, { seed: cfg.seed, imageSize: cfg.model.vision.imageSize, data: cfg.data });

  let step = 0;
  let secondsBefore = 0;
  if (latest) {
    const c = await loadCheckpoint(latest);
    try {
      model.loadStateDict(c.tensors.model!);
      opt.loadStateDict({ tensors: c.tensors.optimizer!, meta: c.state.optimizer as never });
      sched.loadStateDict(c.state.lrScheduler);
      restoreRngState(c.state.rng, latest);
    } finally {
      disposeCheckpoint(c);
    }
    step = c.step;
    secondsBefore = typeof c.state.seconds === 'number' ? c.state.seconds : 0;
    metrics.truncateAfter(step);
    log(`resumed from ${latest} at step ${step}`);
  } else {
    log(`new CLIP run in ${out}: ${model.numParameters()} parameters (vision ${model.vision.numParameters()}, text ${model.textEncoder.numParameters()})`);
  }

  const t0 = performance.now();
  const seconds = () => secondsBefore + (performance.now() - t0) / 1000;
  const save = async () => {
    const o = opt.stateDict();
    await saveCheckpoint(ckptRoot, {
      step,
      tensors: { model: model.stateDict(), optimizer: o.tensors },
      state: { optimizer: o.meta, lrScheduler: sched.stateDict(), rng: rngStateToBase64(), seconds: seconds() },
    });
    for (const t of Object.values(o.tensors)) t.dispose();
  };

  const progress = hooks.progress === false ? null : new Progress({ total: cfg.train.steps, label: 'train-clip', unit: 'img', unitsPerTick: cfg.train.batchSize }, step);
  const acc = { loss: 0, accuracy: 0, hard: 0, n: 0 };
  const startStep = step;
  while (step < cfg.train.steps) {
    if (hooks.stopAfter !== undefined && step - startStep >= hooks.stopAfter) break;
    const b = data.batch(step, cfg.train.batchSize);
    const mask = compatibilityMask(b.specs);
    const r = clipContrastiveLoss(model, b.images, b.prompts, b.negatives, mask);
    const loss = torch.tidy(() => {
      r.loss.backward();
      return r.loss.item();
    });
    r.loss.dispose();
    b.images.dispose();
    if (!Number.isFinite(loss)) throw new Error(`train-clip: the loss is ${loss} at step ${step}; stopping (lower train.lr?)`);
    clipGradNorm(params, cfg.train.gradClip);
    opt.step();
    opt.zeroGrad();
    sched.step();
    step++;
    acc.loss += loss;
    acc.accuracy += r.accuracy;
    acc.hard += r.hardAccuracy;
    acc.n++;
    if (step % cfg.output.logEvery === 0 || step === cfg.train.steps) {
      const scale = torch.noGrad(() => torch.tidy(() => model.temperatureScale().item()));
      const line = {
        loss: acc.loss / acc.n, accuracy: acc.accuracy / acc.n, hardAccuracy: acc.hard / acc.n, logitScale: scale,
        lr: opt.paramGroups[0]!.lr, imagesPerSec: ((step - startStep) * cfg.train.batchSize) / ((performance.now() - t0) / 1000), elapsedSec: seconds(),
      };
      metrics.write({ step, ...line });
      record?.log(step, line);
      acc.loss = acc.accuracy = acc.hard = acc.n = 0;
    }
    progress?.update(step, { loss, hard: r.hardAccuracy });
    if (step % cfg.output.checkpointEvery === 0 || step === cfg.train.steps) await save();
  }
  progress?.finish();
  model.eval();
  return { finished: step >= cfg.train.steps, step, model, seconds: seconds() };
}

/** Copies a finished run's metrics.jsonl beside the exported model. */
export async function exportRunFiles(runDir: string, outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  for (const f of ['metrics.jsonl']) if (existsSync(join(runDir, f))) await copyFile(join(runDir, f), join(outDir, f));
  if (existsSync(join(runDir, 'config.json'))) await copyFile(join(runDir, 'config.json'), join(outDir, 'train-config.json'));
}
