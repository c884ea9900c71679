// A launcher like torchrun: starts `nprocPerNode` workers on this machine, each with the
// environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT) and OMP_NUM_THREADS = this machine's cores / workers, so that a script started by
// another launcher runs the same. It forwards SIGINT and SIGTERM to every worker; when one worker
// fails (a non-zero exit or a signal) it stops the others and reports that worker's error with the
// end of its output. Workers' stdout is passed through; their stderr too, and its last lines are
// kept for the report. Each worker runs in its own process group, so that a Ctrl-C in the terminal
// reaches the launcher alone, which passes it on once (a second Ctrl-C would make a fine-tuning
// worker quit without its checkpoint); a worker whose launcher is gone stops itself (index.ts).
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';

export interface LaunchOptions {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
  /** OMP_NUM_THREADS of each worker (default: this machine's cores / nprocPerNode, at least 1) */
  threadsPerWorker?: number;
  /** the program and its arguments (run with the environment above) */
  command: string[];
  /** how long the other workers get to exit after SIGTERM before SIGKILL (default 5 s) */
  graceMs?: number;
  /** where the launcher's own messages go (default stderr) */
  log?: (msg: string) => void;
}

/** The first worker that failed: its rank, how it ended, and the last lines it wrote to stderr. */
export interface WorkerFailure {
  rank: number;
  localRank: number;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  tail: string;
}

export interface LaunchResult {
  /** the exit status the launcher should end with: 0 when every worker succeeded */
  exitCode: number;
  failure: WorkerFailure | null;
}

const TAIL_LINES = 40;
/** After a first failure, how long other failures are collected before the rest are stopped. */
const SETTLE_MS = 1000;
/** The errors of a worker whose peer died (not the cause of a failure, when another worker failed too). */
const PEER_ERROR = /a peer process closed its connection|Connection (closed|reset) by peer|did not complete within the time-out|Timed out/i;

/** Of the failures seen, the cause: the first whose error is not a lost peer, else the first. */
export function rootFailure(failures: WorkerFailure[]): WorkerFailure | null {
  return failures.find((f) => f.signal !== null || !PEER_ERROR.test(f.tail)) ?? failures[0] ?? null;
}

/** Checks the launch options; every problem names its flag. */
export function checkLaunchOptions(o: LaunchOptions): void {
  const int = (v: number, flag: string, min: number): void => {
    if (!Number.isSafeInteger(v) || v < min) throw new Error(`launch: --${flag} must be an integer ≥ ${min}, got ${v}`);
  };
  int(o.nprocPerNode, 'nproc-per-node', 1);
  int(o.nnodes, 'nnodes', 1);
  int(o.nodeRank, 'node-rank', 0);
  if (o.nodeRank >= o.nnodes) throw new Error(`launch: --node-rank ${o.nodeRank} must be below --nnodes ${o.nnodes}`);
  int(o.masterPort, 'master-port', 1);
  if (o.masterPort > 65535) throw new Error(`launch: --master-port must be a port number (1-65535), got ${o.masterPort}`);
  if (!o.masterAddr) throw new Error('launch: --master-addr must name the machine of rank 0');
  if (o.threadsPerWorker !== undefined) int(o.threadsPerWorker, 'threads-per-worker', 1);
  if (o.command.length === 0) throw new Error('launch: no command given: put it after --, e.g. `sharpen launch --nproc-per-node 2 -- finetune --method rlhf-sharpening …`');
}

/** The environment of the worker with local rank `localRank`. */
export function workerEnv(o: LaunchOptions, localRank: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const threads = o.threadsPerWorker ?? Math.max(1, Math.floor(availableParallelism() / o.nprocPerNode));
  return {
    ...base,
    RANK: String(o.nodeRank * o.nprocPerNode + localRank),
    WORLD_SIZE: String(o.nnodes * o.nprocPerNode),
    LOCAL_RANK: String(localRank),
    LOCAL_WORLD_SIZE: String(o.nprocPerNode),
    GROUP_RANK: String(o.nodeRank),
    MASTER_ADDR: o.masterAddr,
    MASTER_PORT: String(o.masterPort),
    OMP_NUM_THREADS: String(threads),
  };
}

function describeEnd(f: WorkerFailure): string {
  return f.signal ? `was killed by ${f.signal}` : `exited with code ${f.code}`;
}

/** The report of a failed launch: which worker failed, how, and the end of its stderr. */
export function describeFailure(f: WorkerFailure): string {
  return `launch: worker rank ${f.rank} (local rank ${f.localRank}, pid ${f.pid ?? '?'}) ${describeEnd(f)}; the other workers were stopped.` +
    (f.tail ? `\nits last output:\n${f.tail}` : '\n(it wrote nothing to stderr)');
}

/**
 * Runs the workers until all have exited. The first failure stops the rest (SIGTERM, then SIGKILL
 * after the grace period) and is returned with its output's tail.
 */
export function launch(o: LaunchOptions): Promise<LaunchResult> {
  checkLaunchOptions(o);
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'));
  const graceMs = o.graceMs ?? 5000;
  const [program, ...args] = o.command as [string, ...string[]];
  const children: ChildProcess[] = [];
  const tails: string[][] = [];
  const failures: WorkerFailure[] = [];
  let settleTimer: NodeJS.Timeout | null = null;
  let stopping: NodeJS.Signals | null = null;
  let killTimer: NodeJS.Timeout | null = null;

  const stopAll = (sig: NodeJS.Signals): void => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
    if (!killTimer) {
      killTimer = setTimeout(() => {
        for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      }, graceMs);
      killTimer.unref();
    }
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      return;
    }
    stopping = sig;
    if (settleTimer) clearTimeout(settleTimer);
    log(`launch: ${sig} received; passing it to the workers`);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  return new Promise((resolve, reject) => {
    let running = o.nprocPerNode;
    for (let local = 0; local < o.nprocPerNode; local++) {
      const tail: string[] = [];
      tails.push(tail);
      const child = spawn(program, args, { env: { ...workerEnv(o, local), SHARPEN_LAUNCHER_PID: String(process.pid) }, stdio: ['ignore', 'inherit', 'pipe'], detached: true });
      children.push(child);
      const rank = o.nodeRank * o.nprocPerNode + local;
      let partial = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        process.stderr.write(chunk);
        const lines = (partial + chunk.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        tail.push(...lines);
        if (tail.length > TAIL_LINES) tail.splice(0, tail.length - TAIL_LINES);
      });
      child.on('error', (e) => {
        stopAll('SIGTERM');
        reject(new Error(`launch: cannot start ${program} (${e.message})`));
      });
      child.on('close', (code, signal) => {
        if (partial) tail.push(partial);
        // a worker stopped by the launcher itself (after another failed) is not a failure
        if (code !== 0 && !stopping && !killTimer) {
          failures.push({ rank, localRank: local, pid: child.pid, code, signal, tail: tail.join('\n') });
          settleTimer ??= setTimeout(() => stopAll('SIGTERM'), SETTLE_MS);
        }
        if (--running === 0) {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          if (killTimer) clearTimeout(killTimer);
          if (settleTimer) clearTimeout(settleTimer);
          const failure = rootFailure(failures);
          const exitCode = stopping ? 128 + (stopping === 'SIGINT' ? 2 : 15) : failure ? (failure.code && failure.code > 0 ? failure.code : 1) : 0;
          resolve({ exitCode, failure });
        }
      });
    }
  });
}
