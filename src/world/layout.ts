// Layout: from a scene specification and a random generator to concrete objects — every free
// attribute chosen, a side length jittered within its size class, and a position that satisfies the
// relations (with margins, so the evaluator can tell them apart) while keeping other objects apart.
import { Rng } from './rng.js';
import { COLORS, SIZES, TEXTURES, type Color, type RelationType, type Shape, type Size, type Texture } from './vocab.js';
import { validateSpec, type SceneSpec } from './spec.js';
import { shapeDistance, worldScale, type WorldScale } from './geometry.js';

export interface PlacedObject {
  /** index of the entity (noun phrase) it comes from */
  entity: number;
  shape: Shape;
  color: Color;
  size: Size;
  texture: Texture;
  /** side of the bounding square, pixels */
  side: number;
  /** centre of the bounding square, pixels (0 = the image's left/top edge) */
  cx: number;
  cy: number;
}

export interface Layout {
  resolution: number;
  objects: PlacedObject[];
}

/** How far the subject may stray across the relation's axis: |off-axis| ≤ this × on-axis distance. */
const SPATIAL_SLACK = 0.3;
/** How deep (pixels at 32×32) touching objects overlap, so the contact is visible. */
const TOUCH_DEPTH = 1.1;

function chooseAttributes(spec: SceneSpec, rng: Rng, scale: WorldScale): PlacedObject[] {
  const objs: PlacedObject[] = [];
  // free sizes: at most two large objects in a scene of four (else they may not fit), three otherwise
  const total = spec.entities.reduce((n, e) => n + e.count, 0);
  let largeLeft = (total >= 4 ? 2 : 3) - spec.entities.reduce((n, e) => n + (e.size === 'large' ? e.count : 0), 0);
  spec.entities.forEach((e, ei) => {
    for (let k = 0; k < e.count; k++) {
      let size = e.size;
      if (size === undefined) {
        size = largeLeft > 0 ? rng.pick(SIZES) : 'small';
        if (size === 'large') largeLeft--;
      }
      const [lo, hi] = scale.sizeRange[size];
      objs.push({
        entity: ei,
        shape: e.shape,
        color: e.color ?? rng.pick(COLORS),
        size,
        texture: e.texture ?? rng.pick(TEXTURES),
        side: rng.uniform(lo, hi),
        cx: 0,
        cy: 0,
      });
    }
  });
  // touching objects need different colours; re-pick a free one
  for (const r of spec.relations) {
    if (r.type !== 'touching') continue;
    const a = objs.find((o) => o.entity === r.subject)!;
    const b = objs.find((o) => o.entity === r.object)!;
    if (a.color === b.color) {
      const others = COLORS.filter((c) => c !== a.color);
      if (spec.entities[r.object]!.color === undefined) b.color = rng.pick(others);
      else a.color = rng.pick(COLORS.filter((c) => c !== b.color));
    }
  }
  return objs;
}

/** Points on a shape's outline, relative to its centre. */
function outline(shape: Shape, h: number, n = 48): [number, number][] {
  const pts: [number, number][] = [];
  if (shape === 'circle') {
    for (let i = 0; i < n; i++) pts.push([h * Math.cos((2 * Math.PI * i) / n), h * Math.sin((2 * Math.PI * i) / n)]);
    return pts;
  }
  const poly: [number, number][] =
    shape === 'square' ? [[-h, -h], [h, -h], [h, h], [-h, h]]
      : shape === 'diamond' ? [[0, -h], [h, 0], [0, h], [-h, 0]]
        : [[0, -h], [h, h], [-h, h]];
  const per = Math.ceil(n / poly.length);
  for (let v = 0; v < poly.length; v++) {
    const [x0, y0] = poly[v]!;
    const [x1, y1] = poly[(v + 1) % poly.length]!;
    for (let i = 0; i < per; i++) pts.push([x0 + ((x1 - x0) * i) / per, y0 + ((y1 - y0) * i) / per]);
  }
  return pts;
}

