// The verdicts of the paper report's claims (src/eval/paper/claims.ts), on numbers whose answer is
// known; the tiny-profile test (paper.test.ts) checks them against the report's own tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkClaims, combine, judge, spearman } from '../../src/eval/paper/claims.js';
import { overSeeds, table1 } from '../../src/eval/paper/tables.js';
import { buildPlan, failureOf, readRecipe, type PlanContext, type Planned } from '../../src/eval/paper/plan.js';
import { resolveProfile } from '../../src/eval/paper/profiles.js';
import type { CellResult } from '../../src/eval/paper/cells.js';
import { evalResult, trainResult } from '../helpers/paper-results.js';

test('judge: holds, fails or not resolved by where the 95 % interval over seeds lies; pending while a cell is missing', () => {
  assert.equal(judge(overSeeds([0.02, 0.03, 0.025]), false), 'holds');
  assert.equal(judge(overSeeds([-0.02, -0.03, -0.025]), false), 'fails');
  assert.equal(judge(overSeeds([0.04, -0.01, 0.02]), false), 'not resolved', 'the interval includes 0');
  assert.equal(judge(overSeeds([0.5]), false), 'not resolved', 'one seed gives no interval');
  assert.equal(judge(overSeeds([0.02, 0.03, 0.025]), true), 'pending');
});

test('combine: one failure fails the claim, one pending comparison keeps it pending, all that apply must hold', () => {
  assert.equal(combine(['holds', 'holds']), 'holds');
  assert.equal(combine(['holds', 'not resolved']), 'not resolved');
  assert.equal(combine(['holds', 'pending', 'not resolved']), 'pending');
  assert.equal(combine(['pending', 'fails']), 'fails');
  assert.equal(combine(['holds', 'n/a']), 'holds', 'a comparison that cannot exist does not count');
  assert.equal(combine(['n/a', 'n/a']), 'n/a');
  assert.equal(combine([]), 'not resolved');
});

test('spearman: ±1 for monotone series, average ranks for ties, null without enough points or spread', () => {
  assert.equal(spearman([1, 2, 3, 4, 8], [0.1, 0.2, 0.25, 0.3, 0.9]), 1);
  assert.equal(spearman([1, 2, 3, 4, 8], [0.9, 0.5, 0.4, 0.3, 0.1]), -1);
  // ranks x 1..4, y (1.5, 1.5, 3, 4): ρ = 4.5 / √(5 · 4.5)
  assert.ok(Math.abs(spearman([1, 2, 3, 4], [0.2, 0.2, 0.3, 0.4])! - 4.5 / Math.sqrt(5 * 4.5)) < 1e-12);
  assert.equal(spearman([1, 2], [0.1, 0.2]), null);
  assert.equal(spearman([1, 2, 3], [0.5, 0.5, 0.5]), null);
});

test('claims: a comparison with a refused training run is n/a with the refusal, not "not resolved"', () => {
  const results = new Map<string, CellResult>();
  const ctx: PlanContext = {
    profile: resolveProfile('tiny'), base: 'b', plainNfe: 4, folder: 'f', recipe: readRecipe(), metrics: [], rewards: ['compositional'],
    result: (k) => results.get(k) ?? null,
  };
  const key = (p: Planned) => (p as { key: string }).key;
  const train = trainResult(100);
  let plan = buildPlan(ctx);
  for (const r of plan.rows) results.set(key(plan.probes[r.row]!), train);
  plan = buildPlan(ctx);
  for (const r of plan.rows) {
    for (const t of plan.tuning[r.row]!) {
      results.set(key(t.train), train);
      results.set(key(t.val), evalResult(0.5));
    }
  }
  plan = buildPlan(ctx);
  const refusal = 'ddpo: statMinCount (8) exceeds statBufferSize (4)';
  for (const r of plan.rows) {
    plan.seeds[r.row]!.forEach((s, i) => {
      if (r.row === 'ddpo' && i === 1) {
        results.set(key(s.train), { kind: 'failed', error: refusal });
        return;
      }
      results.set(key(s.train), train);
      results.set(key(s.test), evalResult(r.row === 'rlhf-sharpening' ? 0.7 + 0.01 * i : 0.5));
    });
  }
  const refusedTest = plan.seeds.ddpo![1]!.test;
  assert.equal(failureOf(ctx, refusedTest), refusal, 'the evaluation of a refused run carries its refusal');
  assert.equal(failureOf(ctx, plan.seeds.ddpo![0]!.test), null);
  const claim1 = checkClaims(plan, ctx)[0]!;
  const vsDdpo = claim1.comparisons.find((c) => c.b === 'ddpo')!;
  assert.equal(vsDdpo.verdict, 'n/a');
  assert.equal(vsDdpo.note, refusal);
  assert.equal(vsDdpo.diff.values.length, 2, 'the seeds that exist are still shown');
  const vsStandard = claim1.comparisons.find((c) => c.b === 'standard-ft')!;
  assert.equal(vsStandard.verdict, 'holds', '+0.20, +0.21, +0.22 over three seeds');
  assert.ok(table1(plan, ctx).find((r) => r.row === 'ddpo')!.notes.includes(`n/a: ${refusal}`));
});
