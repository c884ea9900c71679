// Measures the evaluator (the numbers `sharpen world check` prints), per category, on the test
// split's prompts rendered as ground truth:
//   groundTruth  accuracy (every check passes) on the clean rendering;
//   swapped      how often the check for one swapped attribute or relation fails (rejection rate),
//                over swaps that really contradict the drawn scene;
//   blank        mean score on images with no objects (backgrounds, flat colours);
//   noise        mean score on uniform random noise;
//   degraded     accuracy on the rendering after a 1-pixel blur, a slight colour shift and
//                Gaussian noise σ = 0.05 (degrade.ts), as a generated image would be.
import { Rng } from './rng.js';
import { CATEGORIES, type Category } from './vocab.js';
import { createImage, type RgbImage } from './image.js';
import { renderBackground, renderScene } from './render.js';
import { detectObjects, scoreDetection, type Check, type Detection, type DetectedObject, type Evaluation } from './evaluate.js';
import { degrade, type DegradeOptions } from './degrade.js';
import { swapOne, type SwapTarget, type Swapped } from './prompts.js';
import { SHAPE_CENTROID_Y, SHAPE_FILL } from './geometry.js';
import type { Layout } from './layout.js';
import type { SceneSpec } from './spec.js';
import { loadSplit, type PromptRecord } from './splits.js';

export interface CategoryCheck {
  category: Category;
  /** prompts measured */
  n: number;
  groundTruth: number;
  groundTruthSeen: number;
  groundTruthUnseen: number;
  swappedRejection: number;
  /** prompts with a valid swap (a swap the drawn scene really contradicts) */
  swapped: number;
  blankScore: number;
  noiseScore: number;
  degraded: number;
}

export interface CheckReport {
  resolution: number;
  degradation: Required<DegradeOptions>;
  categories: CategoryCheck[];
  /** the targets of the issue: every category ≥ these (blank/noise ≤) */
  targets: { groundTruth: number; swappedRejection: number; degraded: number; blankNoiseMax: number };
  pass: boolean;
}

export interface CheckOptions {
  /** prompts per category from the test split (default: all of them) */
  perCategory?: number;
  resolution?: number;
  seed?: number;
  degradation?: DegradeOptions;
  /** prompt records to use instead of the test split */
  records?: PromptRecord[];
  onProgress?: (done: number, total: number) => void;
}

export const CHECK_TARGETS = { groundTruth: 0.97, swappedRejection: 0.95, degraded: 0.9, blankNoiseMax: 0.05 };

/** The check a swap must make fail. */
export function findTarget(ev: Evaluation, t: SwapTarget): Check | undefined {
  return ev.checks.find((c) => c.kind === t.kind && (t.entity === undefined || c.entity === t.entity) && (t.relation === undefined || c.relation === t.relation));
}

function blankImage(k: number, seed: number, res: number): RgbImage {
  const rng = new Rng(seed, 'blank');
  switch (k % 4) {
    case 0:
      return renderBackground(seed, res);
    case 1:
      return createImage(res, res, [1, 1, 1]);
    case 2:
      return createImage(res, res, [0, 0, 0]);
    default:
      return createImage(res, res, [rng.float(), rng.float(), rng.float()]);
  }
}

function noiseImage(seed: number, res: number): RgbImage {
  const rng = new Rng(seed, 'noise');
  const img = createImage(res, res);
  for (let i = 0; i < img.data.length; i++) img.data[i] = rng.float();
  return img;
}

/**
 * What was drawn, as a detection (exact attributes and positions). Only this harness uses it: to
 * keep the swapped prompts that are really false for the scene (a swap can make a prompt that the
 * scene still satisfies, e.g. "a small square and a large square" → "a large square and a large
 * square"). The evaluator never sees it.
 */
export function layoutDetection(layout: Layout, spec: SceneSpec): Detection {
  const objects: DetectedObject[] = layout.objects.map((o) => ({
    color: o.color,
    colorResidual: 0,
    shape: o.shape,
    shapeScores: { circle: 0, square: 0, triangle: 0, diamond: 0, [o.shape]: 1 },
    size: o.size,
    side: o.side,
    texture: o.texture,
    textureScores: { plain: 0, striped: 0, dotted: 0, checkered: 0 },
    textureContrast: 0,
    cx: o.cx,
    cy: o.cy + SHAPE_CENTROID_Y[o.shape] * (o.side / 2),
    area: SHAPE_FILL[o.shape] * o.side * o.side,
    component: 0,
  }));
  const first = (e: number) => layout.objects.findIndex((o) => o.entity === e);
  const touching = spec.relations.filter((r) => r.type === 'touching').map((r) => [first(r.subject), first(r.object)].sort((a, b) => a - b) as [number, number]);
  return { objects, touching, background: [0, 0, 0] };
}

