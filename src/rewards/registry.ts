// Rewards by name (docs/architecture.md, "Conventions": components are registered by name; an
// unknown name fails with the list of valid ones; shared code never switches on a component's name).
//
// Concrete rewards register in src/rewards/index.ts; import that module (not this one) to get them all.
import type { Reward } from './reward.js';

/** Builds a reward from its options (a plain object, usually from a config file). */
export type RewardFactory = (opts: Record<string, unknown>) => Reward | Promise<Reward>;

/** What a reward declares about itself when it registers, beside its factory. */
export interface RewardRegistration {
  /**
   * Why the reward cannot be built with its default options in this environment (e.g. no endpoint
   * configured), or null when it may be; callers that can do without a reward (the metric columns
   * of an evaluation) ask this before building it. A reward that declares nothing is assumed
   * buildable (its factory's error says otherwise).
   */
  unavailableReason?: () => string | null;
}

interface Entry extends RewardRegistration {
  factory: RewardFactory;
  description: string;
}

/** makeReward's error for a name that is not registered; it lists the valid names. */
export class UnknownRewardError extends Error {
  constructor(readonly rewardName: string, readonly validNames: readonly string[]) {
    super(`unknown reward '${rewardName}'; valid rewards: ${validNames.length ? validNames.join(', ') : '(none registered)'}`);
    this.name = 'UnknownRewardError';
  }
}

const entries = new Map<string, Entry>();

const NAME = /^[a-z0-9][a-z0-9._-]*$/;

/** Registers a reward factory under `name` (lower-case letters, digits, '.', '_', '-'). Names are unique. */
export function registerReward(name: string, factory: RewardFactory, description: string, registration: RewardRegistration = {}): void {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new Error(`registerReward: invalid name '${String(name)}' (use lower-case letters, digits, '.', '_', '-')`);
  }
  if (typeof factory !== 'function') throw new Error(`registerReward('${name}'): factory must be a function`);
  if (entries.has(name)) throw new Error(`registerReward: a reward named '${name}' is already registered`);
  entries.set(name, { ...registration, factory, description: String(description ?? '') });
}

/** The registered names, sorted. */
export function rewardNames(): string[] {
  return [...entries.keys()].sort();
}

/** The registered rewards with their descriptions, sorted by name. */
export function rewardDescriptions(): { name: string; description: string }[] {
  return rewardNames().map((name) => ({ name, description: entries.get(name)!.description }));
}

export function hasReward(name: string): boolean {
  return entries.has(name);
}

/** Why the reward registered under `name` cannot be built with its default options here, or null
 *  (see RewardRegistration.unavailableReason); an unknown name throws UnknownRewardError. */
export function rewardUnavailableReason(name: string): string | null {
  const entry = entries.get(name);
  if (!entry) throw new UnknownRewardError(name, rewardNames());
  return entry.unavailableReason?.() ?? null;
}

/** Builds the reward registered under `name`; an unknown name throws UnknownRewardError, which lists
 *  the valid ones. */
export async function makeReward(name: string, opts: Record<string, unknown> = {}): Promise<Reward> {
  const entry = entries.get(name);
  if (!entry) throw new UnknownRewardError(name, rewardNames());
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) {
    throw new Error(`reward '${name}': options must be an object`);
  }
  const reward = await entry.factory(opts);
  if (!reward || typeof reward.score !== 'function') {
    throw new Error(`reward '${name}': its factory did not return a Reward`);
  }
  return reward;
}
