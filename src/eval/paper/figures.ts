// The paper report's figures as vega-lite charts (charts.ts), from the cells' curves and results:
//   Figure 4  training loss and held-out score against step and against wall-clock:
//             SFT-Sharpening vs standard fine-tuning on the world's stream and on an image folder;
//             RLHF-Sharpening vs DDPO, D3PO and Diffusion-DPO (training seed 0 of each row)
//   Figure 5  compositional score against NFE per image: the sharpened model at 1× against the
//             inference-time methods at each budget multiple (noise seed 0; the sharpened model and
//             the base as means over seeds)
//   Figure 6  the training reward's mean, best and worst of each step (mean over seeds) for both variants
import { bandChart, lineChart, type Chart, type Datum } from './charts.js';
import type { CellFolders } from './cells.js';
import { SEARCH_METHODS, VARIANTS, type Plan, type PlanContext, type Planned } from './plan.js';
import { curvesOf, resultOf, type Table1Row } from './tables.js';

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Loss and held-out score against step and wall-clock for named runs: four charts. */
function trainingCurves(f: CellFolders, prefix: string, what: string, runs: { name: string; cell: Planned }[]): Chart[] {
  const loss: Datum[] = [];
  const held: Datum[] = [];
  for (const r of runs) {
    const c = curvesOf(f, r.cell);
    if (!c) continue;
    for (const m of c.metrics) {
      const y = num(m.loss);
      if (y !== null) loss.push({ run: r.name, step: num(m.step), sec: num(m.elapsedSec), loss: y });
    }
    for (const h of c.heldOut) held.push({ run: r.name, step: num(h.step), sec: num(h.wallClockSec), score: num(h.compositional) });
  }
  return [
    lineChart(`${prefix}-loss-step`, `Figure 4: training loss against step (${what})`, loss, { x: 'step', y: 'loss', series: 'run', xTitle: 'optimizer step', yTitle: 'training loss' }),
    lineChart(`${prefix}-loss-time`, `Figure 4: training loss against wall-clock (${what})`, loss, { x: 'sec', y: 'loss', series: 'run', xTitle: 'training wall-clock (s)', yTitle: 'training loss' }),
    lineChart(`${prefix}-heldout-step`, `Figure 4: held-out score against step (${what})`, held, { x: 'step', y: 'score', series: 'run', xTitle: 'optimizer step', yTitle: 'compositional (val)' }),
    lineChart(`${prefix}-heldout-time`, `Figure 4: held-out score against wall-clock (${what})`, held, { x: 'sec', y: 'score', series: 'run', xTitle: 'training wall-clock (s)', yTitle: 'compositional (val)' }),
  ];
}

export function figure4(plan: Plan, f: CellFolders): Chart[] {
  const seed0 = (row: string) => plan.seeds[row]![0]!.train;
  return [
    ...trainingCurves(f, 'fig4-sft', 'SFT-Sharpening vs standard fine-tuning', [
      { name: 'sft-sharpening (world stream)', cell: seed0('sft-sharpening') },
      { name: 'standard-ft (world stream)', cell: seed0('standard-ft') },
      { name: 'sft-sharpening (image folder)', cell: plan.folder['sft-sharpening']! },
      { name: 'standard-ft (image folder)', cell: plan.folder['standard-ft']! },
    ]),
    ...trainingCurves(f, 'fig4-rlhf', 'RLHF-Sharpening vs DDPO, D3PO, Diffusion-DPO', ['rlhf-sharpening', 'ddpo', 'd3po', 'diffusion-dpo'].map((row) => ({ name: row, cell: seed0(row) }))),
  ];
}

export function figure5(plan: Plan, ctx: PlanContext, table: Table1Row[]): Chart {
  const values: Datum[] = [];
  for (const m of SEARCH_METHODS) {
    for (const b of plan.budgets.filter((x) => x.method === m)) {
      const r = resultOf(ctx, b.test);
      if (r?.kind === 'eval') values.push({ method: m, nfe: r.nfePerImage, score: r.mean, multiple: b.multiple });
    }
  }
  for (const name of ['base', 'rlhf-sharpening', 'sft-sharpening']) {
    const row = table.find((t) => t.row === name);
    const v = row?.scores.compositional;
    if (row?.nfePerImage && v && v.values.length) {
      values.push({ method: name === 'base' ? 'base (1×)' : `${name} (1×)`, nfe: row.nfePerImage, score: v.values.reduce((a, b) => a + b, 0) / v.values.length, multiple: 1 });
    }
  }
  return lineChart('fig5-score-nfe', 'Figure 5: compositional score against NFE per image (test)', values, { x: 'nfe', y: 'score', series: 'method', xTitle: 'NFE per image (log scale)', yTitle: 'compositional (test)', xLog: true });
}

export function figure6(plan: Plan, f: CellFolders): Chart {
  const values: Datum[] = [];
  for (const v of VARIANTS) {
    const byStep = new Map<number, { mean: number[]; best: number[]; worst: number[] }>();
    for (const s of plan.seeds[v]!) {
      for (const m of curvesOf(f, s.train)?.metrics ?? []) {
        const step = num(m.step);
        const [mean, best, worst] = [num(m.rewardMean), num(m.rewardBest), num(m.rewardWorst)];
        if (step === null || mean === null || best === null || worst === null) continue;
        const e = byStep.get(step) ?? { mean: [], best: [], worst: [] };
        e.mean.push(mean);
        e.best.push(best);
        e.worst.push(worst);
        byStep.set(step, e);
      }
    }
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const [step, e] of [...byStep].sort((a, b) => a[0] - b[0])) values.push({ variant: v, step, mean: avg(e.mean), best: avg(e.best), worst: avg(e.worst) });
  }
  return bandChart('fig6-reward', 'Figure 6: training reward per step, mean with best..worst of the step (mean over seeds)', values, {
    x: 'step', y: 'mean', lo: 'worst', hi: 'best', series: 'variant', xTitle: 'optimizer step', yTitle: 'reward of the step\'s samples',
  });
}

/** Tables 2–3 as charts: test score against n and against m, both variants. */
export function nmCharts(cells: { variant: string; axis: 'n' | 'm'; value: number; score: number | null }[]): Chart[] {
  return (['n', 'm'] as const).map((axis) => lineChart(
    `table${axis === 'n' ? 2 : 3}-${axis}`, `Table ${axis === 'n' ? 2 : 3}: test score against ${axis === 'n' ? 'n (trajectories), m = 3' : 'm (unrolled steps), n = 3'}`,
    cells.filter((c) => c.axis === axis && c.score !== null).map((c) => ({ variant: c.variant, value: c.value, score: c.score })),
    { x: 'value', y: 'score', series: 'variant', xTitle: axis, yTitle: 'compositional (test)' },
  ));
}
