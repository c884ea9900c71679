#!/usr/bin/env python3
"""An independent reader and writer of safetensors files in plain Python (standard library only).

It follows the format as Hugging Face documents it (github.com/huggingface/safetensors, README,
"Format"): 8 bytes, a little-endian unsigned 64-bit N; N bytes of a UTF-8 JSON header mapping each
tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the byte buffer that
follows, little-endian, row-major), plus an optional "__metadata__" of string to string; then the
byte buffer. The official loader also refuses a buffer with holes or overlaps, so this one does.

The test test/torch/python-interop.test.ts uses it to check, with a reader and writer that share no
code with the project's, that the project's tensor files are the documented format:

  python3 safetensors_stdlib.py read FILE [--full]
      prints JSON: {"metadata": {...}, "tensors": {name: {"dtype", "shape", "count", "sum",
      "first": [up to 16 values], "values": [every value, with --full]}}}
  python3 safetensors_stdlib.py write FILE
      writes a file of known tensors (one per dtype, a scalar, an empty tensor) and metadata, and
      prints their values as JSON.
"""
import json
import math
import struct
import sys

# dtype -> (struct format character, bytes per element); BF16 is decoded by hand
FORMATS = {
    "F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "BF16": (None, 2),
    "I64": ("q", 8), "I32": ("i", 4), "I16": ("h", 2), "I8": ("b", 1), "U8": ("B", 1), "BOOL": ("?", 1),
}


class FormatError(Exception):
    pass


def decode(dtype, data):
    fmt, size = FORMATS[dtype]
    count = len(data) // size
    if dtype == "BF16":
        # bfloat16 is the upper half of a float32
        halves = struct.unpack("<%dH" % count, data)
        return [struct.unpack("<f", struct.pack("<I", h << 16))[0] for h in halves]
    values = struct.unpack("<%d%s" % (count, fmt), data)
    return [int(v) if dtype == "BOOL" else v for v in values]


def encode(dtype, values):
    fmt, _ = FORMATS[dtype]
    if dtype == "BF16":
        # truncation is exact for the values written here (each has at most 8 significant bits)
        return struct.pack("<%dH" % len(values), *[struct.unpack("<I", struct.pack("<f", v))[0] >> 16 for v in values])
    return struct.pack("<%d%s" % (len(values), fmt), *[bool(v) if dtype == "BOOL" else v for v in values])


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise FormatError("%s: %d bytes, shorter than the 8-byte header length" % (path, len(raw)))
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise FormatError("%s: header of %d bytes runs past the end of the file" % (path, n))
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    buffer = raw[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    spans = []
    tensors = {}
    for name, entry in header.items():
        dtype, shape, (begin, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in FORMATS:
            raise FormatError("%s: tensor %r has an unknown dtype %r" % (path, name, dtype))
        count = math.prod(shape)
        if end - begin != count * FORMATS[dtype][1]:
            raise FormatError("%s: tensor %r spans %d bytes, its shape %s needs %d" % (path, name, end - begin, shape, count * FORMATS[dtype][1]))
        spans.append((begin, end, name))
        tensors[name] = (dtype, shape, decode(dtype, buffer[begin:end]))
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise FormatError("%s: tensor %r starts at byte %d of the buffer, expected %d (a hole or an overlap)" % (path, name, begin, position))
        position = end
    if position != len(buffer):
        raise FormatError("%s: the tensors cover %d of the buffer's %d bytes" % (path, position, len(buffer)))
    return metadata, tensors


def write(path, tensors, metadata):
    """tensors: name -> (dtype, shape, values); written in name order, without padding."""
    header = {"__metadata__": metadata}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        dtype, shape, values = tensors[name]
        data = encode(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def known_tensors():
    """One tensor per dtype with values each dtype holds exactly, a scalar and an empty tensor."""
    small = [0, 1, -2, 3, -4, 5]
    return {
        "f64": ("F64", [2, 3], [0.1, -2.5, 1e-300, 3.0, -7.25, 1e300]),
        "f32": ("F32", [3, 2], [0.5, -1.25, 3.0, 1024.0, -0.0078125, 6.0]),
        "f16": ("F16", [6], [0.5, -1.5, 2.0, 65504.0, -0.25, 0.0009765625]),
        "bf16": ("BF16", [2, 3], [1.0, -2.0, 0.5, 3.0, -0.125, 256.0]),
        "i64": ("I64", [6], [0, 1, -1, 2 ** 40, -(2 ** 40), 7]),
        "i32": ("I32", [2, 3], [0, 1, -1, 2 ** 30, -(2 ** 30), 7]),
        "i16": ("I16", [6], small),
        "i8": ("I8", [3, 2], small),
        "u8": ("U8", [6], [0, 1, 2, 127, 128, 255]),
        "bool": ("BOOL", [6], [1, 0, 0, 1, 1, 0]),
        "scalar": ("F32", [], [2.5]),
        "empty": ("F32", [0, 4], []),
    }


def main(argv):
    if len(argv) < 3 or argv[1] not in ("read", "write"):
        print(__doc__, file=sys.stderr)
        return 2
    path = argv[2]
    if argv[1] == "write":
        tensors = known_tensors()
        write(path, tensors, {"written_by": "safetensors_stdlib.py", "step": "12"})
        print(json.dumps({name: {"dtype": d, "shape": s, "values": v} for name, (d, s, v) in tensors.items()}))
        return 0
    try:
        metadata, tensors = read(path)
    except (FormatError, ValueError, KeyError, struct.error) as e:
        print("safetensors_stdlib.py: %s" % e, file=sys.stderr)
        return 1
    full = "--full" in argv[3:]
    out = {}
    for name, (dtype, shape, values) in tensors.items():
        entry = {"dtype": dtype, "shape": shape, "count": len(values), "sum": math.fsum(values), "first": values[:16]}
        if full:
            entry["values"] = values
        out[name] = entry
    print(json.dumps({"metadata": metadata, "tensors": out}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
