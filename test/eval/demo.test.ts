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

test('demo: fine-tunes, evaluates both models alike, reports; re-running resumes; fresh keeps the old run', async () => {
  for (const k of Object.values(ENV)) delete process.env[k];
  const base = await saveTinyBase(0, { size: 16 });
  const root = tempDir('demo');
  const out = join(root, 'demo');
  const cfg = {
    out, base, store: join(root, 'store.sqlite'), steps: 3, batch: 1, n: 2, m: 1, S: 2, tMax: 1000, loraRank: 0, lr: 1e-4,
    evalPerCategory: 1, evalImagesPerPrompt: 1, gridPerCategory: 1,
  };
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

test('demo: a bad config value is refused with its field', async () => {
  await assert.rejects(runDemo({ steps: 0 }), /demo config: steps/);
  await assert.rejects(runDemo({ base: join(tempDir('nobase'), 'none') }), /no base checkpoint/);
});
