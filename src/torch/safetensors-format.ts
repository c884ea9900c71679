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


export {
  SAFE_DTYPES, MAX_HEADER_SIZE, SafetensorsError, elementSize, isSafeDType,
  type SafeDType, type RawTensor, type HeaderEntry, type ParsedHeader, type SafetensorsContent,
} from './safetensors-common.js';
export { parseHeader, deserialize, readSafetensorsFile } from './safetensors-reader.js';
export { serialize, writeSafetensorsFile } from './safetensors-writer.js';
