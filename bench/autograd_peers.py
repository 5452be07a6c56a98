#!/usr/bin/python3
"""Forward + backward of the mixture log-density: infoflow.torch against dense PyTorch.

The loss -mean_i log g(y_i), g = (1/n) sum_j N(c_j, sigma^2 I), with gradients to the
queries, the centres and sigma, on the same data (seeded) by:
  infoflow      infoflow.torch.log_density (float32 forward, float64 streaming backward)
  cdist64       torch.cdist(q, c)^2 + torch.logsumexp, autograd, float64
  cdist32       the same in float32 (PyTorch's fast path; cdist's expansion at small sigma)
  diff64        explicit differences q_i - c_j (an m x n x d tensor) + logsumexp, float64
Each (method, size) runs in its own process, so its peak resident memory (getrusage) is its
own. Pairs/s = m n / (forward + backward seconds), the best of --repeat runs. Every method's
gradients are compared with diff64's where diff64 runs (the largest relative error of any
entry against the largest entry of the truth).

Usage: PYTHONPATH=<infoflow install> bench/autograd_peers.py [--quick]
Writes bench/results/autograd_peers_<date>_<commit>.json.
"""
import argparse
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGMA = 0.5
# (n = m, d, methods): the dense methods only where their m x n (x d) tensors fit beside
# the other jobs on a 24 GiB machine.
SIZES = [(1000, 10, "infoflow cdist64 cdist32 diff64"),
         (2000, 10, "infoflow cdist64 cdist32 diff64"),
         (4000, 10, "infoflow cdist64 cdist32 diff64"),
         (8000, 10, "infoflow cdist64 cdist32"),
         (16000, 10, "infoflow cdist32"),
         (2000, 64, "infoflow cdist64 cdist32 diff64"),
         (4000, 64, "infoflow cdist64 cdist32")]
QUICK = [(500, 10, "infoflow cdist64 cdist32 diff64")]


def data(n, d, dtype):
    import torch
    g = torch.Generator().manual_seed(n * 1000 + d)
    c = torch.randn(n, d, dtype=torch.float64, generator=g)
    q = c[torch.randperm(n, generator=g)] + 0.5 * torch.randn(n, d, dtype=torch.float64, generator=g)
    return q.to(dtype), c.to(dtype)


def run_one(method, n, d, repeat):
    import torch
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    dtype = torch.float32 if method == "cdist32" else torch.float64
    q0, c0 = data(n, d, dtype)

    def loss_of(q, c, s):
        if method == "infoflow":
            from infoflow.torch import log_density
            return -log_density(q, c, s).mean()
        if method == "diff64":
            diff = q[:, None, :] - c[None, :, :]
            d2 = (diff * diff).sum(-1)
        else:
            d2 = torch.cdist(q, c).pow(2)
        lse = torch.logsumexp(-d2 / (2 * s * s), 1)
        return -(lse - math.log(c.shape[0]) - 0.5 * d * torch.log(2 * math.pi * s * s)).mean()

    best, grads = None, None
    for _ in range(repeat):
        q, c = q0.clone().requires_grad_(), c0.clone().requires_grad_()
        s = torch.tensor(SIGMA, dtype=dtype, requires_grad=True)
        t0 = time.perf_counter()
        loss = loss_of(q, c, s)
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        if best is None or t2 - t0 < best[0] + best[1]:
            best = (t1 - t0, t2 - t1)
        grads = [q.grad.double(), c.grad.double(), s.grad.double().reshape(1)]
        del q, c, s, loss
    torch.save(grads, f"/tmp/autograd_peers_{os.getpid()}.pt")
    return {"method": method, "n": n, "d": d, "forward_s": best[0], "backward_s": best[1],
            "pairs_per_s": n * n / (best[0] + best[1]),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "grads_file": f"/tmp/autograd_peers_{os.getpid()}.pt"}


def rel_err(a, b):
    scale = float(b.abs().max())
    return float((a - b).abs().max()) / (scale if scale > 0 else 1.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--one", nargs=3, metavar=("METHOD", "N", "D"), help=argparse.SUPPRESS)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="one small size (a check that it runs)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), int(args.one[2]), args.repeat)))
        return
    import torch
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    rows = []
    for n, d, methods in (QUICK if args.quick else SIZES):
        results = {}
        for method in methods.split():
            out = subprocess.run([sys.executable, __file__, "--one", method, str(n), str(d), "--repeat",
                                  str(args.repeat)], capture_output=True, text=True)
            if out.returncode != 0:
                results[method] = {"method": method, "n": n, "d": d, "error": out.stderr.strip().splitlines()[-1]}
                continue
            results[method] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"n = m = {n}, d = {d}, {method}: {results[method]['pairs_per_s'] / 1e6:.1f} M pairs/s, "
                  f"peak {results[method]['peak_rss_mib']:.0f} MiB", flush=True)
        truth = torch.load(results["diff64"]["grads_file"]) if "grads_file" in results.get("diff64", {}) else None
        for r in results.values():
            if "grads_file" not in r:
                continue
            if truth is not None:
                got = torch.load(r["grads_file"])
                r["grad_rel_err_vs_diff64"] = {k: rel_err(a, b) for k, a, b in zip(["queries", "centres", "sigma"],
                                                                                    got, truth)}
            os.remove(r.pop("grads_file"))
            rows.append(r)
    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    record = {
        "what": "forward + backward of -mean log g(y) (gradients to queries, centres, sigma), same data per size",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "machine": {"cpu": model, "cores": os.cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "threads": len(os.sched_getaffinity(0)),
        "load_average_at_end": os.getloadavg(),
        "sigma": SIGMA,
        "data": "centres N(0, I); queries = a permutation of the centres + 0.5 N(0, I)",
        "repeat": args.repeat,
        "rows": rows,
    }
    out = args.out or os.path.join(ROOT, "bench", "results",
                                   f"autograd_peers_{datetime.date.today().isoformat()}_{commit}.json")
    with open(out, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
