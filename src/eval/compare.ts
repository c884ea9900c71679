// The comparison table of scripts/compare.sh (docs/architecture.md "Measuring": one row per method, held-out
// metrics, NFE per image at inference, training wall-clock and NFE). It reads what the script
// leaves in its folder:
//   eval-NAME.json      the last line of `sharpen eval --json` (category scores, metric means, NFE)
//   samples-NAME.jsonl  `sharpen eval --samples`: every image's scores, for paired intervals
//   NAME/summary.json   a fine-tuning run's summary (wall-clock, training NFE), or its copy
//   summary-NAME.json   beside the eval files; absent for rows that do not train (the base,
//                       inference-time methods)
// and reports each row's difference to the row named 'base' as a mean over prompts with its 95%
// interval (paired: the same prompts and initial noises).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pairedDifference, type Interval } from './stats.js';
import { perPromptMeans, type EvalSample } from './model-eval.js';

export interface CompareRow {
  name: string;
  /** compositional score (mean of the six categories) */
  compositional: number;
  /** metric means by name (null: not available when evaluated) */
  metrics: Record<string, number | null>;
  nfePerImage: number;
  training: { wallClockSec: number; trainingNfe: number } | null;
  /** difference to the base row, paired over prompts (null for the base itself or without samples) */
  diff: { compositional: Interval; metrics: Record<string, Interval> } | null;
}

const CATEGORY_KEYS = new Set(['color', 'shape', 'texture', 'spatial', 'non-spatial', 'complex']);
const NON_METRIC_KEYS = new Set(['ckpt', 'split', 'unconditional', 'method', 'reward', 'budget_nfe', 'mean', 'nfe_per_image', 'seen_unseen']);

/** The per-image scores written by `sharpen eval --samples` (null metric values: unscored → NaN). */
export function readSamples(file: string): EvalSample[] {
  const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '');
  return lines.map((line, i) => {
    let s: unknown;
    try {
      s = JSON.parse(line);
    } catch (e) {
      throw new Error(`${file}: line ${i + 1} is not JSON (${(e as Error).message})`);
    }
    const o = s as Partial<EvalSample> & { metrics?: Record<string, number | null> };
    if (typeof o.prompt !== 'string' || typeof o.score !== 'number' || !Number.isFinite(o.score) || typeof o.metrics !== 'object' || o.metrics === null) {
      throw new Error(`${file}: line ${i + 1} is not an eval sample (needs a string prompt, a finite score and a metrics object)`);
    }
    const metrics = Object.fromEntries(Object.entries(o.metrics).map(([k, v]) => [k, typeof v === 'number' ? v : Number.NaN]));
    return { ...(o as EvalSample), metrics };
  });
}

/**
 * Throws unless two sample lists come from the same evaluation (the same prompts in the same order,
 * as many images of each), the condition for differences paired over prompts. It cannot see the
 * seed: that the initial noises match is the caller's to ensure (the same --seed).
 */
export function assertPaired(base: readonly EvalSample[], other: readonly EvalSample[], baseName: string, otherName: string): void {
  if (base.length !== other.length) {
    throw new Error(`${otherName} does not pair with ${baseName}: ${other.length} images against ${base.length} (evaluate both with the same --per-category, --images-per-prompt and --seed)`);
  }
  const i = base.findIndex((s, k) => s.prompt !== other[k]!.prompt);
  if (i !== -1) {
    throw new Error(`${otherName} does not pair with ${baseName}: image ${i + 1} is of another prompt (${JSON.stringify(other[i]!.prompt)}, not ${JSON.stringify(base[i]!.prompt)})`);
  }
}

function readEvalLine(file: string): Record<string, unknown> {
  const text = readFileSync(file, 'utf8').trim();
  const last = text.split('\n').at(-1) ?? '';
  try {
    const o = JSON.parse(last) as unknown;
    if (typeof o !== 'object' || o === null || typeof (o as { mean?: unknown }).mean !== 'number') throw new Error('no numeric "mean"');
    return o as Record<string, unknown>;
  } catch (e) {
    throw new Error(`${file}: its last line is not the JSON line of 'sharpen eval --json' (${(e as Error).message})`);
  }
}

