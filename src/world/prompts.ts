// Prompt generators for the six categories (the analogue of T2I-CompBench's: Huang et al., 2023,
// §3.1 — attribute binding for colour, shape and texture; spatial and non-spatial relations;
// complex compositions), and the "swap one thing" counterfactuals used to measure the evaluator.
//
//   color        "a red circle and a blue square"                 two or three objects, one colour each
//   shape        "a large triangle and a small red circle"         shapes bound to sizes (colour sometimes)
//   texture      "a striped circle and a dotted blue square"       textures bound to shapes
//   spatial      "a circle to the left of a red square"            left of, right of, above, below
//   non-spatial  "a red circle touching a blue square", "two green triangles and a circle"
//                                                                  contact (touching, not touching), counts
//   complex      "a small red striped circle above a large blue square" and other mixes of
//                three or more attributes and relations
import { Rng } from './rng.js';
import {
  COLORS,
  SHAPES,
  SIZES,
  SPATIAL_RELATIONS,
  TEXTURES,
  type Category,
  type Color,
  MAX_OBJECTS,
  type RelationType,
  type Texture,
} from './vocab.js';
import { cloneSpec, isSpatial, objectCount, validateSpec, type EntitySpec, type SceneSpec } from './spec.js';
import { formatPrompt } from './grammar.js';
import type { CheckKind } from './evaluate.js';

export interface GeneratedPrompt {
  prompt: string;
  category: Category;
  spec: SceneSpec;
}

function distinctPicks<T>(rng: Rng, items: readonly T[], n: number): T[] {
  return rng.shuffle([...items]).slice(0, n);
}

function colorSpec(rng: Rng): SceneSpec {
  const n = rng.bool(0.7) ? 2 : 3;
  const colors = distinctPicks(rng, COLORS, n);
  return { entities: colors.map((color) => ({ shape: rng.pick(SHAPES), color, count: 1 })), relations: [] };
}

function shapeSpec(rng: Rng): SceneSpec {
  const n = rng.bool(0.7) ? 2 : 3;
  const shapes = distinctPicks(rng, SHAPES, n);
  const colors = distinctPicks(rng, COLORS, n);
  return {
    entities: shapes.map((shape, i) => {
      const e: EntitySpec = { shape, size: rng.pick(SIZES), count: 1 };
      if (rng.bool(0.4)) e.color = colors[i]!;
      return e;
    }),
    relations: [],
  };
}

function textureSpec(rng: Rng): SceneSpec {
  const n = rng.bool(0.7) ? 2 : 3;
  const textures = distinctPicks(rng, TEXTURES, n);
  const colors = distinctPicks(rng, COLORS, n);
  return {
    entities: textures.map((texture, i) => {
      const e: EntitySpec = { shape: rng.pick(SHAPES), texture, count: 1 };
      if (rng.bool(0.4)) e.color = colors[i]!;
      return e;
    }),
    relations: [],
  };
}

/** Two objects that differ in shape or colour, so a relation between them is unambiguous. */
function twoDistinct(rng: Rng, colorP: number, needColor = false): [EntitySpec, EntitySpec] {
  const [s1, s2] = rng.bool(0.8) ? distinctPicks(rng, SHAPES, 2) : [rng.pick(SHAPES), rng.pick(SHAPES)];
  const [c1, c2] = distinctPicks(rng, COLORS, 2);
  const a: EntitySpec = { shape: s1!, count: 1 };
  const b: EntitySpec = { shape: s2!, count: 1 };
  if (needColor || s1 === s2 || rng.bool(colorP)) {
    a.color = c1!;
    b.color = c2!;
  }
  return [a, b];
}

function spatialSpec(rng: Rng): SceneSpec {
  const [a, b] = twoDistinct(rng, 0.4);
  return { entities: [a, b], relations: [{ type: rng.pick(SPATIAL_RELATIONS), subject: 0, object: 1 }] };
}

function nonSpatialSpec(rng: Rng): SceneSpec {
  if (rng.bool(0.5)) {
    const [a, b] = twoDistinct(rng, 0.6);
    return { entities: [a, b], relations: [{ type: rng.bool(0.6) ? 'touching' : 'not_touching', subject: 0, object: 1 }] };
  }
  const counted: EntitySpec = { shape: rng.pick(SHAPES), count: rng.bool(0.5) ? 2 : 3 };
  if (rng.bool(0.6)) counted.color = rng.pick(COLORS);
  const entities: EntitySpec[] = [counted];
  if (rng.bool(0.5)) {
    const other: EntitySpec = { shape: rng.pick(SHAPES.filter((s) => s !== counted.shape)), count: 1 };
    if (rng.bool(0.5)) other.color = rng.pick(COLORS);
    entities.push(other);
  }
  return { entities, relations: [] };
}

