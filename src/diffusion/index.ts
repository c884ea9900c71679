// Noise schedule and samplers: `import * as diffusion from '../diffusion/index.js'`; and the
// registry that makes a sampler by name (makeScheduler).
import type { NoiseSchedule } from './noise-schedule.js';
import type { Scheduler } from './scheduler.js';
import { DDIMScheduler, DDIM_OPTIONS, type DDIMOptions } from './ddim.js';
import { DDPMScheduler, DDPM_OPTIONS, type DDPMOptions } from './ddpm.js';

export * from './noise-schedule.js';
export * from './scheduler.js';
export { GaussianStepScheduler, gaussianLogProb, type CommonSchedulerOptions, type StepCoefficients } from './gaussian-step.js';
export * from './ddim.js';
export * from './ddpm.js';
export * from './guidance.js';
export * from './sample.js';

/** Options of makeScheduler; each scheduler accepts only its own keys. */
export type SchedulerOptions = DDIMOptions & DDPMOptions;

interface Entry {
  create(schedule: NoiseSchedule, opts: Record<string, unknown>): Scheduler;
  options: readonly string[];
}

const REGISTRY = new Map<string, Entry>([
  ['ddim', { create: (s, o) => new DDIMScheduler(s, o as DDIMOptions), options: DDIM_OPTIONS }],
  ['ddpm', { create: (s, o) => new DDPMScheduler(s, o as DDPMOptions), options: DDPM_OPTIONS }],
]);

/** The names makeScheduler knows. */
export function schedulerNames(): string[] {
  return [...REGISTRY.keys()];
}

/** Adds a scheduler to the registry (a name already taken is an error). */
export function registerScheduler(
  name: string,
  create: (schedule: NoiseSchedule, opts: Record<string, unknown>) => Scheduler,
  options: readonly string[] = [],
): void {
  if (REGISTRY.has(name)) throw new Error(`registerScheduler: '${name}' is already registered`);
  REGISTRY.set(name, { create, options });
}

/** Makes a scheduler by name; an unknown name or option key throws with the valid ones. */
export function makeScheduler(name: string, schedule: NoiseSchedule, opts: SchedulerOptions = {}): Scheduler {
  const entry = REGISTRY.get(name);
  if (!entry) throw new Error(`unknown scheduler '${name}': valid ones are ${schedulerNames().join(', ')}`);
  for (const [k, v] of Object.entries(opts)) {
    if (v !== undefined && !entry.options.includes(k)) {
      throw new Error(`scheduler '${name}' has no option '${k}': valid options are ${entry.options.join(', ')}`);
    }
  }
  return entry.create(schedule, opts as Record<string, unknown>);
}
