#!/usr/bin/env python3
"""Copies a trimmed subset of ../shared/reference/golden/common/image_preprocess_real.safetensors
into Tests/TensorCoreTests/Fixtures/image_preprocess.safetensors (kept under 2 MB):

* 256x256 and 320x512: the source image and the resized/cropped uint8 image, whole;
* their CLIP preprocess outputs, rows 0, 8, …, 216 and 223 only (`<case>.clip_rows` holds
  the row indices; every column and channel of those rows is kept);
* pad_64x96: the zero-padded crop, whole (its source is the 256x256 source).

Run from the repository root:  python3 scripts/trim_preprocess_golden.py [golden_dir]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402

golden = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "reference", "golden")
src = safetensors_io.read(os.path.join(golden, "common", "image_preprocess_real.safetensors"))
rows = np.array(list(range(0, 224, 8)) + [223], dtype=np.int64)
out = {}
for case in ("256x256", "320x512"):
    out[f"{case}.src_u8"] = src[f"{case}.src_u8"]
    out[f"{case}.resized_u8"] = src[f"{case}.resized_u8"]
    out[f"{case}.clip"] = np.ascontiguousarray(src[f"{case}.clip"][:, :, rows, :])
    out[f"{case}.clip_rows"] = rows
out["pad_64x96.resized_u8"] = src["pad_64x96.resized_u8"]
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorCoreTests", "Fixtures", "image_preprocess.safetensors")
safetensors_io.write(path, out, {"source": "golden/common/image_preprocess_real.safetensors (trimmed)"})
print(f"wrote {os.path.relpath(path)}: {os.path.getsize(path)} bytes")
