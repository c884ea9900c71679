// The report of `sharpen paper`: one self-contained HTML file (charts inline as SVG, image grids
// inline as PNG data URIs, so it can be mailed), plus tables.json (every number), summary.md (the
// tables and findings in Markdown) and charts/ (each chart's SVG and vega-lite spec). A partial run
// gives a partial report that says which cells are pending.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import * as torch from '../../torch/index.js';
import { CATEGORIES } from '../../world/vocab.js';
import { renderReport, type ReportBlock } from '../report.js';
import { writeChart, type Chart } from './charts.js';
import { cellDir, type CellFolders } from './cells.js';
import { figure4, figure5, figure6, nmCharts } from './figures.js';
import { VARIANTS, type Plan, type PlanContext, type Planned } from './plan.js';
import { checkClaims, type ClaimResult } from './claims.js';
import { differenceToBase, nmTables, rewardTable, scoreColumns, table1, type OverSeeds, type Table1Row } from './tables.js';

export interface ReportInfo {
  command: string[];
  done: number;
  total: number;
}

const fmt = (v: number | null | undefined, d = 3) => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(d));

function digitsFor(col: string): number {
  return col === 'clip' || col === 'mllm' ? 2 : 3;
}

export function formatOverSeeds(s: OverSeeds | null | undefined, d = 3): string {
  if (!s || s.values.length === 0) return '—';
  if (!s.interval) return `${fmt(s.values[0], d)} (1 seed)`;
  return `${fmt(s.interval.mean, d)} ± ${fmt(s.interval.halfWidth, d)}`;
}

function signed(v: number, d: number): string {
  return `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(d)}`;
}

/** A difference over seeds as "+m [lo, hi]" (one seed: "+v (1 seed)"; none: "—"). */
function intervalText(s: OverSeeds, d = 3): string {
  if (s.values.length === 0) return '—';
  if (!s.interval) return `${signed(s.values[0]!, d)} (1 seed)`;
  return `${signed(s.interval.mean, d)} [${signed(s.interval.lo, d)}, ${signed(s.interval.hi, d)}]`;
}

/** Whether `col` is a metric the row's reward does not measure (a compositional category belongs to the compositional reward). */
function notTrainedOn(row: Table1Row, col: string): boolean {
  const reward = row.trainedWith.split(' ')[0]!;
  if (row.kind === 'training' && !['compositional', 'clip', 'preference', 'aesthetic'].includes(reward)) return false; // no reward (the denoising loss)
  const part = (CATEGORIES as readonly string[]).includes(col) ? 'compositional' : col;
  return part !== reward;
}

/** Where each row is above or below the base (intervals over seeds that exclude 0), and which metrics it did not train on fall. */
export function findings(plan: Plan, ctx: PlanContext, rows: Table1Row[]): string[] {
  const out: string[] = [];
  for (const row of rows.filter((r) => r.kind !== 'base')) {
    const diff = differenceToBase(ctx, plan, row);
    if ((diff.compositional?.values.length ?? 0) === 0) {
      out.push(`${row.row} (${row.trainedWith}): ${row.notes.find((n) => n.startsWith('n/a')) ?? 'pending: no seed evaluated yet'}.`);
      continue;
    }
    const up: string[] = [];
    const down: string[] = [];
    const hacked: string[] = [];
    for (const [col, s] of Object.entries(diff)) {
      const i = s.interval;
      if (!i) continue;
      const text = `${col} ${intervalText(s, digitsFor(col))}`;
      if (i.lo > 0) up.push(text);
      if (i.hi < 0) {
        down.push(text);
        if (notTrainedOn(row, col)) hacked.push(col);
      }
    }
    if (!up.length && !down.length) {
      out.push(`${row.row} (${row.trainedWith}): no metric differs from the base beyond its 95 % interval over ${diff.compositional?.values.length ?? 0} seed(s).`);
      continue;
    }
    out.push(`${row.row} (${row.trainedWith}): above the base in ${up.join('; ') || 'no metric'}; below it in ${down.join('; ') || 'no metric'}.` +
      (hacked.length ? ` Metrics it was not trained on that fall (reward hacking): ${hacked.join(', ')}.` : ''));
  }
  return out;
}

const claimNumber = (c: ClaimResult) => c.claim.split('.')[0]!;

/** Each claim's verdict, and one row per comparison (claim 4: per variant and axis). */
export function claimRows(claims: ClaimResult[]): string[][] {
  return claims.flatMap((c) => [
    ...c.comparisons.map((x) => [claimNumber(c), `${x.a} − ${x.b}`, x.note ?? intervalText(x.diff), String(x.diff.values.length), x.verdict]),
    ...(c.trends ?? []).map((t) => [claimNumber(c), `${t.variant}, ${t.axis}`, t.points.map((p) => `${t.axis}=${p.value}: ${p.score.toFixed(3)}`).join(', ') || '—', t.rho === null ? '—' : `ρ = ${t.rho.toFixed(2)}`, t.verdict]),
  ]);
}

