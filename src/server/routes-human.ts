// The dashboard's routes that make images or take answers: generation, sample sets of several
// checkpoints (Compare, a run's samples), training runs, label pools and labels, user studies. The
// tensor work runs in worker child processes (jobs.ts); every answer is committed to the run store
// before the route answers.
import type { Hono } from 'hono';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { HttpError, intParam, jsonBody, ANNOTATOR_PATTERN, type ServerContext } from './http.js';
import { newId, readPool, listPools, nextPair, poolsDir, recordLabel, summarize, writePool, exportLabels, type Pool } from './labels.js';
import { makeComparisons, nextComparison, outcomeOf, readStudy, resultsCsv, resultsMarkdown, resultsSvg, sideImage, studiesDir, studyResults, writeStudy, type Study } from './study.js';
import { GenerateJobSchema, PoolJobSchema, StudyJobSchema, type StudyTrial } from './worker.js';

export interface CheckpointInfo {
  path: string;
  name: string;
  format: string;
  runId: number | null;
}

/** Model folders (config.json with a format) under checkpoints/ and the store's run folders. */
export function listCheckpoints(ctx: ServerContext): CheckpointInfo[] {
  const out: CheckpointInfo[] = [];
  const add = (dir: string, name: string, runId: number | null) => {
    const cfg = join(dir, 'config.json');
    if (!ctx.paths.isAllowed(dir) || !existsSync(cfg)) return;
    try {
      const format = (JSON.parse(readFileSync(cfg, 'utf8')) as { format?: unknown }).format;
      if (typeof format === 'string') out.push({ path: ctx.paths.toRel(dir), name, format, runId });
    } catch {
      // a folder whose config.json is not JSON is not offered
    }
  };
  const ck = join(ctx.root, 'checkpoints');
  if (existsSync(ck)) for (const e of readdirSync(ck, { withFileTypes: true })) if (e.isDirectory()) add(join(ck, e.name), e.name, null);
  for (const r of ctx.store.listRuns()) add(r.outDir, `run ${r.id}: ${r.name}`, r.id);
  return out;
}

/** A checkpoint folder given by a client: inside runs/ or checkpoints/, of the wanted format. */
function checkpoint(ctx: ServerContext, rel: string, format: string, field: string): string {
  let dir: string;
  try {
    dir = ctx.paths.resolve(rel, 'dir');
  } catch (e) {
    throw new HttpError((e as { status?: 400 | 403 | 404 }).status ?? 400, `${field}: ${(e as Error).message}`);
  }
  const cfg = join(dir, 'config.json');
  const have = existsSync(cfg) ? (JSON.parse(readFileSync(cfg, 'utf8')) as { format?: string }).format : undefined;
  if (have !== format) throw new HttpError(400, `${field}: '${rel}' is not a ${format} checkpoint${have ? ` (it is ${have})` : ' (no config.json)'}`);
  return dir;
}

const T2I = 'sharpen-t2i/1';
const PREFERENCE = 'sharpen-preference/1';
const annotator = z.string().regex(ANNOTATOR_PATTERN, 'must be 1–64 letters, digits, spaces or . _ @ -');

const SamplesBody = z.object({ ckpts: z.array(z.string()).min(1).max(8), prompts: z.number().int().min(1).max(64).default(4), seed: z.number().int().min(0).default(0), steps: z.number().int().min(1).max(1000).optional() }).strict();
const TrainBody = z.object({
  name: z.string().regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'must be a folder name: letters, digits, . _ - (1–64)'),
  method: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be a method name'),
  reward: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be a reward name').optional(),
  base: z.string().default('checkpoints/base'),
  steps: z.number().int().min(1).max(100_000),
  batch: z.number().int().min(1).max(4096).optional(),
  evalEvery: z.number().int().min(0).max(100_000).optional(),
  checkpointEvery: z.number().int().min(1).max(100_000).optional(),
  // --set may not move the run's folder, store or base: those are the fields above, checked
  set: z.array(z.string().regex(/^[A-Za-z][\w.]*=[^\s]{0,400}$/, 'must be key=value')
    .refine((a) => !/^(out|store|base)=/.test(a), 'out, store and base are set by the fields name and base, not by --set')).max(32).default([]),
}).strict();

