// Option parsers the commands share (commander's argParser callbacks). Each checks its value where
// it is parsed and names the flag in the error.

/** Bounds of a numeric option (inclusive). */
export interface Range {
  min?: number;
  max?: number;
}

function describeRange(r: Range): string {
  if (r.min !== undefined && r.max !== undefined) return `between ${r.min} and ${r.max}`;
  if (r.min !== undefined) return r.min === 1 ? 'at least 1' : `≥ ${r.min}`;
  if (r.max !== undefined) return `≤ ${r.max}`;
  return '';
}

function checkRange(name: string, v: string, n: number, r: Range, kind: string): number {
  if ((r.min !== undefined && n < r.min) || (r.max !== undefined && n > r.max)) {
    throw new Error(`--${name} must be ${kind} ${describeRange(r)}, got '${v}'`);
  }
  return n;
}

/** An integer option within `range` (default: any safe integer); anything else is an error naming the flag. */
export function int(name: string, range: Range = {}) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isSafeInteger(n)) {
      throw new Error(`--${name} must be an integer${range.min !== undefined || range.max !== undefined ? ` ${describeRange(range)}` : ''}, got '${v}'`);
    }
    return checkRange(name, v, n, range, 'an integer');
  };
}

/** A finite number option within `range`. */
export function num(name: string, range: Range = {}) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n)) {
      throw new Error(`--${name} must be a finite number${range.min !== undefined || range.max !== undefined ? ` ${describeRange(range)}` : ''}, got '${v}'`);
    }
    return checkRange(name, v, n, range, 'a number');
  };
}

/** Counts (images, steps, prompts, batch sizes): integers ≥ 1. */
export const count = (name: string, max?: number) => int(name, max === undefined ? { min: 1 } : { min: 1, max });

/** Random seeds: integers ≥ 0. */
export const seed = (name = 'seed') => int(name, { min: 0 });

/** The largest guidance scale the command line accepts: useful scales are far below it, and much larger ones saturate the image or overflow to NaN. */
export const MAX_GUIDANCE = 100;

/** A classifier-free guidance scale: a finite number in [0, MAX_GUIDANCE]. */
export const guidance = (name = 'cfg') => num(name, { min: 0, max: MAX_GUIDANCE });

/** A repeatable option collected into a list. */
export function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}
