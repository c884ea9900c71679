// `sharpen paper --profile tiny` end to end: a run killed midway (SIGKILL of the CLI process) and run
// again finishes the plan without recomputing a finished cell; then every row of Table 1, every cell
// of Tables 2–3, every reward of Figures 3/9 and every chart is in the report and its data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runPaper } from '../../src/eval/paper/run.js';
import { PROFILES, resolveProfile } from '../../src/eval/paper/profiles.js';
import { cellKey, canonicalJson, type CellResult } from '../../src/eval/paper/cells.js';
import { buildPlan, planCells, readRecipe, type PlanContext } from '../../src/eval/paper/plan.js';
import { evalResult, trainResult } from '../helpers/paper-results.js';
import { tempDir } from '../train/finetune-helpers.js';

const CHARTS = [
  'table2-n', 'table3-m', 'fig5-score-nfe', 'fig6-reward',
  ...['sft', 'rlhf'].flatMap((g) => ['loss-step', 'loss-time', 'heldout-step', 'heldout-time'].map((k) => `fig4-${g}-${k}`)),
];

function resultFiles(out: string): Map<string, number> {
  const dir = join(out, 'cells');
  if (!existsSync(dir)) return new Map();
  return new Map(readdirSync(dir).filter((k) => existsSync(join(dir, k, 'result.json'))).map((k) => [k, statSync(join(dir, k, 'result.json')).mtimeMs]));
}