function registerGenerateRoutes(app: Hono, ctx: ServerContext): void {
  app.get('/api/checkpoints', (c) => c.json({ checkpoints: listCheckpoints(ctx) }));
  app.post('/api/generate', async (c) => {
    const body = await jsonBody(c, GenerateJobSchema.omit({ kind: true }));
    const ckpt = checkpoint(ctx, body.ckpt, T2I, 'ckpt');
    const id = newId('gen');
    const out = join(ctx.root, 'runs', 'dashboard', 'generated', id);
    const r = await ctx.jobs.runWorker<{ images: string[]; nfePerImage: number; seconds: number }>({ ...body, kind: 'generate', ckpt }, out)
      .catch((e: Error) => { throw new HttpError(400, e.message); });
    return c.json({ id, ...r, images: r.images.map((f) => ctx.paths.toRel(join(out, f))) });
  });
  // the same prompts and initial noises through several checkpoints (Compare; a run's samples)
  app.post('/api/samples', async (c) => {
    const body = await jsonBody(c, SamplesBody);
    const ckpts = body.ckpts.map((p, i) => checkpoint(ctx, p, T2I, `ckpts.${i}`));
    const id = newId('samples');
    const out = join(ctx.root, 'runs', 'dashboard', 'samples', id);
    const r = await ctx.jobs.runWorker<{ trials: StudyTrial[] }>({ kind: 'study', ckpts: ckpts.length === 1 ? [ckpts[0]!, ckpts[0]!] : ckpts, prompts: body.prompts, seed: body.seed, steps: body.steps }, out)
      .catch((e: Error) => { throw new HttpError(400, e.message); });
    return c.json({
      id, ckpts: body.ckpts,
      rows: r.trials.map((t) => ({ prompt: t.prompt, images: t.images.slice(0, body.ckpts.length).map((f) => ctx.paths.toRel(join(out, f))) })),
    });
  });
  // a run's sample grids at its base and at each of its training checkpoints
  app.post('/api/runs/:id/grids', async (c) => {
    const id = intParam(c, 'id');
    const run = ctx.store.getRun(id);
    if (!run) throw new HttpError(404, `run ${id}: no such run`);
    const body = await jsonBody(c, z.object({ prompts: z.number().int().min(1).max(16).default(4), seed: z.number().int().min(0).default(0), steps: z.number().int().min(1).max(1000).optional() }).strict());
    const cfgFile = join(run.outDir, 'finetune-config.json');
    if (!ctx.paths.isAllowed(run.outDir) || !existsSync(cfgFile)) throw new HttpError(400, `run ${id}: not a fine-tuning run folder inside runs/ (no finetune-config.json)`);
    const cfg = run.config as { base?: unknown; loraRank?: unknown; loraAlpha?: unknown };
    const base = typeof cfg.base === 'string' ? resolve(ctx.root, cfg.base) : '';
    if (!base || !ctx.paths.isAllowed(base)) throw new HttpError(400, `run ${id}: its base '${String(cfg.base)}' is not inside runs/ or checkpoints/`);
    const out = join(ctx.root, 'runs', 'dashboard', 'grids', newId('grids'));
    const r = await ctx.jobs.runWorker<{ grids: { step: number; image: string }[] }>({
      kind: 'run-grids', run: run.outDir, base, loraRank: typeof cfg.loraRank === 'number' ? cfg.loraRank : 0,
      loraAlpha: typeof cfg.loraAlpha === 'number' ? cfg.loraAlpha : null, prompts: body.prompts, seed: body.seed, steps: body.steps,
    }, out).catch((e: Error) => { throw new HttpError(400, e.message); });
    return c.json({ grids: r.grids.map((g) => ({ step: g.step, image: ctx.paths.toRel(join(out, g.image)) })) });
  });
  app.post('/api/train', async (c) => {
    const b = await jsonBody(c, TrainBody);
    const base = checkpoint(ctx, b.base, T2I, 'base');
    const out = join(ctx.root, 'runs', b.name);
    if (existsSync(out)) throw new HttpError(409, `name: runs/${b.name} exists already; choose another name`);
    const args = ['--method', b.method, '--steps', String(b.steps), '--base', base, '--out', out, '--store', ctx.store.path];
    if (b.reward) args.push('--reward', b.reward);
    if (b.batch) args.push('--batch', String(b.batch));
    if (b.evalEvery !== undefined) args.push('--eval-every', String(b.evalEvery));
    if (b.checkpointEvery) args.push('--checkpoint-every', String(b.checkpointEvery));
    for (const s of b.set) args.push('--set', s);
    return c.json({ job: ctx.jobs.startTraining(args, ctx.paths.toRel(out)) });
  });
  app.get('/api/train', (c) => c.json({ jobs: ctx.jobs.listTraining() }));
  app.post('/api/train/:job/stop', (c) => {
    const id = intParam(c, 'job');
    const job = ctx.jobs.getTraining(id);
    if (!job) throw new HttpError(404, `training job ${id}: no such job`);
    if (!ctx.jobs.stopTraining(id)) throw new HttpError(409, `training job ${id}: not running (${job.status})`);
    return c.json({ job });
  });
}

