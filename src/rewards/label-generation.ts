// Generates the preference and rating data: for each prompt, k base-model images (different
// noises, and sampling settings drawn from a mix of step counts and guidance scales so that quality
// varies), every two of them a pair labelled by the scripted annotator. Writes, under `out`:
//   images/<group>-<i>.png   the samples (as PNG: the annotator judges exactly these pixels)
//   pairs.jsonl              one choice per pair (src/data/preferences.ts)
//   ratings.jsonl            the prompt-free 1–10 rating of every image
// Deterministic for a seed (prompts, settings and noises all derive from it).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { TextToImageModel } from '../models/t2i.js';
import { generate } from '../models/generate.js';
import { Rng, mixSeed } from '../world/rng.js';
import { readImage, writePng, type RgbImage } from '../world/image.js';
import { appendPairs, appendRatings, labelFiles, type PreferencePair, type RatingRecord } from '../data/preferences.js';
import { Progress } from '../util/progress.js';
import { ScriptedAnnotator, type AnnotatorOptions } from './annotator.js';
import { toRgbImages } from './reward.js';

export interface SamplingSetting {
  steps: number;
  guidanceScale: number;
}

/**
 * The default mix: the base model's own setting (20 steps, guidance 4), fewer steps (10, 5, 3),
 * and weaker and stronger guidance (1, 2, 8) at 10 steps — 18 network calls per image on average.
 */
export const DEFAULT_SAMPLING_MIX: readonly SamplingSetting[] = [
  { steps: 20, guidanceScale: 4 },
  { steps: 10, guidanceScale: 4 },
  { steps: 5, guidanceScale: 4 },
  { steps: 3, guidanceScale: 4 },
  { steps: 10, guidanceScale: 1 },
  { steps: 10, guidanceScale: 2 },
  { steps: 10, guidanceScale: 8 },
];

/** Parses "20:4,10:4,5:2" (steps:guidance, comma-separated). */
export function parseSamplingMix(text: string): SamplingSetting[] {
  const out = text.split(',').map((part) => {
    const m = /^\s*(\d+)\s*:\s*([0-9.]+)\s*$/.exec(part);
    if (!m) throw new Error(`sampling mix: '${part}' is not steps:guidance (e.g. 20:4)`);
    const steps = Number(m[1]);
    const guidanceScale = Number(m[2]);
    if (!(steps >= 1) || !Number.isFinite(guidanceScale) || guidanceScale < 0) throw new Error(`sampling mix: '${part}' needs steps ≥ 1 and guidance ≥ 0`);
    return { steps, guidanceScale };
  });
  if (out.length === 0) throw new Error('sampling mix: empty');
  return out;
}

export interface GenerateLabelsOptions {
  /** at least this many pairs (whole groups of images per prompt are made) */
  pairs: number;
  /**
   * images per prompt; every two images of a prompt make a pair, k(k − 1)/2 pairs per prompt, as
   * ImageReward forms pairs from its per-prompt rankings (Xu et al., 2023, §3.1). Default 4.
   */
  perPrompt?: number;
  /** prompts to draw from (e.g. the world's train split) */
  prompts: string[];
  out: string;
  seed?: number;
  mix?: readonly SamplingSetting[];
  /** images per generate() call */
  batchSize?: number;
  annotator?: AnnotatorOptions;
  progress?: boolean;
}

export interface GenerateLabelsResult {
  prompts: number;
  pairs: number;
  images: number;
  /** images read back from an earlier, interrupted run with the same options */
  reused: number;
  choices: { A: number; B: number; tie: number };
  meanRating: number;
  seconds: number;
}

/** Rounds to 8-bit levels, as the PNG stores them. */
function quantize(img: RgbImage): RgbImage {
  const d = new Float32Array(img.data.length);
  for (let i = 0; i < d.length; i++) {
    const v = img.data[i]!;
    d[i] = Math.round((v <= 0 ? 0 : v >= 1 ? 1 : v) * 255) / 255;
  }
  return { width: img.width, height: img.height, data: d };
}

/**
 * Samples and labels (see the top of this file). Images are written as they are made, so an
 * interrupted run restarted with the same options reads back the batches it finished.
 */
