// The held-out curve of a fine-tuning run as a report chart: the world's compositional score of the
// policy on the fixed val prompts and noises (<out>/eval.jsonl, written by the loop with `evalEvery`;
// src/train/held-out.ts) against the optimizer step or the training wall-clock.
import { existsSync } from 'node:fs';
import { readJsonl } from '../util/jsonl.js';
import { CATEGORIES } from '../world/vocab.js';
import type { HeldOutRecord } from '../train/held-out.js';
import type { ReportBlock, Series } from './report.js';

export interface HeldOutCurveOptions {
  /** the x axis: optimizer steps (default) or training wall-clock seconds */
  x?: 'step' | 'wallClock';
  /** a line per category beside the mean (default: the mean only) */
  categories?: boolean;
  /** the chart's title (default: says what the curve is and on how many images) */
  title?: string;
  /** the mean's legend name (default 'compositional'), e.g. the run's name when charts are compared */
  name?: string;
}

/** The lines of an eval.jsonl in step order (a step written twice: the last one); [] when there is no file. */
export function readHeldOutCurve(evalJsonlPath: string): HeldOutRecord[] {
  if (!existsSync(evalJsonlPath)) return [];
  const byStep = new Map<number, HeldOutRecord>();
  for (const r of readJsonl(evalJsonlPath)) {
    if (typeof r.step === 'number' && typeof r.compositional === 'number') byStep.set(r.step, r as HeldOutRecord);
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/**
 * A chart block of the held-out compositional score against the step (or, with `x: 'wallClock'`,
 * the training wall-clock in seconds); null when the file is missing or holds no evaluation.
 */
export function heldOutCurveBlock(evalJsonlPath: string, opts: HeldOutCurveOptions = {}): ReportBlock | null {
  const rows = readHeldOutCurve(evalJsonlPath);
  if (rows.length === 0) return null;
  const wall = opts.x === 'wallClock';
  const xOf = (r: HeldOutRecord) => (wall ? r.wallClockSec : r.step);
  const series: Series[] = [{ name: opts.name ?? 'compositional', points: rows.map((r) => [xOf(r), r.compositional]) }];
  if (opts.categories) {
    for (const c of CATEGORIES) series.push({ name: c, points: rows.filter((r) => typeof r[c] === 'number').map((r) => [xOf(r), r[c]]) });
  }
  const images = rows.at(-1)!.images;
  return {
    kind: 'chart',
    series,
    options: {
      title: opts.title ?? `held-out compositional score (val prompts${typeof images === 'number' ? `, ${images} images` : ''}, fixed noises)`,
      xLabel: wall ? 'training wall-clock (s)' : 'step',
      yLabel: 'compositional',
    },
  };
}

/** heldOutCurveBlock with the training wall-clock (seconds) on the x axis. */
export function heldOutCurveByTimeBlock(evalJsonlPath: string, opts: Omit<HeldOutCurveOptions, 'x'> = {}): ReportBlock | null {
  return heldOutCurveBlock(evalJsonlPath, { ...opts, x: 'wallClock' });
}
