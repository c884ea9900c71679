// Summary statistics for honest comparisons: means with 95% intervals, and paired differences
// (the same prompts and seeds under two models), so a gain is reported with its uncertainty.

export interface Interval {
  mean: number;
  /** half-width of the 95% interval (Student t over the n values) */
  halfWidth: number;
  lo: number;
  hi: number;
  n: number;
  std: number;
}

// Two-sided 97.5% quantiles of Student's t for 1–10 degrees of freedom.
const T975 = [12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.306, 2.2622, 2.2281];

/** The 0.975 quantile of Student's t with `df` degrees of freedom (table to 10, then the
 *  Cornish–Fisher expansion around the normal quantile, accurate to ~1e-4 there). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new Error(`tQuantile975: degrees of freedom must be a positive integer, got ${df}`);
  if (df <= T975.length) return T975[df - 1]!;
  const z = 1.959964;
  const g1 = (z ** 3 + z) / 4;
  const g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96;
  const g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384;
  return z + g1 / df + g2 / df ** 2 + g3 / df ** 3;
}

/** Mean and 95% t-interval of finite values (at least 2). */
export function meanInterval(values: readonly number[]): Interval {
  const n = values.length;
  if (n < 2) throw new Error(`meanInterval: needs at least 2 values, got ${n}`);
  const bad = values.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new Error(`meanInterval: value ${bad} is ${values[bad]}`);
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  const std = Math.sqrt(variance);
  const halfWidth = (tQuantile975(n - 1) * std) / Math.sqrt(n);
  return { mean, halfWidth, lo: mean - halfWidth, hi: mean + halfWidth, n, std };
}

/** The mean of a map's values (e.g. per-prompt means); null when it is empty. */
export function meanOfValues(m: ReadonlyMap<string, number>): number | null {
  return m.size ? [...m.values()].reduce((a, c) => a + c, 0) / m.size : null;
}

/** Groups values by key and averages each group (e.g. the images of one prompt). */
export function meanByKey<T>(rows: readonly T[], key: (r: T) => string, value: (r: T) => number): Map<string, number> {
  const sums = new Map<string, { s: number; n: number }>();
  for (const r of rows) {
    const k = key(r);
    const e = sums.get(k) ?? { s: 0, n: 0 };
    e.s += value(r);
    e.n += 1;
    sums.set(k, e);
  }
  return new Map([...sums].map(([k, e]) => [k, e.s / e.n]));
}

/**
 * The paired difference after − before over the keys both share (e.g. per-prompt means under the
 * same seeds), with its 95% interval. Throws when the key sets differ: a paired comparison of
 * different prompts would not be paired.
 */
export function pairedDifference(before: Map<string, number>, after: Map<string, number>): Interval {
  const missing = [...before.keys()].filter((k) => !after.has(k));
  const extra = [...after.keys()].filter((k) => !before.has(k));
  if (missing.length || extra.length) {
    throw new Error(
      `pairedDifference: the two sides hold different keys (${missing.length} only before, e.g. ${JSON.stringify(missing[0])}; ` +
        `${extra.length} only after, e.g. ${JSON.stringify(extra[0])})`,
    );
  }
  return meanInterval([...before].map(([k, v]) => after.get(k)! - v));
}

/** "0.123 ± 0.045" */
export function formatInterval(i: Interval, digits = 3): string {
  return `${i.mean.toFixed(digits)} ± ${i.halfWidth.toFixed(digits)}`;
}
