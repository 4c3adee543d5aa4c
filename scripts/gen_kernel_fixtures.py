#!/usr/bin/env python3
"""Writes Tests/TensorCoreTests/Fixtures/kernels.safetensors: small seeded inputs for the
TensorCore kernels and their expected outputs, computed independently in float64 NumPy/SciPy
from the formulas in ../shared/reference/README.md (not from the Swift code).

Where the reference itself computes in float32 (timestep frequencies, CLIP resize sample
positions and Gaussian taps, PIL's fixed-point weights) the script reproduces that rounding
and does the rest in float64.

Run from the repository root:  python3 scripts/gen_kernel_fixtures.py
"""
import math
import os
import sys

import numpy as np
from scipy.special import erfc

sys.path.insert(0, os.path.dirname(__file__))
import safetensors_io  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "TensorCoreTests", "Fixtures", "kernels.safetensors")
rng = np.random.default_rng(20240611)
T = {}


def f32(a):
    return np.asarray(a, dtype=np.float32)


def randn(*shape, scale=1.0, offset=0.0):
    return f32(rng.standard_normal(shape) * scale + offset)


# ---- GroupNorm on channels-last [N, S..., C]: stats per (n, group) over S and the group's channels.
def group_norm(x, groups, eps, w=None, b=None, silu=False):
    x64 = x.astype(np.float64)
    n, c = x.shape[0], x.shape[-1]
    v = x64.reshape(n, -1, groups, c // groups)
    mean = v.mean(axis=(1, 3), keepdims=True)
    var = ((v - mean) ** 2).mean(axis=(1, 3), keepdims=True)
    y = ((v - mean) / np.sqrt(var + eps)).reshape(x.shape)
    if w is not None:
        y = y * w.astype(np.float64)
    if b is not None:
        y = y + b.astype(np.float64)
    if silu:
        y = y / (1 + np.exp(-y))
    return f32(y)


x = randn(2, 3, 5, 40)
w, b = randn(40, scale=0.3, offset=1.0), randn(40, scale=0.2)
T["gn_a.x"], T["gn_a.weight"], T["gn_a.bias"] = x, w, b
T["gn_a.y"] = group_norm(x, 4, 1e-5, w, b)
T["gn_a.y_silu"] = group_norm(x, 4, 1e-5, w, b, silu=True)
x = randn(2, 37, 96, scale=0.5, offset=3.0)  # large mean: checks the variance is not E[x²]−E[x]²
T["gn_b.x"] = x
T["gn_b.y"] = group_norm(x, 32, 1e-6)
x = randn(1, 4, 75, 64, scale=2.0, offset=-1.0)  # one sample, many positions: split statistics
w, b = randn(64, scale=0.3, offset=1.0), randn(64, scale=0.2)
T["gn_c.x"], T["gn_c.weight"], T["gn_c.bias"] = x, w, b
T["gn_c.y_silu"] = group_norm(x, 32, 1e-6, w, b, silu=True)


# ---- LayerNorm over the last dim.
def layer_norm(x, eps, w=None, b=None):
    x64 = x.astype(np.float64)
    mean = x64.mean(-1, keepdims=True)
    var = ((x64 - mean) ** 2).mean(-1, keepdims=True)
    y = (x64 - mean) / np.sqrt(var + eps)
    if w is not None:
        y = y * w
    if b is not None:
        y = y + b
    return f32(y)


x = randn(3, 11, 72, scale=1.5, offset=0.5)
w, b = randn(72, scale=0.3, offset=1.0), randn(72, scale=0.2)
T["ln_a.x"], T["ln_a.weight"], T["ln_a.bias"] = x, w, b
T["ln_a.y"] = layer_norm(x, 1e-5, w.astype(np.float64), b.astype(np.float64))
x = randn(5, 13, scale=3.0, offset=10.0)
T["ln_b.x"] = x
T["ln_b.y"] = layer_norm(x, 1e-5)

# ---- Activations.
x = np.concatenate([np.linspace(-12, 12, 1993), [0.0, -0.0, 1e-6, -1e-6, 30.0, -30.0, 95.0, -95.0, 88.5, -88.5, -87.0]])
x = f32(x + rng.standard_normal(x.shape) * 1e-3 * (np.abs(x) < 12))
x64 = x.astype(np.float64)
T["act.x"] = x
T["act.silu"] = f32(x64 / (1 + np.exp(-x64)))
# 1 + erf(u) = erfc(−u), without the cancellation of 1 + erf in the negative tail.
T["act.gelu"] = f32(0.5 * x64 * erfc(-x64 / math.sqrt(2)))
x = randn(7, 74, scale=2.0)
v, g = x[:, :37].astype(np.float64), x[:, 37:].astype(np.float64)
T["geglu.x"] = x
T["geglu.y"] = f32(v * 0.5 * g * erfc(-g / math.sqrt(2)))


# ---- Softmax over the last dim.
def softmax(x, scale=1.0):
    z = x.astype(np.float64) * scale
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


x = randn(9, 45, scale=3.0)
T["softmax.x"] = x
T["softmax.y"] = f32(softmax(x))
T["softmax.y_scaled"] = f32(softmax(x, 0.7))


# ---- Attention: q [B, Lq, H·d], k/v [B, Lk, H·d], head h owns channels h·d..(h+1)·d.
def attention(q, k, v, heads, scale):
    bsz, lq, width = q.shape
    d = width // heads
    q4 = q.astype(np.float64).reshape(bsz, lq, heads, d).transpose(0, 2, 1, 3)
    k4 = k.astype(np.float64).reshape(bsz, -1, heads, d).transpose(0, 2, 1, 3)
    v4 = v.astype(np.float64).reshape(bsz, -1, heads, d).transpose(0, 2, 1, 3)
    p = softmax(q4 @ k4.transpose(0, 1, 3, 2), scale)
    return f32((p @ v4).transpose(0, 2, 1, 3).reshape(bsz, lq, width))


def bf16(a):
    bits = f32(a).view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32)


