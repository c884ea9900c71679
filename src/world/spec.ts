// The typed scene specification a prompt parses into, and what the renderer draws.
import {
  COLORS,
  MAX_COUNT,
  MAX_OBJECTS,
  RELATIONS,
  SHAPES,
  SIZES,
  SPATIAL_RELATIONS,
  TEXTURES,
  type Color,
  type RelationType,
  type Shape,
  type Size,
  type Texture,
} from './vocab.js';

/** One kind of object; an attribute left out is free (the renderer picks it at random). */
export interface ObjectSpec {
  shape: Shape;
  color?: Color;
  size?: Size;
  texture?: Texture;
}

/** A noun phrase: `count` objects that all share the given attributes ("two red circles"). */
export interface EntitySpec extends ObjectSpec {
  /** 1 to MAX_COUNT */
  count: number;
}

/** `subject` REL `object`, indices into `entities`; both must have count 1. */
export interface RelationSpec {
  type: RelationType;
  subject: number;
  object: number;
}

export interface SceneSpec {
  entities: EntitySpec[];
  relations: RelationSpec[];
}

export type AttributeKind = 'color' | 'size' | 'texture';
export const ATTRIBUTE_KINDS: readonly AttributeKind[] = ['size', 'color', 'texture'];

export function isSpatial(t: RelationType): boolean {
  return (SPATIAL_RELATIONS as readonly string[]).includes(t);
}

export function objectCount(spec: SceneSpec): number {
  return spec.entities.reduce((n, e) => n + e.count, 0);
}

/** Throws an Error saying what is wrong with a scene specification (one that cannot be drawn). */
export function validateSpec(spec: SceneSpec): void {
  if (spec.entities.length === 0) throw new Error('scene: no objects');
  spec.entities.forEach((e, i) => {
    if (!SHAPES.includes(e.shape)) throw new Error(`scene: object ${i + 1} has unknown shape '${e.shape}' (accepted: ${SHAPES.join(', ')})`);
    if (e.color !== undefined && !COLORS.includes(e.color)) throw new Error(`scene: object ${i + 1} has unknown colour '${e.color}' (accepted: ${COLORS.join(', ')})`);
    if (e.size !== undefined && !SIZES.includes(e.size)) throw new Error(`scene: object ${i + 1} has unknown size '${e.size}' (accepted: ${SIZES.join(', ')})`);
    if (e.texture !== undefined && !TEXTURES.includes(e.texture)) throw new Error(`scene: object ${i + 1} has unknown texture '${e.texture}' (accepted: ${TEXTURES.join(', ')})`);
    if (!Number.isInteger(e.count) || e.count < 1 || e.count > MAX_COUNT) throw new Error(`scene: object ${i + 1} has count ${e.count}; counts go from 1 to ${MAX_COUNT}`);
  });
  const n = objectCount(spec);
  if (n > MAX_OBJECTS) throw new Error(`scene: ${n} objects, but at most ${MAX_OBJECTS} fit in one image`);
  const related = new Set<string>();
  for (const r of spec.relations) {
    if (!RELATIONS.includes(r.type)) throw new Error(`scene: unknown relation '${r.type}' (accepted: ${RELATIONS.join(', ')})`);
    const a = spec.entities[r.subject];
    const b = spec.entities[r.object];
    if (!a || !b || r.subject === r.object) throw new Error(`scene: relation '${r.type}' refers to objects ${r.subject + 1} and ${r.object + 1}, which do not exist or are the same`);
    if (a.count !== 1 || b.count !== 1) throw new Error(`scene: relation '${r.type.replace('_', ' ')}' needs a single object on each side, not a count`);
    const key = [Math.min(r.subject, r.object), Math.max(r.subject, r.object)].join(',');
    if (related.has(key)) throw new Error(`scene: objects ${r.subject + 1} and ${r.object + 1} are related twice`);
    related.add(key);
    if (r.type === 'touching' && a.color !== undefined && a.color === b.color) {
      throw new Error(`scene: two touching objects must have different colours (both are ${a.color}), or they would merge into one`);
    }
  }
}

/** "small red striped circle", "plain red circle" (size, colour, texture; but "plain" before the colour). */
export function describeObject(o: ObjectSpec, plural = false): string {
  const order = o.texture === 'plain' ? [o.size, o.texture, o.color] : [o.size, o.color, o.texture];
  const words = order.filter((w) => w !== undefined) as string[];
  words.push(plural ? o.shape + 's' : o.shape);
  return words.join(' ');
}

export function cloneSpec(spec: SceneSpec): SceneSpec {
  return {
    entities: spec.entities.map((e) => ({ ...e })),
    relations: spec.relations.map((r) => ({ ...r })),
  };
}

/** Equality on the attributes given (undefined and missing are the same). */
export function specsEqual(a: SceneSpec, b: SceneSpec): boolean {
  if (a.entities.length !== b.entities.length || a.relations.length !== b.relations.length) return false;
  const eq = (x: EntitySpec, y: EntitySpec) =>
    x.shape === y.shape && x.color === y.color && x.size === y.size && x.texture === y.texture && x.count === y.count;
  return (
    a.entities.every((e, i) => eq(e, b.entities[i]!)) &&
    a.relations.every((r, i) => {
      const s = b.relations[i]!;
      return r.type === s.type && r.subject === s.subject && r.object === s.object;
    })
  );
}

/** A compact JSON form (attributes left out are omitted). */
export function specToJSON(spec: SceneSpec): SceneSpec {
  return {
    entities: spec.entities.map((e) => {
      const o: EntitySpec = { shape: e.shape, count: e.count };
      if (e.size) o.size = e.size;
      if (e.color) o.color = e.color;
      if (e.texture) o.texture = e.texture;
      return o;
    }),
    relations: spec.relations.map((r) => ({ type: r.type, subject: r.subject, object: r.object })),
  };
}
