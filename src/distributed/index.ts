// torch.distributed for this project: one process group per process over libtorch's c10d (the
// addon's native/src/distributed.cc): a TCPStore rendezvous, Gloo on CPUs and NCCL on GPUs (when the
// addon was built with it). The names follow PyTorch's torch.distributed: initProcessGroup,
// getRank, getWorldSize, allReduce, broadcast, allGather, barrier, destroyProcessGroup. `env://`
// initialisation reads RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as torchrun and
// `sharpen launch` set them. Collectives block until done; a dead peer or a time-out is an Error.
//
// This folder is the one place beside src/torch/ that calls the addon: the c10d functions take and
// return tensor handles, converted here with src/torch/'s internal handleOf and wrapHandle.
import { N } from '../torch/native.js';
import { handleOf, wrapHandle, type Tensor } from '../torch/tensor.js';
import { fromTypedArray } from '../torch/creation.js';
import { DTYPES } from '../torch/dtype.js';

const D = N;

/** Runs a collective; a lost peer's error says so (the peer's own error is the cause to look at). */
function collective<T>(op: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const m = (e as Error).message;
    if (/Connection (closed|reset) by peer|Broken pipe|Connection refused/i.test(m)) {
      throw new Error(`${op}: a peer process closed its connection (it has probably failed; its own error is the cause) [${m}]`);
    }
    if (/Timed out|timeout|time-out/i.test(m)) throw new Error(`${op}: a peer did not answer within the time-out of ${D.distInfo()?.timeoutMs ?? '?'} ms [${m}]`);
    throw e;
  }
}

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'max' | 'min' | 'product';

/** The default time-out of a rendezvous and of every collective (PyTorch's default is 30 minutes). */
export const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

export interface InitOptions {
  backend?: Backend;
  /** 'env://' (the default): rank, world size, master address and port from the environment */
  initMethod?: 'env://';
  rank?: number;
  worldSize?: number;
  masterAddr?: string;
  masterPort?: number;
  /** time-out of the rendezvous and of every collective, in ms (env SHARPEN_DIST_TIMEOUT_MS, else 30 min) */
  timeoutMs?: number;
}

/** The launch environment torchrun and `sharpen launch` set, or null when RANK is not set (a plain single process). */
export interface LaunchEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
}

function envInt(env: NodeJS.ProcessEnv, name: string, min: number): number {
  const v = env[name];
  const n = Number(v);
  if (v === undefined || v.trim() === '' || !Number.isSafeInteger(n) || n < min) {
    throw new Error(`distributed: the environment variable ${name} must be an integer ≥ ${min}, got ${v === undefined ? 'nothing' : `'${v}'`}`);
  }
  return n;
}

/** Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; null when RANK is unset. */
export function launchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv | null {
  if (env.RANK === undefined) return null;
  const rank = envInt(env, 'RANK', 0);
  const worldSize = envInt(env, 'WORLD_SIZE', 1);
  if (rank >= worldSize) throw new Error(`distributed: RANK ${rank} must be below WORLD_SIZE ${worldSize}`);
  const masterPort = envInt(env, 'MASTER_PORT', 1);
  if (masterPort > 65535) throw new Error(`distributed: MASTER_PORT must be a port number (1-65535), got ${masterPort}`);
  const masterAddr = env.MASTER_ADDR;
  if (!masterAddr) throw new Error('distributed: the environment variable MASTER_ADDR must name the rank-0 machine');
  const localRank = env.LOCAL_RANK === undefined ? rank : envInt(env, 'LOCAL_RANK', 0);
  return { rank, worldSize, localRank, masterAddr, masterPort };
}

function timeoutFromEnv(): number {
  const v = process.env.SHARPEN_DIST_TIMEOUT_MS;
  return v === undefined ? DEFAULT_TIMEOUT_MS : envInt(process.env, 'SHARPEN_DIST_TIMEOUT_MS', 1);
}

/**
 * A worker of `sharpen launch` runs in its own process group (launcher.ts), so it would outlive a
 * launcher that was killed: it checks its parent every second (between steps) and stops when the
 * launcher is gone.
 */
function watchLauncher(): void {
  const launcher = Number(process.env.SHARPEN_LAUNCHER_PID);
  if (!Number.isSafeInteger(launcher) || launcher <= 0 || process.ppid !== launcher) return;
  setInterval(() => {
    if (process.ppid !== launcher) {
      console.error(`distributed: the launcher (pid ${launcher}) is gone; stopping this worker`);
      process.exit(143);
    }
  }, 1000).unref();
}

/** The backends this build of the addon has ('gloo', and 'nccl' in a CUDA build with NCCL). */
export function availableBackends(): Backend[] {
  return D.distBackends() as Backend[];
}

/**
 * Joins the process group: blocks until every rank has joined (or the time-out passes). Options
 * not given come from the environment (env://).
 */
