// The evaluator: image pixels + prompt → a score in [0, 1] and a breakdown per check. It reads only
// the pixels (never what the renderer drew) and knows only the world's vocabulary: what each colour,
// shape, size and texture looks like.
//
// In the spirit of T2I-CompBench's per-category metrics (Huang et al., 2023, §4): attribute binding
// is judged per noun phrase (is the object there, does it carry its attribute), spatial relations
// by comparing the objects' centres along the dominant axis (as its UniDet-based spatial metric
// does), non-spatial relations and counts by their own checks. Here detection is exact image
// analysis instead of a learned detector:
//   1. background: a robust plane fit per channel (the world's backgrounds are flat or linear);
//   2. foreground: pixels far from the background; 4-connected components;
//   3. a component with two significant colours (touching objects) is split by colour;
//   4. per object: colour = the palette colour that best explains its pixels as shades of it,
//      shape = the best anti-aliased template (IoU), size = side of that template, texture = the
//      best-fitting pattern (linear regression of the darkness on each pattern at every phase);
//   5. objects are matched to the prompt's noun phrases, and every check is read off.
// It runs for every image a reward-trained step scores (tens per step), so its loops allocate
// little; what it returns is pinned bit for bit (test/world/evaluate-golden.test.ts), and a change
// meant only to make it faster must leave that test passing.
//
// Steps 1–4 live in background.ts, segmentation.ts and classification.ts; this file runs them
// (detectObjects) and does step 5 (scoreDetection).
import type { Category, RelationType } from './vocab.js';
import type { RgbImage } from './image.js';
import { parsePrompt } from './grammar.js';
import { describeObject, type EntitySpec, type SceneSpec } from './spec.js';
import { worldScale } from './geometry.js';
import { fitBackground } from './background.js';
import { MIN_AREA, findForeground, labelColours, segmentRegions, touchingPairs } from './segmentation.js';
import { classifyRegion, type DetectedObject } from './classification.js';

export type { DetectedObject } from './classification.js';

export interface Detection {
  objects: DetectedObject[];
  /** pairs [i, j] of objects that touch (share a boundary) */
  touching: [number, number][];
  /** the fitted background at the image centre */
  background: [number, number, number];
}

export type CheckKind = 'found' | 'shape' | 'color' | 'size' | 'texture' | 'count' | 'relation';

export interface Check {
  /** e.g. "object 1 (a red circle): colour" */
  name: string;
  kind: CheckKind;
  /** the noun phrase (entity) index, for object and count checks */
  entity?: number;
  /** the relation index, for relation checks */
  relation?: number;
  expected: string;
  observed: string | null;
  ok: boolean;
}

export interface Evaluation {
  prompt: string;
  category: Category | null;
  /** fraction of checks passed, in [0, 1] */
  score: number;
  /** every check passed */
  pass: boolean;
  checks: Check[];
  /** index of the detected object matched to each noun phrase (−1 if none; count phrases: −1) */
  assignment: number[];
  detection: Detection;
}

/** Finds the objects in an image (pixels only). */
export function detectObjects(img: RgbImage): Detection {
  const { width: W, height: H } = img;
  const n = W * H;
  const scale = worldScale(Math.max(16, Math.round(Math.min(W, H))));
  const k2 = scale.k * scale.k;
  const bg = fitBackground(img);
  const { dist, fg } = findForeground(img, bg);
  const label = labelColours(img, bg, fg);
  const { region, regions } = segmentRegions(fg, label, W, H, k2);

  // classify each region
  const objects: DetectedObject[] = [];
  const regionObject = new Map<number, number>();
  const alpha = new Float32Array(n);
  const input = { img, bgModel: bg, region, dist, scale };
  regions.forEach((r, id) => {
    if (r.pixels.length < MIN_AREA * k2) return;
    const o = classifyRegion(input, r, id, alpha);
    if (o) {
      regionObject.set(id, objects.length);
      objects.push(o);
    }
  });

  // contacts between objects of one component
  const touching = touchingPairs(region, regionObject, W);
  const ci = (H >> 1) * W + (W >> 1);
  return { objects, touching, background: [bg[ci]!, bg[n + ci]!, bg[2 * n + ci]!] };
}

// ---------------------------------------------------------------------------------------------
// relations

/** "a REL b" between two detected objects. Spatial: the centres' offset along the dominant axis. */
export function relationHolds(type: RelationType, a: DetectedObject, b: DetectedObject, touching: boolean): boolean {
  const dx = b.cx - a.cx;
  const dy = b.cy - a.cy;
  switch (type) {
    case 'left_of':
      return dx > 0 && Math.abs(dx) > Math.abs(dy);
    case 'right_of':
      return dx < 0 && Math.abs(dx) > Math.abs(dy);
    case 'above':
      return dy > 0 && Math.abs(dy) > Math.abs(dx);
    case 'below':
      return dy < 0 && Math.abs(dy) > Math.abs(dx);
    case 'touching':
      return touching;
    case 'not_touching':
      return !touching;
  }
}

// ---------------------------------------------------------------------------------------------
// matching and checks

function matchesAttributes(e: EntitySpec, o: DetectedObject): boolean {
  return o.shape === e.shape && (e.color === undefined || o.color === e.color) && (e.size === undefined || o.size === e.size) && (e.texture === undefined || o.texture === e.texture);
}

