// Data-parallel training over the process group (index.ts), as PyTorch's DistributedDataParallel
// does it (Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating Data Parallel
// Training", VLDB): every rank holds a replica of the model; rank 0's weights are broadcast at the
// start and every rank checks that its replica equals rank 0's; each rank computes the gradient of
// its own shard of the batch; the gradients are summed over the ranks in buckets of about
// `bucketBytes` (one all-reduce per bucket, not per parameter) and divided by the world size, so
// every replica takes the same optimizer step. The training loops call it through a few hooks:
// which data position a rank reads (`shardPosition`), its seed (`rankSeed`), whether a step is
// skipped (`agreeSkip`: all ranks skip together), the step's logs (`combineLogs`), the RNG states
// for a checkpoint (`gatherRngStates`) and who writes files (`isWriter`: rank 0 alone).
import { createHash } from 'node:crypto';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import * as dist from './index.js';

/** DDP's default bucket size: 25 MiB. */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

/** A large prime that separates the ranks' seeds (rank r draws from seed + r · SEED_STRIDE). */
const SEED_STRIDE = 1_000_003;

export interface DataParallelOptions {
  bucketBytes?: number;
  backend?: dist.Backend;
}

export class DataParallel {
  readonly rank: number;
  readonly worldSize: number;
  readonly bucketBytes: number;
  /** the byte sizes of the buckets of the last gradient all-reduce */
  lastBucketBytes: number[] = [];

  private constructor(opts: DataParallelOptions) {
    this.rank = dist.getRank();
    this.worldSize = dist.getWorldSize();
    this.bucketBytes = opts.bucketBytes ?? DEFAULT_BUCKET_BYTES;
    if (!(this.bucketBytes > 0)) throw new Error(`DataParallel: bucketBytes must be > 0, got ${this.bucketBytes}`);
  }

  /**
   * The data-parallel context of a process started by `sharpen launch` (or torchrun): joins the
   * process group from the environment when it is not joined yet (Gloo; NCCL when the default
   * device is a GPU and the build has NCCL, each local rank on its own GPU). Null in a plain process (no
   * RANK) and when WORLD_SIZE is 1: then training runs exactly as without it.
   */
  static fromEnv(opts: DataParallelOptions = {}): DataParallel | null {
    if (!dist.isInitialized()) {
      const env = dist.launchEnv();
      if (!env || env.worldSize === 1) return null;
      // on GPUs: one device per local rank (as torchrun scripts do with cuda:LOCAL_RANK), and NCCL when the build has it
      const onGpu = torch.getDefaultDevice() !== 'cpu';
      if (torch.getDefaultDevice() === 'cuda') torch.setDefaultDevice(`cuda:${env.localRank % torch.cuda.deviceCount()}`);
      dist.initProcessGroup({ backend: opts.backend ?? (onGpu && dist.availableBackends().includes('nccl') ? 'nccl' : 'gloo') });
    }
    return dist.getWorldSize() > 1 ? new DataParallel(opts) : null;
  }

  /** Rank 0 writes the logs, the run store, checkpoints and the exported model; the others write nothing there. */
  get isWriter(): boolean {
    return this.rank === 0;
  }

  /**
   * The data position this rank reads for its micro-batch `position`: the W ranks read W consecutive
   * batches, or W consecutive groups of `group` batches when a method reads `group` positions as one
   * unit (DDPO's rollout buffer): position p = q·group + j becomes (q·W + rank)·group + j.
   */
  shardPosition(position: number, group = 1): number {
    const q = Math.floor(position / group);
    return (q * this.worldSize + this.rank) * group + (position % group);
  }

  /** This rank's seed for the training stream (noise, timesteps, rollouts): a different stream per rank. */
  rankSeed(seed: number): number {
    return seed + SEED_STRIDE * this.rank;
  }

  /** Copies rank 0's tensors into every rank's (in buckets), then checks that all replicas are equal. */
  broadcastParameters(params: Tensor[], what = 'the initial weights'): void {
    torch.noGrad(() => {
      for (const bucket of this.buckets(params)) {
        torch.tidy(() => {
          const flat = torch.cat(bucket.map((p) => p.detach().reshape(-1)));
          dist.broadcast(flat, 0);
          let at = 0;
          for (const p of bucket) {
            const n = p.numel();
            p.copy_(flat.narrow(0, at, n).view(p.shape));
            at += n;
          }
        });
      }
    });
    this.checkReplicas(params, what);
  }

  /** Checks that every rank's tensors are byte-identical to rank 0's (a SHA-256 of their bytes, gathered); an Error names the ranks that differ. */
  checkReplicas(params: Tensor[], what: string): string {
    const h = createHash('sha256');
    for (const p of params) {
      const a = torch.noGrad(() => p.detach().toTypedArray());
      h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    }
    const digest = h.digest();
    const mine = torch.fromTypedArray(new Uint8Array(digest));
    const all = dist.allGather(mine);
    mine.dispose();
    const hexes = all.map((t) => {
      const hex = Buffer.from(t.toTypedArray() as Uint8Array).toString('hex');
      t.dispose();
      return hex;
    });
    const differ = hexes.map((x, r) => (x !== hexes[0] ? r : -1)).filter((r) => r >= 0);
    if (differ.length) throw new Error(`data-parallel: ${what} differ between rank 0 and rank${differ.length > 1 ? 's' : ''} ${differ.join(', ')} (SHA-256 of ${params.length} tensors)`);
    return hexes[0]!;
  }