export function initProcessGroup(opts: InitOptions = {}): void {
  if (opts.initMethod !== undefined && opts.initMethod !== 'env://') throw new Error(`initProcessGroup: initMethod must be 'env://', got '${String(opts.initMethod)}'`);
  const needEnv = opts.rank === undefined || opts.worldSize === undefined || opts.masterAddr === undefined || opts.masterPort === undefined;
  const env = needEnv ? launchEnv() : null;
  if (needEnv && !env) throw new Error('initProcessGroup: RANK is not set; start the processes with `sharpen launch` (or torchrun), or pass rank, worldSize, masterAddr and masterPort');
  const backend = opts.backend ?? 'gloo';
  if (!availableBackends().includes(backend)) {
    throw new Error(`initProcessGroup: backend '${backend}' is not in this build of the addon (it has: ${availableBackends().join(', ') || 'none'})`);
  }
  const rank = opts.rank ?? env!.rank;
  const worldSize = opts.worldSize ?? env!.worldSize;
  if (!Number.isSafeInteger(worldSize) || worldSize < 1) throw new Error(`initProcessGroup: worldSize must be an integer ≥ 1, got ${worldSize}`);
  if (!Number.isSafeInteger(rank) || rank < 0 || rank >= worldSize) throw new Error(`initProcessGroup: rank must be an integer in [0, ${worldSize}), got ${rank}`);
  const timeoutMs = opts.timeoutMs ?? timeoutFromEnv();
  watchLauncher();
  collective('initProcessGroup', () => D.distInit(rank, worldSize, opts.masterAddr ?? env!.masterAddr, opts.masterPort ?? env!.masterPort, timeoutMs, backend));
}

/** Whether this process has joined a process group. */
export function isInitialized(): boolean {
  return D.distInfo() !== null;
}

function info(op: string): { rank: number; worldSize: number; backend: string; timeoutMs: number } {
  const i = D.distInfo();
  if (!i) throw new Error(`${op}: the process group is not initialised (call initProcessGroup first)`);
  return i;
}

/** This process's rank in the group. */
export function getRank(): number {
  return info('getRank').rank;
}

/** The number of processes in the group. */
export function getWorldSize(): number {
  return info('getWorldSize').worldSize;
}

/** The group's backend ('gloo' or 'nccl'). */
export function getBackend(): Backend {
  return info('getBackend').backend as Backend;
}

const META_DIMS = 6;

/**
 * Checks that every rank passes a tensor of the same shape and dtype (a mismatch inside Gloo aborts
 * the process): one small all-gather of each rank's [dtype, ndim, dims…].
 */
function checkSameTensor(t: Tensor, op: string): void {
  const shape = t.shape;
  if (shape.length > META_DIMS) throw new Error(`${op}: tensors of more than ${META_DIMS} dimensions are not supported (got ${shape.length}); reshape first`);
  const meta = new BigInt64Array(2 + META_DIMS);
  meta[0] = BigInt(DTYPES.indexOf(t.dtype));
  meta[1] = BigInt(shape.length);
  shape.forEach((d, i) => (meta[2 + i] = BigInt(d)));
  const mt = fromTypedArray(meta);
  const all = collective(op, () => D.distAllGather(handleOf(mt, op))).map((h) => wrapHandle(h));
  mt.dispose();
  const describe = (m: BigInt64Array): string => `${DTYPES[Number(m[0])]}[${Array.from(m.slice(2, 2 + Number(m[1]))).join(', ')}]`;
  const mine = describe(meta);
  const ranks = all.map((x) => {
    const d = describe(x.toTypedArray() as BigInt64Array);
    x.dispose();
    return d;
  });
  const other = ranks.findIndex((d) => d !== mine);
  if (other >= 0) throw new Error(`${op}: rank ${getRank()} passed ${mine}, rank ${other} passed ${ranks[other]}; every rank must pass the same shape and dtype`);
}

/** Reduces `t` over every rank, in place (sum by default: average by dividing by the world size). */
export function allReduce(t: Tensor, op: ReduceOp = 'sum'): void {
  checkSameTensor(t, 'allReduce');
  collective('allReduce', () => D.distAllReduce(handleOf(t, 'allReduce'), op));
}

/** Copies rank `src`'s `t` into every rank's `t`, in place. */
export function broadcast(t: Tensor, src = 0): void {
  const size = getWorldSize();
  if (!Number.isSafeInteger(src) || src < 0 || src >= size) throw new Error(`broadcast: src must be a rank in [0, ${size}), got ${src}`);
  checkSameTensor(t, 'broadcast');
  collective('broadcast', () => D.distBroadcast(handleOf(t, 'broadcast'), src));
}

/** Every rank's `t` (same shape and dtype on each), in rank order. */
export function allGather(t: Tensor): Tensor[] {
  checkSameTensor(t, 'allGather');
  return collective('allGather', () => D.distAllGather(handleOf(t, 'allGather'))).map((h) => wrapHandle(h));
}

/** Waits until every rank has reached the barrier. */
export function barrier(): void {
  collective('barrier', () => D.distBarrier());
}

/** Leaves the process group (a no-op without one). */
export function destroyProcessGroup(): void {
  D.distDestroy();
}
