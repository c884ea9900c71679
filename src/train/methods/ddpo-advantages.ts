// DDPO's advantages (Black et al. 2023, arXiv 2305.13301, §4.3 and the authors' per-prompt stat
// tracking; docs/methods.md §6, step 3): each reward normalised by the mean and std of its prompt's
// recent rewards once the prompt has enough of them, else by the whole buffer's, then clipped.
// Used by the 'ddpo' method (ddpo.ts), which keeps the tracker in its checkpointed state.

/**
 * DDPO's per-prompt stat tracking: every prompt keeps its last `bufferSize` rewards; a reward's
 * advantage is (r − mean) / (std + 1e-6) over its prompt's kept rewards once there are at least
 * `minCount` of them, else over all the rewards of the current update (std is the population std).
 */
export class PerPromptStatTracker {
  private readonly stats = new Map<string, number[]>();

  constructor(readonly bufferSize = 16, readonly minCount = 16) {
    if (!Number.isSafeInteger(bufferSize) || bufferSize < 1) throw new Error(`PerPromptStatTracker: bufferSize must be a positive integer, got ${bufferSize}`);
    if (!Number.isSafeInteger(minCount) || minCount < 1) throw new Error(`PerPromptStatTracker: minCount must be a positive integer, got ${minCount}`);
    if (minCount > bufferSize) {
      throw new Error(`PerPromptStatTracker: minCount (${minCount}) exceeds bufferSize (${bufferSize}): no prompt would ever use its own statistics`);
    }
  }

  /** Adds the rewards to their prompts' histories and returns their advantages (same order). */
  update(prompts: string[], rewards: number[]): number[] {
    checkRewards('PerPromptStatTracker.update', prompts, rewards);
    const all = meanStd(rewards);
    const out = new Array<number>(rewards.length);
    const byPrompt = new Map<string, number[]>();
    prompts.forEach((p, i) => {
      let l = byPrompt.get(p);
      if (!l) byPrompt.set(p, (l = []));
      l.push(i);
    });
    for (const [p, idx] of byPrompt) {
      let hist = this.stats.get(p);
      if (!hist) this.stats.set(p, (hist = []));
      for (const i of idx) hist.push(rewards[i]!);
      if (hist.length > this.bufferSize) hist.splice(0, hist.length - this.bufferSize);
      const s = hist.length >= this.minCount ? meanStd(hist) : all;
      for (const i of idx) out[i] = (rewards[i]! - s.mean) / (s.std + 1e-6);
    }
    return out;
  }

  /** Whether the prompt's advantages now come from its own statistics (it has minCount kept rewards). */
  hasOwnStats(prompt: string): boolean {
    return (this.stats.get(prompt)?.length ?? 0) >= this.minCount;
  }

  /** The kept rewards of a prompt (a copy). */
  history(prompt: string): number[] {
    return [...(this.stats.get(prompt) ?? [])];
  }

  /** Prompts tracked. */
  get size(): number {
    return this.stats.size;
  }

  /** Every prompt's kept rewards, as JSON-serialisable pairs (for checkpoints). */
  entries(): [string, number[]][] {
    return [...this.stats].map(([p, h]) => [p, [...h]]);
  }

  /** Replaces the kept rewards with saved ones (entries()). */
  restore(entries: unknown): void {
    const ok = Array.isArray(entries) && entries.every((e) =>
      Array.isArray(e) && e.length === 2 && typeof e[0] === 'string' && Array.isArray(e[1]) && e[1].every((v: unknown) => typeof v === 'number'));
    if (!ok) throw new Error('PerPromptStatTracker.restore: expected [prompt, rewards[]] pairs');
    this.stats.clear();
    for (const [p, h] of entries as [string, number[]][]) this.stats.set(p, [...h]);
  }
}

function checkRewards(fn: string, prompts: string[], rewards: number[]): void {
  if (prompts.length !== rewards.length) throw new Error(`${fn}: ${rewards.length} rewards for ${prompts.length} prompts`);
  if (rewards.length === 0) throw new Error(`${fn}: no rewards`);
  rewards.forEach((r, i) => {
    if (typeof r !== 'number' || !Number.isFinite(r)) throw new Error(`${fn}: reward ${i} (prompt ${JSON.stringify(prompts[i])}) is ${String(r)}; rewards must be finite numbers`);
  });
}

function meanStd(v: number[]): { mean: number; std: number } {
  const mean = v.reduce((a, c) => a + c, 0) / v.length;
  const variance = v.reduce((a, c) => a + (c - mean) ** 2, 0) / v.length;
  return { mean, std: Math.sqrt(variance) };
}

/**
 * Step 3: advantages of a buffer's rewards, per prompt through `tracker` (DDPO's default) or, with
 * tracker null, over the whole buffer ((r − mean)/(std + 1e-8), DDPO without per-prompt tracking);
 * then clipped to ±advClip.
 */
export function ddpoAdvantages(prompts: string[], rewards: number[], tracker: PerPromptStatTracker | null, advClip = 5): number[] {
  if (!(advClip > 0)) throw new Error(`ddpoAdvantages: advClip must be positive, got ${advClip}`);
  let adv: number[];
  if (tracker) {
    adv = tracker.update(prompts, rewards);
  } else {
    checkRewards('ddpoAdvantages', prompts, rewards);
    const s = meanStd(rewards);
    adv = rewards.map((r) => (r - s.mean) / (s.std + 1e-8));
  }
  return adv.map((a) => Math.min(advClip, Math.max(-advClip, a)));
}
