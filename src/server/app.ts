// The dashboard's HTTP server (hono): token auth, a body size limit, the JSON API over the run store,
// live metrics over server-sent events, files from the project's run and checkpoint folders, and the
// built front end (web/dist). The routes of generation, training, labels and user studies are in
// routes-human.ts. Every route answers JSON; an error is {"error": "..."} with its status.
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import type { RunRow } from '../store/runs.js';
import { HttpError, intParam, type ServerContext } from './http.js';
import { PathError } from './paths.js';
import { registerHumanRoutes } from './routes-human.js';

export const BODY_LIMIT_BYTES = 64 * 1024;
export const TOKEN_COOKIE = 'sharpen_token';

const TYPES: Record<string, string> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.svg': 'image/svg+xml', '.json': 'application/json',
  '.jsonl': 'application/x-ndjson', '.txt': 'text/plain; charset=utf-8', '.md': 'text/markdown; charset=utf-8',
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
};

function sameToken(given: string | undefined, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A run as the Runs page lists it: its row with progress, the last reward and wall-clock. */
export function runSummary(ctx: ServerContext, r: RunRow): Record<string, unknown> {
  const latest = ctx.store.latestMetrics(r.id);
  const step = latest.step ?? 0;
  const steps = typeof r.config.steps === 'number' ? r.config.steps : null;
  const end = r.finishedAt ? Date.parse(r.finishedAt) : Date.now();
  return {
    id: r.id, name: r.name, method: r.method, status: r.status, startedAt: r.startedAt, finishedAt: r.finishedAt, error: r.error,
    outDir: ctx.paths.isAllowed(r.outDir) ? ctx.paths.toRel(r.outDir) : null, step, steps, progress: steps ? Math.min(1, step / steps) : null,
    reward: latest.values.rewardMean ?? null, heldOut: latest.values.heldOut ?? null, loss: latest.values.loss ?? null,
    wallClockSec: Math.max(0, (end - Date.parse(r.startedAt)) / 1000),
  };
}

function getRun(ctx: ServerContext, c: Context): RunRow {
  const id = intParam(c, 'id');
  const run = ctx.store.getRun(id);
  if (!run) throw new HttpError(404, `run ${id}: no such run in ${ctx.store.path}`);
  return run;
}

/** PNG files under a folder (depth ≤ 3, at most 200), relative to the project. */
function imagesUnder(ctx: ServerContext, dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 3 || out.length >= 200 || !existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.isDirectory() && !e.name.startsWith('.')) walk(join(d, e.name), depth + 1);
      else if (e.isFile() && e.name.endsWith('.png') && out.length < 200) out.push(ctx.paths.toRel(join(d, e.name)));
    }
  };
  if (ctx.paths.isAllowed(dir)) walk(dir, 0);
  return out;
}

