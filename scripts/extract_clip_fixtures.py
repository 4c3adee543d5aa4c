#!/usr/bin/env python3
"""Extracts the CLIP text tower, the CLIP vision tower and the Resampler of the tiny golden
models, with their golden inputs, outputs and taps, into small test fixtures:

    Tests/DynamiCrafterModelTests/Fixtures/clip-tiny-256.safetensors
    Tests/DynamiCrafterModelTests/Fixtures/clip-tiny-512.safetensors
    (+ clip-tiny-256-patch / clip-tiny-512-patch: conv1.weight and the golden clip_in)

Usage: scripts/extract_clip_fixtures.py [GOLDEN_DIR]   (default /work/shared/reference/golden)

To keep each file small:
* the text tower's token_embedding [49408, W] is cut down to the rows the golden prompts use;
  `text.ids` holds the golden ids renumbered into that compact vocabulary (`text.ids_original`
  keeps the real ones, `text.vocab_rows` the original row of each compact row). An embedding
  lookup does not care about the vocabulary size, so the outputs are unchanged.
* the unused parts of the checkpoint (the image embedder's text tower, ln_post, proj,
  text_projection, logit_scale) are left out;
* of the unconditional (zero image) run only the ViT output and the image embedding are kept.
Weights keep their checkpoint names (cond_stage_model.*, embedder.model.visual.*,
image_proj_model.*); goldens are prefixed text.* and image.*.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "Tests", "DynamiCrafterModelTests", "Fixtures")
UNUSED = ("logit_scale", "text_projection", "ln_post.", ".proj")


def keep_weight(name):
    if name.startswith("cond_stage_model.model."):
        return not any(name.endswith(u) or (u.endswith(".") and u in name) for u in UNUSED)
    if name.startswith("embedder.model.visual."):
        return not (name.endswith(".proj") or ".ln_post." in name)
    return name.startswith("image_proj_model.")


def extract(golden, case):
    src = os.path.join(golden, case)
    weights = safetensors_io.read(os.path.join(src, "weights.safetensors"))
    text = safetensors_io.read(os.path.join(src, "text_encoder.safetensors"))
    image = safetensors_io.read(os.path.join(src, "image_vision.safetensors"))

    out = {k: np.array(v) for k, v in weights.items() if keep_weight(k)}

    ids = np.array(text["ids"])
    rows, compact = np.unique(ids, return_inverse=True)
    emb_key = "cond_stage_model.model.token_embedding.weight"
    out[emb_key] = np.array(weights[emb_key][rows])
    out["text.ids"] = compact.reshape(ids.shape).astype(np.int32)
    out["text.ids_original"] = ids.astype(np.int64)
    out["text.vocab_rows"] = rows.astype(np.int64)
    for k in ("tap.embed", "out") + tuple(k for k in text if k.startswith("tap.block")):
        out["text." + k] = np.array(text[k])

    for k, v in image.items():
        if k in ("src_u8", "resized_u8", "img") or k.startswith("zero."):
            continue
        out["image." + k] = np.array(v)
    for k in ("zero.tokens", "zero.img_emb", "zero.clip_in_per_channel"):
        out["image." + k] = np.array(image[k])

    # The patch embedding and its input alone are ~1.4 MB: they go to a second file so that
    # each stays well under 2 MB. The tests read both as one archive.
    patch = {k: out.pop(k) for k in ("embedder.model.visual.conv1.weight", "image.clip_in")}
    meta = {"source": f"{case} goldens", "script": "scripts/extract_clip_fixtures.py"}
    for suffix, tensors in (("", out), ("-patch", patch)):
        path = os.path.join(OUT_DIR, f"clip-{case}{suffix}.safetensors")
        safetensors_io.write(path, tensors, metadata=meta)
        print(f"{path}: {os.path.getsize(path)} bytes, {len(tensors)} tensors")


def main():
    golden = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/reference/golden"
    os.makedirs(OUT_DIR, exist_ok=True)
    for case in ("tiny-256", "tiny-512"):
        extract(golden, case)


if __name__ == "__main__":
    main()
