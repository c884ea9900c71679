// Generates the preference and rating data: pairs of base-model images for the same prompt
// (different noises, and sampling settings drawn from a mix of step counts and guidance scales so
// that quality varies), labelled by the scripted annotator. Writes, under `out`:
//   images/<k>-A.png, images/<k>-B.png   the samples (as PNG: the annotator judges exactly these pixels)
//   pairs.jsonl                          one choice per pair (src/data/preferences.ts)
//   ratings.jsonl                        the prompt-free 1–10 rating of every image
// Deterministic for a seed (prompts, settings and noises all derive from it).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { TextToImageModel } from '../models/t2i.js';
import { generate } from '../models/generate.js';
import { Rng, mixSeed } from '../world/rng.js';
import { writePng, type RgbImage } from '../world/image.js';
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
  /** number of pairs */
  pairs: number;
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
  pairs: number;
  images: number;
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

export function generateLabels(model: TextToImageModel, opts: GenerateLabelsOptions): GenerateLabelsResult {
  const { pairs: P, prompts, out } = opts;
  if (!Number.isSafeInteger(P) || P < 1) throw new Error(`labels: --pairs must be a positive integer, got ${P}`);
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

  // what every image is: its pair's prompt and its own sampling setting
  const pairPrompt = Array.from({ length: P }, () => rng.pick(prompts));
  const setting = Array.from({ length: 2 * P }, () => rng.int(mix.length));
  const images = new Array<RgbImage>(2 * P);
  const progress = opts.progress ? new Progress({ total: 2 * P, label: 'labels: sampling', unit: 'img' }) : null;
  let done = 0;
  model.train(false);
  for (let s = 0; s < mix.length; s++) {
    const idx = setting.map((v, j) => (v === s ? j : -1)).filter((j) => j >= 0);
    for (let b = 0; b < idx.length; b += batch) {
      const js = idx.slice(b, b + batch);
      torch.manualSeed(mixSeed(seed, 'noise', s, b));
      const r = generate(model, js.map((j) => pairPrompt[j >> 1]!), { steps: mix[s]!.steps, guidanceScale: mix[s]!.guidanceScale });
      const rgb = toRgbImages(r.images);
      r.images.dispose();
      js.forEach((j, i) => (images[j] = quantize(rgb[i]!)));
      done += js.length;
      progress?.update(done);
    }
  }
  progress?.finish();

  mkdirSync(join(out, 'images'), { recursive: true });
  const time = new Date().toISOString();
  const pairRecs: PreferencePair[] = [];
  const ratingRecs: RatingRecord[] = [];
  const choices = { A: 0, B: 0, tie: 0 };
  let ratingSum = 0;
  const round = (v: number) => Number(v.toFixed(4));
  for (let k = 0; k < P; k++) {
    const prompt = pairPrompt[k]!;
    const names = [`images/${String(k).padStart(6, '0')}-A.png`, `images/${String(k).padStart(6, '0')}-B.png`] as const;
    const a = images[2 * k]!;
    const b = images[2 * k + 1]!;
    writePng(join(out, names[0]), a);
    writePng(join(out, names[1]), b);
    const c = annotator.choose(a, b, prompt);
    choices[c.choice]++;
    const sa = mix[setting[2 * k]!]!;
    const sb = mix[setting[2 * k + 1]!]!;
    pairRecs.push({
      prompt, imageA: names[0], imageB: names[1], choice: c.choice, annotator: annotator.name, time,
      meta: { utilityA: round(c.utilityA), utilityB: round(c.utilityB), samplingA: sa, samplingB: sb, seed },
    });
    // the rating is prompt-free (aesthetic); meta keeps the prompt-aware terms too
    for (const [img, name, st, terms] of [[a, names[0], sa, c.termsA], [b, names[1], sb, c.termsB]] as const) {
      const r = annotator.rate(img);
      ratingSum += r.rating;
      ratingRecs.push({
        prompt, image: name, rating: round(r.rating), annotator: annotator.name, time,
        meta: { terms: Object.fromEntries(Object.entries(terms).map(([t, v]) => [t, round(v)])), sampling: st },
      });
    }
  }
  appendPairs(files.pairs, pairRecs);
  appendRatings(files.ratings, ratingRecs);
  return { pairs: P, images: 2 * P, choices, meanRating: ratingSum / (2 * P), seconds: (performance.now() - t0) / 1000 };
}
