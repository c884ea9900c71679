// The main job on a tiny base model: fine-tune, evaluate both models on the same prompts and noises,
// write the report (with the side-by-side pairs), the grids and result.json; a second call resumes
// (a finished run is only re-evaluated); `fresh` moves the old run aside; a bad config names its field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { runDemo, formatDemoTable, readDemoResult } from '../../src/eval/demo.js';
import { ENV } from '../../src/rewards/mllm.js';
import { saveTinyBase, tempDir } from '../train/finetune-helpers.js';
import { readJsonl } from '../../src/util/jsonl.js';
import { escapeHtml } from '../../src/eval/report.js';
import { readImage } from '../../src/world/image.js';

/** a tiny demo on a tiny base (batch 1, n 2, m 1, no LoRA) in a new temporary folder */
async function tinyDemo(name: string, extra: Record<string, unknown>) {
  for (const k of Object.values(ENV)) delete process.env[k];
  const base = await saveTinyBase(0, { size: 16 });
  const root = tempDir(name);
  const out = join(root, 'demo');
  const cfg = {
    out, base, store: join(root, 'store.sqlite'), batch: 1, n: 2, m: 1, S: 2, tMax: 1000, loraRank: 0,
    testPerCategory: 1, testImagesPerPrompt: 1, gridPerCategory: 1, evalEvery: 2, evalPerCategory: 1, ...extra,
  };
  return { out, cfg };
}

/**
 * The report's side-by-side block: every evaluation image of the tiny demo (6 prompts × 1) as a base
 * / fine-tuned pair, the full prompt as HTML text, the largest |change| first, the counts in the
 * caption, every image a file of the run folder (enlarged PNG), the scores the evaluator's.
 */
function assertPairs(out: string, html: string, baseMean: number) {
  const json = JSON.parse(readFileSync(join(out, 'pairs', 'pairs.json'), 'utf8')) as {
    improved: number; worsened: number; same: number; total: number; scale: number;
    pairs: { prompt: string; category: string; base: number; finetuned: number; change: number; baseFile: string; finetunedFile: string }[];
  };
  assert.equal(json.total, 6, 'one image per test prompt of each category');
  assert.equal(json.pairs.length, 6, 'all shown (fewer than 24)');
  assert.equal(json.improved + json.worsened + json.same, json.total);
  assert.ok(html.includes('<table class="pairs">'), 'the pairs block');
  assert.ok(html.includes(`${json.improved} improved, ${json.worsened} worsened, ${json.same} stayed the same`), 'the counts in the caption');
  assert.ok(json.pairs.some((p) => p.prompt.length > 40), 'a long prompt among them');
  for (const p of json.pairs) {
    assert.ok(html.includes(`<td class="prompt">${escapeHtml(p.prompt)}<br><small>${p.category}</small></td>`), `the whole prompt '${p.prompt}' in one cell`);
    assert.ok(Math.abs(p.change - (p.finetuned - p.base)) < 1e-12);
  }
  // the rows in the HTML: the same pairs, |change| descending
  const changes = [...html.matchAll(/<tr data-change="([^"]+)">/g)].map((m) => Number(m[1]));
  assert.deepEqual(changes, json.pairs.map((p) => p.finetuned - p.base));
  for (let i = 1; i < changes.length; i++) assert.ok(Math.abs(changes[i - 1]!) >= Math.abs(changes[i]!), `row ${i + 1} changed no more than row ${i}`);
  // every image the block shows is a file of the run folder: the 16-pixel images enlarged ×8
  const srcs = [...html.matchAll(/<img src="(pairs\/[^"]+)"/g)].map((m) => m[1]!);
  assert.deepEqual(srcs, json.pairs.flatMap((p) => [`pairs/${p.baseFile}`, `pairs/${p.finetunedFile}`]));
  for (const src of srcs) {
    const img = readImage(join(out, src));
    assert.deepEqual([img.width, img.height], [128, 128], src);
  }
  assert.ok(!readdirSync(out).some((f) => f.includes('.tmp-')), 'no temporary folder left');
  // the scores are the evaluator's: with one image per prompt, their mean is the table's base value
  const mean = json.pairs.reduce((a, p) => a + p.base, 0) / json.pairs.length;
  assert.ok(Math.abs(mean - baseMean) < 1e-9, `${mean} vs ${baseMean}`);
}

