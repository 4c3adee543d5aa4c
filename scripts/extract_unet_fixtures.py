#!/usr/bin/env python3
"""Extracts the 3D UNet of the tiny golden models (weights model.diffusion_model.*) with the
golden UNet inputs, outputs and per-block taps into

    Tests/DynamiCrafterModelTests/Fixtures/unet-tiny-256.safetensors (+ unet-tiny-256-part<k>)
    Tests/DynamiCrafterModelTests/Fixtures/unet-tiny-512.safetensors (+ unet-tiny-512-part<k>)

The main file holds the goldens (and the first weights that fit); the fp32 weights (~8.7 / ~11 MB)
are spread over unet-<case>-part1, part2, ... so that every file stays under ~1.5 MB. The tests
merge the parts.

Usage: scripts/extract_unet_fixtures.py [GOLDEN_DIR]   (default /work/shared/reference/golden)
int64 golden tensors (t, fs) are stored as int32. Goldens keep their names (b1.*, b2.*, ...).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "Tests", "DynamiCrafterModelTests", "Fixtures")
LIMIT = 1_400_000  # bytes of tensor data per file


def extract(golden, case):
    src = os.path.join(golden, case)
    weights = safetensors_io.read(os.path.join(src, "weights.safetensors"))
    unet = safetensors_io.read(os.path.join(src, "unet.safetensors"))
    parts = [{}]
    sizes = [0]
    for k, v in unet.items():
        a = np.asarray(v)
        if a.dtype == np.int64:
            a = a.astype(np.int32)
        parts[0][k] = np.ascontiguousarray(a)
        sizes[0] += a.nbytes
    for k in sorted(weights):
        if not k.startswith("model.diffusion_model."):
            continue
        a = np.ascontiguousarray(weights[k])
        if sizes[-1] + a.nbytes > LIMIT:
            parts.append({})
            sizes.append(0)
        parts[-1][k] = a
        sizes[-1] += a.nbytes
    for old in os.listdir(OUT_DIR):
        if old.startswith("unet-%s-part" % case):
            os.remove(os.path.join(OUT_DIR, old))
    for i, part in enumerate(parts):
        suffix = "" if i == 0 else "-part%d" % i
        path = os.path.join(OUT_DIR, "unet-%s%s.safetensors" % (case, suffix))
        safetensors_io.write(path, part)
        print(path, os.path.getsize(path), "bytes")


def main():
    golden = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/reference/golden"
    os.makedirs(OUT_DIR, exist_ok=True)
    for case in ("tiny-256", "tiny-512"):
        extract(golden, case)


if __name__ == "__main__":
    main()
