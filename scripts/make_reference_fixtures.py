#!/usr/bin/env python3
"""Writes the trimmed golden set the tests run `check-reference` on: Tests/Fixtures/reference/.

Same format as shared/reference/golden (manifest.json + one folder per case), trimmed to stay
small enough to commit:
  * only the `cases` (the `common` files are covered by the kernel, tokenizer and weights tests);
  * per case every golden file except the alternative checkpoint (weights_framestride.ckpt, 21 MB;
    the weights tests cover the .ckpt reader on ckpt_subset_legacy.ckpt);
  * weights.safetensors with the 49408-row token table zeroed except the rows the golden prompts
    use (every prompt a file runs is in text_encoder's `prompts`, checked below), split into
    weights-partN.safetensors files of at most ~1.5 MB (check-reference merges the parts; the
    zeroed rows compress to almost nothing in git).

Usage: scripts/make_reference_fixtures.py [SHARED_GOLDEN_DIR] [OUT_DIR]
"""
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402

here = os.path.dirname(os.path.abspath(__file__))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "shared", "reference", "golden")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "Tests", "Fixtures", "reference")
PART_BYTES = 1_500_000
TOKEN_TABLE = "cond_stage_model.model.token_embedding.weight"

def vocabulary():
    """The CLIP BPE vocabulary (token -> id) as open_clip builds it from the merges file."""
    import gzip
    path = os.path.join(here, "..", "Sources", "CLIPTokenizer", "Resources", "bpe_simple_vocab_16e6.txt.gz")
    merges = gzip.open(path).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_chars = [chr(c) for c in cs]
    vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m.split()) for m in merges]
    return {tok: i for i, tok in enumerate(vocab)}


def word_ids(prompt):
    """Token ids of a plain lowercase ASCII prompt whose words are whole vocabulary entries (the
    test fails loudly on cond.text if a row is missing, so a wrong guess cannot pass)."""
    vocab = vocabulary()
    ids = set()
    for word in prompt.lower().split():
        token = word + "</w>"
        if token in vocab:
            ids.add(vocab[token])
            continue
        # Split by BPE: keep every entry that can be a piece of the word (a superset).
        for tok, i in vocab.items():
            piece = tok[:-4] if tok.endswith("</w>") else tok
            if piece and (word.endswith(piece) if tok.endswith("</w>") else piece in word) and len(piece) > 1:
                ids.add(i)
    return ids


manifest = json.load(open(os.path.join(src, "manifest.json")))
shutil.rmtree(out, ignore_errors=True)
os.makedirs(out)
trimmed = {k: v for k, v in manifest.items() if k not in ("common", "cases")}
trimmed["trimmed_by"] = "scripts/make_reference_fixtures.py (see its docstring)"
trimmed["cases"] = {}
for name, case in manifest["cases"].items():
    sub = case.get("directory", name + "/").rstrip("/")
    os.makedirs(os.path.join(out, sub))
    files = {}
    for fname, spec in case["files"].items():
        if fname.endswith(".ckpt"):
            continue
        if fname == "weights.safetensors":
            continue
        shutil.copy(os.path.join(src, sub, fname), os.path.join(out, sub, fname))
        files[fname] = spec
    text = safetensors_io.read(os.path.join(src, sub, "text_encoder.safetensors"))
    text_prompts = case["files"]["text_encoder.safetensors"]["prompts"]
    assert "" in text_prompts, "the empty prompt must be among the text encoder prompts"
    used = set(np.unique(text["ids"]).tolist())
    for fname, spec in case["files"].items():
        if "prompt" in spec and spec["prompt"] not in text_prompts:
            used |= word_ids(spec["prompt"])
    used = np.array(sorted(used))
    weights = dict(safetensors_io.read(os.path.join(src, sub, "weights.safetensors")))
    table = np.zeros_like(weights[TOKEN_TABLE])
    table[used] = weights[TOKEN_TABLE][used]
    weights[TOKEN_TABLE] = table
    # Greedy split by size; the token table alone is larger than a part and gets its own file.
    parts, current, size = [], {}, 0
    for key in sorted(weights):
        n = weights[key].nbytes
        if current and size + n > PART_BYTES:
            parts.append(current)
            current, size = {}, 0
        current[key] = weights[key]
        size += n
    if current:
        parts.append(current)
    for i, part in enumerate(parts, 1):
        safetensors_io.write(os.path.join(out, sub, f"weights-part{i}.safetensors"), part,
                             {"source": f"golden/{name}/weights.safetensors", "part": i, "parts": len(parts),
                              "note": "token table rows outside the golden prompts zeroed"})
    case = dict(case)
    case["files"] = files
    case["weights"] = f"weights-part1..{len(parts)}.safetensors (trimmed)"
    trimmed["cases"][name] = case
    print(f"{name}: {len(files)} golden files, weights in {len(parts)} parts, {len(used)} token rows kept")
with open(os.path.join(out, "manifest.json"), "w") as f:
    json.dump(trimmed, f, indent=1, ensure_ascii=False)
    f.write("\n")