function getPool(ctx: ServerContext, id: string): Pool {
  const pool = readPool(ctx.root, id);
  if (!pool) throw new HttpError(404, `pool '${id}': no such pool`);
  return pool;
}

function registerLabelRoutes(app: Hono, ctx: ServerContext): void {
  app.get('/api/pools', (c) => c.json({ pools: listPools(ctx.root).map((p) => ({ ...p, pairs: p.pairs.length, answered: ctx.store.labels({ pool: p.id }).length })) }));
  app.post('/api/pools', async (c) => {
    const body = await jsonBody(c, PoolJobSchema.omit({ kind: true }));
    const ckpt = checkpoint(ctx, body.ckpt, T2I, 'ckpt');
    const preference = body.preference ? checkpoint(ctx, body.preference, PREFERENCE, 'preference') : undefined;
    if (body.rank === 'uncertain' && !preference) throw new HttpError(400, "rank: 'uncertain' needs a preference checkpoint (field 'preference')");
    const id = newId('pool');
    const dir = join(poolsDir(ctx.root), id);
    const r = await ctx.jobs.runWorker<{ pairs: Pool['pairs'] }>({ ...body, kind: 'pool', ckpt, preference }, dir)
      .catch((e: Error) => { throw new HttpError(400, e.message); });
    const pool: Pool = { id, ckpt: body.ckpt, preference: body.preference ?? null, rank: body.rank, createdAt: new Date().toISOString(), pairs: r.pairs };
    writePool(ctx.root, pool);
    return c.json({ pool: { ...pool, pairs: pool.pairs.length } });
  });
  app.get('/api/pools/:id/next', (c) => {
    const pool = getPool(ctx, c.req.param('id'));
    const pair = nextPair(ctx.store, pool);
    const dir = relative(ctx.root, join(poolsDir(ctx.root), pool.id)).split('\\').join('/');
    const left = pool.pairs.length - ctx.store.labels({ pool: pool.id }).length;
    return c.json({ pair: pair && { ...pair, imageA: `${dir}/${pair.imageA}`, imageB: `${dir}/${pair.imageB}` }, left });
  });
  app.post('/api/labels', async (c) => {
    const b = await jsonBody(c, z.object({ pool: z.string().min(1).max(100), pair: z.string().min(1).max(100), choice: z.enum(['A', 'B', 'tie', 'skip']), annotator }).strict());
    const pool = getPool(ctx, b.pool);
    const pair = pool.pairs.find((p) => p.id === b.pair);
    if (!pair) throw new HttpError(404, `pair '${b.pair}': not in pool ${pool.id}`);
    const id = recordLabel(ctx.store, ctx.root, pool, pair, b.choice, b.annotator); // committed before the answer
    return c.json({ id, ...summarize(ctx.store.labels()) });
  });
  app.get('/api/labels', (c) => {
    const labels = ctx.store.labels();
    return c.json({ ...summarize(labels), labels: labels.slice(-200).map((l) => ({ ...l, imageA: ctx.paths.toRel(l.imageA), imageB: ctx.paths.toRel(l.imageB) })) });
  });
  app.post('/api/labels/export', async (c) => {
    const b = await jsonBody(c, z.object({ out: z.string().regex(/^runs\/[\w./-]{1,200}$/, "must be a folder under runs/, e.g. 'runs/labels'").refine((p) => !p.split('/').includes('..'), "must not hold '..'").default('runs/labels') }).strict());
    const r = exportLabels(ctx.store, join(ctx.root, b.out));
    return c.json({ pairs: r.pairs, file: ctx.paths.toRel(r.file) });
  });
}

function getStudy(ctx: ServerContext, id: string): Study {
  const s = readStudy(ctx.root, id);
  if (!s) throw new HttpError(404, `study '${id}': no such study`);
  return s;
}

