// The dashboard's work outside its own thread: the tensor jobs of src/server/worker.ts, each in a
// child process (one at a time, queued), and training runs, each a child process
// `sharpen finetune … --store <the server's store>` that the page can stop (SIGINT: the run saves a
// checkpoint after its step and exits, as on Ctrl-C; SIGKILL when it has not exited 30 s later).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import type { WorkerJob } from './worker.js';

/** The repository this code runs from (bin/, src/, node_modules/). */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

const LOG_TAIL = 40;

export interface TrainingJob {
  id: number;
  args: string[];
  out: string;
  pid: number | null;
  status: 'running' | 'finished' | 'failed' | 'stopped';
  exitCode: number | null;
  startedAt: string;
  /** the last lines the run wrote */
  log: string[];
}

export class Jobs {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly training = new Map<number, { job: TrainingJob; child: ChildProcess }>();
  private nextId = 1;
  private readonly children = new Set<ChildProcess>();

  constructor(private readonly opts: { threads?: number; workerTimeoutMs?: number } = {}) {}

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, OMP_NUM_THREADS: String(this.opts.threads ?? 1) };
  }

  /** Runs a worker job in a child process after the ones before it; resolves to its JSON result. */
  runWorker<T = Record<string, unknown>>(job: WorkerJob, out: string): Promise<T> {
    const run = () => new Promise<T>((resolvePromise, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/server/worker.ts'), JSON.stringify(job), out], {
        cwd: REPO_ROOT, env: this.env(), stdio: ['ignore', 'pipe', 'pipe'],
      });
      this.children.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
      const timer = setTimeout(() => child.kill('SIGKILL'), this.opts.workerTimeoutMs ?? 600_000);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        this.children.delete(child);
        if (code === 0) {
          try {
            resolvePromise(JSON.parse(stdout.trim().split('\n').at(-1)!) as T);
          } catch {
            reject(new Error(`${job.kind}: the worker's output is not JSON: ${stdout.slice(0, 200)}`));
          }
        } else {
          const why = stderr.trim().split('\n').filter(Boolean).at(-1) ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
          reject(new Error(`${job.kind}: ${why}`));
        }
      });
    });
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  /** Starts `sharpen finetune <args>` as a child process; returns its job. */
  startTraining(args: string[], out: string): TrainingJob {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/sharpen.js'), 'finetune', ...args], {
      cwd: REPO_ROOT, env: this.env(), stdio: ['ignore', 'pipe', 'pipe'],
    });
    const job: TrainingJob = {
      id: this.nextId++, args, out, pid: child.pid ?? null, status: 'running', exitCode: null, startedAt: new Date().toISOString(), log: [],
    };
    const append = (d: Buffer) => {
      for (const line of d.toString().split(/[\r\n]+/)) if (line.trim()) job.log.push(line);
      job.log.splice(0, Math.max(0, job.log.length - LOG_TAIL));
    };
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    child.on('error', (e) => {
      job.status = 'failed';
      job.log.push(e.message);
    });
    child.on('close', (code) => {
      this.children.delete(child);
      job.exitCode = code;
      if (job.status === 'running') job.status = code === 0 ? 'finished' : 'failed';
      else if (job.status === 'stopped' && code === 0) job.status = 'finished';
    });
    this.children.add(child);
    this.training.set(job.id, { job, child });
    return job;
  }

  listTraining(): TrainingJob[] {
    return [...this.training.values()].map((t) => t.job).reverse();
  }

  getTraining(id: number): TrainingJob | null {
    return this.training.get(id)?.job ?? null;
  }

  /** Asks a training run to stop (SIGINT, then SIGKILL after `graceMs`). False when it is not running. */
  stopTraining(id: number, graceMs = 30_000): boolean {
    const t = this.training.get(id);
    if (!t || t.job.status !== 'running') return false;
    t.job.status = 'stopped';
    t.child.kill('SIGINT');
    const timer = setTimeout(() => t.child.kill('SIGKILL'), graceMs);
    timer.unref();
    t.child.once('close', () => clearTimeout(timer));
    return true;
  }

  /** Kills every child process (the server is closing). */
  killAll(): void {
    for (const c of this.children) c.kill('SIGKILL');
  }
}
