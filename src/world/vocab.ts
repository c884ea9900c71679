// The embedded world's vocabulary: shapes, colours, sizes, textures, relations, counts, and the
// prompt categories (the analogue of T2I-CompBench's six: Huang et al., 2023, "T2I-CompBench: A
// Comprehensive Benchmark for Open-world Compositional Text-to-image Generation", §3).

export const SHAPES = ['circle', 'square', 'triangle', 'diamond'] as const;
export type Shape = (typeof SHAPES)[number];
export const SHAPE_PLURAL: Record<Shape, string> = {
  circle: 'circles',
  square: 'squares',
  triangle: 'triangles',
  diamond: 'diamonds',
};

/** Colours, far apart in RGB and in hue (a textured object shows its colour and a darker shade of it). */
export const COLORS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple'] as const;
export type Color = (typeof COLORS)[number];
/** sRGB in [0, 1]. */
export const COLOR_RGB: Record<Color, readonly [number, number, number]> = {
  red: [0.86, 0.1, 0.12],
  orange: [0.98, 0.52, 0.04],
  yellow: [0.94, 0.86, 0.08],
  green: [0.15, 0.76, 0.25],
  blue: [0.12, 0.3, 0.9],
  purple: [0.58, 0.2, 0.8],
};

export const SIZES = ['small', 'large'] as const;
export type Size = (typeof SIZES)[number];

/**
 * Textures: the secondary colour of a pattern is the object's colour times TEXTURE_SHADE (a darker
 * shade), so the object's colour stays readable and the pattern contrasts with it.
 */
export const TEXTURES = ['plain', 'striped', 'dotted', 'checkered'] as const;
export type Texture = (typeof TEXTURES)[number];
export const TEXTURE_SHADE = 0.3;

export const SPATIAL_RELATIONS = ['left_of', 'right_of', 'above', 'below'] as const;
/** Relations that are not about position: contact or its absence (and counts, which live on the entity). */
export const NONSPATIAL_RELATIONS = ['touching', 'not_touching'] as const;
export const RELATIONS = [...SPATIAL_RELATIONS, ...NONSPATIAL_RELATIONS] as const;
export type SpatialRelation = (typeof SPATIAL_RELATIONS)[number];
export type RelationType = (typeof RELATIONS)[number];

/** The words of each relation; the first is the canonical one used when printing prompts. */
export const RELATION_PHRASES: Record<RelationType, readonly string[]> = {
  left_of: ['to the left of', 'left of', 'on the left of'],
  right_of: ['to the right of', 'right of', 'on the right of'],
  above: ['above', 'over'],
  below: ['below', 'under', 'beneath'],
  touching: ['touching'],
  not_touching: ['not touching'],
};

/** Determiners: the count they give to their noun phrase. */
export const DETERMINERS: Record<string, number> = { a: 1, an: 1, one: 1, two: 2, three: 3 };
export const COUNT_WORD: Record<number, string> = { 2: 'two', 3: 'three' };
export const MAX_COUNT = 3;
/** At most this many objects fit a scene (four large objects fill a 32×32 image). */
export const MAX_OBJECTS = 4;

export const CATEGORIES = ['color', 'shape', 'texture', 'spatial', 'non-spatial', 'complex'] as const;
export type Category = (typeof CATEGORIES)[number];

export function isShape(w: string): w is Shape {
  return (SHAPES as readonly string[]).includes(w);
}
export function isColor(w: string): w is Color {
  return (COLORS as readonly string[]).includes(w);
}
export function isSize(w: string): w is Size {
  return (SIZES as readonly string[]).includes(w);
}
export function isTexture(w: string): w is Texture {
  return (TEXTURES as readonly string[]).includes(w);
}
export function isCategory(w: string): w is Category {
  return (CATEGORIES as readonly string[]).includes(w);
}

/** Every word a prompt may contain (for tokenizers), sorted. */
export function worldWords(): string[] {
  const words = new Set<string>();
  for (const s of SHAPES) {
    words.add(s);
    words.add(SHAPE_PLURAL[s]);
  }
  for (const w of [...COLORS, ...SIZES, ...TEXTURES, ...Object.keys(DETERMINERS), 'and']) words.add(w);
  for (const phrases of Object.values(RELATION_PHRASES)) for (const p of phrases) for (const w of p.split(' ')) words.add(w);
  return [...words].sort();
}
