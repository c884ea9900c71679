// Tensors to and from safetensors files (the byte format, with its validation, is in
// safetensors-format.ts). Every tensor file of the project is written this way, readable as it is
// by Python's `safetensors`.
import { N } from './native.js';
import { fromTypedArray } from './creation.js';
import type { Tensor } from './tensor.js';
import type { DType } from './dtype.js';
import {
  deserialize, readSafetensorsFile, serialize, writeSafetensorsFile, SafetensorsError,
  type RawTensor, type SafeDType,
} from './safetensors-format.js';

export { SafetensorsError };

const TO_SAFE: Record<DType, SafeDType> = {
  float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16', int64: 'I64', int32: 'I32', int16: 'I16',
  int8: 'I8', uint8: 'U8', bool: 'BOOL',
};
const FROM_SAFE: Partial<Record<SafeDType, DType>> = Object.fromEntries(
  Object.entries(TO_SAFE).map(([d, s]) => [s, d as DType]),
);

function toRaw(name: string, t: Tensor): RawTensor {
  if (t.isDisposed) throw new Error(`safetensors: tensor '${name}' is disposed`);
  // the stored bytes as they are (float16/bfloat16 as raw bits), copied from a contiguous CPU copy
  return { dtype: TO_SAFE[t.dtype], shape: t.shape, data: new Uint8Array(N.toBuffer(t._h)) };
}

function fromRaw(name: string, r: RawTensor, source: string): Tensor {
  const dtype = FROM_SAFE[r.dtype];
  if (!dtype) throw new SafetensorsError(`${source}: tensor '${name}' has dtype ${r.dtype}, which this engine cannot hold`);
  return fromTypedArray(r.data, r.shape, { dtype });
}

/** Serialises tensors (any device, contiguous or not) and string metadata to bytes. */
export function toBytes(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const raw: Record<string, RawTensor> = {};
  for (const [k, t] of Object.entries(tensors)) raw[k] = toRaw(k, t);
  return serialize(raw, metadata);
}

/** Parses bytes into tensors (on the CPU) and metadata, validating the file first. */
export function fromBytes(buf: Uint8Array, source = 'safetensors buffer'): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const content = deserialize(buf, { source });
  return { tensors: materialise(content.tensors, source), metadata: content.metadata };
}

function materialise(raw: Record<string, RawTensor>, source: string): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  try {
    for (const [k, r] of Object.entries(raw)) out[k] = fromRaw(k, r, source);
  } catch (e) {
    for (const t of Object.values(out)) t.dispose();
    throw e;
  }
  return out;
}

/** Writes a safetensors file atomically (a temporary file, then a rename). */
export async function saveFile(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): Promise<void> {
  const raw: Record<string, RawTensor> = {};
  for (const [k, t] of Object.entries(tensors)) raw[k] = toRaw(k, t);
  await writeSafetensorsFile(path, raw, metadata);
}

/** Reads and validates a safetensors file; a corrupt or truncated one is a SafetensorsError naming it. */
export async function loadFile(path: string): Promise<{ tensors: Record<string, Tensor>; metadata: Record<string, string> }> {
  const content = await readSafetensorsFile(path);
  return { tensors: materialise(content.tensors, path), metadata: content.metadata };
}
