// The safetensors reader: bytes (`deserialize`) or a file (`readSafetensorsFile`) to tensors,
// validating the header (`parseHeader`) before anything in it is trusted. What is validated is listed
// in safetensors-format.ts.
import { constants as bufferConstants } from 'node:buffer';
import { open } from 'node:fs/promises';
import { JsonParser, JsonSyntaxError, type JsonValue } from '../util/strict-json.js';
import {
  DEFAULT_SOURCE, ELEMENT_SIZES, IO_CHUNK, MAX_HEADER_SIZE, METADATA_KEY, SafetensorsError, asIntArray, byteSize, defineEntry,
  describe, isSafeDType, quote, type FileHandle, type HeaderEntry, type ParsedHeader, type RawTensor,
  type SafetensorsContent,
} from './safetensors-common.js';

/**
 * Parses and validates the header of a safetensors file.
 *
 * `buf` holds the start of the file: at least its first 8 + N bytes (it may be
 * the whole file). `opts.fileSize` is the size of the whole file (default
 * `buf.byteLength`); the data offsets are checked against it. `opts.source`
 * names the file in error messages.
 *
 * @throws SafetensorsError when anything listed in the module comment of safetensors-format.ts fails.
 */
export function parseHeader(
  buf: Uint8Array,
  opts: { fileSize?: number | undefined; source?: string | undefined } = {},
): ParsedHeader {
  const src = opts.source ?? DEFAULT_SOURCE;
  const fileSize = opts.fileSize ?? buf.byteLength;
  if (!Number.isSafeInteger(fileSize) || fileSize < buf.byteLength) {
    throw new SafetensorsError(
      `${src}: fileSize ${fileSize} is invalid for a buffer of ${buf.byteLength} bytes`,
    );
  }
  if (fileSize < 8 || buf.byteLength < 8) {
    throw new SafetensorsError(
      `${src}: file is ${fileSize} bytes, too short for the 8-byte header length`,
    );
  }
  const n = new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_SIZE)) {
    throw new SafetensorsError(
      `${src}: header length ${n} exceeds the limit of ${MAX_HEADER_SIZE} bytes`,
    );
  }
  const headerLen = Number(n);
  if (8 + headerLen > fileSize) {
    throw new SafetensorsError(
      `${src}: header length ${headerLen} does not fit in the file (${fileSize} bytes; ` +
        `8 + header length must be at most the file size)`,
    );
  }
  if (buf.byteLength < 8 + headerLen) {
    throw new SafetensorsError(
      `${src}: buffer holds ${buf.byteLength} bytes but the header ends at byte ${8 + headerLen}`,
    );
  }
  const dataStart = 8 + headerLen;
  const dataLen = fileSize - dataStart;

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(
      buf.subarray(8, dataStart),
    );
  } catch {
    throw new SafetensorsError(`${src}: header is not valid UTF-8`);
  }
  let root: JsonValue;
  try {
    root = new JsonParser(text).parseDocument();
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      throw new SafetensorsError(`${src}: header is not valid JSON: ${e.message}`);
    }
    throw e;
  }
  if (!(root instanceof Map)) {
    throw new SafetensorsError(`${src}: header must be a JSON object, got ${describe(root)}`);
  }

  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of root) {
    if (name === METADATA_KEY) {
      if (value === null) continue;
      if (!(value instanceof Map)) {
        throw new SafetensorsError(
          `${src}: ${METADATA_KEY} must be an object of strings, got ${describe(value)}`,
        );
      }
      for (const [k, v] of value) {
        if (typeof v !== 'string') {
          throw new SafetensorsError(
            `${src}: ${METADATA_KEY} value for key ${quote(k)} must be a string, got ${describe(v)}`,
          );
        }
        defineEntry(metadata, k, v);
      }
      continue;
    }
    entries.push(parseEntry(src, name, value, dataLen));
  }

  // Sorted by (begin, end), the ranges must tile [0, dataLen) exactly.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let prev: HeaderEntry | undefined;
  for (const e of entries) {
    if (e.begin > cursor) {
      throw new SafetensorsError(
        `${src}: hole in the data: bytes [${cursor}, ${e.begin}) belong to no tensor ` +
          `(before tensor ${quote(e.name)})`,
      );
    }
    if (e.begin < cursor) {
      // Only reachable with a previous entry, since cursor starts at 0.
      const p = prev as HeaderEntry;
      throw new SafetensorsError(
        `${src}: tensor ${quote(e.name)} data_offsets [${e.begin}, ${e.end}] overlap tensor ` +
          `${quote(p.name)} [${p.begin}, ${p.end}]`,
      );
    }
    cursor = e.end;
    prev = e;
  }
  if (cursor !== dataLen) {
    throw new SafetensorsError(
      `${src}: ${dataLen - cursor} trailing bytes after the last tensor ` +
        `(tensors cover ${cursor} of ${dataLen} data bytes)`,
    );
  }
  return { metadata, entries, dataStart };
}

