// The evaluator's segmentation (steps 2 and 3 of the analysis in evaluate.ts): foreground pixels
// (far from the fitted background), their colour labels, 4-connected components, the split of a
// component with two significant colours (touching objects) into single-colour regions, and the
// contacts between regions.
import type { RgbImage } from './image.js';
import { FG_DISTANCE, PALETTE, mixResidual } from './background.js';

/** a pixel's colour label is sure when a shade of that colour mixed with the background explains it
 * this well, and clearly better than any other colour does */
const SURE_RESIDUAL = 0.1;
const LABEL_MARGIN = 0.03;
/** least area of an object, in pixels at 32×32 */
export const MIN_AREA = 14;
/** a second colour in one component is an object of its own when this many of its pixels are solid */
const MIN_SOLID_PIXELS = 4;
/** touching: least number of 4-neighbour pixel pairs shared by two objects */
const MIN_CONTACT = 2;

/** A single-colour part of a foreground component. */
export interface Region {
  pixels: number[];
  /** the palette index of its colour (−1: no sure colour) */
  label: number;
  component: number;
}

export interface Foreground {
  /** every pixel's RGB distance from the background */
  dist: Float32Array;
  /** 1 where the pixel is foreground */
  fg: Uint8Array;
}

/** Foreground: the pixels farther than FG_DISTANCE from the background model `bg` (CHW). */
export function findForeground(img: RgbImage, bg: Float32Array): Foreground {
  const { width: W, height: H, data: d } = img;
  const n = W * H;
  const dist = new Float32Array(n);
  const fg = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const e0 = d[i]! - bg[i]!, e1 = d[n + i]! - bg[n + i]!, e2 = d[2 * n + i]! - bg[2 * n + i]!;
    const dd = Math.sqrt(e0 * e0 + e1 * e1 + e2 * e2);
    dist[i] = dd;
    if (dd > FG_DISTANCE) fg[i] = 1;
  }
  return { dist, fg };
}

/**
 * Colour labels of foreground pixels (palette index, −1: none sure), from the mean of the
 * foreground in their 3×3 neighbourhood (noise averages out; mixtures of one colour's shades and the
 * background stay mixtures of them).
 */
export function labelColours(img: RgbImage, bg: Float32Array, fg: Uint8Array): Int8Array {
  const { width: W, height: H, data: d } = img;
  const n = W * H;
  const label = new Int8Array(n).fill(-1);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      if (!fg[i]) continue;
      let r = 0, g = 0, b = 0, c = 0;
      for (let yy = Math.max(0, y - 1); yy <= Math.min(H - 1, y + 1); yy++) {
        for (let xx = Math.max(0, x - 1); xx <= Math.min(W - 1, x + 1); xx++) {
          const j = yy * W + xx;
          if (!fg[j]) continue;
          r += d[j]!; g += d[n + j]!; b += d[2 * n + j]!; c++;
        }
      }
      r /= c; g /= c; b /= c;
      let best = -1, bestR = Infinity, second = Infinity;
      for (let kk = 0; kk < PALETTE.length; kk++) {
        const res = mixResidual(r, g, b, bg[i]!, bg[n + i]!, bg[2 * n + i]!, kk);
        if (res < bestR) { second = bestR; bestR = res; best = kk; } else if (res < second) second = res;
      }
      if (bestR < SURE_RESIDUAL && second - bestR > LABEL_MARGIN) label[i] = best;
    }
  }
  return label;
}

/** Scratch shared by the segmentation's breadth-first searches over one W×H image. */
class PixelGrid {
  readonly n: number;
  /** a BFS queue of pixel indices */
  readonly queue: Int32Array;
  /** a pixel's index in its component's pixel list (−1: in none). The 4-neighbours of a
   * component's pixels that are in any list are in the same component's, so one array serves every
   * component. */
  readonly where: Int32Array;
  /** the 4-neighbours written by `neighbours`, in the order left, right, up, down (−1 or out of
   * [0, n): none) */
  readonly nbs = new Int32Array(4);

  constructor(readonly W: number, readonly H: number) {
    this.n = W * H;
    this.queue = new Int32Array(this.n);
    this.where = new Int32Array(this.n).fill(-1);
  }