function registerStudyRoutes(app: Hono, ctx: ServerContext): void {
  app.post('/api/studies', async (c) => {
    const body = await jsonBody(c, StudyJobSchema.omit({ kind: true }));
    const ckpts = body.ckpts.map((p, i) => checkpoint(ctx, p, T2I, `ckpts.${i}`));
    if (new Set(ckpts).size !== ckpts.length) throw new HttpError(400, 'ckpts: the same checkpoint is given twice');
    const id = newId('study');
    const dir = join(studiesDir(ctx.root), id);
    const r = await ctx.jobs.runWorker<{ trials: StudyTrial[] }>({ ...body, kind: 'study', ckpts }, dir).catch((e: Error) => { throw new HttpError(400, e.message); });
    mkdirSync(dir, { recursive: true });
    const names = body.ckpts.map((p) => listCheckpoints(ctx).find((k) => k.path === p)?.name ?? p);
    const study: Study = { id, ckpts: body.ckpts, names, createdAt: new Date().toISOString(), trials: r.trials, comparisons: makeComparisons(r.trials, ckpts.length, body.seed) };
    writeStudy(ctx.root, study);
    return c.json({ study: { id, comparisons: study.comparisons.length, models: ckpts.length } });
  });
  // the next comparison, blind: the prompt and two image addresses that do not name the models
  app.get('/api/studies/:id/next', (c) => {
    const s = getStudy(ctx, c.req.param('id'));
    const cmp = nextComparison(ctx.store, s);
    const left = s.comparisons.length - ctx.store.studyVotes(s.id).length;
    if (!cmp) return c.json({ comparison: null, left });
    const prompt = s.trials.find((t) => t.id === cmp.trial)!.prompt;
    const img = (side: string) => `/api/studies/${s.id}/image/${cmp.id}/${side}`;
    return c.json({ comparison: { id: cmp.id, prompt, left: img('left'), right: img('right') }, left });
  });
  app.get('/api/studies/:id/image/:cmp/:side', (c) => {
    const s = getStudy(ctx, c.req.param('id'));
    const cmp = s.comparisons.find((k) => k.id === c.req.param('cmp'));
    const side = c.req.param('side');
    if (!cmp) throw new HttpError(404, `comparison '${c.req.param('cmp')}': not in study ${s.id}`);
    if (side !== 'left' && side !== 'right') throw new HttpError(400, `side: expected left or right, got '${side}'`);
    return c.body(readFileSync(join(studiesDir(ctx.root), s.id, sideImage(s, cmp, side))), 200, { 'content-type': 'image/png' });
  });
  app.post('/api/studies/:id/answer', async (c) => {
    const s = getStudy(ctx, c.req.param('id'));
    const b = await jsonBody(c, z.object({ comparison: z.string().min(1).max(100), choice: z.enum(['left', 'right', 'tie']), annotator }).strict());
    const cmp = s.comparisons.find((k) => k.id === b.comparison);
    if (!cmp) throw new HttpError(404, `comparison '${b.comparison}': not in study ${s.id}`);
    const prompt = s.trials.find((t) => t.id === cmp.trial)!.prompt;
    const id = ctx.store.addStudyVote({ study: s.id, trialId: cmp.id, prompt, modelX: s.ckpts[cmp.x]!, modelY: s.ckpts[cmp.y]!, outcome: outcomeOf(cmp, b.choice), annotator: b.annotator });
    return c.json({ id, answered: ctx.store.studyVotes(s.id).length, total: s.comparisons.length });
  });
  app.get('/api/studies/:id/results', (c) => {
    const s = getStudy(ctx, c.req.param('id'));
    const rows = studyResults(ctx.store, s);
    const format = c.req.query('format') ?? 'json';
    if (format === 'md') return c.text(resultsMarkdown(rows), 200, { 'content-type': 'text/markdown; charset=utf-8' });
    if (format === 'csv') return c.text(resultsCsv(rows), 200, { 'content-type': 'text/csv; charset=utf-8' });
    if (format === 'svg') return c.body(resultsSvg(rows), 200, { 'content-type': 'image/svg+xml' });
    if (format !== 'json') throw new HttpError(400, `format: expected json, md, csv or svg, got '${format}'`);
    return c.json({ study: { id: s.id, names: s.names, comparisons: s.comparisons.length }, results: rows });
  });
}

export function registerHumanRoutes(app: Hono, ctx: ServerContext): void {
  registerGenerateRoutes(app, ctx);
  registerLabelRoutes(app, ctx);
  registerStudyRoutes(app, ctx);
}
