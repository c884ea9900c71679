// The dashboard in a real browser (playwright-core driving Debian's chromium, /usr/bin/chromium,
// which scripts/setup.sh installs with apt): the Runs page, a tiny run's loss curve growing while it
// trains, three pairs labelled with the keyboard and found in SQLite, an image generated, a blind
// study answered; a screenshot of every page is saved to a temporary folder (the test's artefacts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { RunStore } from '../../src/store/runs.js';
import type { RunningServer } from '../../src/server/serve.js';
import { api, makeProject, serveProject, type Project } from './helpers.js';
import { preferenceLabelFile, saveTinyBase } from '../train/finetune-helpers.js';

const CHROMIUM = '/usr/bin/chromium';
let p: Project;
let s: RunningServer;
let browser: Browser;
let page: Page;
const shots = mkdtempSync(join(tmpdir(), 'sharpen-dash-shots-'));

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/setup.sh installs it (apt-get install chromium)`);
  p = await makeProject();
  await saveTinyBase(7, { size: 8, dir: join(p.root, 'checkpoints', 'base2') });
  s = await serveProject(p, { pollMs: 100 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
  page.on('pageerror', (e) => assert.fail(`error in the page: ${e.message}`));
  page.setDefaultTimeout(120_000); // a busy 2-core machine: sampling and training share it with other tests
});

after(async () => {
  await browser?.close();
  await s?.close();
});

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

test('the Runs page lists the store’s runs', async (t) => {
  await page.goto(s.url);
  await page.locator('table.runs tbody tr').first().waitFor();
  assert.match(await page.locator('table.runs').innerText(), /r1\s+rlhf-sharpening\s+finished/);
  await shot('runs');
  t.diagnostic(`screenshots in ${shots}`);
});

test('a run’s loss curve grows while it trains, and the run is stopped from the page', async () => {
  const pairs = preferenceLabelFile('dash-browser');
  const job = await api(s.url, '/api/train', { body: { name: 'live', method: 'diffusion-dpo-labels', steps: 2000, batch: 2, set: [`pairs=${pairs}`] } });
  assert.equal(job.status, 200, JSON.stringify(job.body));
  let id: number | undefined;
  while (id === undefined) {
    await new Promise((ok) => setTimeout(ok, 200));
    id = (await api(s.url, '/api/runs')).body.runs.find((r: { outDir: string }) => r.outDir === 'runs/live')?.id;
  }
  await page.goto(`${s.url}#/run/${id}`);
  const points = async () => Number(await page.locator('#chart-loss').getAttribute('data-points'));
  await page.waitForFunction(() => Number(document.querySelector('#chart-loss')?.getAttribute('data-points')) >= 2);
  const first = await points();
  await page.waitForFunction((n) => Number(document.querySelector('#chart-loss')?.getAttribute('data-points')) >= n + 3, first);
  assert.ok((await points()) >= first + 3, 'the curve grew over server-sent events');
  assert.equal(await page.locator('#chart-loss canvas').count(), 1);
  await shot('run');
  await page.goto(s.url);
  await page.getByRole('button', { name: 'Stop' }).click();
  await page.waitForFunction(() => !document.querySelector('table.jobs')?.textContent?.includes('running'));
  await page.goto(`${s.url}#/compare/${p.runId},${id}`);
  await page.locator('.chart canvas').first().waitFor();
  await shot('compare');
});

test('three pairs labelled with the keyboard are in SQLite', async () => {
  const pool = await api(s.url, '/api/pools', { body: { ckpt: 'checkpoints/base', prompts: 3, perPrompt: 2, steps: 2, preference: 'checkpoints/preference', rank: 'uncertain' } });
  assert.equal(pool.status, 200, JSON.stringify(pool.body));
  await page.goto(`${s.url}#/label`);
  await page.locator('select[name=pool]').selectOption(pool.body.pool.id);
  await page.locator('.pair img').first().waitFor();
  for (const [k, key] of ['1', '2', 't'].entries()) {
    await page.keyboard.press(key);
    await page.waitForFunction((n) => document.querySelector('.counts .total')?.textContent === String(n), k + 1);
  }
  await shot('label');
  const store = new RunStore(p.store);
  const rows = store.labels({ pool: pool.body.pool.id });
  store.close();
  assert.deepEqual(rows.map((r) => r.choice), ['A', 'B', 'tie']);
  assert.ok(rows.every((r) => r.annotator === 'me' && r.modelPA !== null));
});

test('Generate makes images with their NFE', async () => {
  await page.goto(`${s.url}#/generate`);
  await page.locator('select[name=ckpt] option').first().waitFor({ state: 'attached' });
  await page.locator('input[name=steps]').fill('3');
  await page.locator('input[name=n]').fill('3');
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.locator('img.generated').nth(2).waitFor();
  assert.equal(await page.locator('img.generated').count(), 3);
  assert.match(await page.locator('.stats').innerText(), /NFE per image 6/, "3 steps with guidance: 2 network calls each");
  assert.ok(await page.locator('img.generated').first().evaluate((img) => (img as HTMLImageElement).naturalWidth === 8));
  await shot('generate');
});

test('a blind user study is answered by keyboard and shows win / tie / loss with intervals', async () => {
  await page.goto(`${s.url}#/study`);
  await page.locator('input[name=study-ckpt]').first().waitFor();
  await shot('study-new');
  const st = await api(s.url, '/api/studies', { body: { ckpts: ['checkpoints/base', 'checkpoints/base2'], prompts: 3, steps: 2 } });
  await page.goto(`${s.url}#/study/${st.body.study.id}`);
  for (const key of ['1', '2', 't']) {
    await page.locator('.pair img').first().waitFor();
    const before = await page.locator('.pair').innerText();
    await page.keyboard.press(key);
    await page.waitForFunction((b) => document.querySelector('.pair')?.textContent !== b || !!document.querySelector('table.study'), before.replace(/\n/g, ''));
  }
  await page.locator('table.study').waitFor();
  assert.match(await page.locator('table.study').innerText(), /base\s+base2\s+3/);
  await shot('study');
});
