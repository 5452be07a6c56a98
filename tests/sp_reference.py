#!/usr/bin/python3
"""An independent numpy implementation of the SP estimator (docs/method.md#sample-propagation), for tests.

It shares nothing with libinfoflow but the specification of the random streams: its own
Philox-4x32-10, Box-Muller and query selection reproduce the draws of
host/rng/philox_normal.hpp, so that for the same seed the two implementations estimate
from identical samples and must agree to float precision.

usage: sp_reference.py MODEL.safetensors INPUTS.npy LABELS.npy BETA K Q SEED
prints one JSON object: {"layers": [{"layer", "h_T_nats", "h_T_given_X_nats",
"I_XT_nats", "I_YT_nats"}, ...]}
"""
import json
import struct
import sys

import numpy as np
from scipy.special import logsumexp

MASK32 = np.uint64(0xFFFFFFFF)
STREAM_MC, STREAM_SELECT, STREAM_LAYER = 1, 2, 16


def philox4x32(ctr, key):
    """ctr: 4 arrays of uint64 holding 32-bit words; key: 2 ints. Random123's Philox4x32-10."""
    c = [np.asarray(v, dtype=np.uint64) & MASK32 for v in ctr]
    k0, k1 = np.uint64(key[0]), np.uint64(key[1])
    for r in range(10):
        if r:
            k0 = (k0 + np.uint64(0x9E3779B9)) & MASK32
            k1 = (k1 + np.uint64(0xBB67AE85)) & MASK32
        p0 = np.uint64(0xD2511F53) * c[0]
        p1 = np.uint64(0xCD9E8D57) * c[2]
        hi0, lo0 = p0 >> np.uint64(32), p0 & MASK32
        hi1, lo1 = p1 >> np.uint64(32), p1 & MASK32
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
    return c


def normal_rows(seed, stream, rows, d):
    rows = np.asarray(rows, dtype=np.uint64)
    key = (seed & 0xFFFFFFFF, seed >> 32)
    out = np.empty((len(rows), d))
    for b in range((d + 1) // 2):
        w = philox4x32([np.full_like(rows, b), rows & MASK32, rows >> np.uint64(32),
                        np.full_like(rows, stream)], key)
        u0 = (w[0] << np.uint64(32)) | w[1]
        u1 = (w[2] << np.uint64(32)) | w[3]
        x = u0.astype(np.int64).astype(np.float64) * 2.0**-63 + 2.0**-64  # r123::uneg11
        r = np.sqrt(-2.0 * np.log(u1.astype(np.float64) * 2.0**-64 + 2.0**-65))  # r123::u01
        out[:, 2 * b] = np.sin(np.pi * x) * r
        if 2 * b + 1 < d:
            out[:, 2 * b + 1] = np.cos(np.pi * x) * r
    return out


def uniform_indices(seed, stream, rows, bound):
    rows = np.asarray(rows, dtype=np.uint64)
    w = philox4x32([np.zeros_like(rows), rows & MASK32, rows >> np.uint64(32),
                    np.full_like(rows, stream)], (seed & 0xFFFFFFFF, seed >> 32))
    u = [(int(a) << 32) | int(b) for a, b in zip(w[0], w[1])]
    return np.array([(v * bound) >> 64 for v in u], dtype=np.int64)


def read_model(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    acts = header["__metadata__"]["activations"].split(",")
    layers = []
    for i in range(len(acts)):
        t = {}
        for part in ("weight", "bias"):
            e = header[f"layers.{i}.{part}"]
            dt = {"F32": np.float32, "F64": np.float64}[e["dtype"]]
            b0, b1 = e["data_offsets"]
            t[part] = np.frombuffer(raw[8 + n + b0:8 + n + b1], dtype=dt).astype(np.float64).reshape(e["shape"])
        layers.append((t["weight"], t["bias"], acts[i].strip()))
    return layers


ACT = {"tanh": np.tanh, "linear": lambda x: x, "relu": lambda x: np.maximum(x, 0),
       "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "leaky-relu": lambda x: np.where(x > 0, x, 0.01 * x)}


def entropies(c, segments, per_mixture, per_center, beta, seed, base):
    """Entropy of each mixture c[a:b] for (a, b) in segments, queries numbered from base."""
    d = c.shape[1]
    out, g = [], 0
    for a, b in segments:
        a, b = int(a), int(b)
        n = b - a
        q = per_mixture if per_mixture else per_center * n
        rows = np.arange(g, g + q, dtype=np.uint64) + np.uint64(base)
        idx = a + (uniform_indices(seed, STREAM_SELECT, rows, n) if per_mixture
                   else np.arange(q) // per_center)
        z = normal_rows(seed, STREAM_MC, rows, d)
        y = c[idx] + beta * z
        d2 = ((y[:, None, :] - c[None, a:b, :]) ** 2).sum(-1)
        logg = logsumexp(-d2 / (2 * beta**2), axis=1) - np.log(n) - 0.5 * d * np.log(2 * np.pi * beta**2)
        # The control variate (|z|^2 - d)/2 (mean 0) that infoflow subtracts by default.
        out.append(-(logg + 0.5 * ((z**2).sum(-1) - d)).mean())
        g += q
    return out


def main():
    model, xs, ys, beta, K, Q, seed = sys.argv[1:8]
    beta, K, Q, seed = float(beta), int(K), int(Q), int(seed)
    x, y = np.load(xs).astype(np.float64), np.load(ys).astype(np.int64).ravel()
    m = len(x)
    layers = read_model(model)
    t = np.repeat(x, K, axis=0)
    result = []
    for l, (w, b, act) in enumerate(layers[:-1], start=1):
        s = ACT[act](t @ w.T + b)
        t = s + beta * normal_rows(seed, STREAM_LAYER + l, np.arange(m * K), s.shape[1])
        d = s.shape[1]
        base = lambda term: ((l * 16 + term) << 40)
        distinct = s[::K] if l == 1 else s  # layer 1 is deterministic given x
        per_input = 1 if l == 1 else K
        h = entropies(distinct, [(0, len(distinct))], Q, 0, beta, seed, base(0))[0]
        if l == 1:
            hx = 0.5 * d * np.log(2 * np.pi * np.e * beta**2)
        else:
            j = max(1, -(-Q // (m * K)))  # the conditional budget: Q spread over the m K centres
            hx = np.mean(entropies(s, [(i * K, (i + 1) * K) for i in range(m)], 0, j, beta, seed, base(1)))
        classes = sorted(set(y.tolist()))
        rows = np.concatenate([np.flatnonzero(y == c) for c in classes])
        grouped = np.concatenate([distinct[i * per_input:(i + 1) * per_input] for i in rows])
        sizes = [int((y == c).sum()) * per_input for c in classes]
        bounds = np.cumsum([0] + sizes)
        hy = entropies(grouped, list(zip(bounds[:-1], bounds[1:])), Q, 0, beta, seed, base(2))
        p = np.array([(y == c).mean() for c in classes])
        result.append({"layer": l, "h_T_nats": h, "h_T_given_X_nats": hx, "I_XT_nats": h - hx,
                       "I_YT_nats": h - float(p @ np.array(hy))})
    print(json.dumps({"layers": result}))


if __name__ == "__main__":
    main()
