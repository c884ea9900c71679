// The tensor engine's public API: `import * as torch from './torch/index.js'`.
import { availableParallelism } from 'node:os';
import { N } from './native.js';

export * from './tensor.js';
export * from './creation.js';
export * from './dtype.js';
export * from './random.js';
export * from './device.js';
export { grad } from './autograd.js';
export * as F from './functional.js';
export * as safetensors from './safetensors.js';

/** Sets the number of threads of libtorch's intra-op pool (torch.set_num_threads). */
export function setNumThreads(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`setNumThreads: expected a positive integer, got ${n}`);
  N.setNumThreads(n);
}
export function getNumThreads(): number {
  return N.getNumThreads();
}

export const cuda = {
  isAvailable: (): boolean => N.version().cuda && N.version().cudaDeviceCount > 0,
  deviceCount: (): number => N.version().cudaDeviceCount,
};

/** libtorch's version and build facts. */
export function buildInfo(): { torch: string; cuda: boolean; cudaDeviceCount: number; parallel: string } {
  return N.version();
}

// Threads default to the machine's cores (libtorch alone may start with one), or to
// OMP_NUM_THREADS where the user set it.
const fromEnv = Number(process.env.OMP_NUM_THREADS);
N.setNumThreads(Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : availableParallelism());