function claimBlocks(claims: ClaimResult[]): ReportBlock[] {
  return [
    { kind: 'heading', text: 'Claims checked, by the criteria fixed before the run' },
    ...claims.map((c): ReportBlock => ({ kind: 'paragraph', text: `${c.claim}: ${c.verdict}.` })),
    {
      kind: 'table', columns: ['claim', 'compared', 'difference (compositional, test), 95 % interval over seeds', 'seeds (claim 4: ρ)', 'verdict'], rows: claimRows(claims),
      caption: 'A comparison holds when the interval excludes 0 in the claimed direction (row a above row b), fails when it excludes 0 in the other, and is not resolved otherwise (for claim 3: no difference either way). Claim 4 is read per cell (one seed) as a trend.',
    },
  ];
}

function table1Block(ctx: PlanContext, rows: Table1Row[]): ReportBlock {
  const cols = scoreColumns(ctx);
  return {
    kind: 'table',
    columns: ['row', 'trained with', 'setting', 'steps', ...cols, 'training s', 'training NFE', 'NFE / image', 'cells'],
    rows: rows.map((r) => [
      r.label ? `${r.row}: ${r.label}` : r.row, r.trainedWith, r.setting, r.steps ?? '—', ...cols.map((c) => formatOverSeeds(r.scores[c], digitsFor(c))),
      formatOverSeeds(r.trainingSec, 1), formatOverSeeds(r.trainingNfe, 0), r.nfePerImage ?? '—', `${r.done}/${r.planned}`,
    ]),
    caption: `Test prompts (${ctx.profile.test.perCategory} per category × ${ctx.profile.test.imagesPerPrompt}); mean ± 95 % half-width over seeds: training seeds for the training rows (each sampled with the noises of its seed), noise seeds for the base and the inference-time rows. Training rows share the training NFE of rlhf-sharpening at ${ctx.profile.steps} steps (steps capped at ${ctx.profile.maxStepsFactor}×).`,
  };
}

function pngData(path: string): string | null {
  return existsSync(path) ? `data:image/png;base64,${readFileSync(path).toString('base64')}` : null;
}

function gridsBlock(f: CellFolders, items: { caption: string; cell: Planned }[]): ReportBlock {
  return {
    kind: 'images',
    items: items.flatMap((i) => {
      const src = 'key' in i.cell ? pngData(join(cellDir(f, i.cell.key), 'grid.png')) : null;
      return src ? [{ src, caption: i.caption }] : [];
    }),
  };
}

function machineText(): string {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    // not a git checkout
  }
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> };
  const b = torch.buildInfo();
  return [
    `CPU: ${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}; memory ${(totalmem() / 2 ** 30).toFixed(0)} GiB; threads ${torch.getNumThreads()}`,
    `Node ${process.version}; libtorch ${b.torch} (CUDA: ${b.cuda ? 'yes' : 'no'}, ${b.parallel.split('\n')[0]}); commit ${commit}`,
    `vega ${pkg.dependencies.vega}, vega-lite ${pkg.dependencies['vega-lite']}`,
  ].join('\n');
}

async function chartBlocks(dir: string, charts: Chart[]): Promise<ReportBlock[]> {
  const blocks: ReportBlock[] = [];
  for (const c of charts) blocks.push({ kind: 'svg', svg: await writeChart(dir, c), caption: `${c.name}.svg (spec: charts/${c.name}.vl.json)` });
  return blocks;
}

