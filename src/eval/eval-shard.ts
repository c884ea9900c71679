// Sharded evaluation: under `sharpen launch` (RANK and WORLD_SIZE set), each rank samples and scores
// its share of the held-out batches and the per-image scores are summed across ranks, so every rank
// ends with all of them (docs/architecture.md, "Distributed"). Rank r takes the batches k with
// k mod W = r and draws its noises from the seed + 1000003·r: a sharded evaluation samples other
// noises than one process does, so its numbers are equal in distribution, not bit for bit.
import * as torch from '../torch/index.js';
import * as dist from '../distributed/index.js';
import { DataParallel } from '../distributed/data-parallel.js';
import type { EvalSample } from './model-eval.js';

export interface EvalShard {
  rank: number;
  worldSize: number;
  /** element-wise sum of every rank's array (same length on every rank) */
  sum(values: Float32Array): Float32Array;
}

/** The shard of a process started by `sharpen launch` with more than one worker; null otherwise. */
export function evalShardFromEnv(): EvalShard | null {
  const dp = DataParallel.fromEnv();
  if (!dp) return null;
  return {
    rank: dp.rank,
    worldSize: dp.worldSize,
    sum(values) {
      const t = torch.fromTypedArray(values, [values.length]);
      try {
        dist.allReduce(t, 'sum');
        return t.toFloat32Array();
      } finally {
        t.dispose();
      }
    },
  };
}

export const SHARD_SEED_STRIDE = 1_000_003;

/**
 * Every rank's samples in job order: rank-local samples (undefined where another rank sampled) are
 * packed as [score, nfe, each metric, each metric's unscored flag] per job and summed across ranks.
 */
export function gatherSamples(
  shard: EvalShard, jobs: readonly Omit<EvalSample, 'score' | 'metrics'>[], local: readonly (EvalSample | undefined)[], localNfe: readonly number[], metricNames: readonly string[],
): { samples: EvalSample[]; nfe: number[] } {
  const width = 2 + 2 * metricNames.length;
  const packed = new Float32Array(jobs.length * width);
  local.forEach((s, j) => {
    if (!s) return;
    const row = j * width;
    packed[row] = s.score;
    packed[row + 1] = localNfe[j]!;
    metricNames.forEach((m, k) => {
      const v = s.metrics[m]!;
      if (Number.isFinite(v)) packed[row + 2 + k] = v;
      else packed[row + 2 + metricNames.length + k] = 1;
    });
  });
  const all = shard.sum(packed);
  const samples = jobs.map((j, i): EvalSample => {
    const row = i * width;
    const metrics = Object.fromEntries(metricNames.map((m, k) => [m, all[row + 2 + metricNames.length + k]! > 0 ? NaN : all[row + 2 + k]!]));
    return { ...j, score: all[row]!, metrics };
  });
  return { samples, nfe: jobs.map((_, i) => all[i * width + 1]!) };
}
