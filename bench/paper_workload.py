#!/usr/bin/python3
"""The paper's workload: infoflow against the authors' own estimator, in one run.

SZT-like layer representations: the 4096 12-bit inputs through a random tanh layer to d
dimensions (centres in [-1, 1]^d), K noisy samples per input (spread beta around each
propagated point, as noise in earlier layers gives), n = 4096 K centres; one Monte Carlo
query per centre, y = c + beta z, sigma = beta = 0.005. Almost every kernel pair is
negligible here, which is what the authors' tree method exploits:
    KernelDensity(kernel='gaussian', bandwidth=beta, rtol=1e-3).fit(c).score_samples(y)
(docs/method.md#differences-from-the-authors). infoflow runs `infoflow log-density`
(--backend, cpu by default, pruning with its default tolerance 1e-6). Both are compared
with the exact float64 log-density on a subsample of queries. Writes one JSON to
bench/results/. On a GPU machine: --backend cuda, and --no-sklearn for sizes where the
authors' estimator would take many minutes (n = 4096 x 1000).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.special import logsumexp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_compare import ROOT, commit, machine  # noqa: E402


def szt_like(d, k, beta, seed):
    rng = np.random.default_rng(seed)
    x = ((np.arange(4096)[:, None] >> np.arange(11, -1, -1)) & 1).astype(float)
    w = rng.standard_normal((12, d)) * 1.5
    base = np.tanh((x - 0.5) @ w + 0.3 * rng.standard_normal(d))
    c = np.repeat(base, k, axis=0) + beta * rng.standard_normal((4096 * k, d))
    y = c + beta * rng.standard_normal(c.shape)
    return c, y


def exact_log_density(y, c, sigma):
    n, d = c.shape
    block = max(1, min(64, int(1e8 // (n * d))))  # temporaries of at most ~1 GB at any n
    out = np.empty(len(y))
    for i in range(0, len(y), block):
        d2 = ((y[i:i + block, None, :] - c[None, :, :]) ** 2).sum(-1)
        out[i:i + block] = logsumexp(-d2 / (2 * sigma**2), axis=1)
    return out - np.log(n) - 0.5 * d * np.log(2 * np.pi * sigma**2)


def run_case(d, k, beta, cli, subsample, backend, sklearn):
    c, y = szt_like(d, k, beta, seed=d)
    n = len(c)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/c.npy", c)
        np.save(f"{tmp}/y.npy", y)
        cmd = [cli, "log-density", "--queries", f"{tmp}/y.npy", "--centers", f"{tmp}/c.npy",
               "--sigma", str(beta), "--output", f"{tmp}/out.npy", "--backend", backend, "--json"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(proc.stderr)
        ours = np.load(f"{tmp}/out.npy").ravel()
        info = json.loads(proc.stdout)
    idx = np.random.default_rng(0).choice(n, subsample, replace=False)
    exact = exact_log_density(y[idx], c, beta)
    row = {"d": d, "n": n, "m": n, "sigma": beta, "backend": info.get("backend", backend),
           "infoflow_compute_s": info["seconds"], "infoflow_process_s": wall,
           "brute_force_equivalent_Gpairs_per_s": n * n / info["seconds"] / 1e9,
           "max_abs_err_infoflow": float(np.max(np.abs(ours[idx] - exact))),
           "entropy_infoflow": float(-ours.mean()), "exact_subsample": subsample,
           "sklearn_rtol1e-3_s": None, "speedup_vs_sklearn": None, "max_abs_err_sklearn": None}
    if sklearn:
        from sklearn.neighbors import KernelDensity
        t0 = time.perf_counter()
        theirs = KernelDensity(kernel="gaussian", bandwidth=beta, rtol=1e-3).fit(c).score_samples(y)
        t_sk = time.perf_counter() - t0
        row.update({"sklearn_rtol1e-3_s": t_sk, "speedup_vs_sklearn": t_sk / info["seconds"],
                    "speedup_vs_sklearn_whole_process": t_sk / wall,
                    "max_abs_err_sklearn": float(np.max(np.abs(theirs[idx] - exact))),
                    "entropy_sklearn": float(-theirs.mean())})
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dims", default="3,10")
    ap.add_argument("--k", type=int, default=100, help="samples per input (n = 4096 k)")
    ap.add_argument("--beta", type=float, default=0.005)
    ap.add_argument("--subsample", type=int, default=200)
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "infoflow"))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results"))
    ap.add_argument("--backend", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--no-sklearn", action="store_true", help="skip the authors' estimator")
    args = ap.parse_args()
    rows = [run_case(int(d), args.k, args.beta, args.cli, args.subsample, args.backend, not args.no_sklearn)
            for d in args.dims.split(",")]
    result = {"benchmark": "paper workload: infoflow vs the authors' KernelDensity(rtol=1e-3)",
              "date": datetime.date.today().isoformat(), "commit": commit(), "machine": machine(),
              "rows": rows}
    print(f"SZT-like representations, sigma = beta = {args.beta}, one query per centre; "
          f"{result['machine']['cpu']}, {result['machine']['cores']} cores, commit {result['commit']}")
    print(f"{'d':>3s} {'n':>8s} {'infoflow s':>11s} {'sklearn s':>10s} {'speedup':>8s} "
          f"{'err infoflow':>13s} {'err sklearn':>12s}")
    def fmt(v, spec):
        return "-" if v is None else format(v, spec)
    for r in rows:
        print(f"{r['d']:3d} {r['n']:8d} {r['infoflow_compute_s']:11.3f} {fmt(r['sklearn_rtol1e-3_s'], '10.3f'):>10s} "
              f"{fmt(r['speedup_vs_sklearn'], '8.1f'):>8s} {r['max_abs_err_infoflow']:13.2e} "
              f"{fmt(r['max_abs_err_sklearn'], '12.2e'):>12s}")
    os.makedirs(args.out, exist_ok=True)
    # not "paper_workload_*": perf_table.py takes the newest of those for its cpu table
    tag = "" if args.backend == "cpu" else f"-{args.backend}-k{args.k}"
    path = os.path.join(args.out, f"paper_workload{tag}_{result['date']}_{result['commit']}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"recorded {path}")


if __name__ == "__main__":
    main()
