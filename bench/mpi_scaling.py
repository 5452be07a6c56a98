#!/usr/bin/python3
"""Strong scaling of `mpirun -n P infoflow entropy|mi` on this machine, one run each way.

Same job, same seed, three ways: one process on one core, one process with OpenMP on all
cores, and P processes of one core each (mpirun). Reports wall time (process start to exit,
what a user waits for), the library's own compute time, kernel pairs per second, speedup
and parallel efficiency against one core, and checks that every way gives the same result
(--tolerance 0: equal up to float64 summation order). Writes bench/results/mpi_scaling_*.json.

Workloads: the dense benchmark mixture (n centres tanh(2 N(0,1)) in d = 10, sigma 0.1) and
`infoflow mi` on the committed SZT tanh checkpoint (all 4096 inputs, K noisy passes each).
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_compare import ROOT, commit, machine  # noqa: E402

MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "core"]


def timed(cmd, repeats):
    """Best of `repeats` runs: (wall seconds, parsed JSON of the last run)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"mpi_scaling: {' '.join(cmd)} failed:\n{proc.stderr}")
        best, out = min(best, wall), json.loads(proc.stdout)
    return best, out


def ways(cli, args, ranks):
    cores = os.cpu_count()
    yield "1 process, 1 thread", 1, [cli] + args + ["--threads", "1"]
    yield f"1 process, {cores} threads", cores, [cli] + args + ["--threads", str(cores)]
    for p in ranks:
        yield f"{p} processes (mpirun), 1 thread each", p, MPIRUN + ["-n", str(p), cli] + args


def scaling(name, cli, args, pairs, values, ranks, repeats):
    rows, base_wall, base_values = [], None, None
    for label, cores, cmd in ways(cli, args, ranks):
        wall, out = timed(cmd, repeats)
        v = values(out)
        if base_wall is None:
            base_wall, base_values = wall, v
        rel = max(abs(a - b) / max(1.0, abs(b)) for a, b in zip(v, base_values))
        rows.append({"way": label, "cores": cores, "ranks": out.get("ranks", 1), "wall_s": round(wall, 4),
                     "compute_s": round(out["seconds"], 4), "pairs_per_s": pairs / wall,
                     "speedup": base_wall / wall, "efficiency": base_wall / wall / cores,
                     "max_rel_diff_vs_1_process": rel})
        print(f"{name:8s} {label:38s} wall {wall:7.3f} s  compute {out['seconds']:7.3f} s  "
              f"{pairs / wall:.3e} pairs/s  speedup {base_wall / wall:4.2f}  max rel diff {rel:.1e}")
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", default=os.path.join(ROOT, "build", "infoflow"))
    ap.add_argument("--n", type=int, default=40000)
    ap.add_argument("--samples-per-center", type=int, default=4)
    ap.add_argument("--K", type=int, default=30, help="noisy passes per input for the mi workload")
    ap.add_argument("--ranks", default="2", help="comma-separated process counts")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    if shutil.which("mpirun") is None:
        sys.exit("mpi_scaling: mpirun not found (scripts/install-deps.sh installs openmpi-bin)")
    ranks = [int(p) for p in a.ranks.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        c = np.tanh(2 * rng.standard_normal((a.n, 10)))
        np.save(f"{tmp}/c.npy", c)
        args = ["entropy", "--input", f"{tmp}/c.npy", "--sigma", "0.1", "--samples-per-center",
                str(a.samples_per_center), "--tolerance", "0", "--backend", "cpu", "--json"]
        pairs = float(a.samples_per_center) * a.n * a.n
        results.append({"workload": f"entropy, n = {a.n} tanh(2 N(0,1)) centres, d = 10, sigma = 0.1, "
                                    f"{a.samples_per_center} MC draws per centre",
                        "pairs": pairs,
                        "runs": scaling("entropy", a.cli, args, pairs,
                                        lambda o: [o["entropy_nats"], o["stderr_nats"]], ranks, a.repeats)})
    run = os.path.join(ROOT, "results", "szt_tanh")
    if os.path.exists(f"{run}/checkpoints/epoch_10000.safetensors"):
        q = 16384
        args = ["mi", "--model", f"{run}/checkpoints/epoch_10000.safetensors", "--inputs", f"{run}/inputs.npy",
                "--labels", f"{run}/labels.npy", "--beta", "0.005", "--samples-per-input", str(a.K),
                "--mc-queries", str(q), "--tolerance", "0", "--backend", "cpu", "--json"]
        # Per layer: h(T) (q queries x 4096 K centres), h(T|X) (4096 K queries x K each),
        # h(T|Y) (q queries per class against its centres, about the same as h(T)).
        n = 4096 * a.K
        pairs = 5 * (2.0 * q * n + n * a.K)
        results.append({"workload": f"mi, SZT tanh checkpoint epoch 10000, 4096 inputs x K = {a.K}, "
                                    f"{q} MC queries, 5 layers",
                        "pairs": pairs,
                        "runs": scaling("mi", a.cli, args, pairs,
                                        lambda o: [v for l in o["layers"] for v in (l["I_XT_nats"], l["I_YT_nats"])],
                                        ranks, a.repeats)})
    date = datetime.date.today().isoformat()
    path = os.path.join(ROOT, "bench", "results", f"mpi_scaling_{date}_{commit()}.json")
    with open(path, "w") as f:
        json.dump({"date": date, "commit": commit(), "machine": machine(), "mpirun": " ".join(MPIRUN),
                   "backend": "cpu", "results": results}, f, indent=1)
    print("wrote", os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
