/**
 * Byte-level reader and writer for the safetensors file format.
 *
 * Specification: the "Format" section of the huggingface/safetensors README
 * (https://github.com/huggingface/safetensors#format). A file is
 *
 *   - 8 bytes: N, an unsigned little-endian 64-bit integer, the header size;
 *   - N bytes: a UTF-8 JSON object. Each key is a tensor name mapped to
 *     `{"dtype": string, "shape": int[], "data_offsets": [begin, end]}`, the
 *     offsets being relative to the first byte after the header. The optional
 *     key `"__metadata__"` maps to an object of string → string. The header
 *     may be padded with trailing spaces (0x20);
 *   - the rest of the file: the tensor bytes, little-endian, row-major (C order).
 *
 * This module knows nothing about tensor engines: tensors are raw byte
 * buffers plus a dtype and a shape ({@link RawTensor}).
 *
 * Everything read is validated before it is trusted, and every validation
 * failure throws {@link SafetensorsError} whose message starts with the source
 * (a file path, or a label given by the caller) and says what is wrong:
 *
 *   - at least 8 bytes; header length N ≤ 100 000 000 and 8 + N ≤ file size;
 *   - the header is valid UTF-8 and strict JSON (RFC 8259: no BOM, no
 *     duplicate keys in any object, nesting depth ≤ 64) whose top level is an
 *     object; only JSON whitespace may surround it (this covers space padding);
 *   - every tensor entry is an object with exactly the keys `dtype`, `shape`
 *     and `data_offsets`; the dtype is one of {@link SAFE_DTYPES}; the shape
 *     is an array of non-negative integers; data_offsets is an array of two
 *     non-negative integers with begin ≤ end. Integers must be written as
 *     plain JSON integers (no fraction, no exponent) and be safe integers
 *     (≤ 2^53 − 1);
 *   - end − begin == product(shape) × element size;
 *   - sorted by (begin, end), the ranges start at 0 and are contiguous (no
 *     hole, no overlap) and the last one ends exactly at the end of the file
 *     (no trailing bytes);
 *   - `__metadata__`, if present and not null, is an object of strings.
 *
 * Not validated: the values of the tensor bytes (e.g. BOOL bytes other than
 * 0/1, NaN payloads), which are passed through as they are.
 */

import { constants as bufferConstants } from 'node:buffer';
import { open, rename, unlink } from 'node:fs/promises';
import { JsonNumber, JsonParser, JsonSyntaxError, type JsonValue } from '../util/strict-json.js';

/** The dtype names this module accepts (any other name is rejected). */
export const SAFE_DTYPES = [
  'F64',
  'F32',
  'F16',
  'BF16',
  'I64',
  'I32',
  'I16',
  'I8',
  'U8',
  'BOOL',
  'U16',
  'U32',
  'U64',
  'F8_E4M3',
  'F8_E5M2',
] as const;

/** A safetensors dtype name. */
export type SafeDType = (typeof SAFE_DTYPES)[number];

/** A tensor as raw bytes. */
export interface RawTensor {
  dtype: SafeDType;
  /** Dimensions, each a non-negative safe integer; `[]` is a 0-d scalar. */
  shape: number[];
  /** Little-endian, row-major bytes: exactly numel × elementSize(dtype) bytes. */
  data: Uint8Array;
}

/** One tensor entry of a parsed header. */
export interface HeaderEntry {
  name: string;
  dtype: SafeDType;
  shape: number[];
  /** Byte offset of the tensor, relative to the start of the data part. */
  begin: number;
  /** End offset (exclusive), relative to the start of the data part. */
  end: number;
}

/** A parsed, validated header. */
export interface ParsedHeader {
  metadata: Record<string, string>;
  /** The tensors, ordered by their position in the data part. */
  entries: HeaderEntry[];
  /** Absolute byte offset of the data part: 8 + header length. */
  dataStart: number;
}

/** The content of a safetensors file. */
export interface SafetensorsContent {
  metadata: Record<string, string>;
  tensors: Record<string, RawTensor>;
}

/** Thrown for every malformed input; the message names the source and the problem. */
export class SafetensorsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetensorsError';
  }
}

/** Largest header accepted, in bytes (the reference implementation's limit). */
export const MAX_HEADER_SIZE = 100_000_000;

const ELEMENT_SIZES: Record<SafeDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
  U16: 2,
  U32: 4,
  U64: 8,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

const METADATA_KEY = '__metadata__';
const DEFAULT_SOURCE = 'safetensors buffer';

/** True when `d` is an accepted dtype name. */
export function isSafeDType(d: unknown): d is SafeDType {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(ELEMENT_SIZES, d);
}

/** Size in bytes of one element of dtype `d`. */
export function elementSize(d: SafeDType): number {
  if (!isSafeDType(d)) throw new SafetensorsError(`unknown dtype ${quote(String(d))}`);
  return ELEMENT_SIZES[d];
}

// ---------------------------------------------------------------------------
// Writing

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

// ---------------------------------------------------------------------------
// Reading

/**
 * Parses and validates the header of a safetensors file.
 *
 * `buf` holds the start of the file: at least its first 8 + N bytes (it may be
 * the whole file). `opts.fileSize` is the size of the whole file (default
 * `buf.byteLength`); the data offsets are checked against it. `opts.source`
 * names the file in error messages.
 *
 * @throws SafetensorsError when anything listed in the module comment fails.
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

type FileHandle = Awaited<ReturnType<typeof open>>;

/** Largest single read or write request (Linux caps one call near 2 GiB). */
const IO_CHUNK = 1 << 30;

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

async function writeFully(fh: FileHandle, src: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < src.byteLength) {
    const len = Math.min(IO_CHUNK, src.byteLength - done);
    const { bytesWritten } = await fh.write(src, done, len, position + done);
    done += bytesWritten;
  }
}

// ---------------------------------------------------------------------------
// Helpers

/** numel × elementSize as a bigint (no overflow for any shape). */
function byteSize(shape: readonly number[], size: number): bigint {
  let n = BigInt(size);
  for (const d of shape) n *= BigInt(d);
  return n;
}

/** Sets an own enumerable property, even for names such as `__proto__`. */
function defineEntry<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function quote(s: string): string {
  return `'${s.length > 200 ? `${s.slice(0, 200)}…` : s}'`;
}

/** Short description of a parsed JSON value, for error messages. */
function describe(v: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(toPlain(v)) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

function toPlain(v: unknown, depth = 0): unknown {
  if (depth > 4) return '…';
  if (v instanceof JsonNumber) return Number(v.raw);
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) defineEntry(o, k, toPlain(x, depth + 1));
    return o;
  }
  if (Array.isArray(v)) return v.map((x) => toPlain(x, depth + 1));
  return v;
}

/** Converts a JSON array of integer literals to numbers, or undefined if it is not one. */
function asIntArray(v: JsonValue): number[] | undefined {
  if (!Array.isArray(v)) return undefined;
  const out: number[] = [];
  for (const x of v) {
    if (!(x instanceof JsonNumber) || !x.isInteger) return undefined;
    const n = Number(x.raw);
    if (!Number.isSafeInteger(n) || n < 0 || x.raw.startsWith('-')) return undefined;
    out.push(n);
  }
  return out;
}