  neighbours(i: number): void {
    const { W, nbs } = this;
    const x = i % W;
    nbs[0] = x > 0 ? i - 1 : -1; nbs[1] = x < W - 1 ? i + 1 : -1; nbs[2] = i - W; nbs[3] = i + W;
  }
}

/** The 4-connected components of the foreground, each as its list of pixels in BFS order. */
function connectedComponents(fg: Uint8Array, grid: PixelGrid): number[][] {
  const { W, H, n, queue } = grid;
  const comp = new Int32Array(n).fill(-1);
  const components: number[][] = [];
  for (let i0 = 0; i0 < n; i0++) {
    if (!fg[i0] || comp[i0]! >= 0) continue;
    const id = components.length;
    const px: number[] = [];
    let head = 0, tail = 0;
    queue[tail++] = i0;
    comp[i0] = id;
    while (head < tail) {
      const i = queue[head++]!;
      px.push(i);
      const x = i % W, y = (i - x) / W;
      if (x > 0 && fg[i - 1] && comp[i - 1]! < 0) { comp[i - 1] = id; queue[tail++] = i - 1; }
      if (x < W - 1 && fg[i + 1] && comp[i + 1]! < 0) { comp[i + 1] = id; queue[tail++] = i + 1; }
      if (y > 0 && fg[i - W] && comp[i - W]! < 0) { comp[i - W] = id; queue[tail++] = i - W; }
      if (y < H - 1 && fg[i + W] && comp[i + W]! < 0) { comp[i + W] = id; queue[tail++] = i + W; }
    }
    components.push(px);
  }
  return components;
}

/**
 * The significant colours of a component: those that label a solid patch — pixels whose four
 * neighbours all carry the same label. A second object has one; a thin blend along an edge or a
 * contact does not.
 */
function significantColours(px: number[], label: Int8Array, grid: PixelGrid, k2: number): number[] {
  const { W, n } = grid;
  const solid = new Array<number>(PALETTE.length).fill(0);
  for (const i of px) {
    const lab = label[i]!;
    if (lab < 0) continue;
    const x = i % W;
    if (x > 0 && x < W - 1 && i >= W && i + W < n && label[i - 1] === lab && label[i + 1] === lab && label[i - W] === lab && label[i + W] === lab) solid[lab]!++;
  }
  return solid.map((c, kk) => (c >= MIN_SOLID_PIXELS * k2 ? kk : -1)).filter((kk) => kk >= 0);
}

/**
 * Gives every pixel of a component (grid.where set for it) one of the significant colours, by a
 * multi-source BFS from the sure pixels of those colours; returns the colour per pixel of `px`.
 */
function growColours(px: number[], label: Int8Array, significant: number[], grid: PixelGrid): Int8Array {
  const { n, queue, where, nbs } = grid;
  const assigned = new Int8Array(px.length).fill(-1);
  let head = 0, tail = 0;
  px.forEach((i, j) => {
    if (label[i]! >= 0 && significant.includes(label[i]!)) { assigned[j] = label[i]!; queue[tail++] = i; }
  });
  while (head < tail) {
    const i = queue[head++]!;
    const lab = assigned[where[i]!]!;
    grid.neighbours(i);
    for (let q = 0; q < 4; q++) {
      const nb = nbs[q]!;
      if (nb < 0 || nb >= n) continue;
      const j = where[nb]!;
      if (j < 0 || assigned[j]! >= 0) continue;
      assigned[j] = lab;
      queue[tail++] = nb;
    }
  }
  return assigned;
}

/** The connected single-colour regions of a component (colours from growColours), appended to
 * `regions` and marked in `region`; returns their ids. */