export async function writePaperReport(plan: Plan, ctx: PlanContext, f: CellFolders, info: ReportInfo): Promise<string> {
  const p = ctx.profile;
  const rows = table1(plan, ctx);
  const grid = nmTables(plan, ctx);
  const rewards = rewardTable(plan, ctx);
  const text = findings(plan, ctx, rows);
  const claims = checkClaims(plan, ctx);
  const chartsDir = join(f.out, 'charts');
  mkdirSync(chartsDir, { recursive: true });
  const cols = scoreColumns(ctx);
  const blocks: ReportBlock[] = [
    { kind: 'paragraph', text: `Profile ${p.name}: ${info.done} of ${info.total} cells done${info.done < info.total ? ' (a partial report: rows and cells without numbers are pending, marked —)' : ''}.` },
    { kind: 'heading', text: 'Table 1: every method, every metric' },
    table1Block(ctx, rows),
    { kind: 'heading', text: 'Where each method wins, where it does not, and what falls' },
    ...text.map((t): ReportBlock => ({ kind: 'paragraph', text: t })),
    { kind: 'paragraph', text: 'Differences are row − base per seed (the same prompts and noises), with the 95 % interval over seeds; a metric is named only where that interval excludes 0.' },
    ...claimBlocks(claims),
    { kind: 'heading', text: 'Tables 2–3: trajectories n and unrolled steps m' },
    ...VARIANTS.map((v): ReportBlock => ({
      kind: 'table', caption: `${v}: one training seed per cell; peak memory is the resident memory of the process that ran the cell (${grid.find((g) => g.memoryScope)?.memoryScope === 'shared' ? 'shared with earlier cells: not per cell' : 'its own process'})`,
      columns: ['setting', 'compositional (test)', 'training s', 'CPU s', 'cells at once', 'training NFE', 'peak memory MiB', 'note'],
      rows: grid.filter((g) => g.variant === v).map((g) => [
        `${g.axis} = ${g.value}${g.axis === 'n' ? ', m = 3' : ', n = 3'}`, fmt(g.score), fmt(g.trainingSec, 1), fmt(g.cpuSec, 1), fmt(g.jobs, 0), fmt(g.trainingNfe, 0), fmt(g.peakRssMb, 0), g.note ?? '',
      ]),
    })),
    ...(await chartBlocks(chartsDir, nmCharts(grid))),
    { kind: 'heading', text: 'Figures 3 and 9: the reward trained with' },
    { kind: 'table', columns: ['variant', 'trained with', ...cols, 'note'], rows: rewards.map((r) => [r.variant, r.reward, ...cols.map((c) => fmt(r.scores[c], digitsFor(c))), r.note ?? '']), caption: 'One training seed each, test prompts with the noises of seed 0.' },
    gridsBlock(f, plan.rewards.map((r) => ({ caption: `${r.variant} trained with ${r.reward}`, cell: r.test }))),
    { kind: 'heading', text: 'Figure 4: training curves' },
    ...(await chartBlocks(chartsDir, figure4(plan, f))),
    { kind: 'heading', text: 'Figure 5: score against NFE per image' },
    ...(await chartBlocks(chartsDir, [figure5(plan, ctx, rows)])),
    { kind: 'heading', text: 'Figure 6: the training reward' },
    ...(await chartBlocks(chartsDir, [figure6(plan, f)])),
    { kind: 'heading', text: 'Samples: the same prompts and noises for every row (first test prompt of each category, noise seed 0)' },
    gridsBlock(f, [{ caption: 'base', cell: plan.base[0]! }, ...plan.rows.map((r) => ({ caption: r.row, cell: plan.seeds[r.row]![0]!.test })), ...Object.entries(plan.search).map(([m, c]) => ({ caption: m, cell: c[0]! }))]),
    { kind: 'heading', text: 'Commands and configs' },
    { kind: 'code', text: `${info.command.join(' ') || 'npx sharpen paper'}\n\nprofile: ${JSON.stringify(p, null, 1)}\nrecipe (configs/demo.yaml, method options): ${JSON.stringify(ctx.recipe)}` },
    { kind: 'code', text: plan.rows.map((r) => { const c = plan.seeds[r.row]![0]!.train; return `${r.row}: ${'spec' in c && c.spec.kind === 'train' ? JSON.stringify(c.spec.config) : '(pending)'}`; }).join('\n') },
    { kind: 'paragraph', text: 'Each cell\'s configuration is in cells/<key>/cell.json and its result in cells/<key>/result.json; a train cell\'s config is the flat `sharpen finetune` config (npx sharpen finetune --config FILE --out DIR trains it).' },
    { kind: 'heading', text: 'Machine and software' },
    { kind: 'code', text: machineText() },
  ];
  const path = join(f.out, 'report.html');
  writeFileSync(path, renderReport(`sharpen paper: Diffusion-Sharpening and its baselines on the embedded world (profile ${p.name})`, blocks));
  writeFileSync(join(f.out, 'tables.json'), JSON.stringify({ profile: p.name, done: info.done, total: info.total, table1: rows, nm: grid, rewards, findings: text, claims }, null, 1) + '\n');
  writeFileSync(join(f.out, 'summary.md'), summaryMarkdown(ctx, rows, grid, text, claims));
  return path;
}

function summaryMarkdown(ctx: PlanContext, rows: Table1Row[], grid: ReturnType<typeof nmTables>, text: string[], claims: ClaimResult[]): string {
  const cols = ['compositional', ...ctx.metrics];
  const lines = [
    `| row | trained with | ${cols.join(' | ')} | training s | NFE / image |`,
    `|---|---|${cols.map(() => '---').join('|')}|---|---|`,
    ...rows.map((r) => `| ${r.label ? `${r.row}: ${r.label}` : r.row} | ${r.trainedWith} | ${cols.map((c) => formatOverSeeds(r.scores[c], digitsFor(c))).join(' | ')} | ${formatOverSeeds(r.trainingSec, 1)} | ${r.nfePerImage ?? '—'} |`),
    '',
    '| variant | setting | compositional (test) | training s | CPU s | peak memory MiB | note |',
    '|---|---|---|---|---|---|---|',
    ...grid.map((g) => `| ${g.variant} | ${g.axis} = ${g.value} | ${fmt(g.score)} | ${fmt(g.trainingSec, 1)} | ${fmt(g.cpuSec, 1)} | ${fmt(g.peakRssMb, 0)} | ${g.note ?? ''} |`),
    '',
    ...text.map((t) => `- ${t}`),
    '',
    ...claims.map((c) => `- **${c.claim}: ${c.verdict}.**`),
    '',
    '| claim | compared | difference, 95 % interval over seeds | seeds (claim 4: ρ) | verdict |',
    '|---|---|---|---|---|',
    ...claimRows(claims).map((r) => `| ${r.join(' | ')} |`),
    '',
  ];
  return lines.join('\n');
}