def attention_case(name, bsz, lq, lk, heads, d, with_bf16=False):
    q = randn(bsz, lq, heads * d, scale=1.5)
    k = randn(bsz, lk, heads * d, scale=1.5)
    v = randn(bsz, lk, heads * d)
    scale = 1 / math.sqrt(d)
    T[f"{name}.q"], T[f"{name}.k"], T[f"{name}.v"] = q, k, v
    T[f"{name}.heads"] = np.array([heads], dtype=np.int64)
    T[f"{name}.out"] = attention(q, k, v, heads, scale)
    if with_bf16:  # bf16 operands, exact arithmetic otherwise
        T[f"{name}.out_bf16"] = attention(bf16(q), bf16(k), bf16(v), heads, scale)


attention_case("att_a", 2, 40, 40, 3, 16)
attention_case("att_b", 1, 300, 300, 3, 16, with_bf16=True)
attention_case("att_c", 2, 50, 77, 2, 8)
attention_case("att_s", 12, 16, 16, 2, 24, with_bf16=True)
attention_case("att_s2", 3, 33, 16, 4, 20)

# ---- Resampling, channels-last.
x = randn(2, 3, 5, 4)
T["up.x"] = x
T["up.y"] = x.repeat(2, axis=1).repeat(2, axis=2)
x = randn(2, 7, 9, 11)
T["pool.x"] = x
x64 = x.astype(np.float64)[:, :6, :8]
T["pool.y"] = f32((x64[:, 0::2, 0::2] + x64[:, 0::2, 1::2] + x64[:, 1::2, 0::2] + x64[:, 1::2, 1::2]) / 4)

# ---- Sinusoidal timestep embedding. The frequencies and u·f are float32 in the reference;
# float64 exp/cos/sin of those float32 values, rounded once, is the correctly rounded answer.
u = f32([0, 1, 3, 24, 250, 981, 999])
for dim in (320, 33):
    half = dim // 2
    i = np.arange(half, dtype=np.float32)
    expo = (np.float32(-math.log(10000.0)) * i) / np.float32(half)  # float32 ops
    freqs = f32(np.exp(expo.astype(np.float64)))
    args = u[:, None] * freqs[None, :]  # float32 product
    emb = np.concatenate([np.cos(args.astype(np.float64)), np.sin(args.astype(np.float64))], axis=1)
    if dim % 2:
        emb = np.concatenate([emb, np.zeros((len(u), 1))], axis=1)
    T[f"temb{dim}.y"] = f32(emb)
T["temb.u"] = u


# ---- Pillow bilinear resize (README §11), integer arithmetic.
def pil_coeffs(n_in, n_out):
    scale = n_in / n_out
    fs = max(scale, 1.0)
    support = fs
    rows = []
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        w = [max(0.0, 1.0 - abs((j - center + 0.5) * (1.0 / fs))) for j in range(lo, hi)]
        s = sum(w)
        w = [x / s for x in w] if s != 0 else w
        fixed = [int(x * (1 << 22) + (0.5 if x >= 0 else -0.5)) for x in w]
        rows.append((lo, fixed))
    return rows