/** Adds attributes at random to an object (each with probability p), at least `min` of them. */
function decorate(e: EntitySpec, rng: Rng, p: number, min: number, avoidColor?: Color): EntitySpec {
  const kinds = rng.shuffle<'size' | 'color' | 'texture'>(['size', 'color', 'texture']);
  kinds.forEach((k, i) => {
    if (i >= min && !rng.bool(p)) return;
    if (k === 'size') e.size = rng.pick(SIZES);
    else if (k === 'color') e.color = rng.pick(COLORS.filter((c) => c !== avoidColor));
    else e.texture = rng.pick(TEXTURES);
  });
  return e;
}

function attributeCount(spec: SceneSpec): number {
  return spec.entities.reduce((n, e) => n + (e.size ? 1 : 0) + (e.color ? 1 : 0) + (e.texture ? 1 : 0), 0);
}

function complexSpec(rng: Rng): SceneSpec {
  for (;;) {
    const form = rng.int(4);
    let spec: SceneSpec;
    if (form === 0) {
      // two richly described objects in a relation
      const a = decorate({ shape: rng.pick(SHAPES), count: 1 }, rng, 0.5, 1);
      const b = decorate({ shape: rng.pick(SHAPES), count: 1 }, rng, 0.5, 1, a.color);
      const rel: RelationType = rng.bool(0.7) ? rng.pick(SPATIAL_RELATIONS) : rng.pick(['touching', 'not_touching'] as const);
      spec = { entities: [a, b], relations: [{ type: rel, subject: 0, object: 1 }] };
    } else if (form === 1) {
      // three objects, several attributes each
      const shapes = [rng.pick(SHAPES), rng.pick(SHAPES), rng.pick(SHAPES)];
      spec = { entities: shapes.map((shape) => decorate({ shape, count: 1 }, rng, 0.4, 1)), relations: [] };
    } else if (form === 2) {
      // a relation and one more object
      const a = decorate({ shape: rng.pick(SHAPES), count: 1 }, rng, 0.35, 1);
      const b = decorate({ shape: rng.pick(SHAPES), count: 1 }, rng, 0.35, 1, a.color);
      const c = decorate({ shape: rng.pick(SHAPES), count: 1 }, rng, 0.35, 1);
      spec = { entities: [a, b, c], relations: [{ type: rng.pick(SPATIAL_RELATIONS), subject: 0, object: 1 }] };
    } else {
      // a count and a relation
      const counted = decorate({ shape: rng.pick(SHAPES), count: 2 }, rng, 0.3, 1);
      delete counted.size; // four objects must fit: leave the counted ones' size free
      if (!counted.color && !counted.texture) counted.color = rng.pick(COLORS);
      const a = decorate({ shape: rng.pick(SHAPES), count: 1 }, rng, 0.3, 1);
      const b = decorate({ shape: rng.pick(SHAPES), count: 1 }, rng, 0.3, 1, a.color);
      spec = { entities: [counted, a, b], relations: [{ type: rng.pick(SPATIAL_RELATIONS), subject: 1, object: 2 }] };
    }
    if (attributeCount(spec) + spec.relations.length < 3) continue;
    if (!relatedAreDistinct(spec)) continue;
    if (spec.relations.some((r) => r.type === 'touching' && spec.entities[r.subject]!.color !== undefined && spec.entities[r.subject]!.color === spec.entities[r.object]!.color)) continue;
    if (spec.entities.some((e) => e.count > 1 && spec.entities.some((o) => o !== e && o.shape === e.shape))) continue;
    if (objectCount(spec) > 4 || largeCount(spec) > 3) continue;
    return spec;
  }
}

/** Two related objects must be told apart by the words used (else the relation is ambiguous). */
function relatedAreDistinct(spec: SceneSpec): boolean {
  const key = (e: EntitySpec) => `${e.shape}|${e.color ?? ''}|${e.size ?? ''}|${e.texture ?? ''}`;
  const keys = spec.entities.map(key);
  return new Set(keys).size === keys.length;
}

function largeCount(spec: SceneSpec): number {
  return spec.entities.reduce((n, e) => n + (e.size === 'large' ? e.count : 0), 0);
}

const GENERATORS: Record<Category, (rng: Rng) => SceneSpec> = {
  color: colorSpec,
  shape: shapeSpec,
  texture: textureSpec,
  spatial: spatialSpec,
  'non-spatial': nonSpatialSpec,
  complex: complexSpec,
};