/** Deepest point of b's outline inside a or of a's inside b (negative: overlap depth), b at offset (ox, oy). */
function penetration(a: PlacedObject, b: PlacedObject, outA: [number, number][], outB: [number, number][], ox: number, oy: number): number {
  let m = Infinity;
  const ha = a.side / 2, hb = b.side / 2;
  for (const [px, py] of outB) m = Math.min(m, shapeDistance(a.shape, px + ox, py + oy, ha));
  for (const [px, py] of outA) m = Math.min(m, shapeDistance(b.shape, px - ox, py - oy, hb));
  return m;
}

/** Box gap between two objects (negative when their bounding squares overlap). */
function boxGap(a: PlacedObject, b: PlacedObject): number {
  const r = (a.side + b.side) / 2;
  return Math.max(Math.abs(a.cx - b.cx) - r, Math.abs(a.cy - b.cy) - r);
}

/**
 * Offset of b's centre from a's so that "a REL b" holds: spatial relations with a clear gap along
 * their axis and at most SPATIAL_SLACK across it; touching with a small overlap; not touching with
 * a clear gap. `room` (0…1) scales the optional extra distance (crowded scenes get less).
 */
function relationOffset(a: PlacedObject, b: PlacedObject, rel: RelationType, rng: Rng, s: WorldScale, room: number): [number, number] {
  if (rel === 'touching') {
    const theta = rng.int(4) * (Math.PI / 2) + rng.uniform(-0.35, 0.35);
    const ux = Math.cos(theta);
    const uy = Math.sin(theta);
    const outA = outline(a.shape, a.side / 2);
    const outB = outline(b.shape, b.side / 2);
    // bisection on the centre distance for an overlap of TOUCH_DEPTH pixels
    let lo = 0;
    let hi = ((a.side + b.side) / 2) * Math.SQRT2 + 2;
    const target = -TOUCH_DEPTH * s.k;
    for (let it = 0; it < 14; it++) {
      const mid = (lo + hi) / 2;
      if (penetration(a, b, outA, outB, ux * mid, uy * mid) < target) lo = mid;
      else hi = mid;
    }
    return [ux * lo, uy * lo];
  }
  if (rel === 'not_touching') {
    // near each other, with clear space between: a box gap of gap … gap + 4 px, any direction
    const theta = rng.int(8) * (Math.PI / 4) + rng.uniform(-0.2, 0.2);
    const ux = Math.cos(theta);
    const uy = Math.sin(theta);
    const sep = (a.side + b.side) / 2 + s.gap + rng.uniform(0.25, 0.25 + 3.75 * room) * s.k;
    const t = sep / Math.max(Math.abs(ux), Math.abs(uy));
    return [ux * t, uy * t];
  }
  const minSep = (a.side + b.side) / 2 + s.gap;
  const along = minSep + rng.uniform(0, 6 * room) * s.k;
  const across = rng.uniform(-SPATIAL_SLACK, SPATIAL_SLACK) * along;
  // "a left of b": b is to the right of a, etc.
  return rel === 'left_of' ? [along, across] : rel === 'right_of' ? [-along, across] : rel === 'above' ? [across, along] : [across, -along];
}

/** lo, lo + step, … and hi itself (the extremes matter when packing). */
function gridPoints(lo: number, hi: number, step: number): number[] {
  const pts: number[] = [];
  for (let v = lo; v < hi; v += step) pts.push(v);
  pts.push(hi);
  return pts;
}

/** The range of a's centre (per axis) that keeps a, and b at offset (dx, dy), inside the image. */
function centreRange(a: PlacedObject, b: PlacedObject | null, dx: number, dy: number, s: WorldScale): [number, number, number, number] {
  const ha = a.side / 2;
  let x0 = s.margin + ha, x1 = s.resolution - s.margin - ha;
  let y0 = x0, y1 = x1;
  if (b) {
    const hb = b.side / 2;
    x0 = Math.max(x0, s.margin + hb - dx);
    x1 = Math.min(x1, s.resolution - s.margin - hb - dx);
    y0 = Math.max(y0, s.margin + hb - dy);
    y1 = Math.min(y1, s.resolution - s.margin - hb - dy);
  }
  return [x0, x1, y0, y1];
}

/**
 * Chooses every free attribute and a position for every object. Throws when the scene cannot be
 * fitted (e.g. four large objects all in a row).
 */
