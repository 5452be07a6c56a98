#!/usr/bin/python3
"""Can a GEMM formulation beat the direct-difference cpu kernel at large d? (issue 6)

||q - c||^2 = ||q||^2 + ||c||^2 - 2 q.c turns the d-dimensional part of every pair into one
GEMM. This times the GEMM alone, Q C^T in row blocks (so the n x n result never exists),
with the machine's OpenBLAS through numpy, in float64 (what the accuracy contract needs:
in float32 the expansion loses ~eps * (data radius / sigma)^2 to cancellation, 3e-4 of
the exponent at radius / sigma = 100) and float32 (for scale). The GEMM alone is an upper
bound on the speed of a GEMM path, which must still do an exp per pair; it is compared
with bench_lse's exact direct path of the same n and d from the newest
bench/results/bench_lse_cpu_*.json. Writes one JSON to bench/results/.
"""
import datetime
import glob
import json
import os
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_compare import ROOT, commit, machine  # noqa: E402


def gemm_pairs_per_s(n, d, dtype, block=2048, reps=3):
    rng = np.random.default_rng(0)
    q = rng.standard_normal((n, d)).astype(dtype)
    c = rng.standard_normal((n, d)).astype(dtype)
    out = np.empty((block, n), dtype)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        for i in range(0, n, block):
            rows = min(block, n - i)
            np.matmul(q[i:i + rows], c.T, out=out[:rows])
        best = min(best, time.perf_counter() - t)
    return n * n / best


def direct_pairs_per_s():
    files = sorted(glob.glob(os.path.join(ROOT, "bench", "results", "bench_lse_cpu_*.json")), key=os.path.getmtime)
    rows = {}
    for b in json.load(open(files[-1]))["benchmarks"] if files else []:
        m = re.match(r"BM_LogSumExp/cpu/20000/(\d+)/0/1/(\d+)/", b["name"])
        if m and m.group(2) == "100" and b.get("aggregate_name") == "median":
            rows[int(m.group(1))] = b["pairs/s"]
    return os.path.basename(files[-1]) if files else None, rows


def main():
    source, direct = direct_pairs_per_s()
    result = {"benchmark": "GEMM formulation: Q C^T alone vs the direct cpu kernel (whole log-sum-exp)",
              "date": datetime.date.today().isoformat(), "commit": commit(), "machine": machine(),
              "direct_from": source, "n": 20000, "rows": []}
    print(f"n = m = 20000; GEMM alone (numpy/OpenBLAS, row blocks of 2048) vs direct kernel ({source})")
    print(f"{'d':>6} {'dgemm Gp/s':>11} {'sgemm Gp/s':>11} {'direct Gp/s':>12}")
    for d in (64, 256, 1024):
        g64 = gemm_pairs_per_s(20000, d, np.float64)
        g32 = gemm_pairs_per_s(20000, d, np.float32)
        row = {"d": d, "dgemm_pairs_per_s": g64, "sgemm_pairs_per_s": g32,
               "direct_pairs_per_s": direct.get(d)}
        result["rows"].append(row)
        dd = direct.get(d)
        print(f"{d:>6} {g64 / 1e9:>11.3f} {g32 / 1e9:>11.3f} {dd / 1e9 if dd else float('nan'):>12.3f}")
    path = os.path.join(ROOT, "bench", "results", f"gemm_formulation_{result['date']}_{result['commit']}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print("recorded", path)


if __name__ == "__main__":
    main()
