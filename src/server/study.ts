// Blind user studies on the dashboard (the paper's user study, Figure 7 of Tian et al., 2025): two or
// more checkpoints each make an image of the same prompts from the same initial noises; every two
// models' images of a prompt are one comparison, shown in a random order with the sides drawn at
// random and no names. Answers are rows of the run store's `study_votes` table. The result per pair
// of models is the rate of wins, ties and losses with 95 % Wilson score intervals (Wilson, 1927,
// "Probable inference, the law of succession, and statistical inference"), as a table and a chart.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../world/rng.js';
import { escapeHtml } from '../eval/report.js';
import type { RunStore, StudyOutcome } from '../store/runs.js';
import { ID_PATTERN } from './labels.js';
import type { StudyTrial } from './worker.js';

export interface Comparison {
  id: string;
  trial: string;
  /** model indices: x < y */
  x: number;
  y: number;
  /** true when model y is shown on the left */
  flip: boolean;
}

export interface Study {
  id: string;
  /** the checkpoints compared (relative to the project), and their display names for the result */
  ckpts: string[];
  names: string[];
  createdAt: string;
  trials: StudyTrial[];
  comparisons: Comparison[];
}

export function studiesDir(root: string): string {
  return join(root, 'runs', 'dashboard', 'studies');
}

/** The comparisons of a study's trials, shuffled (Fisher–Yates) and with random sides, from `seed`. */
export function makeComparisons(trials: StudyTrial[], models: number, seed: number): Comparison[] {
  const rng = new Rng(seed, 'user-study');
  const out: Comparison[] = [];
  for (const t of trials) {
    for (let x = 0; x < models; x++) for (let y = x + 1; y < models; y++) out.push({ id: `${t.id}-${x}-${y}`, trial: t.id, x, y, flip: rng.bool() });
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export function writeStudy(root: string, s: Study): void {
  writeFileSync(join(studiesDir(root), s.id, 'study.json'), JSON.stringify(s, null, 1));
}

export function readStudy(root: string, id: string): Study | null {
  if (!ID_PATTERN.test(id)) return null;
  const f = join(studiesDir(root), id, 'study.json');
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Study) : null;
}

/** The first comparison not answered yet, or null. */
export function nextComparison(store: RunStore, s: Study): Comparison | null {
  const done = new Set(store.studyVotes(s.id).map((v) => v.trialId));
  return s.comparisons.find((c) => !done.has(c.id)) ?? null;
}

/** The image file (relative to the study folder) shown on one side of a comparison. */
export function sideImage(s: Study, c: Comparison, side: 'left' | 'right'): string {
  const trial = s.trials.find((t) => t.id === c.trial)!;
  const leftModel = c.flip ? c.y : c.x;
  const rightModel = c.flip ? c.x : c.y;
  return trial.images[side === 'left' ? leftModel : rightModel]!;
}

/** The outcome for the pair (x, y) of an answer given on the screen's sides. */
export function outcomeOf(c: Comparison, choice: 'left' | 'right' | 'tie'): StudyOutcome {
  if (choice === 'tie') return 'tie';
  const leftIsX = !c.flip;
  return (choice === 'left') === leftIsX ? 'x' : 'y';
}

/** Wilson score interval of k successes in n at 95 %. */
export function wilson(k: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / d;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

export interface PairResult {
  x: string;
  y: string;
  n: number;
  win: number;
  tie: number;
  loss: number;
  /** rates (of n) with their 95 % intervals */
  winRate: number;
  tieRate: number;
  lossRate: number;
  winCI: [number, number];
  tieCI: [number, number];
  lossCI: [number, number];
}

export function studyResults(store: RunStore, s: Study): PairResult[] {
  const votes = store.studyVotes(s.id);
  const out: PairResult[] = [];
  for (let x = 0; x < s.ckpts.length; x++) {
    for (let y = x + 1; y < s.ckpts.length; y++) {
      const vs = votes.filter((v) => v.modelX === s.ckpts[x] && v.modelY === s.ckpts[y]);
      const n = vs.length;
      const win = vs.filter((v) => v.outcome === 'x').length;
      const tie = vs.filter((v) => v.outcome === 'tie').length;
      const loss = n - win - tie;
      const rate = (k: number) => (n ? k / n : 0);
      out.push({
        x: s.names[x]!, y: s.names[y]!, n, win, tie, loss, winRate: rate(win), tieRate: rate(tie), lossRate: rate(loss),
        winCI: wilson(win, n), tieCI: wilson(tie, n), lossCI: wilson(loss, n),
      });
    }
  }
  return out;
}

const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
const ci = (c: [number, number]) => `[${(100 * c[0]).toFixed(1)}, ${(100 * c[1]).toFixed(1)}]`;

/** The result as a Markdown table: one row per pair of models (x against y). */
export function resultsMarkdown(rows: PairResult[]): string {
  const lines = ['| model x | model y | answers | x wins [95 % CI] | tie [95 % CI] | y wins [95 % CI] |', '|---|---|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.x} | ${r.y} | ${r.n} | ${pct(r.winRate)} ${ci(r.winCI)} | ${pct(r.tieRate)} ${ci(r.tieCI)} | ${pct(r.lossRate)} ${ci(r.lossCI)} |`);
  return lines.join('\n') + '\n';
}

export function resultsCsv(rows: PairResult[]): string {
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  const head = 'x,y,n,win,tie,loss,win_rate,win_lo,win_hi,tie_rate,tie_lo,tie_hi,loss_rate,loss_lo,loss_hi';
  return [head, ...rows.map((r) => [q(r.x), q(r.y), r.n, r.win, r.tie, r.loss, r.winRate, ...r.winCI, r.tieRate, ...r.tieCI, r.lossRate, ...r.lossCI].join(','))].join('\n') + '\n';
}

/** The result as an SVG chart: a stacked bar of win / tie / loss per pair, with the win rate's 95 % interval. */
export function resultsSvg(rows: PairResult[]): string {
  const W = 640, rowH = 36, top = 30, left = 220, right = 20;
  const H = top + rows.length * rowH + 40;
  const sx = (v: number) => left + v * (W - left - right);
  const p: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`];
  p.push(`<text x="${W / 2}" y="16" text-anchor="middle" font-size="13">User study: x wins / tie / y wins (95 % interval of x's win rate)</text>`);
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    p.push(`<text x="${left - 6}" y="${y + 18}" text-anchor="end">${escapeHtml(`${r.x} vs ${r.y} (n=${r.n})`)}</text>`);
    let at = 0;
    for (const [v, colour] of [[r.winRate, '#4c78a8'], [r.tieRate, '#bbbbbb'], [r.lossRate, '#e45756']] as [number, string][]) {
      p.push(`<rect x="${sx(at).toFixed(1)}" y="${y + 6}" width="${(sx(at + v) - sx(at)).toFixed(1)}" height="20" fill="${colour}"/>`);
      at += v;
    }
    p.push(`<line x1="${sx(r.winCI[0]).toFixed(1)}" x2="${sx(r.winCI[1]).toFixed(1)}" y1="${y + 16}" y2="${y + 16}" stroke="#000" stroke-width="1.5"/>`);
  });
  for (const v of [0, 0.25, 0.5, 0.75, 1]) {
    p.push(`<text x="${sx(v)}" y="${H - 14}" text-anchor="middle">${v * 100} %</text>`);
  }
  p.push('</svg>');
  return p.join('\n');
}