/** The rows of a comparison folder, 'base' first, then in the order of `order` (others by name). */
export function compareRows(dir: string, order: string[] = []): CompareRow[] {
  const names = readdirSync(dir)
    .map((f) => /^eval-(.+)\.json$/.exec(f)?.[1])
    .filter((n): n is string => n !== undefined);
  if (names.length === 0) throw new Error(`${dir}: no eval-*.json files (run scripts/compare.sh first)`);
  const rank = (n: string) => (n === 'base' ? -1 : order.includes(n) ? order.indexOf(n) : order.length);
  names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const samplesOf = (n: string) => (existsSync(join(dir, `samples-${n}.jsonl`)) ? readSamples(join(dir, `samples-${n}.jsonl`)) : null);
  const baseSamples = names.includes('base') ? samplesOf('base') : null;
  return names.map((name) => {
    const e = readEvalLine(join(dir, `eval-${name}.json`));
    const metrics: Record<string, number | null> = {};
    for (const [k, v] of Object.entries(e)) {
      if (CATEGORY_KEYS.has(k) || NON_METRIC_KEYS.has(k)) continue;
      metrics[k] = typeof v === 'number' ? v : null;
    }
    let training: CompareRow['training'] = null;
    // the run's own summary, or its copy beside the eval files (as results/compare keeps them)
    const summaryPath = [join(dir, name, 'summary.json'), join(dir, `summary-${name}.json`)].find((f) => existsSync(f));
    if (summaryPath) {
      let s: { wallClockSec?: unknown; trainingNfe?: unknown };
      try {
        s = JSON.parse(readFileSync(summaryPath, 'utf8')) as typeof s;
      } catch (e) {
        throw new Error(`${summaryPath}: not JSON (${(e as Error).message})`);
      }
      if (typeof s.wallClockSec !== 'number' || typeof s.trainingNfe !== 'number') throw new Error(`${summaryPath}: lacks wallClockSec or trainingNfe`);
      training = { wallClockSec: s.wallClockSec, trainingNfe: s.trainingNfe };
    }
    let diff: CompareRow['diff'] = null;
    const samples = name === 'base' ? null : samplesOf(name);
    if (samples && baseSamples) {
      assertPaired(baseSamples, samples, join(dir, 'samples-base.jsonl'), join(dir, `samples-${name}.jsonl`));
      const m: Record<string, Interval> = {};
      for (const k of Object.keys(metrics)) {
        const before = perPromptMeans(baseSamples, k);
        const after = perPromptMeans(samples, k);
        if (before.size >= 2 && before.size === after.size) m[k] = pairedDifference(before, after);
      }
      diff = { compositional: pairedDifference(perPromptMeans(baseSamples, 'compositional'), perPromptMeans(samples, 'compositional')), metrics: m };
    }
    return { name, compositional: e.mean as number, metrics, nfePerImage: e.nfe_per_image as number, training, diff };
  });
}

const signed = (v: number, d: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(d)}`;
const interval = (i: Interval, d: number) => `${signed(i.mean, d)} [${signed(i.lo, d)}, ${signed(i.hi, d)}]`;

/** A markdown table of the rows: scores, differences to the base with 95% intervals, costs. */
export function formatCompareTable(rows: CompareRow[]): string {
  const metricNames = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))];
  const head = ['method', 'compositional', 'Δ vs base [95%]', ...metricNames.flatMap((m) => [m, `Δ ${m}`]), 'NFE/image', 'training s', 'training NFE'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const cells = [
      r.name,
      r.compositional.toFixed(4),
      r.diff ? interval(r.diff.compositional, 4) : '',
      ...metricNames.flatMap((m) => {
        const v = r.metrics[m];
        const d = r.diff?.metrics[m];
        const digits = m === 'clip' ? 2 : 4;
        return [v === null || v === undefined ? 'n/a' : v.toFixed(digits), d ? interval(d, digits) : ''];
      }),
      String(r.nfePerImage),
      r.training ? r.training.wallClockSec.toFixed(0) : '0',
      r.training ? String(r.training.trainingNfe) : '0',
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