function registerRunRoutes(app: Hono, ctx: ServerContext): void {
  app.get('/api/health', (c) => c.json({ ok: true, store: ctx.store.path }));
  app.get('/api/runs', (c) => c.json({ runs: ctx.store.listRuns().map((r) => runSummary(ctx, r)) }));
  app.get('/api/runs/:id', (c) => {
    const r = getRun(ctx, c);
    const summaryFile = join(r.outDir, 'summary.json');
    return c.json({
      run: runSummary(ctx, r), config: r.config, metrics: ctx.store.metrics(r.id), images: imagesUnder(ctx, r.outDir),
      summary: ctx.paths.isAllowed(summaryFile) && existsSync(summaryFile) ? JSON.parse(readFileSync(summaryFile, 'utf8')) : null,
    });
  });
  app.get('/api/compare', (c) => {
    const ids = (c.req.query('runs') ?? '').split(',').filter(Boolean);
    if (ids.length < 2) throw new HttpError(400, "runs: give two or more run ids, e.g. ?runs=1,2");
    return c.json({
      runs: ids.map((v) => {
        if (!/^\d{1,12}$/.test(v)) throw new HttpError(400, `runs: '${v}' is not a run id`);
        const r = ctx.store.getRun(Number(v));
        if (!r) throw new HttpError(404, `run ${v}: no such run`);
        return { run: runSummary(ctx, r), metrics: ctx.store.metrics(r.id) };
      }),
    });
  });
  // live metrics: every row logged after ?after=STEP, then new rows as they come (the store is polled)
  app.get('/api/runs/:id/events', (c) => {
    const run = getRun(ctx, c);
    const after = c.req.query('after');
    if (after !== undefined && !/^-?\d{1,12}$/.test(after)) throw new HttpError(400, `after: expected a step number, got '${after}'`);
    return streamSSE(c, async (stream) => {
      let last = after === undefined ? -1 : Number(after);
      let status = '';
      let open = true;
      stream.onAbort(() => {
        open = false;
      });
      while (open) {
        const rows = ctx.store.metricsAfter(run.id, last);
        if (rows.length) {
          last = rows.at(-1)!.step;
          await stream.writeSSE({ event: 'metrics', data: JSON.stringify(rows.map((m) => ({ ...m, value: Number.isFinite(m.value) ? m.value : null }))) });
        }
        const now = ctx.store.getRun(run.id)!;
        if (now.status !== status) {
          status = now.status;
          await stream.writeSSE({ event: 'status', data: JSON.stringify(runSummary(ctx, now)) });
        }
        if (status !== 'running' && !rows.length) break;
        await stream.sleep(ctx.pollMs);
      }
    });
  });
}

function registerFileRoutes(app: Hono, ctx: ServerContext): void {
  app.get('/api/file', (c) => {
    const rel = c.req.query('path');
    if (rel === undefined) throw new HttpError(400, 'path: missing (?path=runs/…)');
    const file = ctx.paths.resolve(rel, 'file');
    const type = TYPES[extname(file).toLowerCase()];
    if (!type) throw new HttpError(403, `path: '${rel}': only images and text files are served`);
    return c.body(readFileSync(file), 200, { 'content-type': type, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff' });
  });
  // the front end: files of web/dist, and index.html for every other page path
  app.get('*', (c) => {
    let p: string;
    try {
      p = decodeURIComponent(new URL(c.req.url).pathname);
    } catch {
      throw new HttpError(400, 'the address is not valid URL encoding');
    }
    if (p.startsWith('/api/')) throw new HttpError(404, `${p}: no such route`);
    const dist = resolve(ctx.webDist);
    const asset = resolve(dist, '.' + p);
    const file = p !== '/' && asset.startsWith(dist + '/') && existsSync(asset) && statSync(asset).isFile() ? asset : join(dist, 'index.html');
    if (!existsSync(file)) return c.text('the front end is not built: npm run build:web', 500);
    return c.body(readFileSync(file), 200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
  });
}

/** The dashboard app; `token` (when given) is required on every request. */
export function createApp(ctx: ServerContext, token: string | null): Hono {
  const app = new Hono();
  app.onError((e, c) => {
    if (e instanceof HttpError || e instanceof PathError) return c.json({ error: e.message }, e.status);
    return c.json({ error: (e as Error).message }, 500);
  });
  if (token) {
    app.use('*', async (c, next) => {
      const q = c.req.query('token');
      if (q !== undefined && sameToken(q, token)) {
        setCookie(c, TOKEN_COOKIE, token, { httpOnly: true, sameSite: 'Strict', path: '/' });
        return next();
      }
      const bearer = /^Bearer (.+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
      if (sameToken(bearer, token) || sameToken(getCookie(c, TOKEN_COOKIE), token)) return next();
      const given = q !== undefined || bearer !== undefined || getCookie(c, TOKEN_COOKIE) !== undefined;
      return c.json({ error: given ? 'wrong token' : 'missing token: open the address the server printed (…/?token=…) or send Authorization: Bearer <token>' }, 401);
    });
  }
  app.use('/api/*', bodyLimit({ maxSize: BODY_LIMIT_BYTES, onError: (c) => c.json({ error: `body: larger than ${BODY_LIMIT_BYTES} bytes` }, 413) }));
  registerRunRoutes(app, ctx);
  registerHumanRoutes(app, ctx);
  registerFileRoutes(app, ctx);
  return app;
}
