// What the dashboard's routes share: errors with an HTTP status, JSON bodies checked with zod, ids
// from the URL, and the context every route reads (the store, the project's paths, the jobs).
import type { Context } from 'hono';
import type { z } from 'zod';
import type { RunStore } from '../store/runs.js';
import type { ProjectPaths } from './paths.js';
import type { Jobs } from './jobs.js';

export class HttpError extends Error {
  constructor(readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 500, message: string) {
    super(message);
  }
}

export interface ServerContext {
  store: RunStore;
  paths: ProjectPaths;
  jobs: Jobs;
  /** the project folder: runs/ and checkpoints/ are in it */
  root: string;
  /** the built front end (index.html and assets/) */
  webDist: string;
  /** how often a live view polls the store (ms) */
  pollMs: number;
}

/** The request's JSON body checked against `schema`; a clear 400/415 otherwise. */
export async function jsonBody<T>(c: Context, schema: z.ZodType<T>): Promise<T> {
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) throw new HttpError(415, `body: expected Content-Type application/json, got '${type || 'none'}'`);
  let raw: unknown;
  try {
    raw = JSON.parse(await c.req.text());
  } catch {
    throw new HttpError(400, 'body: not valid JSON');
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.length ? issue.path.join('.') : '(body)';
    const msg = issue.code === 'unrecognized_keys' ? `unknown field(s) ${(issue as { keys: string[] }).keys.map((k) => `'${k}'`).join(', ')}` : issue.message;
    throw new HttpError(400, `body: field '${field}': ${msg}`);
  }
  return r.data;
}

/** A positive integer id from the URL, or a 400 naming it. */
export function intParam(c: Context, name: string): number {
  const v = c.req.param(name) ?? '';
  const n = Number(v);
  if (!/^\d{1,12}$/.test(v) || !Number.isSafeInteger(n)) throw new HttpError(400, `${name}: expected a positive integer, got '${v}'`);
  return n;
}

/** A name a person types for themselves: letters, digits, space, . _ @ - (1–64). */
export const ANNOTATOR_PATTERN = /^[\w .@-]{1,64}$/;
