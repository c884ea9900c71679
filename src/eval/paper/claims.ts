// The claims the paper report checks, judged from the cells by the criteria fixed before the full
// run (results/paper/README.md, "Claims checked, and the criteria"): a claim about two rows compares
// them seed by seed on the compositional score (seed i of both sampled the same test prompts and
// noises), and it
//   holds          when the 95 % interval over seeds of the difference excludes 0 in the claimed direction,
//   fails          when it excludes 0 in the other direction,
//   is not resolved otherwise (or with fewer than two seeds, which give no interval),
//   is pending     while a cell it needs is not computed yet,
//   is n/a         where a cell cannot exist (a search whose budget is too small, or the evaluation of a
//                  refused training run: the reason is kept).
// A claim over several comparisons fails if one fails, holds if all that apply hold.
//
// The claims (Tian et al. 2025, arXiv 2502.12146):
//   1. RLHF-Diffusion-Sharpening scores above every other training row (Table 1);
//   2. SFT-Diffusion-Sharpening scores above standard fine-tuning (Table 1, Figure 4);
//   3. a sharpened model at 1× NFE scores at least as high as each inference-time method at 1×
//      (Figure 5: the gain costs no sampling NFE), judged by the same rule: it holds only where the
//      sharpened model is above beyond the interval, and "not resolved" means no difference either way;
//   4. the score rises with n and with m (Tables 2–3): one seed per cell, so only a trend, read as
//      the sign of Spearman's rank correlation between the setting and the score.
import { failureOf, isSettled, SEARCH_METHODS, VARIANTS, type Plan, type PlanContext, type Planned } from './plan.js';
import { nmTables, pairedDifference, type OverSeeds } from './tables.js';

export type Verdict = 'holds' | 'fails' | 'not resolved' | 'pending' | 'n/a';

export interface Comparison {
  /** the rows compared: a − b */
  a: string;
  b: string;
  diff: OverSeeds;
  verdict: Verdict;
  /** why a cell of the comparison has no number (n/a) */
  note: string | null;
}

export interface ClaimResult {
  claim: string;
  verdict: Verdict;
  comparisons: Comparison[];
  /** claim 4: the trend of each variant and axis */
  trends?: Trend[];
}

export interface Trend {
  variant: string;
  axis: 'n' | 'm';
  points: { value: number; score: number }[];
  /** Spearman's rank correlation of setting and score (null with fewer than 3 points) */
  rho: number | null;
  verdict: 'rises' | 'does not rise' | 'pending';
}

/** The verdict on a difference a − b claimed to be above 0. */
export function judge(diff: OverSeeds, pending: boolean): Verdict {
  if (pending) return 'pending';
  const i = diff.interval;
  if (!i) return 'not resolved';
  return i.lo > 0 ? 'holds' : i.hi < 0 ? 'fails' : 'not resolved';
}

/** One verdict for several comparisons: fails if one fails, pending while one is pending, holds if all that apply (not n/a) hold. */
export function combine(verdicts: Verdict[]): Verdict {
  const apply = verdicts.filter((v) => v !== 'n/a');
  if (apply.includes('fails')) return 'fails';
  if (apply.includes('pending')) return 'pending';
  if (apply.length === 0) return verdicts.length > 0 ? 'n/a' : 'not resolved';
  return apply.every((v) => v === 'holds') ? 'holds' : 'not resolved';
}

/** Spearman's rank correlation (average ranks for ties); null with fewer than 3 points or no spread. */
export function spearman(xs: number[], ys: number[]): number | null {
  if (xs.length !== ys.length || xs.length < 3) return null;
  const ranks = (v: number[]) => v.map((x) => {
    const below = v.filter((y) => y < x).length;
    const equal = v.filter((y) => y === x).length;
    return below + (equal + 1) / 2;
  });
  const [rx, ry] = [ranks(xs), ranks(ys)];
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const [mx, my] = [mean(rx), mean(ry)];
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  rx.forEach((x, i) => {
    sxy += (x - mx) * (ry[i]! - my);
    sxx += (x - mx) ** 2;
    syy += (ry[i]! - my) ** 2;
  });
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : null;
}

function compare(ctx: PlanContext, a: { name: string; cells: Planned[] }, b: { name: string; cells: Planned[] }): Comparison {
  const diff = pairedDifference(ctx, a.cells, b.cells, 'compositional');
  const cells = [...a.cells, ...b.cells];
  const pending = !cells.every((c) => isSettled(ctx, c));
  const failure = cells.map((c) => failureOf(ctx, c)).find((f) => f !== null) ?? null;
  if (!pending && failure !== null) return { a: a.name, b: b.name, diff, verdict: 'n/a', note: failure };
  return { a: a.name, b: b.name, diff, verdict: judge(diff, pending), note: null };
}

/** Claim 4, per variant and axis: the test score against the setting (cells that are n/a are left out). */
function trends(plan: Plan, ctx: PlanContext): Trend[] {
  const grid = nmTables(plan, ctx);
  const out: Trend[] = [];
  for (const variant of VARIANTS) {
    for (const axis of ['n', 'm'] as const) {
      const waiting = plan.grid.some((g) => g.variant === variant && g.axis === axis && !(isSettled(ctx, g.train) && isSettled(ctx, g.test)));
      const points = grid.filter((g) => g.variant === variant && g.axis === axis && g.score !== null).map((g) => ({ value: g.value, score: g.score! }));
      const rho = spearman(points.map((p) => p.value), points.map((p) => p.score));
      out.push({ variant, axis, points, rho, verdict: waiting ? 'pending' : rho !== null && rho > 0 ? 'rises' : 'does not rise' });
    }
  }
  return out;
}

export function checkClaims(plan: Plan, ctx: PlanContext): ClaimResult[] {
  const trained = (row: string) => ({ name: row, cells: plan.seeds[row]!.map((s) => s.test) });
  const claim = (text: string, comparisons: Comparison[]): ClaimResult => ({ claim: text, verdict: combine(comparisons.map((c) => c.verdict)), comparisons });
  const others = plan.rows.map((r) => r.row).filter((r) => r !== 'rlhf-sharpening');
  const t = trends(plan, ctx);
  return [
    claim('1. RLHF-Diffusion-Sharpening scores above every other training row (compositional, test)', others.map((r) => compare(ctx, trained('rlhf-sharpening'), trained(r)))),
    claim('2. SFT-Diffusion-Sharpening scores above standard fine-tuning', [compare(ctx, trained('sft-sharpening'), trained('standard-ft'))]),
    claim('3. A sharpened model at 1× NFE scores at least as high as each inference-time method at 1×',
      VARIANTS.flatMap((v) => SEARCH_METHODS.map((m) => compare(ctx, trained(v), { name: `${m} (1×)`, cells: plan.plain[m]! })))),
    {
      claim: '4. The score rises with n and with m (one seed per cell: a trend, the sign of Spearman\'s ρ)', comparisons: [], trends: t,
      verdict: t.some((x) => x.verdict === 'pending') ? 'pending' : t.every((x) => x.verdict === 'rises') ? 'holds' : 'not resolved',
    },
  ];
}
