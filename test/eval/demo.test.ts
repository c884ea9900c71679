// The main job on a tiny base model: fine-tune, evaluate both models on the same prompts and noises,
// write the report, the grids and result.json; a second call resumes (a finished run is only
// re-evaluated); `fresh` moves the old run aside; a bad config names its field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { runDemo, formatDemoTable, readDemoResult } from '../../src/eval/demo.js';
import { ENV } from '../../src/rewards/mllm.js';
import { saveTinyBase, tempDir } from '../train/finetune-helpers.js';
import { readJsonl } from '../../src/util/jsonl.js';

/** a tiny demo on a tiny base (batch 1, n 2, m 1, no LoRA) in a new temporary folder */
async function tinyDemo(name: string, extra: Record<string, unknown>) {
  for (const k of Object.values(ENV)) delete process.env[k];
  const base = await saveTinyBase(0, { size: 16 });
  const root = tempDir(name);
  const out = join(root, 'demo');
  const cfg = {
    out, base, store: join(root, 'store.sqlite'), batch: 1, n: 2, m: 1, S: 2, tMax: 1000, loraRank: 0,
    evalPerCategory: 1, evalImagesPerPrompt: 1, gridPerCategory: 1, ...extra,
  };
  return { out, cfg };
}

test('demo: fine-tunes, evaluates both models alike, reports; re-running resumes; fresh keeps the old run', async () => {
  const { out, cfg } = await tinyDemo('demo', { steps: 3, lr: 1e-4 });
  const logs: string[] = [];
  const r = await runDemo(cfg, { log: (m) => logs.push(m) });

  for (const f of ['report.html', 'result.json', 'grid-base.png', 'grid-finetuned.png', 'finetune/model.safetensors']) {
    assert.ok(existsSync(join(out, f)), `${f} written`);
  }
  assert.equal(r.summary.steps, 3);
  assert.equal(r.base.nfe_per_image, r.finetuned.nfe_per_image, 'fine-tuning adds no NFE');
  assert.equal(r.base.nfe_per_image, 4, 'the tiny base samples 4 steps at guidance 1: one call each');
  assert.equal(r.base.mllm, 'n/a', 'no endpoint: the MLLM column is n/a, not a number');
  const comp = r.rows.find((x) => x.metric === 'compositional')!;
  assert.ok(comp.base !== null && comp.finetuned !== null && comp.base >= 0 && comp.base <= 1);
  assert.ok(comp.diff && comp.diff.lo <= comp.diff.mean && comp.diff.mean <= comp.diff.hi, 'a paired interval around the difference');
  assert.ok(Math.abs(comp.diff.mean - (comp.finetuned - comp.base)) < 1e-9, 'the paired mean is the difference of the means (same prompts)');
  const html = readFileSync(r.report, 'utf8');
  assert.match(html, /Held-out metrics/);
  assert.match(html, /<svg/, 'the reward curve is drawn');
  assert.match(html, /grid-finetuned\.png/);
  const table = formatDemoTable(r.rows, { base: 4, finetuned: 4 });
  assert.match(table, /\| compositional \|/);
  assert.deepEqual(await readDemoResult(out), JSON.parse(JSON.stringify(r)));

  // the same call again: the finished run is not trained further, only re-evaluated
  const lines = readJsonl(join(out, 'finetune', 'metrics.jsonl')).length;
  const again = await runDemo(cfg, { log: (m) => logs.push(m) });
  assert.ok(logs.some((m) => /resuming the run/.test(m)));
  assert.equal(readJsonl(join(out, 'finetune', 'metrics.jsonl')).length, lines);
  assert.deepEqual(again.finetuned, r.finetuned, 'the same model, prompts and noises give the same metrics');

  // fresh: the old run is moved aside, never overwritten
  await runDemo({ ...cfg, steps: 1 }, { fresh: true, log: (m) => logs.push(m) });
  const aside = readdirSync(dirname(out)).filter((d) => d.startsWith(`${basename(out)}.`));
  assert.equal(aside.length, 1, 'one old run kept aside');
  assert.equal(readJsonl(join(dirname(out), aside[0]!, 'finetune', 'metrics.jsonl')).length, lines);
  assert.equal(readJsonl(join(out, 'finetune', 'metrics.jsonl')).length, 1);
});