def pil_resize_axis(img, n_out, axis):
    a = np.moveaxis(img.astype(np.int64), axis, 0)
    out = np.zeros((n_out,) + a.shape[1:], dtype=np.int64)
    for i, (lo, fixed) in enumerate(pil_coeffs(a.shape[0], n_out)):
        acc = np.full(a.shape[1:], 1 << 21, dtype=np.int64)
        for j, k in enumerate(fixed):
            acc += a[lo + j] * k
        out[i] = np.clip(acc >> 22, 0, 255)
    return np.moveaxis(out, 0, axis).astype(np.uint8)


def pil_resize(img, width, height):
    if width != img.shape[1]:
        img = pil_resize_axis(img, width, 1)
    if height != img.shape[0]:
        img = pil_resize_axis(img, height, 0)
    return img


for name, (h0, w0), (h1, w1) in [("pil_a", (13, 17), (7, 29)), ("pil_b", (40, 30), (23, 61)), ("pil_c", (9, 64), (9, 5))]:
    img = rng.integers(0, 256, size=(h0, w0, 3), dtype=np.uint8)
    T[f"{name}.src"] = img
    T[f"{name}.out"] = pil_resize(img, w1, h1)


# ---- kornia antialiased bicubic resize (README §4), align_corners=True, A = -0.75.
def gauss_taps(k, sigma):
    s = np.float32(sigma)
    x = np.arange(k, dtype=np.float32) - np.float32(k // 2)
    g = np.exp((-(x * x) / (np.float32(2) * (s * s))).astype(np.float64))
    return g / g.sum()


def reflect_index(i, n):
    i = np.abs(i)
    return np.where(i >= n, 2 * (n - 1) - i, i)


def blur_axis(x, taps, axis):
    n = x.shape[axis]
    r = len(taps) // 2
    out = np.zeros_like(x)
    for k, g in enumerate(taps):
        idx = reflect_index(np.arange(n) + k - r, n)
        out += g * np.take(x, idx, axis=axis)
    return out


def cubic_taps(n_in, n_out):
    a = np.float32(-0.75)
    scale = np.float32(n_in - 1) / np.float32(n_out - 1)
    src = scale * np.arange(n_out, dtype=np.float32)
    i0 = np.floor(src)
    t = (src - i0).astype(np.float64)
    A = -0.75

    def near(x):
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x):
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    w = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1)
    idx = np.clip(i0.astype(np.int64)[:, None] - 1 + np.arange(4)[None, :], 0, n_in - 1)
    return idx, w


def kornia_resize(x, h1, w1):
    x = x.astype(np.float64)
    h0, w0 = x.shape[2], x.shape[3]
    fy, fx = h0 / h1, w0 / w1
    if max(fy, fx) > 1:
        sy, sx = max((fy - 1) / 2, 0.001), max((fx - 1) / 2, 0.001)
        ky, kx = int(max(4 * sy, 3)), int(max(4 * sx, 3))
        ky += 1 - ky % 2
        kx += 1 - kx % 2
        x = blur_axis(x, gauss_taps(kx, sx), 3)
        x = blur_axis(x, gauss_taps(ky, sy), 2)
    iy, wy = cubic_taps(h0, h1)
    ix, wx = cubic_taps(w0, w1)
    rows = np.einsum("ncyoj,oj->ncyo", x[:, :, :, ix], wx)
    return f32(np.einsum("ncoxj,oj->ncox", rows[:, :, iy, :].transpose(0, 1, 2, 4, 3), wy))


x = f32(rng.uniform(-1, 1, size=(1, 2, 40, 210)))
T["kresize.x"] = x
T["kresize.small"] = kornia_resize(x, 13, 26)    # both axes shrink, σ = (1.04, 3.54), k = (5, 15)
T["kresize.mixed"] = kornia_resize(x, 90, 50)    # height grows, width shrinks (σ_y = 0.001)

os.makedirs(os.path.dirname(OUT), exist_ok=True)
safetensors_io.write(OUT, T, {"generator": "scripts/gen_kernel_fixtures.py", "seed": 20240611})
print(f"wrote {os.path.relpath(OUT)}: {len(T)} tensors, {os.path.getsize(OUT)} bytes")