export function layoutScene(spec: SceneSpec, rng: Rng, resolution = 32): Layout {
  validateSpec(spec);
  const s = worldScale(resolution);
  const objs = chooseAttributes(spec, rng, s);
  const N = objs.length;
  const first = (entity: number) => objs.findIndex((o) => o.entity === entity);
  // placement groups: an object alone, or a relation's subject with its object (placed as a unit)
  const partner = new Int32Array(N).fill(-1);
  const relOf: (RelationType | null)[] = new Array(N).fill(null);
  const isPartner = new Uint8Array(N);
  const exempt = new Uint8Array(N * N); // touching pairs need no gap
  for (const r of spec.relations) {
    const a = first(r.subject), b = first(r.object);
    partner[a] = b;
    relOf[a] = r.type;
    isPartner[b] = 1;
    if (r.type === 'touching') exempt[a * N + b] = exempt[b * N + a] = 1;
  }
  const groupSize = (i: number) => objs[i]!.side + (partner[i]! >= 0 ? objs[partner[i]!]!.side : 0);
  const leads = rng.shuffle(objs.map((_, i) => i).filter((i) => !isPartner[i])).sort((a, b) => groupSize(b) - groupSize(a));

  const clear = (i: number, placed: number[]): boolean => {
    const o = objs[i]!;
    for (const j of placed) if (!exempt[i * N + j] && boxGap(o, objs[j]!) < s.gap) return false;
    return true;
  };

  // crowded scenes (the objects' boxes with their gaps cover most of the image) soon switch to packing
  const crowded = objs.reduce((a, o) => a + (o.side + s.gap) ** 2, 0) > 0.7 * resolution * resolution;
  for (let shrink = 0; shrink < 2; shrink++) {
    if (shrink === 1) for (const o of objs) o.side = s.sizeRange[o.size][0];
    for (let attempt = 0; attempt < (crowded ? 16 : 200); attempt++) {
      const placed: number[] = [];
      let failed = false;
      for (const i of leads) {
        const a = objs[i]!;
        const j = partner[i]!;
        const b = j >= 0 ? objs[j]! : null;
        const fits = () => clear(i, placed) && (b === null || clear(j, placed));
        let done = false;
        // a single object needs one look at the free spots; a pair tries a few offsets
        for (let tries = 0; tries < (b ? 8 : 1) && !done; tries++) {
          // crowded scenes: later attempts leave less room between related objects
          const [dx, dy] = b ? relationOffset(a, b, relOf[i]!, rng, s, Math.max(0, 1 - attempt / 100)) : [0, 0];
          const [x0, x1, y0, y1] = centreRange(a, b, dx, dy, s);
          if (x0 > x1 || y0 > y1) continue;
          const put = (x: number, y: number) => {
            a.cx = x;
            a.cy = y;
            if (b) {
              b.cx = x + dx;
              b.cy = y + dy;
            }
          };
          // a uniform position where the group fits: by rejection first, from a grid when crowded;
          // after many failed attempts, groups go to the free spots nearest the corners (packing)
          const packing = crowded ? attempt % 2 === 1 || attempt >= 6 : attempt >= 40;
          for (let k = 0; k < 30 && !done && !packing; k++) {
            put(rng.uniform(x0, x1), rng.uniform(y0, y1));
            done = fits();
          }
          if (done) break;
          let spots: [number, number][] = [];
          for (const y of gridPoints(y0, y1, s.k)) for (const x of gridPoints(x0, x1, s.k)) {
            put(x, y);
            if (fits()) spots.push([x, y]);
          }
          if (packing && spots.length > 0) {
            const c = s.resolution / 2;
            const far = (p: [number, number]) => Math.hypot(p[0] - c, p[1] - c);
            const best = Math.max(...spots.map(far));
            spots = spots.filter((p) => far(p) >= best - s.k);
          }
          if (spots.length > 0) {
            const [x, y] = rng.pick(spots);
            put(x, y);
            done = true;
          }
        }
        if (!done) { failed = true; break; }
        placed.push(i);
        if (j >= 0) placed.push(j);
      }
      if (!failed) return { resolution, objects: objs };
    }
  }
  throw new Error(`layout: cannot fit the scene (${objs.length} objects: ${objs.map((o) => `${o.size} ${o.shape}`).join(', ')}) in ${resolution}×${resolution}`);
}
