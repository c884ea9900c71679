// The dashboard's JSON API on a real server over a real run store, with tiny models: every route,
// and bad input: an unknown run, malformed bodies, path traversal (.., %2e%2e, absolute paths, a
// symbolic link out), a missing or wrong token, a huge body.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RunStore } from '../../src/store/runs.js';
import { readPreferencePairs } from '../../src/data/preferences.js';
import type { RunningServer } from '../../src/server/serve.js';
import { api, makeProject, serveProject, type Project } from './helpers.js';
import { preferenceLabelFile, saveTinyBase, tempDir } from '../train/finetune-helpers.js';
import { finetune } from '../../src/train/loop.js';

let p: Project;
let s: RunningServer;

before(async () => {
  p = await makeProject();
  await saveTinyBase(7, { size: 8, dir: join(p.root, 'checkpoints', 'base2') });
  s = await serveProject(p);
});
after(() => s.close());

test('runs: the list, one run with its config and metrics and images, compare; an unknown run is 404, a bad id 400', async () => {
  const list = await api(s.url, '/api/runs');
  assert.equal(list.status, 200);
  const r = list.body.runs.find((x: { id: number }) => x.id === p.runId);
  assert.equal(r.status, 'finished');
  assert.equal(r.progress, 1);
  assert.ok(Math.abs(r.reward - 0.3) < 1e-9);
  const one = await api(s.url, `/api/runs/${p.runId}`);
  assert.equal(one.status, 200);
  assert.deepEqual(one.body.config, { steps: 3, lr: 1e-4 });
  assert.equal(one.body.metrics.filter((m: { key: string }) => m.key === 'loss').length, 3);
  assert.deepEqual(one.body.images, ['runs/r1/samples/grid.png']);
  assert.equal((await api(s.url, '/api/runs/999')).status, 404);
  assert.match((await api(s.url, '/api/runs/999')).body.error, /run 999: no such run/);
  assert.equal((await api(s.url, '/api/runs/abc')).status, 400);
  const cmp = await api(s.url, `/api/compare?runs=${p.runId},${p.runId}`);
  assert.equal(cmp.status, 200);
  assert.equal(cmp.body.runs.length, 2);
  assert.equal((await api(s.url, `/api/compare?runs=${p.runId}`)).status, 400);
  assert.equal((await api(s.url, `/api/compare?runs=${p.runId},999`)).status, 404);
  assert.equal((await api(s.url, '/api/nothing')).status, 404);
});

test('live metrics: the events stream sends the rows logged after it opened, and ends when the run finishes', async () => {
  const store = new RunStore(p.store);
  const id = store.createRun({ name: 'live', method: 'ddpo', outDir: join(p.root, 'runs', 'live'), config: { steps: 4 } });
  store.logMetrics(id, 1, { loss: 1 });
  const res = await fetch(new URL(`/api/runs/${id}/events`, s.url));
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const reader = res.body!.getReader();
  let text = '';
  const readUntil = async (re: RegExp) => {
    while (!re.test(text)) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  };
  await readUntil(/"step":1/);
  store.logMetrics(id, 2, { loss: 0.5 });
  await readUntil(/"step":2/);
  store.finishRun(id, 'finished');
  await readUntil(/"status":"finished"/);
  const { done } = await reader.read();
  assert.ok(done || /finished/.test(text));
  assert.match(text, /event: metrics/);
  assert.match(text, /"value":0.5/);
  store.close();
  assert.equal((await api(s.url, '/api/runs/999/events')).status, 404);
  assert.equal((await api(s.url, `/api/runs/${id}/events?after=x`)).status, 400);
});

