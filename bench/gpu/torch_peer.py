#!/usr/bin/env python3
"""GPU peer comparison (issue 6): infoflow's cuda backend against PyTorch on the same GPU.

Dense workload, n = m (default 20 000 and 1 000 000), d = 10, sigma = 0.1, centres
tanh(2 N(0,1)), queries = centres + sigma N(0,1). PyTorch: chunked torch.cdist +
torch.logsumexp in float32 (the natural user code), timed with CUDA events after a
warm-up. infoflow: `infoflow log-density --backend cuda` (its own compute timer), twice:
exact (--tolerance 0, every pair: the kernel's speed) and as a user runs it (default
tolerance 1e-6: tile lists prune far tiles where they pay; INFOFLOW_VERBOSE=1 makes it say
what fraction of (block, tile) pairs its lists kept). All are checked against each other
(and, on 2000 queries, against float64 torch).
Run where python3 has torch with CUDA (the device machines do). Writes one JSON.
"""
import argparse
import datetime
import json
import os
import subprocess
import tempfile

import numpy as np
import torch


def torch_log_density(q, c, sigma, chunk=4096):
    n, d = c.shape
    out = torch.empty(len(q), device=q.device, dtype=torch.float64)
    norm = np.log(n) + 0.5 * d * np.log(2 * np.pi * sigma**2)
    for i in range(0, len(q), chunk):
        d2 = torch.cdist(q[i:i + chunk], c).square_()
        out[i:i + chunk] = torch.logsumexp(d2.mul_(-0.5 / sigma**2), dim=1).double() - norm
    return out


def timed_cuda(f, *a):
    f(*a)  # warm-up
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    r = f(*a)
    end.record()
    torch.cuda.synchronize()
    return r, start.elapsed_time(end) / 1e3


def run(n, d, sigma, cli):
    rng = np.random.default_rng(0)
    c = np.tanh(2 * rng.standard_normal((n, d)))
    q = c + sigma * rng.standard_normal(c.shape)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/c.npy", c)
        np.save(f"{tmp}/q.npy", q)
        for name, tol in (("exact", "0"), ("default", "1e-6")):
            proc = subprocess.run([cli, "log-density", "--queries", f"{tmp}/q.npy", "--centers", f"{tmp}/c.npy",
                                   "--sigma", str(sigma), "--output", f"{tmp}/o.npy", "--backend", "cuda",
                                   "--tolerance", tol, "--json"],
                                  capture_output=True, text=True, env={**os.environ, "INFOFLOW_VERBOSE": "1"})
            if proc.returncode != 0:
                raise SystemExit(proc.stderr)
            runs[name] = (np.load(f"{tmp}/o.npy").ravel(), json.loads(proc.stdout),
                          [l for l in proc.stderr.splitlines() if "pruning" in l])
    ours, info, _ = runs["exact"]
    ours_default, info_default, pruning_note = runs["default"]
    qt = torch.tensor(q, device="cuda", dtype=torch.float32)
    ct = torch.tensor(c, device="cuda", dtype=torch.float32)
    theirs, t_torch = timed_cuda(torch_log_density, qt, ct, sigma)
    theirs = theirs.cpu().numpy()
    exact = torch_log_density(torch.tensor(q[:2000], device="cuda", dtype=torch.float64),
                              torch.tensor(c, device="cuda", dtype=torch.float64), sigma).cpu().numpy()
    pairs = float(n) * n
    return {"n": n, "m": n, "d": d, "sigma": sigma, "infoflow_s": info["seconds"], "torch_s": t_torch,
            "infoflow_pairs_per_s": pairs / info["seconds"], "torch_pairs_per_s": pairs / t_torch,
            "speedup_vs_torch": t_torch / info["seconds"],
            "infoflow_default_tol_s": info_default["seconds"],
            "speedup_vs_torch_default_tol": t_torch / info_default["seconds"],
            "pruning": pruning_note,
            "max_abs_diff_default_vs_exact": float(np.max(np.abs(ours_default - ours))),
            "max_abs_diff_infoflow_torch": float(np.max(np.abs(ours - theirs))),
            "max_abs_err_infoflow_vs_f64": float(np.max(np.abs(ours[:2000] - exact))),
            "max_abs_err_torch_vs_f64": float(np.max(np.abs(theirs[:2000] - exact)))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20000,1000000")
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument("--sigma", type=float, default=0.1)
    ap.add_argument("--cli", default="build/infoflow")
    ap.add_argument("--out", default="bench/results")
    args = ap.parse_args()
    rows = [run(int(n), args.d, args.sigma, args.cli) for n in args.sizes.split(",")]
    res = {"benchmark": "GPU dense log-density: infoflow cuda vs PyTorch", "date": datetime.date.today().isoformat(),
           "device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}
    for r in rows:
        print(f"n = m = {r['n']}: infoflow {r['infoflow_s']:.3f} s ({r['infoflow_pairs_per_s'] / 1e12:.3f} Tpairs/s), "
              f"torch {r['torch_s']:.3f} s, x{r['speedup_vs_torch']:.1f}; default tolerance "
              f"{r['infoflow_default_tol_s']:.3f} s {' '.join(r['pruning'])}; max err vs f64 "
              f"{r['max_abs_err_infoflow_vs_f64']:.1e} (torch {r['max_abs_err_torch_vs_f64']:.1e})")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"gpu_peer_{res['date']}.json"), "w") as f:
        json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
