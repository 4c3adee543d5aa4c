#!/usr/bin/env python3
"""Writes Tests/DiffusionPipelineTests/Fixtures/torch_random.safetensors: PyTorch CPU random
streams (torch.manual_seed + randn / rand / randint) that TorchRandom must reproduce bit for bit.

Needs a CPU build of torch (the goldens used 2.13.0+cpu). Each float case is recorded twice:
`avx2.*` under PyTorch's AVX2 dispatch (avx_mathfun Box-Muller; needs an AVX2 CPU without
AVX-512, or ATEN_CPU_CAPABILITY=avx2) and `scalar.*` under ATEN_CPU_CAPABILITY=default (the
portable libm Box-Muller). Integer cases do not depend on the dispatch and are recorded once.

Run from the repository root:  python3 scripts/gen_torch_random_fixture.py

`--bulk DIR` instead writes large raw streams (little-endian float32, no header) named
`{avx2|scalar}_seed{S}_n{N}.f32` = torch.manual_seed(S); torch.randn(N), for the opt-in test that
compares millions of values (set DYNAMICRAFTER_TORCH_RANDN_DIR=DIR when running the tests).
"""
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402

BIG = (1, 4, 16, 32, 32)
BIG_SAMPLE = np.concatenate([np.arange(0, 65536, 61), np.arange(65536 - 16, 65536)])

CASES = {
    # name: (seed, [(op, shape), ...]) -- the outputs of the ops are concatenated (flattened).
    "seed0_randn5": (0, [("randn", (5,))]),
    "seed42_randn_2x3": (42, [("randn", (2, 3))]),
    "seed42_randn_2x3x4": (42, [("randn", (2, 3, 4))]),
    "seed42_randn_4x5": (42, [("randn", (4, 5))]),
    "seed42_randn_2x16": (42, [("randn", (2, 16))]),
    "seed42_rand_1x5": (42, [("rand", (1, 5))]),
    "seed7_sequence": (7, [("randn", (1,)), ("randn", (1,)), ("randn", (3,)), ("randn", (20,)),
                           ("randn", (1,)), ("randn", (15,)), ("rand", (5,)), ("randn", (16,)),
                           ("randn", (33,)), ("randn", (2,))]),
    "seed11_odd_sizes": (11, [("randn", (17,)), ("randn", (31,)), ("randn", (47,)), ("randn", (100,))]),
    "seed2024_randn_1x4x4x8x8": (2024, [("randn", (1, 4, 4, 8, 8))]),
    "seed123_randn_1x4x16x32x32_sampled": (123, [("randn_big", BIG)]),
    "seed2p40plus5_randn20": (2**40 + 5, [("randn", (20,))]),
    "seedmax_randn20": (2**64 - 1, [("randn", (20,))]),
}


def child():
    import torch
    out = {"capability": torch.backends.cpu.get_cpu_capability(), "version": torch.__version__, "cases": {}}
    for name, (seed, ops) in CASES.items():
        torch.manual_seed(seed)
        values = []
        for op, shape in ops:
            if op == "randn":
                values.append(torch.randn(shape).flatten().numpy())
            elif op == "rand":
                values.append(torch.rand(shape).flatten().numpy())
            elif op == "randn_big":
                values.append(torch.randn(shape).flatten().numpy()[BIG_SAMPLE])
        out["cases"][name] = [float(v) for v in np.concatenate(values)]
    torch.manual_seed(3)
    out["seed3_randint_0_1000"] = torch.randint(0, 1000, (50,)).tolist()
    out["seed3_randint_0_2p40_after"] = torch.randint(0, 2**40, (10,)).tolist()
    json.dump(out, sys.stdout)


BULK = [(0, 1 << 20), (42, 1 << 20), (123, 1 << 20), (2024, 1_000_003), (7, 65_536)]


def bulk_child(directory, prefix):
    import torch
    for seed, n in BULK:
        torch.manual_seed(seed)
        torch.randn(n).numpy().astype("<f4").tofile(os.path.join(directory, f"{prefix}_seed{seed}_n{n}.f32"))


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--child":
    child()
    sys.exit(0)
if __name__ == "__main__" and len(sys.argv) > 3 and sys.argv[1] == "--bulk-child":
    bulk_child(sys.argv[2], sys.argv[3])
    sys.exit(0)
if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "--bulk":
    os.makedirs(sys.argv[2], exist_ok=True)
    for prefix, cap in (("avx2", "avx2"), ("scalar", "default")):
        subprocess.check_call([sys.executable, __file__, "--bulk-child", sys.argv[2], prefix],
                              env={**os.environ, "ATEN_CPU_CAPABILITY": cap})
    print(f"wrote {len(BULK) * 2} streams to {sys.argv[2]}")
    sys.exit(0)

tensors = {}
meta = {}
for prefix, env in (("avx2", {"ATEN_CPU_CAPABILITY": "avx2"}), ("scalar", {"ATEN_CPU_CAPABILITY": "default"})):
    result = json.loads(subprocess.check_output([sys.executable, __file__, "--child"], env={**os.environ, **env}))
    meta[f"{prefix}_capability"] = result["capability"]
    meta["torch"] = result["version"]
    for name, values in result["cases"].items():
        tensors[f"{prefix}.{name}"] = np.array(values, dtype=np.float32)
    tensors["seed3_randint_0_1000"] = np.array(result["seed3_randint_0_1000"], dtype=np.int64)
    tensors["seed3_randint_0_2p40_after"] = np.array(result["seed3_randint_0_2p40_after"], dtype=np.int64)
assert meta["avx2_capability"] == "AVX2" and meta["scalar_capability"] == "DEFAULT", meta
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "DiffusionPipelineTests", "Fixtures", "torch_random.safetensors")
safetensors_io.write(path, tensors, meta)
print(f"wrote {os.path.relpath(path)}: {os.path.getsize(path)} bytes; {meta}")