function colourRegions(px: number[], assigned: Int8Array, ci: number, grid: PixelGrid, region: Int32Array, regions: Region[]): number[] {
  const { n, queue, where, nbs } = grid;
  const local = new Int32Array(px.length).fill(-1);
  const made: number[] = [];
  for (let j0 = 0; j0 < px.length; j0++) {
    if (local[j0]! >= 0) continue;
    const lab = assigned[j0]!;
    const id = regions.length;
    const rp: number[] = [];
    let h2 = 0, t2 = 0;
    queue[t2++] = px[j0]!;
    local[j0] = id;
    while (h2 < t2) {
      const i = queue[h2++]!;
      rp.push(i);
      grid.neighbours(i);
      for (let q = 0; q < 4; q++) {
        const nb = nbs[q]!;
        if (nb < 0 || nb >= n) continue;
        const j = where[nb]!;
        if (j < 0 || local[j]! >= 0 || assigned[j] !== lab) continue;
        local[j] = id;
        queue[t2++] = nb;
      }
    }
    regions.push({ pixels: rp, label: lab, component: ci });
    made.push(id);
    for (const i of rp) region[i] = id;
  }
  return made;
}

/** Folds the slivers among the regions `made` into the neighbour they share the longest border
 * with (a folded region keeps its id with no pixels). */
function foldSlivers(made: number[], grid: PixelGrid, region: Int32Array, regions: Region[], k2: number): void {
  const { n, nbs } = grid;
  for (const id of made) {
    const r = regions[id]!;
    if (r.pixels.length >= (MIN_AREA / 2) * k2) continue;
    const shared = new Map<number, number>();
    for (const i of r.pixels) {
      grid.neighbours(i);
      for (let q = 0; q < 4; q++) {
        const nb = nbs[q]!;
        if (nb < 0 || nb >= n) continue;
        const o = region[nb]!;
        if (o >= 0 && o !== id && regions[o]!.pixels.length > 0) shared.set(o, (shared.get(o) ?? 0) + 1);
      }
    }
    let target = -1, most = 0;
    for (const [o, c] of shared) if (c > most) { most = c; target = o; }
    if (target < 0) continue;
    for (const i of r.pixels) { region[i] = target; regions[target]!.pixels.push(i); }
    r.pixels = [];
  }
}

export interface Segmentation {
  /** every pixel's region id (−1: background or a component too small to measure) */
  region: Int32Array;
  regions: Region[];
}

/**
 * Splits the foreground into single-colour regions: its 4-connected components, each large enough
 * one split by colour when it has more than one significant colour. `k2` is the square of the
 * resolution's scale (areas are given at 32×32).
 */
export function segmentRegions(fg: Uint8Array, label: Int8Array, W: number, H: number, k2: number): Segmentation {
  const grid = new PixelGrid(W, H);
  const region = new Int32Array(grid.n).fill(-1);
  const regions: Region[] = [];
  connectedComponents(fg, grid).forEach((px, ci) => {
    if (px.length < MIN_AREA * k2) return;
    const significant = significantColours(px, label, grid, k2);
    if (significant.length <= 1) {
      const lab = significant[0] ?? -1;
      const id = regions.length;
      regions.push({ pixels: px, label: lab, component: ci });
      for (const i of px) region[i] = id;
      return;
    }
    px.forEach((i, j) => { grid.where[i] = j; });
    const assigned = growColours(px, label, significant, grid);
    const made = colourRegions(px, assigned, ci, grid, region, regions);
    foldSlivers(made, grid, region, regions, k2);
  });
  return { region, regions };
}

/**
 * The pairs [i, j] (i < j) of objects that touch: their regions share at least MIN_CONTACT
 * 4-neighbour pixel pairs. `regionObject` maps a region id to its object's index.
 */
export function touchingPairs(region: Int32Array, regionObject: Map<number, number>, W: number): [number, number][] {
  const n = region.length;
  const contact = new Map<string, number>();
  const meet = (a: number, b: number) => {
    if (b < 0 || b === a) return;
    const oa = regionObject.get(a), ob = regionObject.get(b);
    if (oa === undefined || ob === undefined) return;
    const key = oa < ob ? `${oa},${ob}` : `${ob},${oa}`;
    contact.set(key, (contact.get(key) ?? 0) + 1);
  };
  for (let i = 0; i < n; i++) {
    const a = region[i]!;
    if (a < 0) continue;
    // the right neighbour, then the one below
    if (i % W < W - 1) meet(a, region[i + 1]!);
    if (i + W < n) meet(a, region[i + W]!);
  }
  const touching: [number, number][] = [];
  for (const [key, c] of contact) if (c >= MIN_CONTACT) touching.push(key.split(',').map(Number) as [number, number]);
  return touching;
}
