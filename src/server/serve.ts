// Starts the dashboard: the run store, the project's paths, the job runner and the hono app on
// @hono/node-server. It binds 127.0.0.1 unless told otherwise; on any other host a token is required
// (given, or generated here and returned so that the command prints it).
import { serve, type ServerType } from '@hono/node-server';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { RunStore, DEFAULT_STORE_PATH } from '../store/runs.js';
import { createApp } from './app.js';
import { Jobs, REPO_ROOT } from './jobs.js';
import { ProjectPaths } from './paths.js';

export interface ServeOptions {
  /** the project folder whose runs/ and checkpoints/ are shown (default: the current folder) */
  root?: string;
  /** the run store (default <root>/runs/store.sqlite) */
  store?: string;
  host?: string;
  /** 0: any free port */
  port?: number;
  token?: string;
  /** how often live views poll the store, ms (default 500) */
  pollMs?: number;
  /** threads of each worker and training process (default 1) */
  threads?: number;
}

export interface RunningServer {
  url: string;
  /** the token every request needs, or null on a loopback host without one */
  token: string | null;
  port: number;
  store: RunStore;
  close(): Promise<void>;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export async function startServer(opts: ServeOptions = {}): Promise<RunningServer> {
  const root = resolve(opts.root ?? '.');
  const host = opts.host ?? '127.0.0.1';
  if (opts.token !== undefined && !/^[\x21-\x7e]{16,256}$/.test(opts.token)) {
    throw new Error('--token must be 16–256 printable characters without spaces');
  }
  const token = opts.token ?? (isLoopback(host) ? null : randomBytes(24).toString('base64url'));
  const store = new RunStore(opts.store ?? join(root, DEFAULT_STORE_PATH));
  const jobs = new Jobs({ threads: opts.threads });
  const app = createApp({ store, paths: new ProjectPaths(root), jobs, root, webDist: join(REPO_ROOT, 'web', 'dist'), pollMs: opts.pollMs ?? 500 }, token);
  const server = await new Promise<ServerType>((ok, fail) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: opts.port ?? 7860 }, () => ok(s));
    s.once('error', fail);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 7860);
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`, token, port, store,
    close: () => new Promise<void>((ok) => {
      jobs.killAll();
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      server.close(() => {
        store.close();
        ok();
      });
    }),
  };
}