test('demo with several training seeds: one run each, the table pooled over them, the differences per seed with their interval', async () => {
  const { out, cfg } = await tinyDemo('demo-seeds', {
    steps: 2, lr: 1e-3, seeds: '3,5',
    reward: 'aesthetic', // continuous on the tiny model's images, so winner and loser differ (compositional ties at 0)
  });
  const r = await runDemo(cfg as never, { log: () => {} });
  for (const f of ['finetune-s3/model.safetensors', 'finetune-s5/model.safetensors', 'grid-finetuned.png', 'report.html']) {
    assert.ok(existsSync(join(out, f)), `${f} written`);
  }
  assert.ok(!existsSync(join(out, 'finetune')), 'no single-seed run folder');
  assert.deepEqual(r.seeds!.map((s) => s.seed), [3, 5]);
  assert.deepEqual(r.seeds!.map((s) => JSON.parse(readFileSync(join(out, `finetune-s${s.seed}`, 'finetune-config.json'), 'utf8')).config.seed), [3, 5]);
  // the checks on a metric that is continuous on the tiny model's images (compositional is 0 throughout)
  const key = 'aesthetic';
  const row = r.rows.find((x) => x.metric === key)!;
  const perSeed = r.seeds!.map((s) => (s.finetuned[key] as number) - (r.base[key] as number));
  assert.ok(!readFileSync(join(out, 'finetune-s3/model.safetensors')).equals(readFileSync(join(out, 'finetune-s5/model.safetensors'))), 'the two seeds trained different models');
  assert.ok(Math.abs(perSeed[0]! - perSeed[1]!) > 1e-4, 'and different metrics');
  // the per-seed differences are the seeds' own metrics minus the base's (result.json rounds to 4 digits)
  row.perSeed!.forEach((d, i) => assert.ok(Math.abs(d - perSeed[i]!) < 2e-4, `seed ${i}: ${d} vs ${perSeed[i]}`));
  const mean = (row.perSeed![0]! + row.perSeed![1]!) / 2;
  assert.ok(Math.abs(row.overSeeds!.mean - mean) < 1e-12 && row.overSeeds!.lo < mean && mean < row.overSeeds!.hi);
  assert.ok(Math.abs(row.finetuned! - row.base! - mean) < 1e-9, 'the pooled row is the mean over the seeds');
  assert.ok(Math.abs((r.finetuned[key] as number) - (perSeed[0]! + perSeed[1]!) / 2 - (r.base[key] as number)) < 2e-4);
  assert.match(readFileSync(r.report, 'utf8'), /Over training seeds/);
  assert.match(formatDemoTable(r.rows, { base: 4, finetuned: 4 }), /over training seeds/);
  await assert.rejects(runDemo({ ...cfg, seeds: '3' } as never), /demo config: seeds/);
  await assert.rejects(runDemo({ ...cfg, seeds: '3,3' } as never), /demo config: seeds: the seeds must differ/);
  await assert.rejects(runDemo({ ...cfg, seeds: '3,x' } as never), /demo config: seeds/);
  await assert.rejects(runDemo({ ...cfg, seed: 1 } as never), /seed and seeds exclude each other/, 'a seed beside seeds is refused, not ignored');
});

test('demo: a bad config value is refused with its field', async () => {
  await assert.rejects(runDemo({ steps: 0 }), /demo config: steps/);
  await assert.rejects(runDemo({ base: join(tempDir('nobase'), 'none') }), /no base checkpoint/);
});