export function generateLabels(model: TextToImageModel, opts: GenerateLabelsOptions): GenerateLabelsResult {
  const { pairs: P, prompts, out } = opts;
  const k = opts.perPrompt ?? 4;
  if (!Number.isSafeInteger(P) || P < 1) throw new Error(`labels: --pairs must be a positive integer, got ${P}`);
  if (!Number.isSafeInteger(k) || k < 2) throw new Error(`labels: --per-prompt must be an integer ≥ 2, got ${k}`);
  if (prompts.length === 0) throw new Error('labels: no prompts');
  const files = labelFiles(out);
  for (const f of [files.pairs, files.ratings]) {
    if (existsSync(f)) throw new Error(`labels: ${f} already exists; choose another --out or remove it`);
  }
  const seed = opts.seed ?? 0;
  const mix = opts.mix ?? DEFAULT_SAMPLING_MIX;
  const batch = opts.batchSize ?? 64;
  const annotator = new ScriptedAnnotator(opts.annotator ?? {});
  const rng = new Rng(seed, 'labels');
  const t0 = performance.now();

  // G prompts (distinct while the list lasts), k images each, each image with its own setting
  const G = Math.ceil(P / ((k * (k - 1)) / 2));
  const order = Array.from({ length: prompts.length }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const groupPrompt = Array.from({ length: G }, (_, g) => prompts[order[g % order.length]!]!);
  const N = G * k;
  const setting = Array.from({ length: N }, () => rng.int(mix.length));
  const name = (j: number) => `images/${String(Math.floor(j / k)).padStart(5, '0')}-${j % k}.png`;
  const images = new Array<RgbImage>(N);
  const progress = opts.progress ? new Progress({ total: N, label: 'labels: sampling', unit: 'img' }) : null;
  let done = 0;
  let reused = 0;
  mkdirSync(join(out, 'images'), { recursive: true });
  model.train(false);
  for (let s = 0; s < mix.length; s++) {
    const idx = setting.map((v, j) => (v === s ? j : -1)).filter((j) => j >= 0);
    for (let b = 0; b < idx.length; b += batch) {
      const js = idx.slice(b, b + batch);
      if (js.every((j) => existsSync(join(out, name(j))))) {
        js.forEach((j) => (images[j] = readImage(join(out, name(j)))));
        reused += js.length;
      } else {
        torch.manualSeed(mixSeed(seed, 'noise', s, b));
        const r = generate(model, js.map((j) => groupPrompt[Math.floor(j / k)]!), { steps: mix[s]!.steps, guidanceScale: mix[s]!.guidanceScale });
        const rgb = toRgbImages(r.images);
        r.images.dispose();
        js.forEach((j, i) => {
          images[j] = quantize(rgb[i]!);
          writePng(join(out, name(j)), images[j]!);
        });
      }
      done += js.length;
      progress?.update(done);
    }
  }
  progress?.finish();

  const time = new Date().toISOString();
  const pairRecs: PreferencePair[] = [];
  const ratingRecs: RatingRecord[] = [];
  const choices = { A: 0, B: 0, tie: 0 };
  let ratingSum = 0;
  const round = (v: number) => Number(v.toFixed(4));
  const roundTerms = (t: Record<string, number>) => Object.fromEntries(Object.entries(t).map(([key, v]) => [key, round(v)]));
  for (let g = 0; g < G; g++) {
    const prompt = groupPrompt[g]!;
    const js = Array.from({ length: k }, (_, i) => g * k + i);
    const analyses = js.map((j) => annotator.analyse(images[j]!, prompt).terms);
    for (let x = 0; x < k; x++) {
      for (let y = x + 1; y < k; y++) {
        const ja = js[x]!, jb = js[y]!;
        const c = annotator.choose(images[ja]!, images[jb]!, prompt);
        choices[c.choice]++;
        pairRecs.push({
          prompt, imageA: name(ja), imageB: name(jb), choice: c.choice, annotator: annotator.name, time,
          meta: { utilityA: round(c.utilityA), utilityB: round(c.utilityB), samplingA: mix[setting[ja]!]!, samplingB: mix[setting[jb]!]!, seed },
        });
      }
    }
    // the rating is prompt-free (aesthetic); meta keeps the prompt-aware terms too
    js.forEach((j, i) => {
      const r = annotator.rate(images[j]!);
      ratingSum += r.rating;
      ratingRecs.push({
        prompt, image: name(j), rating: round(r.rating), annotator: annotator.name, time,
        meta: { terms: roundTerms(analyses[i]!), sampling: mix[setting[j]!]! },
      });
    });
  }
  appendPairs(files.pairs, pairRecs);
  appendRatings(files.ratings, ratingRecs);
  return { prompts: G, pairs: pairRecs.length, images: N, reused, choices, meanRating: ratingSum / N, seconds: (performance.now() - t0) / 1000 };
}
