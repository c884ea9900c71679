// Devices and mixed precision: the default device of the tensors the code creates
// (setDefaultDevice, as PyTorch's torch.set_default_device: every creation function without an
// explicit device uses it), moving a tensor to another device in place (moveTo_, what
// Module.to does with each parameter, as torch.nn.Module.to sets param.data), and autocast
// (bf16 mixed precision: matrix products and convolutions in bfloat16, as torch.autocast).
// SHARPEN_DEVICE=cuda in the environment sets the default device for a whole process (tests, benches).
import { N } from './native.js';
import { checkDevice, type Device } from './dtype.js';
import { handleOf, type Tensor } from './tensor.js';

let defaultDevice: Device = 'cpu';

function checkAvailable(d: Device, op: string): Device {
  if (d !== 'cpu') {
    const v = N.version();
    if (!v.cuda || v.cudaDeviceCount === 0) {
      throw new Error(`${op}: '${d}' is not available: ${v.cuda ? 'no CUDA device is visible' : `this addon is built against a libtorch without CUDA (${v.torch}); build it against a CUDA libtorch (LIBTORCH=…, scripts/gpu-check.sh)`}`);
    }
    const idx = d.startsWith('cuda:') ? Number(d.slice(5)) : 0;
    if (idx >= v.cudaDeviceCount) throw new Error(`${op}: '${d}' does not exist (${v.cudaDeviceCount} CUDA device(s))`);
  }
  return d;
}

if (process.env.SHARPEN_DEVICE) setDefaultDevice(process.env.SHARPEN_DEVICE);

/** Sets the device of every tensor created without an explicit device ('cpu' by default). */
export function setDefaultDevice(device: string): void {
  defaultDevice = checkAvailable(checkDevice(device), 'setDefaultDevice');
}

/** The device of tensors created without an explicit device. */
export function getDefaultDevice(): Device {
  return defaultDevice;
}

/** Moves `t` to `device` in place: same tensor object (and requiresGrad), its data now on the device. */
export function moveTo_(t: Tensor, device: string): Tensor {
  const d = checkAvailable(checkDevice(device), 'to');
  if (t.device === d || (d === 'cuda' && t.device === 'cuda:0')) return t;
  const moved = t.detach().to(d);
  N.setData(handleOf(t, 'to'), handleOf(moved, 'to'));
  moved.dispose();
  return t;
}

export type AutocastDtype = 'bfloat16' | 'float16';

/** Turns autocast on or off for a device type ('cpu' or 'cuda'); returns whether it was on. */
export function setAutocast(deviceType: 'cpu' | 'cuda', enabled: boolean, dtype: AutocastDtype = 'bfloat16'): boolean {
  return N.setAutocast(deviceType, enabled, dtype);
}

/** Whether autocast is on for a device type. */
export function isAutocastEnabled(deviceType: 'cpu' | 'cuda'): boolean {
  return N.isAutocast(deviceType);
}

/** Runs `fn` with autocast on for the device type (bf16 by default), then restores the previous setting. */
export function autocast<T>(deviceType: 'cpu' | 'cuda', fn: () => T, dtype: AutocastDtype = 'bfloat16'): T {
  const prev = setAutocast(deviceType, true, dtype);
  try {
    return fn();
  } finally {
    setAutocast(deviceType, prev, dtype);
  }
}