  /**
   * Averages the gradients over the ranks: summed in buckets by all-reduce, divided by the world
   * size. A parameter with a gradient on some rank and none on another counts as zero there; one
   * with none on every rank keeps none.
   */
  allReduceGradients(params: Tensor[]): void {
    const has = torch.fromTypedArray(new Float32Array(params.map((p) => (p.grad ? 1 : 0))));
    dist.allReduce(has, 'max');
    const mask = has.toFloat32Array();
    has.dispose();
    const used = params.filter((_, i) => mask[i]! > 0);
    this.lastBucketBytes = [];
    torch.noGrad(() => {
      for (const bucket of this.buckets(used)) {
        torch.tidy(() => {
          const flat = torch.cat(bucket.map((p) => (p.grad ? p.grad.reshape(-1) : torch.zeros([p.numel()], { dtype: p.dtype, device: p.device as torch.Device }))));
          this.lastBucketBytes.push(flat.numel() * bytesOf(flat.dtype));
          dist.allReduce(flat, 'sum');
          flat.div_(this.worldSize);
          let at = 0;
          for (const p of bucket) {
            const n = p.numel();
            const g = flat.narrow(0, at, n).view(p.shape);
            if (p.grad) p.grad.copy_(g);
            else p.grad = torch.keep(g.clone());
            at += n;
          }
        });
      }
    });
  }

  /** Whether any rank must skip this step (its loss, reward or gradient not finite): then every rank skips it, with its own reason or another rank's. */
  agreeSkip(bad: string | null): string | null {
    const flags = torch.fromTypedArray(new Float32Array(this.worldSize));
    if (bad) torch.noGrad(() => flags.narrow(0, this.rank, 1).fill_(1));
    dist.allReduce(flags, 'max');
    const f = flags.toFloat32Array();
    flags.dispose();
    if (bad) return bad;
    const other = Array.from(f).findIndex((x) => x > 0);
    return other >= 0 ? `rank ${other} had a non-finite loss, reward or gradient` : null;
  }

  /**
   * One step's logs over the ranks (each rank's values for the same keys, in the same order):
   * a key ending in Best or Max takes the largest, in Worst or Min the smallest, the rest the mean.
   */
  combineLogs(values: Record<string, number>): Record<string, number> {
    const keys = Object.keys(values).sort();
    const mine = torch.fromTypedArray(new Float64Array(keys.map((k) => values[k]!)));
    const all = dist.allGather(mine).map((t) => {
      const a = Array.from(t.toTypedArray() as Float64Array);
      t.dispose();
      return a;
    });
    mine.dispose();
    const out: Record<string, number> = {};
    keys.forEach((k, i) => {
      const col = all.map((a) => a[i]!);
      out[k] = /(best|max)$/i.test(k) ? Math.max(...col) : /(worst|min)$/i.test(k) ? Math.min(...col) : col.reduce((s, x) => s + x, 0) / col.length;
    });
    return out;
  }

  /** Every rank's RNG state (as getRngState gives it), in rank order, for a checkpoint. */
  gatherRngStates(): Uint8Array[] {
    const s = torch.fromTypedArray(torch.getRngState());
    const all = dist.allGather(s);
    s.dispose();
    return all.map((t) => {
      const a = new Uint8Array(t.toTypedArray() as Uint8Array);
      t.dispose();
      return a;
    });
  }

  /** Every rank's bytes (of any length), in rank order: the lengths are gathered, then the bytes padded to the longest. */
  gatherBytes(bytes: Uint8Array): Uint8Array[] {
    const len = torch.fromTypedArray(new Float64Array([bytes.length]));
    const lengths = dist.allGather(len).map((t) => {
      const n = (t.toTypedArray() as Float64Array)[0]!;
      t.dispose();
      return n;
    });
    len.dispose();
    const padded = new Uint8Array(Math.max(1, ...lengths));
    padded.set(bytes);
    const mine = torch.fromTypedArray(padded);
    const all = dist.allGather(mine);
    mine.dispose();
    return all.map((t, r) => {
      const a = new Uint8Array(t.toTypedArray() as Uint8Array).slice(0, lengths[r]);
      t.dispose();
      return a;
    });
  }

  /** Waits for every rank. */
  barrier(): void {
    dist.barrier();
  }

  /** Consecutive runs of `params` of about bucketBytes each (a larger tensor is a bucket of its own). */
  private buckets(params: Tensor[]): Tensor[][] {
    const out: Tensor[][] = [];
    let cur: Tensor[] = [];
    let bytes = 0;
    for (const p of params) {
      const b = p.numel() * bytesOf(p.dtype);
      if (cur.length && (bytes + b > this.bucketBytes || p.dtype !== cur[0]!.dtype)) {
        out.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(p);
      bytes += b;
    }
    if (cur.length) out.push(cur);
    return out;
  }
}

/** The byte sizes of the buckets DataParallel makes of tensors of these byte sizes (one dtype). */
export function bucketSizes(tensorBytes: number[], bucketBytes = DEFAULT_BUCKET_BYTES): number[] {
  const out: number[] = [];
  let cur = 0;
  for (const b of tensorBytes) {
    if (cur > 0 && cur + b > bucketBytes) {
      out.push(cur);
      cur = 0;
    }
    cur += b;
  }
  if (cur > 0) out.push(cur);
  return out;
}

function bytesOf(dtype: string): number {
  return dtype === 'float64' || dtype === 'int64' ? 8 : dtype === 'float16' || dtype === 'bfloat16' || dtype === 'int16' ? 2 : dtype === 'int8' || dtype === 'uint8' || dtype === 'bool' ? 1 : 4;
}