const RELATION_TEXT: Record<RelationType, string> = { left_of: 'left of', right_of: 'right of', above: 'above', below: 'below', touching: 'touching', not_touching: 'not touching' };

/** Scores a detection against a scene specification. */
export function scoreDetection(spec: SceneSpec, det: Detection, prompt: string, category: Category | null): Evaluation {
  const objs = det.objects;
  const touchSet = new Set(det.touching.map(([a, b]) => `${a},${b}`));
  const touches = (a: number, b: number) => touchSet.has(a < b ? `${a},${b}` : `${b},${a}`);
  const singles = spec.entities.map((e, i) => (e.count === 1 ? i : -1)).filter((i) => i >= 0);
  // candidates: the largest objects first (at most 8, to bound the search)
  const cand = objs.map((_, i) => i).sort((a, b) => objs[b]!.area - objs[a]!.area).slice(0, 8);

  const assignment = new Array<number>(spec.entities.length).fill(-1);
  const current = new Array<number>(spec.entities.length).fill(-1);
  let bestScore = -1;
  const used = new Set<number>();
  const slotScore = (e: EntitySpec, o: DetectedObject) =>
    1000 + (o.shape === e.shape ? 100 : 0) + (e.color !== undefined && o.color === e.color ? 10 : 0) + (e.size !== undefined && o.size === e.size ? 10 : 0) + (e.texture !== undefined && o.texture === e.texture ? 10 : 0);
  const search = (k: number, acc: number) => {
    if (k === singles.length) {
      let total = acc;
      for (const r of spec.relations) {
        const a = current[r.subject]!, b = current[r.object]!;
        if (a >= 0 && b >= 0 && relationHolds(r.type, objs[a]!, objs[b]!, touches(a, b))) total += 10;
      }
      if (total > bestScore) { bestScore = total; for (let i = 0; i < current.length; i++) assignment[i] = current[i]!; }
      return;
    }
    const ei = singles[k]!;
    for (const o of cand) {
      if (used.has(o)) continue;
      used.add(o);
      current[ei] = o;
      search(k + 1, acc + slotScore(spec.entities[ei]!, objs[o]!));
      used.delete(o);
    }
    current[ei] = -1;
    search(k + 1, acc);
  };
  search(0, 0);

  const checks: Check[] = [];
  spec.entities.forEach((e, ei) => {
    const label = `object ${ei + 1} (${e.count > 1 ? `${e.count} ` : ''}${describeObject(e, e.count > 1)})`;
    if (e.count > 1) {
      const observed = objs.filter((o) => matchesAttributes(e, o)).length;
      checks.push({ name: `${label}: count`, kind: 'count', entity: ei, expected: String(e.count), observed: String(observed), ok: observed === e.count });
      return;
    }
    const o = assignment[ei]! >= 0 ? objs[assignment[ei]!]! : null;
    checks.push({ name: `${label}: found`, kind: 'found', entity: ei, expected: 'present', observed: o ? describeObject(o) : null, ok: o !== null });
    checks.push({ name: `${label}: shape`, kind: 'shape', entity: ei, expected: e.shape, observed: o?.shape ?? null, ok: o?.shape === e.shape });
    if (e.color !== undefined) checks.push({ name: `${label}: colour`, kind: 'color', entity: ei, expected: e.color, observed: o?.color ?? null, ok: o?.color === e.color });
    if (e.size !== undefined) checks.push({ name: `${label}: size`, kind: 'size', entity: ei, expected: e.size, observed: o?.size ?? null, ok: o?.size === e.size });
    if (e.texture !== undefined) checks.push({ name: `${label}: texture`, kind: 'texture', entity: ei, expected: e.texture, observed: o?.texture ?? null, ok: o?.texture === e.texture });
  });
  spec.relations.forEach((r, ri) => {
    const a = assignment[r.subject]!, b = assignment[r.object]!;
    let ok = false;
    let observed: string | null = null;
    if (a >= 0 && b >= 0) {
      ok = relationHolds(r.type, objs[a]!, objs[b]!, touches(a, b));
      const oa = objs[a]!, ob = objs[b]!;
      observed = r.type === 'touching' || r.type === 'not_touching' ? (touches(a, b) ? 'touching' : 'not touching') : `offset (${(ob.cx - oa.cx).toFixed(1)}, ${(ob.cy - oa.cy).toFixed(1)}) px`;
    }
    checks.push({ name: `relation ${ri + 1}: object ${r.subject + 1} ${RELATION_TEXT[r.type]} object ${r.object + 1}`, kind: 'relation', relation: ri, expected: RELATION_TEXT[r.type], observed, ok });
  });
  const passed = checks.filter((c) => c.ok).length;
  return { prompt, category, score: checks.length ? passed / checks.length : 0, pass: passed === checks.length, checks, assignment, detection: det };
}

/** Scores an image against a prompt (text or an already parsed specification). */
export function evaluateImage(img: RgbImage, prompt: string | SceneSpec, category: Category | null = null, promptText?: string): Evaluation {
  const spec = typeof prompt === 'string' ? parsePrompt(prompt) : prompt;
  return scoreDetection(spec, detectObjects(img), promptText ?? (typeof prompt === 'string' ? prompt : ''), category);
}