/** A swap whose target check fails on what was drawn (up to 20 draws), or null. */
function counterfactual(spec: SceneSpec, category: Category, rng: Rng, truth: Detection): Swapped | null {
  for (let i = 0; i < 20; i++) {
    const sw = swapOne(spec, category, rng);
    if (!sw) return null;
    const t = findTarget(scoreDetection(sw.spec, truth, sw.prompt, category), sw.target);
    if (t && !t.ok) return sw;
  }
  return null;
}

export function runCheck(opts: CheckOptions = {}): CheckReport {
  const res = opts.resolution ?? 32;
  const seed = opts.seed ?? 0;
  const degradation: Required<DegradeOptions> = { noise: 0.05, blur: 'binomial', shift: 0.04, ...opts.degradation };
  const all = opts.records ?? loadSplit('test');
  const byCat = CATEGORIES.map((c) => {
    const recs = all.filter((r) => r.category === c);
    return { c, recs: opts.perCategory ? recs.slice(0, opts.perCategory) : recs };
  });
  const total = byCat.reduce((n, b) => n + b.recs.length, 0);
  let done = 0;
  const categories: CategoryCheck[] = [];
  for (const { c, recs } of byCat) {
    let gt = 0, gtSeen = 0, nSeen = 0, gtUnseen = 0, nUnseen = 0, rejected = 0, swaps = 0, blank = 0, noise = 0, deg = 0;
    recs.forEach((rec, k) => {
      const s = seed * 1_000_003 + k;
      const rng = new Rng(s, 'check', c);
      const { image: img, layout } = renderScene(rec.spec, s, { resolution: res });
      const truth = layoutDetection(layout, rec.spec);
      const det = detectObjects(img);
      const ev = scoreDetection(rec.spec, det, rec.prompt, c);
      if (ev.pass) gt++;
      if (rec.seen) { nSeen++; if (ev.pass) gtSeen++; } else { nUnseen++; if (ev.pass) gtUnseen++; }
      const sw = counterfactual(rec.spec, c, rng, truth);
      if (sw) {
        swaps++;
        const target = findTarget(scoreDetection(sw.spec, det, sw.prompt, c), sw.target);
        if (!target) throw new Error(`check: no '${sw.target.kind}' check after swapping "${rec.prompt}" → "${sw.prompt}"`);
        if (!target.ok) rejected++;
      }
      blank += scoreDetection(rec.spec, detectObjects(blankImage(k, s, res)), rec.prompt, c).score;
      noise += scoreDetection(rec.spec, detectObjects(noiseImage(s, res)), rec.prompt, c).score;
      const dImg = degrade(img, rng, degradation);
      if (scoreDetection(rec.spec, detectObjects(dImg), rec.prompt, c).pass) deg++;
      done++;
      opts.onProgress?.(done, total);
    });
    const n = recs.length;
    categories.push({
      category: c,
      n,
      groundTruth: n ? gt / n : NaN,
      groundTruthSeen: nSeen ? gtSeen / nSeen : NaN,
      groundTruthUnseen: nUnseen ? gtUnseen / nUnseen : NaN,
      swappedRejection: swaps ? rejected / swaps : NaN,
      swapped: swaps,
      blankScore: n ? blank / n : NaN,
      noiseScore: n ? noise / n : NaN,
      degraded: n ? deg / n : NaN,
    });
  }
  const t = CHECK_TARGETS;
  const pass = categories.every(
    (r) => r.groundTruth >= t.groundTruth && r.swappedRejection >= t.swappedRejection && r.degraded >= t.degraded && r.blankScore <= t.blankNoiseMax && r.noiseScore <= t.blankNoiseMax,
  );
  return { resolution: res, degradation, categories, targets: t, pass };
}

/** A fixed-width table of a report. */
export function formatCheckTable(rep: CheckReport): string {
  const head = ['category', 'n', 'ground truth', 'swapped rejected', 'blank score', 'noise score', 'degraded'];
  const rows = rep.categories.map((r) => [
    r.category,
    String(r.n),
    r.groundTruth.toFixed(3),
    r.swappedRejection.toFixed(3),
    r.blankScore.toFixed(3),
    r.noiseScore.toFixed(3),
    r.degraded.toFixed(3),
  ]);
  const t = rep.targets;
  rows.push(['target', '', `≥ ${t.groundTruth}`, `≥ ${t.swappedRejection}`, `≤ ${t.blankNoiseMax}`, `≤ ${t.blankNoiseMax}`, `≥ ${t.degraded}`]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  return [line(head), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}