/** One random prompt of a category. */
export function generatePrompt(category: Category, rng: Rng): GeneratedPrompt {
  const gen = GENERATORS[category];
  if (!gen) throw new Error(`generatePrompt: unknown category '${category}'`);
  const spec = gen(rng);
  validateSpec(spec);
  return { prompt: formatPrompt(spec), category, spec };
}

// ---------------------------------------------------------------------------------------------
// swaps: one attribute or relation changed, and which check must then fail

export interface SwapTarget {
  kind: CheckKind;
  entity?: number;
  relation?: number;
}

export interface Swapped {
  spec: SceneSpec;
  prompt: string;
  /** what was changed, e.g. "colour of object 1: red → blue" */
  change: string;
  target: SwapTarget;
}

const OTHER_CONTACT: Partial<Record<RelationType, RelationType>> = { touching: 'not_touching', not_touching: 'touching' };

/**
 * Changes one thing the category is about (an attribute, a relation or a count) to another value;
 * the evaluator's check for it must then fail. Returns null when the prompt offers nothing to swap.
 */
export function swapOne(spec: SceneSpec, category: Category, rng: Rng): Swapped | null {
  type Option = () => Swapped;
  const options: Option[] = [];
  const make = (mut: (s: SceneSpec) => string, target: SwapTarget): Option => () => {
    const s = cloneSpec(spec);
    const change = mut(s);
    return { spec: s, prompt: formatPrompt(s), change, target };
  };
  const wantsAttr = (kind: 'color' | 'shape' | 'size' | 'texture') =>
    category === 'complex' || (category === 'color' && kind === 'color') || (category === 'texture' && kind === 'texture') || (category === 'shape' && (kind === 'shape' || kind === 'size'));
  // the new value is one no other object in the prompt has (else the swapped prompt could describe
  // the image with the objects matched the other way round)
  const fresh = <T>(values: readonly T[], current: T, i: number, get: (e: EntitySpec) => T | undefined): T => {
    const others = new Set(spec.entities.filter((_, j) => j !== i).map(get));
    const unused = values.filter((v) => v !== current && !others.has(v));
    return rng.pick(unused.length > 0 ? unused : values.filter((v) => v !== current));
  };
  spec.entities.forEach((e, i) => {
    if (e.count > 1) {
      if ((category === 'non-spatial' || category === 'complex') && (e.count === 3 || objectCount(spec) < MAX_OBJECTS)) {
        options.push(make((s) => {
          const to = e.count === 2 ? 3 : 2;
          s.entities[i]!.count = to;
          return `count of object ${i + 1}: ${e.count} → ${to}`;
        }, { kind: 'count', entity: i }));
      }
      return;
    }
    if (wantsAttr('shape')) {
      options.push(make((s) => {
        const to = fresh(SHAPES, e.shape, i, (o) => o.shape);
        s.entities[i]!.shape = to;
        return `shape of object ${i + 1}: ${e.shape} → ${to}`;
      }, { kind: 'shape', entity: i }));
    }
    if (e.color && wantsAttr('color')) {
      options.push(make((s) => {
        const to = fresh(COLORS, e.color!, i, (o) => o.color);
        s.entities[i]!.color = to;
        return `colour of object ${i + 1}: ${e.color} → ${to}`;
      }, { kind: 'color', entity: i }));
    }
    if (e.size && wantsAttr('size')) {
      options.push(make((s) => {
        const to = e.size === 'small' ? 'large' : 'small';
        s.entities[i]!.size = to;
        return `size of object ${i + 1}: ${e.size} → ${to}`;
      }, { kind: 'size', entity: i }));
    }
    if (e.texture && wantsAttr('texture')) {
      options.push(make((s) => {
        const to: Texture = fresh(TEXTURES, e.texture!, i, (o) => o.texture);
        s.entities[i]!.texture = to;
        return `texture of object ${i + 1}: ${e.texture} → ${to}`;
      }, { kind: 'texture', entity: i }));
    }
  });
  spec.relations.forEach((r, ri) => {
    const spatial = isSpatial(r.type);
    if (!(category === 'complex' || (category === 'spatial' && spatial) || (category === 'non-spatial' && !spatial))) return;
    options.push(make((s) => {
      const to = spatial ? rng.pick(SPATIAL_RELATIONS.filter((x) => x !== r.type)) : OTHER_CONTACT[r.type]!;
      s.relations[ri]!.type = to;
      return `relation ${ri + 1}: ${r.type} → ${to}`;
    }, { kind: 'relation', relation: ri }));
  });
  if (options.length === 0) return null;
  return rng.pick(options)();
}
