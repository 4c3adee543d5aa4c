#!/usr/bin/env python3
"""Writes the DiffusionPipeline test fixtures that come from the shared reference goldens and
from NumPy alone (no torch needed), into Tests/DiffusionPipelineTests/Fixtures/:

* schedules.safetensors: golden/common/schedules.safetensors, copied whole (180 KB);
* ddim_timesteps.safetensors: the reference's make_ddim_timesteps (NumPy, verbatim formulas) for
  every step count 1..1000 and both spacings, summarised per count as
  [count, first, last, sum, sum of (k+1)*t_k] (int64 [2, 1000, 5]; row 0 uniform, 1 trailing),
  unvalidated (the reference's out-of-range timesteps 1000 and -1 included).

The DDIM tests read the tiny runs' sampling.safetensors from Tests/Fixtures/reference (written
by make_reference_fixtures.py), not from a copy here.

Run from the repository root:  python3 scripts/gen_diffusion_fixtures.py [golden_dir]
"""
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402

root = os.path.join(os.path.dirname(__file__), "..")
golden = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "..", "shared", "reference", "golden")
out_dir = os.path.join(root, "Tests", "DiffusionPipelineTests", "Fixtures")

shutil.copyfile(os.path.join(golden, "common", "schedules.safetensors"), os.path.join(out_dir, "schedules.safetensors"))


def make_ddim_timesteps(method, S, T=1000):
    # Verbatim from the reference (lvdm/models/utils_diffusion.py).
    if method == "uniform":
        c = T // S
        return np.asarray(list(range(0, T, c))) + 1
    c = T / S
    return np.flip(np.round(np.arange(T, 0, -c))).astype(np.int64) - 1


summary = np.zeros((2, 1000, 5), dtype=np.int64)
for row, method in enumerate(("uniform", "uniform_trailing")):
    for S in range(1, 1001):
        ts = make_ddim_timesteps(method, S).astype(np.int64)
        k = np.arange(1, len(ts) + 1, dtype=np.int64)
        summary[row, S - 1] = [len(ts), ts[0], ts[-1], ts.sum(), (k * ts).sum()]
safetensors_io.write(os.path.join(out_dir, "ddim_timesteps.safetensors"), {"summary": summary},
                     {"numpy": np.__version__})

for f in sorted(os.listdir(out_dir)):
    print(f"{f}: {os.path.getsize(os.path.join(out_dir, f))} bytes")
