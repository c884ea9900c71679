// Hard negative prompts: the same prompt with one compositional change, so that a contrastive model
// must read binding and relations rather than bags of words. In the spirit of NegCLIP's hard
// negatives (Yuksekgonul et al., 2023, "When and why vision-language models behave like
// bags-of-words", §4: swapped attributes/objects/relations), built here with the world's grammar:
//   attr-swap   an attribute (colour, size, texture) or the shapes exchanged between two objects
//   relation    the relation changed (left↔right, above↔below, any other spatial one; touching↔not)
//   object-swap the two sides of a spatial relation exchanged ("A left of B" → "B left of A")
//   change      one object's colour / shape / size / texture / count changed to another value
// Every negative is a valid prompt of the world that means something else than the original: two
// prompts that say the same thing in another order ("A and B" / "B and A", "A touching B" /
// "B touching A", "A left of B" / "B right of A") are recognised by a canonical form and never
// offered as negatives, nor is a prompt that a rendering of the original may also satisfy because the
// original leaves an attribute free ("a red circle and a square" → "a red square and a circle": the
// square may be drawn red) — see scenesCompatible.
import { Rng } from './rng.js';
import { formatPrompt, parsePrompt } from './grammar.js';
import { cloneSpec, isSpatial, validateSpec, type EntitySpec, type SceneSpec } from './spec.js';
import { COLORS, MAX_COUNT, SHAPES, SIZES, SPATIAL_RELATIONS, TEXTURES, type Category, type RelationType } from './vocab.js';

export type NegativeKind = 'attr-swap' | 'relation' | 'object-swap' | 'change';

export interface HardNegative {
  prompt: string;
  spec: SceneSpec;
  kind: NegativeKind;
  /** what was changed, e.g. "colour of objects 1 and 2 swapped" */
  change: string;
}

export interface HardNegativeOptions {
  /**
   * Restrict the changes to what the category is about (as T2I-CompBench's categories are: colour
   * binding for 'color', shapes and sizes for 'shape', …); other changes are used only when these
   * give fewer than k. Default: every kind of change.
   */
  category?: Category;
}

const entityKey = (e: EntitySpec): string => `${e.count}|${e.size ?? ''}|${e.color ?? ''}|${e.texture ?? ''}|${e.shape}`;

/** A canonical form of a scene: equal for prompts that say the same thing (objects in another order, mirrored relations). */
export function canonicalScene(spec: SceneSpec): string {
  const inRelation = new Set<number>();
  const rels: string[] = [];
  for (const r of spec.relations) {
    inRelation.add(r.subject);
    inRelation.add(r.object);
    let a = entityKey(spec.entities[r.subject]!);
    let b = entityKey(spec.entities[r.object]!);
    let t: RelationType = r.type;
    if (t === 'right_of') [t, a, b] = ['left_of', b, a];
    else if (t === 'below') [t, a, b] = ['above', b, a];
    else if ((t === 'touching' || t === 'not_touching') && b < a) [a, b] = [b, a];
    rels.push(`${t}(${a};${b})`);
  }
  const free = spec.entities.filter((_, i) => !inRelation.has(i)).map(entityKey);
  return `${free.sort().join(' & ')} # ${rels.sort().join(' & ')}`;
}

