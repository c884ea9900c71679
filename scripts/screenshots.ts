// Screenshots of the dashboard's pages for the README (docs/screenshots/*.png), made on the shipped
// checkpoints in a temporary project folder: two short RLHF-Diffusion-Sharpening runs trained from the
// page (the Run page is taken while the first one trains, and again with its sample grids per
// checkpoint), a generation, a few pairs labelled with the keyboard, the two runs compared, and a
// blind user study of the base against the first run.
//   node --import tsx scripts/screenshots.ts [--out docs/screenshots] [--steps 12] [--keep]
// Needs /usr/bin/chromium (scripts/setup.sh installs it). Takes a few minutes on 2 cores.
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type Page } from 'playwright-core';
import { startServer } from '../src/server/serve.js';
import { REPO_ROOT } from '../src/server/jobs.js';

const { values: args } = parseArgs({ options: { out: { type: 'string', default: 'docs/screenshots' }, steps: { type: 'string', default: '12' }, keep: { type: 'boolean', default: false } } });
const steps = Number(args.steps);
if (!Number.isSafeInteger(steps) || steps < 2) throw new Error(`--steps must be an integer ≥ 2, got '${args.steps}'`);
const out = resolve(args.out!);
mkdirSync(out, { recursive: true });

const root = mkdtempSync(join(tmpdir(), 'sharpen-screenshots-'));
for (const c of ['base', 'preference']) cpSync(join(REPO_ROOT, 'checkpoints', c), join(root, 'checkpoints', c), { recursive: true });
const server = await startServer({ root, port: 0, pollMs: 300 });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
const page: Page = await browser.newPage({ viewport: { width: 1200, height: 820 } });
const url = (hash = '') => `${server.url}${hash}`;
const shot = async (name: string) => {
  await page.waitForTimeout(400);
  await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
  console.error(`screenshots: ${name}.png`);
};

async function call(path: string, body?: unknown): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await fetch(url(path.slice(1)), body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(`${path}: ${j.error}`);
  return j;
}

const runIdOf = async (folder: string) => {
  for (;;) {
    const run = (await call('/api/runs')).runs.find((r: { outDir: string }) => r.outDir === `runs/${folder}`);
    if (run) return run.id as number;
    await new Promise((ok) => setTimeout(ok, 500));
  }
};

try {
  const train = (name: string, lr: string) => call('/api/train', {
    name, method: 'rlhf-sharpening', reward: 'compositional', steps, batch: 2, evalEvery: Math.max(1, Math.floor(steps / 4)), checkpointEvery: Math.max(1, Math.floor(steps / 2)),
    set: [`lr=${lr}`, 'loraRank=8', 'rankBy=image', 'renoise=fresh', 'evalPerCategory=2'],
  });
  await train('sharpening-lr5e-5', '5e-5');
  const a = await runIdOf('sharpening-lr5e-5');
  await page.goto(url(`#/run/${a}`));
  await page.waitForFunction(() => Number(document.querySelector('#chart-loss')?.getAttribute('data-points')) >= 6, undefined, { timeout: 600_000 });
  await shot('run');
  await train('sharpening-lr2e-4', '2e-4');
  const b = await runIdOf('sharpening-lr2e-4');

  await page.goto(url('#/generate'));
  await page.locator('select[name=ckpt] option').first().waitFor({ state: 'attached' });
  await page.locator('input[name=prompt]').fill('a small red circle above a large blue square');
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.locator('img.generated').nth(3).waitFor({ timeout: 600_000 });
  await shot('generate');

  const pool = await call('/api/pools', { ckpt: 'checkpoints/base', prompts: 6, perPrompt: 3, preference: 'checkpoints/preference', rank: 'uncertain' });
  await page.goto(url('#/label'));
  await page.locator('select[name=pool]').selectOption(pool.pool.id);
  for (const [k, key] of ['1', '2', '1', 't'].entries()) {
    await page.locator('.pair img').first().waitFor();
    await page.keyboard.press(key);
    await page.waitForFunction((n) => document.querySelector('.counts .total')?.textContent === String(n), k + 1);
  }
  await shot('label');

  // both training processes have exited
  while ((await call('/api/train')).jobs.some((j: { status: string }) => j.status === 'running')) await new Promise((ok) => setTimeout(ok, 1000));
  await page.goto(url('#/'));
  await page.locator('table.runs tbody tr').nth(1).waitFor();
  for (const id of [a, b]) await page.getByLabel(`compare run ${id}`).check();
  await shot('runs');
  await page.goto(url(`#/run/${a}`));
  await page.getByRole('button', { name: 'Sample grids per checkpoint' }).click();
  await page.locator('.images figure img').nth(1).waitFor({ timeout: 600_000 });
  await shot('run-grids');
  await page.goto(url(`#/compare/${a},${b}`));
  await page.getByRole('button', { name: 'Same prompts and noises, side by side' }).click();
  await page.locator('table.grid img').first().waitFor({ timeout: 600_000 });
  await shot('compare');

  const study = await call('/api/studies', { ckpts: ['checkpoints/base', 'runs/sharpening-lr5e-5'], prompts: 6 });
  await page.goto(url(`#/study/${study.study.id}`));
  await page.locator('.pair img').first().waitFor();
  await shot('study-trial');
  for (let k = 0; k < study.study.comparisons; k++) {
    const before = await page.locator('.pair .prompt').innerText().catch(() => '');
    await page.keyboard.press(['1', '2', '1', 't'][k % 4]!);
    await page.waitForFunction((p) => document.querySelector('.pair .prompt')?.textContent !== p || !!document.querySelector('table.study'), before);
  }
  await page.locator('table.study').waitFor();
  await shot('study');
} finally {
  await browser.close();
  await server.close();
  if (args.keep) console.error(`screenshots: the project folder is kept in ${root}`);
  else rmSync(root, { recursive: true, force: true });
}
