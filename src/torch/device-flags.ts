// The command line's --device and --bf16 (src/cli/main.ts): the default device of every tensor
// the commands create, and bf16 autocast on that device.
import { setAutocast, setDefaultDevice } from './device.js';
import { checkDevice } from './dtype.js';

export function applyDeviceFlags(o: { device?: string; bf16?: boolean }): void {
  const device = o.device ?? 'cpu';
  try {
    checkDevice(device);
  } catch {
    throw new Error(`--device must be cpu, cuda or cuda:N, got '${device}'`);
  }
  setDefaultDevice(device);
  if (o.bf16) setAutocast(device === 'cpu' ? 'cpu' : 'cuda', true, 'bfloat16');
}
