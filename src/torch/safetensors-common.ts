// The safetensors format's shared parts: the dtype names and sizes, the raw tensor and header types,
// SafetensorsError, and the helpers the reader and the writer both use (byte sizes, error wording).
// The format and what is validated are described in safetensors-format.ts.
import type { open } from 'node:fs/promises';
import { JsonNumber, type JsonValue } from '../util/strict-json.js';

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

export const ELEMENT_SIZES: Record<SafeDType, number> = {
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

export const METADATA_KEY = '__metadata__';
export const DEFAULT_SOURCE = 'safetensors buffer';

/** True when `d` is an accepted dtype name. */
export function isSafeDType(d: unknown): d is SafeDType {
  return typeof d === 'string' && Object.prototype.hasOwnProperty.call(ELEMENT_SIZES, d);
}

/** Size in bytes of one element of dtype `d`. */
export function elementSize(d: SafeDType): number {
  if (!isSafeDType(d)) throw new SafetensorsError(`unknown dtype ${quote(String(d))}`);
  return ELEMENT_SIZES[d];
}

export type FileHandle = Awaited<ReturnType<typeof open>>;

/** Largest single read or write request (Linux caps one call near 2 GiB). */
export const IO_CHUNK = 1 << 30;

/** numel × elementSize as a bigint (no overflow for any shape). */
export function byteSize(shape: readonly number[], size: number): bigint {
  let n = BigInt(size);
  for (const d of shape) n *= BigInt(d);
  return n;
}

/** Sets an own enumerable property, even for names such as `__proto__`. */
export function defineEntry<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

export function quote(s: string): string {
  return `'${s.length > 200 ? `${s.slice(0, 200)}…` : s}'`;
}

/** Short description of a parsed JSON value, for error messages. */
export function describe(v: unknown): string {
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
export function asIntArray(v: JsonValue): number[] | undefined {
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
