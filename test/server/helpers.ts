// Shared pieces of the dashboard tests: a project folder in a temporary directory (a tiny 8×8 base
// checkpoint in checkpoints/base, a tiny preference model in checkpoints/preference, a run store
// with one finished run), and the server started on a free port, in this process or as a child.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../../src/torch/index.js';
import { PreferenceModel } from '../../src/models/preference.js';
import { RunStore } from '../../src/store/runs.js';
import { startServer, type RunningServer, type ServeOptions } from '../../src/server/serve.js';
import { REPO_ROOT } from '../../src/server/jobs.js';
import { saveTinyBase, tempDir, tinyWorldConfig } from '../train/finetune-helpers.js';
import { createImage, writePng } from '../../src/world/image.js';

export interface Project {
  root: string;
  store: string;
  /** the finished run's id */
  runId: number;
}

/** A project folder with checkpoints/base (tiny, 8×8), checkpoints/preference (tiny, untrained) and a store holding one finished run. */
export async function makeProject(opts: { preference?: boolean } = {}): Promise<Project> {
  const root = tempDir('dash');
  await saveTinyBase(0, { size: 8, dir: join(root, 'checkpoints', 'base') });
  if (opts.preference !== false) {
    const w = tinyWorldConfig();
    torch.manualSeed(1);
    const m = new PreferenceModel({
      format: 'sharpen-preference/1', encoder: 'conv', imageSize: 8, conv: { channels: [8], groups: 4 }, tokenizer: w.tokenizer,
      textEncoder: w.textEncoder, head: { hidden: 8, dropout: 0 }, standardize: { mean: 0, std: 1 },
    });
    await m.save(join(root, 'checkpoints', 'preference'));
    m.dispose();
  }
  const store = join(root, 'runs', 'store.sqlite');
  const s = new RunStore(store);
  const out = join(root, 'runs', 'r1');
  mkdirSync(join(out, 'samples'), { recursive: true });
  writePng(join(out, 'samples', 'grid.png'), createImage(4, 4, [1, 0, 0]));
  const runId = s.createRun({ name: 'r1', method: 'rlhf-sharpening', outDir: out, config: { steps: 3, lr: 1e-4 } });
  for (let k = 1; k <= 3; k++) s.logMetrics(runId, k, { loss: 1 / k, rewardMean: 0.1 * k, rewardBest: 0.2 * k, rewardWorst: 0.05 * k });
  s.finishRun(runId, 'finished');
  s.close();
  return { root, store, runId };
}

export function serveProject(p: Project, opts: ServeOptions = {}): Promise<RunningServer> {
  return startServer({ root: p.root, store: p.store, port: 0, pollMs: 50, ...opts });
}

/** JSON request helper: status and parsed body (typed loosely: the tests read many shapes). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export async function api(base: string, path: string, init: { method?: string; body?: unknown; headers?: Record<string, string>; raw?: string } = {}): Promise<{ status: number; body: Json }> {
  const headers: Record<string, string> = { ...(init.body !== undefined || init.raw !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers };
  const r = await fetch(new URL(path, base), { method: init.method ?? (init.body !== undefined || init.raw !== undefined ? 'POST' : 'GET'), headers, body: init.raw ?? (init.body !== undefined ? JSON.stringify(init.body) : undefined) });
  const text = await r.text();
  let body: Json = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: the text
  }
  return { status: r.status, body };
}

/** `sharpen serve` as a child process on a free port; resolves when it prints its address. */
export function serveChild(p: Project, extra: string[] = []): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/sharpen.js'), 'serve', '--root', p.root, '--store', p.store, '--port', '0', ...extra], {
    cwd: REPO_ROOT, env: { ...process.env, OMP_NUM_THREADS: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((ok, fail) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /dashboard: (http\S+)/.exec(out);
      if (m) ok({ child, url: m[1]! });
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => fail(new Error(`sharpen serve exited (${code}): ${err}`)));
  });
}
