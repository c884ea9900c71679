// The safetensors writer: tensors to bytes (`serialize`) or to a file written atomically
// (`writeSafetensorsFile`), in a deterministic order with every tensor aligned to its element size.
// The format is described in safetensors-format.ts.
import { open, rename, unlink } from 'node:fs/promises';
import {
  ELEMENT_SIZES, IO_CHUNK, MAX_HEADER_SIZE, METADATA_KEY, SafetensorsError, byteSize, describe, isSafeDType, quote,
  type FileHandle, type RawTensor,
} from './safetensors-common.js';

interface WritePlan {
  /** The 8-byte length followed by the padded header. */
  head: Uint8Array;
  /** The tensor data, in file order. */
  chunks: Uint8Array[];
  totalSize: number;
}

function planWrite(
  tensors: Record<string, RawTensor>,
  metadata: Record<string, string> | undefined,
): WritePlan {
  const src = 'serialize';
  const names = Object.keys(tensors);
  const items = names.map((name) => {
    if (name === METADATA_KEY) {
      throw new SafetensorsError(`${src}: '${METADATA_KEY}' is reserved and cannot name a tensor`);
    }
    const t = tensors[name];
    if (t === null || typeof t !== 'object') {
      throw new SafetensorsError(`${src}: tensor ${quote(name)} is not a RawTensor`);
    }
    if (!isSafeDType(t.dtype)) {
      throw new SafetensorsError(
        `${src}: unknown dtype ${quote(String(t.dtype))} for tensor ${quote(name)}`,
      );
    }
    if (
      !Array.isArray(t.shape) ||
      !t.shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)
    ) {
      throw new SafetensorsError(
        `${src}: tensor ${quote(name)} shape must be an array of non-negative integers, got ${describe(t.shape)}`,
      );
    }
    if (!(t.data instanceof Uint8Array)) {
      throw new SafetensorsError(`${src}: tensor ${quote(name)} data must be a Uint8Array`);
    }
    const size = ELEMENT_SIZES[t.dtype];
    const expected = byteSize(t.shape, size);
    if (BigInt(t.data.byteLength) !== expected) {
      throw new SafetensorsError(
        `${src}: tensor ${quote(name)} has ${t.data.byteLength} bytes of data but shape ` +
          `${JSON.stringify(t.shape)} of ${t.dtype} needs ${expected} bytes`,
      );
    }
    return { name, tensor: t, size };
  });
  // Larger elements first, then by name: deterministic, and every tensor starts
  // at a multiple of its element size within the data part.
  items.sort((a, b) => b.size - a.size || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const parts: string[] = [];
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object') {
      throw new SafetensorsError(`${src}: metadata must be an object of strings`);
    }
    const keys = Object.keys(metadata).sort();
    for (const k of keys) {
      if (typeof metadata[k] !== 'string') {
        throw new SafetensorsError(
          `${src}: metadata value for key ${quote(k)} must be a string, got ${typeof metadata[k]}`,
        );
      }
    }
    if (keys.length > 0) {
      const body = keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(metadata[k])}`);
      parts.push(`${JSON.stringify(METADATA_KEY)}:{${body.join(',')}}`);
    }
  }
  let offset = 0;
  for (const { name, tensor } of items) {
    const begin = offset;
    offset += tensor.data.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":${JSON.stringify(tensor.dtype)},` +
        `"shape":${JSON.stringify(tensor.shape)},"data_offsets":[${begin},${offset}]}`,
    );
  }
  if (!Number.isSafeInteger(offset)) {
    throw new SafetensorsError(`${src}: total data size ${offset} is not a safe integer`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLen = Math.ceil(json.byteLength / 8) * 8;
  if (headerLen > MAX_HEADER_SIZE) {
    throw new SafetensorsError(
      `${src}: header of ${headerLen} bytes exceeds the limit of ${MAX_HEADER_SIZE} bytes`,
    );
  }
  const head = new Uint8Array(8 + headerLen);
  new DataView(head.buffer).setBigUint64(0, BigInt(headerLen), true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.byteLength);
  return { head, chunks: items.map((i) => i.tensor.data), totalSize: head.byteLength + offset };
}

/**
 * Serializes tensors into safetensors bytes.
 *
 * Tensor order in the file is deterministic and independent of insertion
 * order: by element size, largest first, then by name (UTF-16 code unit
 * order), so each tensor is aligned to its element size relative to the data
 * part. The metadata (if given and non-empty) is written first with its keys
 * sorted; an empty or absent metadata object writes no `__metadata__` key.
 * The header is padded with spaces to a multiple of 8 bytes, so the data part
 * starts 8-aligned.
 *
 * @throws SafetensorsError for an unknown dtype, a bad shape, data whose
 *   length does not match the shape, a tensor named `__metadata__`, or a
 *   non-string metadata value.
 */
export function serialize(
  tensors: Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const plan = planWrite(tensors, metadata);
  const out = new Uint8Array(plan.totalSize);
  out.set(plan.head, 0);
  let pos = plan.head.byteLength;
  for (const c of plan.chunks) {
    out.set(c, pos);
    pos += c.byteLength;
  }
  return out;
}

/**
 * Writes tensors to a safetensors file atomically: the bytes (laid out as by
 * {@link serialize}, but written tensor by tensor without one big buffer) go
 * to `path + '.tmp-' + process.pid`, which is flushed to disk and then renamed
 * over `path`. On failure the temporary file is removed and `path` is left as
 * it was.
 *
 * @throws SafetensorsError for invalid tensors or metadata (before any file is
 *   created); file system errors are passed through.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  const plan = planWrite(tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  let ok = false;
  try {
    let pos = 0;
    for (const chunk of [plan.head, ...plan.chunks]) {
      await writeFully(fh, chunk, pos);
      pos += chunk.byteLength;
    }
    await fh.sync();
    await fh.close();
    await rename(tmp, path);
    ok = true;
  } finally {
    if (!ok) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
    }
  }
}

async function writeFully(fh: FileHandle, src: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < src.byteLength) {
    const len = Math.min(IO_CHUNK, src.byteLength - done);
    const { bytesWritten } = await fh.write(src, done, len, position + done);
    done += bytesWritten;
  }
}