function parseEntry(src: string, name: string, value: JsonValue, dataLen: number): HeaderEntry {
  const t = `tensor ${quote(name)}`;
  if (!(value instanceof Map)) {
    throw new SafetensorsError(`${src}: ${t} must be an object, got ${describe(value)}`);
  }
  for (const k of value.keys()) {
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') {
      throw new SafetensorsError(`${src}: ${t} has an unknown field ${quote(k)}`);
    }
  }
  const dtype = value.get('dtype');
  if (dtype === undefined) throw new SafetensorsError(`${src}: ${t} has no dtype`);
  if (typeof dtype !== 'string') {
    throw new SafetensorsError(`${src}: ${t} dtype must be a string, got ${describe(dtype)}`);
  }
  if (!isSafeDType(dtype)) {
    throw new SafetensorsError(`${src}: unknown dtype ${quote(dtype)} for ${t}`);
  }
  const shapeV = value.get('shape');
  if (shapeV === undefined) throw new SafetensorsError(`${src}: ${t} has no shape`);
  const shape = asIntArray(shapeV);
  if (shape === undefined) {
    throw new SafetensorsError(
      `${src}: ${t} shape must be an array of non-negative integers, got ${describe(shapeV)}`,
    );
  }
  const offV = value.get('data_offsets');
  if (offV === undefined) throw new SafetensorsError(`${src}: ${t} has no data_offsets`);
  const offsets = asIntArray(offV);
  if (offsets === undefined || offsets.length !== 2) {
    throw new SafetensorsError(
      `${src}: ${t} data_offsets must be two non-negative integers, got ${describe(offV)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) {
    throw new SafetensorsError(`${src}: ${t} data_offsets [${begin}, ${end}] have begin > end`);
  }
  const expected = byteSize(shape, ELEMENT_SIZES[dtype]);
  if (BigInt(end - begin) !== expected) {
    throw new SafetensorsError(
      `${src}: ${t} data_offsets [${begin}, ${end}] do not match shape ` +
        `${JSON.stringify(shape)} of ${dtype} (${expected} bytes)`,
    );
  }
  if (end > dataLen) {
    throw new SafetensorsError(
      `${src}: ${t} data_offsets [${begin}, ${end}] lie outside the data part (${dataLen} bytes)`,
    );
  }
  return { name, dtype, shape, begin, end };
}

/**
 * Parses safetensors bytes into metadata and tensors.
 *
 * Each tensor's `data` is a zero-copy `subarray` view into `buf`: it aliases
 * the input (mutating one mutates the other) and keeps it alive. Copy with
 * `data.slice()` if needed. Note that a view's `byteOffset` may not be a
 * multiple of the element size (it is when `buf` starts 8-aligned and the file
 * was written by {@link serialize}). Tensors are listed in file order.
 *
 * @throws SafetensorsError when the bytes are not a well-formed file.
 */
export function deserialize(
  buf: Uint8Array,
  opts: { source?: string | undefined } = {},
): SafetensorsContent {
  const header = parseHeader(buf, opts);
  return {
    metadata: header.metadata,
    tensors: tensorsFrom(header, buf.subarray(header.dataStart)),
  };
}

function tensorsFrom(header: ParsedHeader, data: Uint8Array): Record<string, RawTensor> {
  const tensors: Record<string, RawTensor> = {};
  for (const e of header.entries) {
    defineEntry(tensors, e.name, {
      dtype: e.dtype,
      shape: e.shape,
      data: data.subarray(e.begin, e.end),
    });
  }
  return tensors;
}

/**
 * Reads and validates a safetensors file.
 *
 * The 8-byte length is read first and checked against the limit and the file
 * size, then only the header is read and validated, then the data part is read
 * into one freshly allocated buffer (so tensors written by
 * {@link writeSafetensorsFile} are aligned to their element size). Tensor
 * `data` are views into that buffer. A corrupt length never causes a large
 * allocation or a read of the whole file.
 *
 * @throws SafetensorsError for a malformed file (message starts with `path`);
 *   file system errors (ENOENT, EACCES, …) are passed through unchanged.
 */
export async function readSafetensorsFile(path: string): Promise<SafetensorsContent> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size < 8) {
      throw new SafetensorsError(
        `${path}: file is ${size} bytes, too short for the 8-byte header length`,
      );
    }
    const lenBuf = new Uint8Array(8);
    await readExactly(fh, lenBuf, 0, path);
    const n = new DataView(lenBuf.buffer).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_SIZE) || 8n + n > BigInt(size)) {
      // parseHeader words the error.
      parseHeader(lenBuf, { fileSize: size, source: path });
    }
    const prefix = new Uint8Array(8 + Number(n));
    prefix.set(lenBuf, 0);
    await readExactly(fh, prefix.subarray(8), 8, path);
    const header = parseHeader(prefix, { fileSize: size, source: path });
    const dataLen = size - header.dataStart;
    if (dataLen > bufferConstants.MAX_LENGTH) {
      throw new SafetensorsError(
        `${path}: data part of ${dataLen} bytes is too large to load into one buffer`,
      );
    }
    const data = new Uint8Array(dataLen);
    await readExactly(fh, data, header.dataStart, path);
    return { metadata: header.metadata, tensors: tensorsFrom(header, data) };
  } finally {
    await fh.close();
  }
}

async function readExactly(
  fh: FileHandle,
  target: Uint8Array,
  position: number,
  path: string,
): Promise<void> {
  let done = 0;
  while (done < target.byteLength) {
    const want = Math.min(IO_CHUNK, target.byteLength - done);
    const { bytesRead } = await fh.read(target, done, want, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(
        `${path}: unexpected end of file at byte ${position + done} (file changed while reading?)`,
      );
    }
    done += bytesRead;
  }
}
