#!/usr/bin/env python3
"""Extract the VAE (first_stage_model) fixtures of the tiny golden cases.

For each case, writes Tests/DynamiCrafterModelTests/Fixtures/vae-<case>.safetensors with the
golden tensors of vae.safetensors (prefixed "golden.") and the first weights, plus
vae-<case>-part<k>.safetensors files holding the remaining first_stage_model.* weights, so that
every file stays under ~1.5 MB (the fp32 weights alone are ~4.1 MB). The tests merge the parts.

Usage: scripts/extract_vae_fixtures.py [reference-dir]  (default /work/shared/reference)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

LIMIT = 1_500_000
GOLDEN = ["x", "tap.enc_out", "moments", "mean", "logvar", "std", "noise", "z",
          "tap.post_quant", "tap.dec_mid", "dec"]


def main():
    ref = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/reference"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = os.path.join(root, "Tests", "DynamiCrafterModelTests", "Fixtures")
    for case in ["tiny-256", "tiny-512"]:
        golden = safetensors_io.read(os.path.join(ref, "golden", case, "vae.safetensors"))
        weights = safetensors_io.read(os.path.join(ref, "golden", case, "weights.safetensors"))
        parts = [{"golden." + k: golden[k] for k in GOLDEN}]
        sizes = [sum(a.nbytes for a in parts[0].values())]
        names = sorted((k for k in weights if k.startswith("first_stage_model.")),
                       key=lambda k: -weights[k].nbytes)
        for k in names:  # first fit, largest first
            a = weights[k]
            for i, s in enumerate(sizes):
                if s + a.nbytes <= LIMIT:
                    parts[i][k] = a
                    sizes[i] += a.nbytes
                    break
            else:
                parts.append({k: a})
                sizes.append(a.nbytes)
        for i, p in enumerate(parts):
            name = f"vae-{case}.safetensors" if i == 0 else f"vae-{case}-part{i}.safetensors"
            safetensors_io.write(os.path.join(out_dir, name), p,
                                 metadata={"source": f"golden/{case}", "part": i, "parts": len(parts)})
            print(name, len(p), "tensors", sizes[i], "bytes")


if __name__ == "__main__":
    main()