test('demo: fine-tunes, evaluates both models alike, reports; re-running resumes; fresh keeps the old run', async () => {
  const { out, cfg } = await tinyDemo('demo', { steps: 3, lr: 1e-4 });
  const logs: string[] = [];
  const r = await runDemo(cfg, { log: (m) => logs.push(m) });

  for (const f of ['report.html', 'result.json', 'grid-base.png', 'grid-finetuned.png', 'pairs/pairs.json', 'finetune/model.safetensors']) {
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
  // the preset's held-out curve (evalEvery 2 here: steps 0, 2, 3) is in the report
  assert.deepEqual(readJsonl(join(out, 'finetune', 'eval.jsonl')).map((l) => (l as { step: number }).step), [0, 2, 3]);
  assert.match(html, /Held-out score during training/);
  // the run trained the preset with the overrides: configs/demo.yaml's method and options, the given n
  const trained = JSON.parse(readFileSync(join(out, 'finetune', 'finetune-config.json'), 'utf8')).config;
  assert.equal(trained.method, 'rlhf-sharpening');
  assert.equal(trained.n, 2);
  assert.equal(trained.rankBy, (parseYaml(readFileSync('configs/demo.yaml', 'utf8')) as { rankBy: string }).rankBy);
  assertPairs(out, html, comp.base);
  const table = formatDemoTable(r.rows, { base: 4, finetuned: 4 });
  assert.match(table, /\| compositional \|/);
  assert.deepEqual(await readDemoResult(out), JSON.parse(JSON.stringify(r)));

  // the same call again: the finished run is not trained further, only re-evaluated
  const lines = readJsonl(join(out, 'finetune', 'metrics.jsonl')).length;
  const again = await runDemo(cfg, { log: (m) => logs.push(m) });
  assert.ok(logs.some((m) => /resuming the run/.test(m)));
  assert.equal(readJsonl(join(out, 'finetune', 'metrics.jsonl')).length, lines);
  assert.deepEqual(again.finetuned, r.finetuned, 'the same model, prompts and noises give the same metrics');
  assertPairs(out, readFileSync(again.report, 'utf8'), comp.base);

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
  const html = readFileSync(r.report, 'utf8');
  assert.match(html, /Over training seeds/);
  assert.ok(html.includes('<th>base</th><th>fine-tuned (seed 3)</th>'), 'the pairs show the first seed\'s model');
  assert.match(formatDemoTable(r.rows, { base: 4, finetuned: 4 }), /over training seeds/);
  await assert.rejects(runDemo({ ...cfg, seeds: '3' } as never), /demo config: seeds/);
  await assert.rejects(runDemo({ ...cfg, seeds: '3,3' } as never), /demo config: seeds: the seeds must differ/);
  await assert.rejects(runDemo({ ...cfg, seeds: '3,x' } as never), /demo config: seeds/);
  await assert.rejects(runDemo({ ...cfg, seed: 1 } as never), /seed and seeds exclude each other/, 'a seed beside seeds is refused, not ignored');
});

test('demo: a bad config value is refused with its field', async () => {
  await assert.rejects(runDemo({ steps: 0 }), /demo config .*steps: Too small/);
  await assert.rejects(runDemo({ nosuchkey: 1 }), /demo config .*nosuchkey/);
  await assert.rejects(runDemo({ config: join(tempDir('nopreset'), 'none.yaml') }), /demo config: the preset .*none.yaml cannot be read/);
  const nobase = tempDir('nobase');
  await assert.rejects(runDemo({ out: join(nobase, 'demo'), store: join(nobase, 's.sqlite'), base: join(nobase, 'none') }), /no base checkpoint/);
});

test('demo: `sharpen finetune --config configs/demo.yaml` resolves to exactly the config the demo trains', async () => {
  const { finetuneInputFromFlags } = await import('../../src/cli/finetune.js');
  const { resolveFinetuneConfig } = await import('../../src/train/loop.js');
  const { DemoConfigSchema, demoTrainingConfig } = await import('../../src/eval/demo.js');
  const out = join(tempDir('demo-preset'), 'run');
  const viaFinetune = resolveFinetuneConfig(await finetuneInputFromFlags({ config: 'configs/demo.yaml', out, store: 'runs/store.sqlite', set: [] })).config;
  const viaDemo = demoTrainingConfig(DemoConfigSchema.parse({ out }), {});
  assert.deepEqual(viaDemo, viaFinetune);
  assert.equal(viaDemo.method, 'rlhf-sharpening');
  // an override of the preset and a training seed reach the training config
  const over = demoTrainingConfig(DemoConfigSchema.parse({ out, seed: 7 }), { lr: 1e-5 });
  assert.equal(over.lr, 1e-5);
  assert.equal(over.seed, 7);
});
