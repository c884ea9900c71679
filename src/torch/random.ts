// The global random number generators: seeding, and their state for exact resumption.
import { N } from './native.js';

/** Seeds the CPU generator and every CUDA generator (torch.manual_seed). */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`manualSeed: seed must be a non-negative integer, got ${seed}`);
  N.manualSeed(seed);
}

/** The generator's state as bytes, to save in a checkpoint (torch.get_rng_state). */
export function getRngState(device = 'cpu'): Uint8Array {
  return new Uint8Array(N.getRngState(device));
}

/** Restores a state from getRngState; the next draws repeat those that followed it. */
export function setRngState(state: Uint8Array, device = 'cpu'): void {
  if (!(state instanceof Uint8Array)) throw new Error('setRngState: state must be a Uint8Array from getRngState');
  N.setRngState(device, state);
}
