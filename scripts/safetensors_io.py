"""Minimal safetensors reader/writer (NumPy only), shared by the fixture scripts.

Format: 8-byte little-endian header length, a JSON header mapping names to
{dtype, shape, data_offsets}, padded with spaces to a multiple of 8, then the raw
little-endian row-major data.
"""
import json
import struct

import numpy as np

_DTYPES = {
    np.dtype("float32"): "F32",
    np.dtype("float64"): "F64",
    np.dtype("uint8"): "U8",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
}
_NUMPY = {v: k for k, v in _DTYPES.items()}


def write(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        a = np.asarray(tensors[name], order="C")  # keeps 0-dim scalars 0-dim (ascontiguousarray would not)
        if a.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {a.dtype}")
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        lo, hi = info["data_offsets"]
        dt = _NUMPY[info["dtype"]].newbyteorder("<")
        out[name] = np.frombuffer(data[lo:hi], dtype=dt).reshape(info["shape"])
    return out
