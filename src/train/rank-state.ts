// A method's state under data-parallel training: each rank keeps its own (DDPO's rollout buffer and
// per-prompt statistics, Diffusion-DPO's pairs, … come from that rank's own samples), so a
// checkpoint holds every rank's. Rank 0 writes rank r's tensors as the group `method-rank<r>` and its
// meta as `methodStateByRank[r]` beside its own (`method`, `methodState`); on resume rank r reads
// its own back.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { DataParallel } from '../distributed/data-parallel.js';
import type { CheckpointContent, LoadedCheckpoint } from './checkpoint.js';

/**
 * The other ranks' method states, gathered at rank 0 as checkpoint groups and state (empty on the
 * other ranks, and without a method state). Every rank must call it: it is a collective.
 */
export function gatherRankMethodStates(dp: DataParallel, own: Pick<CheckpointContent, 'tensors' | 'state'>, hasState: boolean): Pick<CheckpointContent, 'tensors' | 'state'> {
  if (!hasState) return { tensors: {}, state: {} };
  const meta = JSON.stringify(own.state.methodState ?? null);
  const all = dp.gatherBytes(torch.safetensors.toBytes(own.tensors.method ?? {}, { methodState: meta }));
  if (!dp.isWriter) return { tensors: {}, state: {} };
  const tensors: Record<string, Record<string, Tensor>> = {};
  const byRank: unknown[] = [null];
  for (let r = 1; r < all.length; r++) {
    const { tensors: t, metadata } = torch.safetensors.fromBytes(all[r]!, `rank ${r}'s method state`);
    if (Object.keys(t).length) tensors[`method-rank${r}`] = t;
    byRank.push(JSON.parse(metadata.methodState ?? 'null'));
  }
  return { tensors, state: { methodStateByRank: byRank } };
}

/** Rank r's view of a loaded checkpoint's method state (rank 0's is the checkpoint itself). */
export function rankMethodView(c: LoadedCheckpoint, rank: number): LoadedCheckpoint {
  if (rank === 0) return c;
  const byRank = c.state.methodStateByRank as unknown[] | undefined;
  return { ...c, tensors: { method: c.tensors[`method-rank${rank}`] ?? {} }, state: { methodState: byRank?.[rank] } };
}

/** Refuses a checkpoint written by another number of processes than this run's, saying which it needs. */
export function checkWorldSize(state: Record<string, unknown>, dp: DataParallel | null, where: string): void {
  const saved = typeof state.worldSize === 'number' ? state.worldSize : 1;
  const world = dp?.worldSize ?? 1;
  if (saved !== world) {
    throw new Error(
      `--resume: ${where} was written by a run of ${saved} process${saved > 1 ? 'es' : ''}, and this one has ${world}; ` +
      `resume it with the same number of processes (sharpen launch --nproc-per-node … making WORLD_SIZE ${saved})`,
    );
  }
}

/** This rank's RNG state in a checkpoint's state (base64): its own under data-parallel training. */
export function rankRngState(state: Record<string, unknown>, dp: DataParallel | null): unknown {
  return dp ? (state.rngByRank as unknown[] | undefined)?.[dp.rank] : state.rng;
}

/** Every rank's RNG state for a checkpoint (base64, in rank order); a collective. */
export function rngStatesByRank(dp: DataParallel): string[] {
  return dp.gatherRngStates().map((s) => Buffer.from(s).toString('base64'));
}