/** The permutations of 0…n−1 (n ≤ MAX_OBJECTS entities, so at most 24). */
function permutations(n: number): number[][] {
  if (n <= 1) return [[...Array(n).keys()]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  return out;
}

/** The relation between entities a and b in `spec`, read from a's side (mirrored when stored the other way), or null. */
function relationBetween(spec: SceneSpec, a: number, b: number): RelationType | null {
  for (const r of spec.relations) {
    if (r.subject === a && r.object === b) return r.type;
    if (r.subject === b && r.object === a) return MIRROR[r.type];
  }
  return null;
}
const MIRROR: Record<RelationType, RelationType> = {
  left_of: 'right_of', right_of: 'left_of', above: 'below', below: 'above', touching: 'touching', not_touching: 'not_touching',
};

/**
 * Whether one image could satisfy both scenes: some one-to-one matching of their noun phrases agrees
 * on every attribute both give (an attribute one leaves free is drawn at random by the renderer, so
 * it may take the other's value), on counts, and on every relation both state between matched
 * objects. A negative compatible with the original is not a negative (a ground-truth rendering may
 * satisfy it), so hardNegatives drops it.
 */
export function scenesCompatible(a: SceneSpec, b: SceneSpec): boolean {
  if (a.entities.length !== b.entities.length) return false;
  const agree = (x: EntitySpec, y: EntitySpec) =>
    x.shape === y.shape &&
    x.count === y.count &&
    (x.color === undefined || y.color === undefined || x.color === y.color) &&
    (x.size === undefined || y.size === undefined || x.size === y.size) &&
    (x.texture === undefined || y.texture === undefined || x.texture === y.texture);
  return permutations(a.entities.length).some(
    (p) =>
      a.entities.every((e, i) => agree(e, b.entities[p[i]!]!)) &&
      a.relations.every((r) => {
        const other = relationBetween(b, p[r.subject]!, p[r.object]!);
        return other === null || other === r.type;
      }) &&
      b.relations.every((r) => {
        const i = p.indexOf(r.subject);
        const j = p.indexOf(r.object);
        const other = relationBetween(a, i, j);
        return other === null || other === r.type;
      }),
  );
}

type Focus = 'color' | 'shape' | 'size' | 'texture' | 'count' | 'spatial' | 'contact';

/** What each category is about (the rest is used only as a fallback). */
const CATEGORY_FOCUS: Record<Category, readonly Focus[]> = {
  color: ['color'],
  shape: ['shape', 'size'],
  texture: ['texture'],
  spatial: ['spatial'],
  'non-spatial': ['contact', 'count'],
  complex: ['color', 'shape', 'size', 'texture', 'count', 'spatial', 'contact'],
};

interface Candidate {
  kind: NegativeKind;
  focus: Focus;
  change: string;
  apply: (s: SceneSpec) => void;
}

const ATTR_NAME = { color: 'colour', size: 'size', texture: 'texture', shape: 'shape' } as const;

/** Every single change the grammar allows (before validity and equivalence filtering). */
function candidates(spec: SceneSpec): Candidate[] {
  const out: Candidate[] = [];
  const E = spec.entities;
  // attribute (and shape) swaps between two objects
  for (let i = 0; i < E.length; i++) {
    for (let j = i + 1; j < E.length; j++) {
      for (const key of ['color', 'size', 'texture', 'shape'] as const) {
        const a = E[i]![key];
        const b = E[j]![key];
        if (a === b) continue;
        if (key !== 'shape' && (a === undefined || b === undefined)) continue;
        out.push({
          kind: 'attr-swap',
          focus: key,
          change: `${ATTR_NAME[key]} of objects ${i + 1} and ${j + 1} swapped`,
          apply: (s) => {
            const x = s.entities[i]!;
            const y = s.entities[j]!;
            const t = x[key];
            (x as unknown as Record<string, unknown>)[key] = y[key];
            (y as unknown as Record<string, unknown>)[key] = t;
          },
        });
      }
    }
  }
  // object swaps (first, so that a relation change meaning the same, "B right of A", is the duplicate) and relation changes
  spec.relations.forEach((r, ri) => {
    if (!isSpatial(r.type)) return;
    out.push({
      kind: 'object-swap',
      focus: 'spatial',
      change: `objects ${r.subject + 1} and ${r.object + 1} of relation ${ri + 1} swapped`,
      apply: (s) => {
        const a = s.entities[r.subject]!;
        s.entities[r.subject] = s.entities[r.object]!;
        s.entities[r.object] = a;
      },
    });
  });
  spec.relations.forEach((r, ri) => {
    if (isSpatial(r.type)) {
      for (const to of SPATIAL_RELATIONS) {
        if (to === r.type) continue;
        out.push({ kind: 'relation', focus: 'spatial', change: `relation ${ri + 1}: ${r.type} → ${to}`, apply: (s) => (s.relations[ri]!.type = to) });
      }
    } else {
      const to: RelationType = r.type === 'touching' ? 'not_touching' : 'touching';
      out.push({ kind: 'relation', focus: 'contact', change: `relation ${ri + 1}: ${r.type} → ${to}`, apply: (s) => (s.relations[ri]!.type = to) });
    }
  });
  // single-attribute changes
  E.forEach((e, i) => {
    const change = <K extends 'color' | 'size' | 'texture' | 'shape'>(key: K, values: readonly NonNullable<EntitySpec[K]>[]) => {
      const cur = e[key];
      if (cur === undefined) return;
      for (const v of values) {
        if (v === cur) continue;
        out.push({
          kind: 'change',
          focus: key,
          change: `${ATTR_NAME[key]} of object ${i + 1}: ${String(cur)} → ${String(v)}`,
          apply: (s) => ((s.entities[i] as unknown as Record<string, unknown>)[key] = v),
        });
      }
    };
    change('shape', SHAPES);
    change('color', COLORS);
    change('size', SIZES);
    change('texture', TEXTURES);
    if (e.count > 1) {
      for (let c = 2; c <= MAX_COUNT; c++) {
        if (c === e.count) continue;
        out.push({ kind: 'change', focus: 'count', change: `count of object ${i + 1}: ${e.count} → ${c}`, apply: (s) => (s.entities[i]!.count = c) });
      }
    }
  });
  return out;
}

/**
 * Up to k hard negatives of a prompt (a string in the world's grammar, or its spec): distinct valid
 * prompts, none equivalent to the original. Kinds are drawn evenly (a kind first, then one of its
 * changes), so the rarer binding swaps are not drowned by the many single-value changes. Fewer than
 * k only when the grammar offers fewer. Throws on a prompt outside the grammar or a bad k.
 */
export function hardNegatives(prompt: string | SceneSpec, k: number, rng: Rng, opts: HardNegativeOptions = {}): HardNegative[] {
  if (!Number.isInteger(k) || k < 0) throw new Error(`hardNegatives: k must be a non-negative integer, got ${k}`);
  const spec = typeof prompt === 'string' ? parsePrompt(prompt) : prompt;
  if (typeof prompt !== 'string') validateSpec(spec);
  const own = canonicalScene(spec);
  const seen = new Set<string>([own]);
  // realise every candidate once, keeping valid, non-equivalent, distinct ones
  const valid: (HardNegative & { focus: Focus })[] = [];
  for (const c of candidates(spec)) {
    const s = cloneSpec(spec);
    c.apply(s);
    let text: string;
    try {
      validateSpec(s);
      text = formatPrompt(s);
    } catch {
      continue; // e.g. two touching objects of one colour, or more objects than fit
    }
    const key = canonicalScene(s);
    if (seen.has(key) || scenesCompatible(spec, s)) continue;
    seen.add(key);
    valid.push({ prompt: text, spec: s, kind: c.kind, change: c.change, focus: c.focus });
  }
  const focus = opts.category ? new Set(CATEGORY_FOCUS[opts.category]) : null;
  const primary = focus ? valid.filter((v) => focus.has(v.focus)) : valid;
  const fallback = focus ? valid.filter((v) => !focus.has(v.focus)) : [];
  const out: HardNegative[] = [];
  for (const pool of [primary, fallback]) {
    // group by kind, draw a kind uniformly among those left, then a member uniformly
    const byKind = new Map<NegativeKind, (HardNegative & { focus: Focus })[]>();
    for (const v of pool) {
      const list = byKind.get(v.kind) ?? [];
      list.push(v);
      byKind.set(v.kind, list);
    }
    while (out.length < k && byKind.size > 0) {
      const kinds = [...byKind.keys()];
      const kind = rng.pick(kinds);
      const list = byKind.get(kind)!;
      const v = list.splice(rng.int(list.length), 1)[0]!;
      if (list.length === 0) byKind.delete(kind);
      out.push({ prompt: v.prompt, spec: v.spec, kind: v.kind, change: v.change });
    }
  }
  return out;
}
