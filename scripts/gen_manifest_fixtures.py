#!/usr/bin/env python3
"""Writes the fixtures of the ParameterManifest / ModelConfig tests into
Tests/DynamiCrafterModelTests/Fixtures/ (standard library only, no torch):

* keys-256.tsv, keys-512.tsv, keys-1024.tsv: copies of reference/keys/dynamicrafter_*_keys.tsv
  (every key, shape, dtype and kind of the released checkpoints; the 512-interp checkpoint has
  the 512 key set);
* keys-tiny-256.tsv, keys-tiny-512.tsv: key, shape and dtype of every tensor of
  golden/tiny-{256,512}/weights.safetensors, read from the safetensors header, in the same
  format (shape "AxB", "scalar" for 0-dim);
* config-tiny-256.json, config-tiny-512.json: `model_config` of the tiny cases in
  golden/manifest.json plus their `open_clip_model_configs`, as one ModelConfig file;
* config-256.yaml, config-512.yaml, config-1024.yaml: configs/inference_{256,512,1024}_v1.0.yaml
  of Doubiiu/DynamiCrafter, copied verbatim when DYNAMICRAFTER_REPO names a checkout of it
  (otherwise the committed copies are kept), and config-{256,512,1024}.json converted from them
  with PyYAML, so the presets can be checked against the reference YAMLs without a YAML parser
  in Swift.

Usage: [DYNAMICRAFTER_REPO=path] python3 scripts/gen_manifest_fixtures.py [REFERENCE_DIR]
       (default /work/shared/reference)
"""
import json
import os
import shutil
import struct
import sys

ref = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/reference"
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, "Tests", "DynamiCrafterModelTests", "Fixtures")
os.makedirs(out, exist_ok=True)

for size in ("256", "512", "1024"):
    shutil.copyfile(os.path.join(ref, "keys", f"dynamicrafter_{size}_keys.tsv"), os.path.join(out, f"keys-{size}.tsv"))

DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I64": "int64"}


def header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))


manifest = json.load(open(os.path.join(ref, "golden", "manifest.json")))
for case in ("tiny-256", "tiny-512"):
    h = header(os.path.join(ref, "golden", case, "weights.safetensors"))
    h.pop("__metadata__", None)
    with open(os.path.join(out, f"keys-{case}.tsv"), "w") as f:
        f.write("key\tshape\tdtype\n")
        for key in sorted(h):
            shape = "x".join(str(d) for d in h[key]["shape"]) or "scalar"
            f.write(f"{key}\t{shape}\t{DTYPES.get(h[key]['dtype'], h[key]['dtype'])}\n")
        f.write(f"# keys: {len(h)}; from golden/{case}/weights.safetensors\n")
    c = manifest["cases"][case]
    config = dict(c["model_config"])
    config["open_clip_model_configs"] = c["open_clip_model_configs"]
    with open(os.path.join(out, f"config-{case}.json"), "w") as f:
        json.dump(config, f, indent=1)
        f.write("\n")
repo = os.environ.get("DYNAMICRAFTER_REPO")
for size in ("256", "512", "1024"):
    target = os.path.join(out, f"config-{size}.yaml")
    if repo:
        shutil.copyfile(os.path.join(repo, "configs", f"inference_{size}_v1.0.yaml"), target)
    if os.path.exists(target):
        import yaml  # PyYAML
        with open(target) as f:
            config = yaml.safe_load(f)
        with open(os.path.join(out, f"config-{size}.json"), "w") as f:
            json.dump(config, f, indent=1)
            f.write("\n")
print("wrote fixtures to", out)