/** Starts `sharpen paper --profile tiny` and SIGKILLs it once `cells` results exist. */
async function killAfter(args: string[], out: string, cells: number): Promise<void> {
  const child = spawn(process.execPath, ['bin/sharpen.js', 'paper', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: '1' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  for (;;) {
    if (resultFiles(out).size >= cells) break;
    const code = await Promise.race([exited, new Promise<'wait'>((r) => setTimeout(() => r('wait'), 100))]);
    if (code !== 'wait') assert.fail(`sharpen paper ended (code ${code}) before ${cells} cells were done:\n${stderr}`);
  }
  child.kill('SIGKILL');
  await exited;
}

test('paper --profile tiny: killed and resumed, it recomputes no finished cell; every row, cell and chart is in the report', { timeout: 600_000 }, async () => {
  const dir = tempDir('paper');
  const out = join(dir, 'out');
  const args = ['--profile', 'tiny', '--out', out, '--work', join(dir, 'work'), '--store', join(dir, 'store.sqlite')];
  await killAfter(args, out, 12);
  const before = resultFiles(out);
  assert.ok(before.size >= 12);

  const r = await runPaper({ profile: resolveProfile('tiny'), out, work: join(dir, 'work'), store: join(dir, 'store.sqlite'), log: () => {} });
  assert.deepEqual(r.errors, []);
  assert.equal(r.done, r.total, 'every cell of the plan is done (or n/a)');
  for (const key of before.keys()) assert.ok(!r.computed.includes(key), `${key} was finished before the kill and was computed again`);
  const after = resultFiles(out);
  for (const [key, mtime] of before) assert.equal(after.get(key), mtime, `${key}/result.json was rewritten`);

  const tables = JSON.parse(readFileSync(join(out, 'tables.json'), 'utf8')) as {
    table1: { row: string; kind: string; done: number; planned: number; scores: Record<string, { values: number[] }>; notes: string[]; trainingNfe: { values: number[] } | null }[];
    nm: { variant: string; axis: string; value: number; score: number | null; note: string | null; peakRssMb: number | null }[];
    rewards: { variant: string; reward: string; scores: Record<string, number | null> }[];
    claims: { claim: string; verdict: string; comparisons: { a: string; b: string; diff: { values: number[] }; verdict: string; note: string | null }[]; trends?: { verdict: string; points: unknown[] }[] }[];
  };
  const rows = tables.table1.map((t) => t.row);
  assert.deepEqual(rows, ['base', 'standard-ft', 'diffusion-dpo', 'ddpo', 'd3po', 'refl-iter', 'sft-sharpening', 'rlhf-sharpening', 'best-of-n', 'zero-order', 'demon', 'free2guide']);
  for (const t of tables.table1.filter((x) => x.kind !== 'inference')) {
    assert.equal(t.done, t.planned, `${t.row}: all cells done`);
    for (const col of ['compositional', 'color', 'complex', 'clip', 'aesthetic', 'preference']) {
      assert.equal(t.scores[col]!.values.length, 3, `${t.row}: ${col} over 3 seeds`);
    }
    if (t.kind === 'training') assert.ok(t.trainingNfe!.values.every((v) => v > 0), `${t.row}: training NFE`);
  }
  // an inference-time row has numbers or says why it has none (a budget too small for the tiny sampler)
  for (const t of tables.table1.filter((x) => x.kind === 'inference')) assert.ok(t.scores.compositional!.values.length === 3 || t.notes.some((n) => n.startsWith('n/a')), t.row);

  assert.equal(tables.nm.length, 20);
  for (const v of ['sft-sharpening', 'rlhf-sharpening']) {
    for (const axis of ['n', 'm']) assert.deepEqual(tables.nm.filter((c) => c.variant === v && c.axis === axis).map((c) => c.value), [1, 2, 3, 4, 8]);
  }
  for (const c of tables.nm) assert.ok((c.score !== null && c.peakRssMb! > 0) || /n\/a/.test(c.note ?? ''), `${c.variant} ${c.axis}=${c.value}: ${c.note}`);
  // RLHF-Sharpening needs a winner and a loser: n = 1 is refused, and the report says so
  assert.match(tables.nm.find((c) => c.variant === 'rlhf-sharpening' && c.value === 1 && c.axis === 'n')!.note!, /n\/a: .*n/);

  assert.deepEqual(tables.rewards.map((x) => `${x.variant}/${x.reward}`), ['sft-sharpening', 'rlhf-sharpening'].flatMap((v) => PROFILES.tiny.rewards.map((w) => `${v}/${w}`)));
  for (const x of tables.rewards) assert.equal(typeof x.scores.compositional, 'number');

  // the claims: every comparison judged (nothing pending once the plan is done), each difference the rows' own seeds
  assert.deepEqual(tables.claims.map((c) => [c.claim.split('.')[0], c.comparisons.length, c.trends?.length ?? 0]), [['1', 6, 0], ['2', 1, 0], ['3', 8, 0], ['4', 0, 4]]);
  for (const c of tables.claims) {
    assert.ok(['holds', 'fails', 'not resolved', 'n/a'].includes(c.verdict), `${c.claim}: ${c.verdict}`);
    for (const x of c.comparisons) {
      assert.ok(['holds', 'fails', 'not resolved', 'n/a'].includes(x.verdict), `${x.a} − ${x.b}: ${x.verdict}`);
      assert.equal(x.verdict === 'n/a', x.note !== null, `${x.a} − ${x.b}: an n/a comparison says why`);
    }
    for (const t of c.trends ?? []) assert.ok(['rises', 'does not rise'].includes(t.verdict) && t.points.length >= 4, t.verdict);
  }
  const seedsOf = (row: string) => tables.table1.find((t) => t.row === row)!.scores.compositional!.values;
  const sft = tables.claims[1]!.comparisons[0]!;
  assert.deepEqual(sft.diff.values, seedsOf('sft-sharpening').map((v, i) => v - seedsOf('standard-ft')[i]!));

  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.ok(html.includes('Claims checked'));
  for (const c of CHARTS) {
    assert.ok(existsSync(join(out, 'charts', `${c}.svg`)) && existsSync(join(out, 'charts', `${c}.vl.json`)), `chart ${c}`);
    assert.ok(html.includes(`${c}.svg`), `chart ${c} in the report`);
  }
  assert.equal(html.match(/<svg/g)?.length, CHARTS.length, 'every chart inline');
  const withImages = tables.table1.filter((t) => t.scores.compositional!.values.length > 0).length + tables.rewards.length;
  assert.equal(html.match(/src="data:image\/png;base64,/g)?.length, withImages, 'a grid per Table 1 row with samples and per reward, inline');
  for (const h of ['Table 1', 'Tables 2–3', 'Figures 3 and 9', 'Figure 4', 'Figure 5', 'Figure 6', 'Commands and configs', 'Machine and software']) assert.ok(html.includes(h), h);
  assert.ok(!/src="(?!data:)/.test(html), 'no external image');
  // the tiny base and the image folder are named <work>/…: no cell's key depends on where --work is
  const specs = readdirSync(join(out, 'cells')).map((k) => readFileSync(join(out, 'cells', k, 'cell.json'), 'utf8'));
  assert.ok(specs.every((t) => !t.includes(dir)), 'a cell configuration names the temporary folder');
  assert.ok(specs.some((t) => t.includes('"<work>/image-folder"')) && specs.some((t) => t.includes('"<work>/tiny-base"')));
});

test('paper --jobs 2: two cells run at once, each in its own process, and record their CPU time and the jobs', { timeout: 300_000 }, async () => {
  const dir = tempDir('paper-jobs');
  const out = join(dir, 'out');
  const lines: string[] = [];
  const r = await runPaper({ profile: resolveProfile('tiny'), out, work: join(dir, 'work'), store: join(dir, 'store.sqlite'), maxCells: 4, jobs: 2, log: (m) => lines.push(m) });
  assert.deepEqual(r.errors, []);
  assert.equal(r.computed.length, 4);
  const starts = lines.map((l, i) => (l.startsWith('[paper] cell ') ? i : -1)).filter((i) => i >= 0);
  const firstDone = lines.findIndex((l) => / cells done · /.test(l));
  assert.ok(starts.length === 4 && starts[1]! < firstDone, `the second cell started before the first ended:\n${lines.filter((l) => l.startsWith('[paper]')).join('\n')}`);
  for (const key of r.computed) {
    const res = JSON.parse(readFileSync(join(out, 'cells', key, 'result.json'), 'utf8')) as { jobs: number; cpuSec: number; memoryScope: string };
    assert.equal(res.jobs, 2, key);
    assert.equal(res.memoryScope, 'cell', `${key}: its own process`);
    assert.ok(res.cpuSec > 0, `${key}: CPU time ${res.cpuSec}`);
  }
  await assert.rejects(runPaper({ profile: resolveProfile('tiny'), out, work: join(dir, 'work'), store: join(dir, 'store.sqlite'), jobs: 0, log: () => {} }), /jobs must be a positive integer, got 0/);
});

test('cell keys: equal configurations share a key whatever the key order; another value is another cell', () => {
  const a = { kind: 'train' as const, config: { method: 'standard-ft', lr: 1e-4, seed: 0 } };
  const b = { kind: 'train' as const, config: { seed: 0, lr: 1e-4, method: 'standard-ft' } };
  assert.equal(canonicalJson(a), canonicalJson(b));
  assert.equal(cellKey(a), cellKey(b));
  assert.notEqual(cellKey(a), cellKey({ ...a, config: { ...a.config, seed: 1 } }));
});

test('profiles: an override of a section merges into it; bad values and unknown profiles are refused by name', () => {
  const p = resolveProfile('quick', { test: { perCategory: 5 } });
  assert.equal(p.test.perCategory, 5);
  assert.equal(p.test.imagesPerPrompt, PROFILES.quick.test.imagesPerPrompt);
  assert.throws(() => resolveProfile('huge'), /unknown profile 'huge' \(accepted: tiny, quick, full\)/);
  assert.throws(() => resolveProfile('tiny', { seeds: 2 }), /seeds/);
  assert.throws(() => resolveProfile('tiny', { steps: 'many' }), /steps/);
  assert.throws(() => resolveProfile('tiny', { bogus: 1 }), /bogus/);
});

test('plan: equal training NFE from the probes, the best val rate over seeds (seed 0 is the tuning run), pending until known', () => {
  const profile = resolveProfile('tiny', { steps: 10, maxStepsFactor: 3 });
  const results = new Map<string, CellResult>();
  const ctx: PlanContext = {
    profile, base: 'b', plainNfe: 4, folder: 'f', recipe: readRecipe(), metrics: ['clip'], rewards: ['compositional', 'clip'],
    result: (k) => results.get(k) ?? null,
  };
  let plan = buildPlan(ctx);
  const others = plan.rows.filter((r) => r.row !== 'rlhf-sharpening');
  assert.ok(others.every((r) => plan.tuning[r.row]!.every((t) => 'pending' in t.train)), 'tuning waits for the probes');
  assert.ok(plan.tuning['rlhf-sharpening']!.every((t) => 'key' in t.train), 'the reference recipe runs its own steps');
  const nfe: Record<string, number> = { 'rlhf-sharpening': 100, 'standard-ft': 10, ddpo: 500 };
  for (const r of plan.rows) results.set((plan.probes[r.row] as { key: string }).key, trainResult(nfe[r.row] ?? 50));
  plan = buildPlan(ctx);
  assert.equal(plan.steps['rlhf-sharpening'], 10);
  assert.equal(plan.steps.ddpo, 2, '1000 NFE at 500 a step');
  assert.equal(plan.steps['standard-ft'], 30, '100 steps would match; capped at 3 × 10');
  const tuning = plan.tuning.ddpo!;
  assert.ok(plan.seeds.ddpo!.every((s) => 'pending' in s.train), 'seeds wait for the tuning');
  tuning.forEach((t, i) => results.set((t.val as { key: string }).key, evalResult(i === 1 ? 0.9 : 0.1)));
  plan = buildPlan(ctx);
  assert.equal(plan.best.ddpo, profile.lrs[1]);
  assert.equal((plan.seeds.ddpo![0]!.train as { key: string }).key, (tuning[1]!.train as { key: string }).key, 'seed 0 is the tuning run');
  const seedKeys = plan.seeds.ddpo!.map((s) => (s.train as { key: string }).key);
  assert.equal(new Set(seedKeys).size, profile.seeds);
  const cells = planCells(plan);
  assert.equal(new Set(cells.filter((c) => 'key' in c).map((c) => (c as { key: string }).key)).size, cells.filter((c) => 'key' in c).length, 'each cell once');
});

test('paper with maxCells 0 computes nothing and writes the report of what is done: here nothing, every row pending', async () => {
  const dir = tempDir('paper-empty');
  const r = await runPaper({ profile: resolveProfile('tiny'), out: join(dir, 'out'), work: join(dir, 'work'), store: join(dir, 'store.sqlite'), maxCells: 0, log: () => {} });
  assert.deepEqual(r.computed, []);
  assert.equal(r.done, 0);
  const html = readFileSync(r.report, 'utf8');
  assert.match(html, new RegExp(`0 of ${r.total} cells done \\(a partial report`));
  const tables = JSON.parse(readFileSync(join(dir, 'out', 'tables.json'), 'utf8')) as { table1: { notes: string[] }[]; findings: string[]; claims: { verdict: string }[] };
  assert.ok(tables.table1.every((t) => t.notes.some((n) => n.startsWith('pending'))));
  assert.equal(tables.findings.length, tables.table1.length - 1, 'a finding per row but the base');
  for (const f of tables.findings) assert.match(f, /: pending/);
  assert.deepEqual(tables.claims.map((c) => c.verdict), ['pending', 'pending', 'pending', 'pending']);
});
