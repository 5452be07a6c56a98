#!/usr/bin/python3
"""Forward and backward of infoflow.torch.log_density at a size the dense formula cannot hold.

Issue 21's memory check: n = m = 200,000 points in d = 10, every gradient (queries,
centres, sigma), on the CPU. The dense n x m matrix alone would be 200,000^2 x 8 B =
320 GB; the streaming passes need O((n + m) d). Records wall time per pass and the peak
resident memory of the whole process (getrusage ru_maxrss: Python, PyTorch, the data and
both passes), with the machine, commit and load, in
bench/results/autograd_memory_<date>_<commit>.json.

Usage: PYTHONPATH=<where infoflow is installed> bench/autograd_memory.py [--n 200000] [--d 10]
It takes minutes on 2 cores: run it niced, once.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

import torch

from infoflow.torch import log_density

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def machine():
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    mem_kib = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "torch": torch.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000, help="queries = centres")
    ap.add_argument("--d", type=int, default=10)
    ap.add_argument("--sigma", type=float, default=0.5)
    ap.add_argument("--out", default=None, help="record path (default bench/results/autograd_memory_<date>_<commit>.json)")
    args = ap.parse_args()
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    n, d = args.n, args.d
    g = torch.Generator().manual_seed(0)
    # Centres N(0, 1); queries near them (each a centre plus 0.5 N(0, 1)): at sigma = 0.5
    # a query's softmax weights spread over its neighbourhood, so the sums are not one term.
    centers = torch.randn(n, d, dtype=torch.float64, generator=g)
    queries = centers[torch.randperm(n, generator=g)] + 0.5 * torch.randn(n, d, dtype=torch.float64, generator=g)
    centers.requires_grad_()
    queries.requires_grad_()
    sigma = torch.tensor(args.sigma, dtype=torch.float64, requires_grad=True)
    rss_data = peak_rss_mib()
    load_before = os.getloadavg()

    t0 = time.perf_counter()
    ld = log_density(queries, centers, sigma)
    t1 = time.perf_counter()
    rss_forward = peak_rss_mib()
    (ld.mean()).backward()
    t2 = time.perf_counter()
    rss_backward = peak_rss_mib()

    pairs = float(n) * n
    record = {
        "what": "infoflow.torch.log_density forward + backward (gradients to queries, centres, sigma), CPU",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": machine(),
        "infoflow_threads": len(os.sched_getaffinity(0)),  # infoflow.torch's threads=0
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "m_queries": n, "n_centres": n, "d": d, "sigma": args.sigma,
        "forward_seconds": round(t1 - t0, 3),
        "backward_seconds": round(t2 - t1, 3),
        "backward_pairs_per_second": pairs / (t2 - t1),
        "peak_rss_mib_after_data": round(rss_data, 1),
        "peak_rss_mib_after_forward": round(rss_forward, 1),
        "peak_rss_mib_after_backward": round(rss_backward, 1),
        "inputs_and_gradients_mib": round(4 * n * d * 8 / 2**20, 1),
        "dense_matrix_gb": pairs * 8 / 1e9,
        "finite": bool(torch.isfinite(queries.grad).all() and torch.isfinite(centers.grad).all()
                       and torch.isfinite(sigma.grad)),
        "grad_sigma": float(sigma.grad),
        "note": "peak_rss is the whole process (Python, PyTorch, data, both passes), from getrusage ru_maxrss",
    }
    out = args.out or os.path.join(ROOT, "bench", "results",
                                   f"autograd_memory_{datetime.date.today().isoformat()}_{commit}.json")
    with open(out, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    json.dump(record, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
