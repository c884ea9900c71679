// The metric columns of an evaluation (the paper's Table 1: CLIP score, aesthetic, preference, MLLM
// grader, beside the world's categories). Each is a registered reward; one that cannot be built here
// (no checkpoint shipped or trained, no endpoint configured) becomes "n/a" with the reason, so an
// evaluation never fails for a missing metric and never reports a made-up number for it.
import { UnknownRewardError, makeReward, rewardUnavailableReason, type Reward } from '../rewards/index.js';

/** The metric rewards an evaluation reports by default. */
export const DEFAULT_METRICS = ['clip', 'aesthetic', 'preference', 'mllm'] as const;

export async function availableMetricRewards(
  names: readonly string[],
  log: (m: string) => void,
): Promise<{ rewards: Reward[]; missing: Record<string, string> }> {
  const rewards: Reward[] = [];
  const missing: Record<string, string> = {};
  for (const name of names) {
    // a reward that declares it cannot be built here (e.g. no endpoint configured) is n/a
    const unavailable = rewardUnavailableReason(name); // an unknown name throws UnknownRewardError
    if (unavailable !== null) {
      missing[name] = unavailable;
      continue;
    }
    try {
      rewards.push(await makeReward(name));
    } catch (e) {
      if (e instanceof UnknownRewardError) throw e; // a typo (here or in a composite's terms) is an error, not "n/a"
      missing[name] = (e as Error).message.split('\n')[0]!;
      log(`metric ${name} is n/a: ${missing[name]}`);
    }
  }
  return { rewards, missing };
}

/** The metric columns of one evaluation: each metric's mean (4 decimals; null if it scored nothing),
 *  then "n/a" for each metric that was not available. */
export function metricColumns(
  metrics: Record<string, { mean: number | null }>,
  missing: Record<string, string>,
): Record<string, number | string | null> {
  const out: Record<string, number | string | null> = {};
  for (const [name, m] of Object.entries(metrics)) out[name] = m.mean === null ? null : Number(m.mean.toFixed(4));
  for (const name of Object.keys(missing)) out[name] = 'n/a';
  return out;
}

/** Parses a --metrics value: a comma-separated list of reward names, or "none". */
export function parseMetricList(v: string): string[] {
  if (v.trim() === 'none') return [];
  const names = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) throw new Error(`--metrics: expected reward names separated by commas, or "none"; got '${v}'`);
  return names;
}