/** A GET with the path sent as written (fetch would normalise `..`). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => ok({ status: res.statusCode!, body }));
    });
    req.on('error', fail);
    req.end();
  });
}

test('files: an image of a run is served; traversal, absolute paths, symlinks out and other files are refused', async () => {
  const png = await fetch(new URL('/api/file?path=runs/r1/samples/grid.png', s.url));
  assert.equal(png.status, 200);
  assert.equal(png.headers.get('content-type'), 'image/png');
  assert.deepEqual(Buffer.from(await png.arrayBuffer()).subarray(1, 4).toString(), 'PNG');
  const secret = join(tempDir('secret'), 'secret.png');
  writeFileSync(secret, 'not yours');
  symlinkSync(secret, join(p.root, 'runs', 'r1', 'link.png'));
  symlinkSync(join(secret, '..'), join(p.root, 'runs', 'dirlink'));
  const cases: [string, number, RegExp][] = [
    ['runs/../../etc/passwd', 400, /'\.\.' segment/],
    ['runs/%2e%2e/%2e%2e/etc/passwd', 400, /'\.\.' segment/],
    ['runs%2F..%2F..%2Fetc%2Fpasswd', 400, /'\.\.' segment/],
    ['/etc/passwd', 400, /absolute/],
    ['%2Fetc%2Fpasswd', 400, /absolute/],
    [encodeURIComponent(secret), 400, /absolute/],
    ['runs/r1/link.png', 403, /symbolic link/],
    ['runs/dirlink/secret.png', 403, /symbolic link/],
    ['src/cli/main.ts', 403, /outside runs\/ and checkpoints\//],
    ['runs/store.sqlite', 403, /only images and text/],
    ['runs/r1/missing.png', 404, /does not exist/],
    ['runs/r1', 404, /not a file/],
    ['runs\\..\\x', 400, /backslash/],
    ['runs/x%00.png', 400, /NUL/],
  ];
  for (const [q, status, re] of cases) {
    const r = await api(s.url, `/api/file?path=${q}`);
    assert.equal(r.status, status, `${q}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error, re, q);
    assert.ok(!JSON.stringify(r.body).includes('not yours') && !JSON.stringify(r.body).includes('root:'), q);
  }
  assert.equal((await api(s.url, '/api/file')).status, 400);
  // the front end's static route never leaves web/dist, however the path is written
  for (const path of ['/../../../../etc/passwd', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd', '/assets/..%2f..%2f..%2fpackage.json', '//etc/passwd']) {
    const r = await rawGet(s.url, path);
    assert.ok(!r.body.includes('root:') && !r.body.includes('"dependencies"'), `${path}: ${r.body.slice(0, 80)}`);
  }
  const badEncoding = await rawGet(s.url, '/%zz');
  assert.equal(badEncoding.status, 400);
  assert.match(badEncoding.body, /not valid URL encoding/);
});

test('bodies: malformed JSON, unknown fields, wrong types, another content type and a huge body are refused with the reason', async () => {
  const bad = await api(s.url, '/api/labels', { raw: '{"pool": ' });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error, /not valid JSON/);
  const unknown = await api(s.url, '/api/generate', { body: { ckpt: 'checkpoints/base', prompt: 'a red circle', evil: 1 } });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.error, /unknown field\(s\) 'evil'/);
  const wrong = await api(s.url, '/api/generate', { body: { ckpt: 'checkpoints/base', prompt: 'a red circle', n: 'four' } });
  assert.equal(wrong.status, 400);
  assert.match(wrong.body.error, /field 'n'/);
  const type = await api(s.url, '/api/labels', { raw: '{}', headers: { 'content-type': 'text/plain' } });
  assert.equal(type.status, 415);
  const huge = await api(s.url, '/api/labels', { raw: JSON.stringify({ pool: 'x'.repeat(200_000) }) });
  assert.equal(huge.status, 413);
  assert.match(huge.body.error, /larger than 65536 bytes/);
});

test('tokens: a token server refuses a missing or wrong token, takes the right one as bearer, query or cookie; a non-loopback host gets one', async () => {
  const token = 'a-token-of-sixteen-chars';
  const t = await serveProject(p, { token });
  try {
    const none = await api(t.url, '/api/runs');
    assert.equal(none.status, 401);
    assert.match(none.body.error, /missing token/);
    const wrong = await api(t.url, '/api/runs', { headers: { authorization: 'Bearer a-token-of-sixteen-chaRS' } });
    assert.equal(wrong.status, 401);
    assert.match(wrong.body.error, /wrong token/);
    assert.equal((await api(t.url, '/api/file?path=runs/r1/samples/grid.png')).status, 401, 'files need the token too');
    assert.equal((await api(t.url, '/api/runs', { headers: { authorization: `Bearer ${token}` } })).status, 200);
    const q = await fetch(new URL(`/api/runs?token=${token}`, t.url));
    assert.equal(q.status, 200);
    const cookie = q.headers.get('set-cookie')!.split(';')[0]!;
    assert.match(q.headers.get('set-cookie')!, /HttpOnly/i);
    assert.equal((await api(t.url, '/api/runs', { headers: { cookie } })).status, 200);
    assert.equal((await api(t.url, '/api/runs', { headers: { cookie: 'sharpen_token=nope' } })).status, 401);
  } finally {
    await t.close();
  }
  await assert.rejects(serveProject(p, { token: 'short' }), /--token must be 16–256 printable characters/);
  const open = await serveProject(p, { host: '0.0.0.0' });
  try {
    assert.ok(open.token && open.token.length >= 16, 'a token is generated for a non-loopback host');
    assert.equal((await api(`http://127.0.0.1:${open.port}/`, '/api/runs')).status, 401);
  } finally {
    await open.close();
  }
});

test('generate: images from a checkpoint with their NFE and time; a checkpoint outside the project or of another kind, and an unknown method, are refused', async () => {
  const ck = await api(s.url, '/api/checkpoints');
  assert.deepEqual(ck.body.checkpoints.map((c: { path: string }) => c.path).sort(), ['checkpoints/base', 'checkpoints/base2', 'checkpoints/preference']);
  const g = await api(s.url, '/api/generate', { body: { ckpt: 'checkpoints/base', prompt: 'a red circle', n: 2, steps: 3, guidance: 2 } });
  assert.equal(g.status, 200, JSON.stringify(g.body));
  assert.equal(g.body.images.length, 2);
  assert.equal(g.body.nfePerImage, 6, '3 guided steps');
  assert.ok(g.body.seconds >= 0);
  for (const f of g.body.images) assert.equal((await fetch(new URL(`/api/file?path=${f}`, s.url))).status, 200);
  assert.equal((await api(s.url, '/api/generate', { body: { ckpt: '../x', prompt: 'a' } })).status, 400);
  assert.equal((await api(s.url, '/api/generate', { body: { ckpt: '/tmp', prompt: 'a' } })).status, 400);
  assert.equal((await api(s.url, '/api/generate', { body: { ckpt: 'src', prompt: 'a' } })).status, 403);
  const pref = await api(s.url, '/api/generate', { body: { ckpt: 'checkpoints/preference', prompt: 'a' } });
  assert.match(pref.body.error, /not a sharpen-t2i\/1 checkpoint \(it is sharpen-preference\/1\)/);
  const m = await api(s.url, '/api/generate', { body: { ckpt: 'checkpoints/base', prompt: 'a red circle', n: 1, steps: 2, method: 'no-such-method' } });
  assert.equal(m.status, 400);
  assert.match(m.body.error, /no-such-method/);
  const same = await api(s.url, '/api/samples', { body: { ckpts: ['checkpoints/base', 'checkpoints/base2'], prompts: 2, steps: 2 } });
  assert.equal(same.status, 200, JSON.stringify(same.body));
  assert.equal(same.body.rows.length, 2);
  assert.equal(same.body.rows[0].images.length, 2);
});

test('labels: a pool from a checkpoint, three answers committed, ranked by uncertainty with a preference model, exported in the label format', async () => {
  const pool = await api(s.url, '/api/pools', { body: { ckpt: 'checkpoints/base', prompts: 2, perPrompt: 3, steps: 2 } });
  assert.equal(pool.status, 200, JSON.stringify(pool.body));
  assert.equal(pool.body.pool.pairs, 6, '2 prompts × 3 pairs');
  const id = pool.body.pool.id;
  const choices = ['A', 'B', 'tie', 'skip'];
  for (const choice of choices) {
    const next = await api(s.url, `/api/pools/${id}/next`);
    const r = await api(s.url, '/api/labels', { body: { pool: id, pair: next.body.pair.id, choice, annotator: 'ann' } });
    assert.equal(r.status, 200);
  }
  const store = new RunStore(p.store);
  const rows = store.labels({ pool: id });
  store.close();
  assert.deepEqual(rows.map((l) => l.choice), choices);
  assert.equal(new Set(rows.map((l) => l.pairId)).size, 4, 'each answer is a new pair');
  assert.ok(rows.every((l) => existsSync(l.imageA) && existsSync(l.imageB) && l.annotator === 'ann' && l.prompt));
  assert.equal((await api(s.url, `/api/pools/${id}/next`)).body.left, 2);
  const pools = await api(s.url, '/api/pools');
  assert.equal(pools.body.pools.find((x: { id: string }) => x.id === id).answered, 4);
  // bad input
  assert.equal((await api(s.url, '/api/pools/pool-zz-000000/next')).status, 404);
  assert.equal((await api(s.url, '/api/labels', { body: { pool: id, pair: 'nope', choice: 'A', annotator: 'ann' } })).status, 404);
  assert.equal((await api(s.url, '/api/labels', { body: { pool: id, pair: rows[0]!.pairId, choice: 'C', annotator: 'ann' } })).status, 400);
  assert.match((await api(s.url, '/api/labels', { body: { pool: id, pair: rows[0]!.pairId, choice: 'A', annotator: '<script>' } })).body.error, /annotator/);
  assert.equal((await api(s.url, '/api/pools', { body: { ckpt: 'checkpoints/base', rank: 'uncertain' } })).status, 400);
  // where the preference model is least sure: pairs ordered by |P(A ≻ B) − ½|
  const u = await api(s.url, '/api/pools', { body: { ckpt: 'checkpoints/base', prompts: 3, perPrompt: 2, steps: 2, preference: 'checkpoints/preference', rank: 'uncertain' } });
  assert.equal(u.status, 200, JSON.stringify(u.body));
  const file = JSON.parse(readFileSync(join(p.root, 'runs', 'dashboard', 'pools', u.body.pool.id, 'pool.json'), 'utf8')) as { pairs: { pA: number }[] };
  const gaps = file.pairs.map((x) => Math.abs(x.pA - 0.5));
  assert.deepEqual(gaps, [...gaps].sort((a, b) => a - b));
  const first = (await api(s.url, `/api/pools/${u.body.pool.id}/next`)).body.pair;
  const lab = await api(s.url, '/api/labels', { body: { pool: u.body.pool.id, pair: first.id, choice: first.pA > 0.5 ? 'A' : 'B', annotator: 'ann' } });
  assert.deepEqual(lab.body.agreement, { agree: 1, decided: 1, rate: 1 });
  // the export is read by the label reader that train-preference and diffusion-dpo-labels use
  const ex = await api(s.url, '/api/labels/export', { body: { out: 'runs/labels-test' } });
  assert.equal(ex.status, 200);
  assert.equal(ex.body.pairs, 4, 'skips are left out');
  const pairs = readPreferencePairs(join(p.root, ex.body.file));
  assert.deepEqual(pairs.map((x) => x.choice), ['A', 'B', 'tie', first.pA > 0.5 ? 'A' : 'B']);
  assert.ok(pairs.every((x) => x.annotator === 'human:ann'));
  assert.equal((await api(s.url, '/api/labels/export', { body: { out: '../outside' } })).status, 400);
  assert.equal((await api(s.url, '/api/labels/export', { body: { out: 'runs/../../x' } })).status, 400);
  assert.equal((await api(s.url, '/api/labels')).body.counts.total, 5);
});

test('user study: blind comparisons in a random order; win / tie / loss per pair with 95 % intervals as JSON, Markdown, CSV and SVG', async () => {
  const st = await api(s.url, '/api/studies', { body: { ckpts: ['checkpoints/base', 'checkpoints/base2'], prompts: 4, steps: 2, seed: 3 } });
  assert.equal(st.status, 200, JSON.stringify(st.body));
  const id = st.body.study.id;
  assert.equal(st.body.study.comparisons, 4);
  const answers = ['left', 'left', 'right', 'tie'];
  for (const choice of answers) {
    const n = await api(s.url, `/api/studies/${id}/next`);
    assert.ok(!JSON.stringify(n.body).includes('checkpoints/'), 'no model names are shown');
    const img = await fetch(new URL(n.body.comparison.left, s.url));
    assert.equal(img.headers.get('content-type'), 'image/png');
    assert.equal((await api(s.url, `/api/studies/${id}/answer`, { body: { comparison: n.body.comparison.id, choice, annotator: 'ann' } })).status, 200);
  }
  assert.equal((await api(s.url, `/api/studies/${id}/next`)).body.comparison, null);
  const r = (await api(s.url, `/api/studies/${id}/results`)).body.results[0];
  assert.equal(r.n, 4);
  assert.equal(r.tie, 1);
  assert.equal(r.win + r.loss, 3);
  assert.ok(Math.abs(r.winRate + r.tieRate + r.lossRate - 1) < 1e-12);
  for (const k of ['win', 'tie', 'loss']) assert.ok(r[`${k}CI`][0] <= r[`${k}Rate`] && r[`${k}Rate`] <= r[`${k}CI`][1], k);
  assert.match((await api(s.url, `/api/studies/${id}/results?format=md`)).body, /\| base \| base2 \| 4 \|/);
  assert.match((await api(s.url, `/api/studies/${id}/results?format=csv`)).body, /^x,y,n,win,tie,loss/);
  assert.match((await api(s.url, `/api/studies/${id}/results?format=svg`)).body, /^<svg/);
  assert.equal((await api(s.url, `/api/studies/${id}/results?format=pdf`)).status, 400);
  assert.equal((await api(s.url, `/api/studies/${id}/answer`, { body: { comparison: 'nope', choice: 'left', annotator: 'ann' } })).status, 404);
  assert.equal((await api(s.url, `/api/studies/${id}/image/nope/left`)).status, 404);
  assert.equal((await api(s.url, '/api/studies/study-zz-000000/next')).status, 404);
  assert.equal((await api(s.url, '/api/studies', { body: { ckpts: ['checkpoints/base', 'checkpoints/base'] } })).status, 400);
  assert.equal((await api(s.url, '/api/studies', { body: { ckpts: ['checkpoints/base'] } })).status, 400);
});

test('grids per checkpoint of a run that trained the whole UNet; a run that is not a fine-tuning run is refused', async () => {
  const out = join(p.root, 'runs', 'full');
  await finetune({ method: 'diffusion-dpo-labels', pairs: preferenceLabelFile('dash-full'), base: join(p.root, 'checkpoints', 'base'), out, store: p.store, steps: 2, batch: 2, checkpointEvery: 1 }, { progress: false, log: () => {} });
  const id = (await api(s.url, '/api/runs')).body.runs.find((r: { outDir: string }) => r.outDir === 'runs/full').id;
  const g = await api(s.url, `/api/runs/${id}/grids`, { body: { prompts: 1, steps: 2 } });
  assert.equal(g.status, 200, JSON.stringify(g.body));
  assert.deepEqual(g.body.grids.map((x: { step: number }) => x.step), [0, 1, 2], 'the base and the two kept checkpoints, in step order');
  assert.match((await api(s.url, `/api/runs/${p.runId}/grids`, { body: {} })).body.error, /not a fine-tuning run folder/);
  assert.equal((await api(s.url, '/api/runs/999/grids', { body: {} })).status, 404);
});

test('training: a run started from the page is recorded in the store and can be stopped; bad requests are refused', async () => {
  const pairs = preferenceLabelFile('dash-train');
  const t = await api(s.url, '/api/train', { body: { name: 'dpo', method: 'diffusion-dpo-labels', steps: 500, batch: 2, set: [`pairs=${pairs}`, 'loraRank=2'] } });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  const job = t.body.job.id;
  let run: { id: number; step: number } | undefined;
  while (!run || run.step < 1) {
    await new Promise((ok) => setTimeout(ok, 200));
    const j = (await api(s.url, '/api/train')).body.jobs.find((x: { id: number }) => x.id === job);
    assert.equal(j.status, 'running', j.log.join('\n'));
    run = (await api(s.url, '/api/runs')).body.runs.find((x: { outDir: string }) => x.outDir === 'runs/dpo');
  }
  const stop = await api(s.url, `/api/train/${job}/stop`, { body: {} });
  assert.equal(stop.status, 200);
  while ((await api(s.url, '/api/train')).body.jobs.find((x: { id: number }) => x.id === job).exitCode === null) await new Promise((ok) => setTimeout(ok, 100));
  const after = (await api(s.url, '/api/train')).body.jobs.find((x: { id: number }) => x.id === job);
  assert.equal(after.status, 'stopped');
  assert.ok((await api(s.url, `/api/runs/${run.id}`)).body.run.step < 500);
  assert.equal((await api(s.url, `/api/train/${job}/stop`, { body: {} })).status, 409);
  // the stopped run saved a checkpoint (LoRA adapters): its grids are the base's and that checkpoint's
  const g = await api(s.url, `/api/runs/${run.id}/grids`, { body: { prompts: 1, steps: 2 } });
  assert.equal(g.status, 200, JSON.stringify(g.body));
  assert.deepEqual(g.body.grids.map((x: { step: number }) => x.step > 0), [false, true]);
  for (const x of g.body.grids) assert.equal((await fetch(new URL(`/api/file?path=${x.image}`, s.url))).status, 200);
  assert.equal((await api(s.url, '/api/train/99/stop', { body: {} })).status, 404);
  assert.equal((await api(s.url, '/api/train', { body: { name: 'dpo', method: 'ddpo', steps: 1 } })).status, 409, 'the folder exists');
  assert.equal((await api(s.url, '/api/train', { body: { name: '../x', method: 'ddpo', steps: 1 } })).status, 400);
  assert.equal((await api(s.url, '/api/train', { body: { name: 'y', method: 'ddpo', steps: 1, set: ['a=b c'] } })).status, 400);
  const moved = await api(s.url, '/api/train', { body: { name: 'y', method: 'ddpo', steps: 1, set: ['out=/tmp/elsewhere'] } });
  assert.equal(moved.status, 400);
  assert.match(moved.body.error, /out, store and base are set by the fields/);
});
