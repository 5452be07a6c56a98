#!/usr/bin/python3
"""Steering information flow: the SZT network trained with a penalty on I(X; T_5).

The 12-10-7-5-4-3-2 tanh network of the paper's 12-bit task (docs/method.md#the-szt-task),
noisy (T_l = tanh(W_l T_{l-1} + b_l) + beta Z_l, beta = 0.005, fresh noise in every
training pass, noise-free affine logits), trained with Adam on the official 3277/819 split
for each penalty weight lambda with the loss

    cross-entropy + lambda * U,   U = KL upper bound on I(X; T_5), X uniform over the batch,

U = h_KL(T_5) - h(T_5 | X), the pairwise (Kolchinsky-Tracey) upper bound on the entropy of
the batch's mixture of N(S_5(x_i), beta^2 I) minus the noise's entropy: exact, with exact
gradients, from infoflow.torch.entropy_bounds (two streaming log-density passes, no m x m
matrix). At log-spaced epochs the tracker measures I(X; T_l) and I(Y; T_l) of every
hidden layer over all 4096 inputs (sample propagation, K noisy passes per input), and the
noise-free accuracy. Writes metrics.csv, summary.json and information_plane.png into --out.

Run with Debian's interpreter (python3-torch, python3-matplotlib) after `pip install .`:
    /usr/bin/python3 examples/entropy_penalty.py --out runs/entropy_penalty
(about 5 minutes on 2 cores with the defaults; --epochs and --lambdas change the work.)
--replot redraws the figure from a finished run's metrics.csv and summary.json.
"""
import argparse
import csv
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDTHS = (12, 10, 7, 5, 4, 3, 2)
BETA = 0.005


def load_szt():
    """The 4096 patterns, their labels, and the official test mask."""
    x = np.load(os.path.join(ROOT, "data", "szt", "szt_inputs.npy")).astype(np.float32)
    y = np.load(os.path.join(ROOT, "data", "szt", "szt_labels.npy")).astype(np.int64)
    # The official split as `infoflow train --preset szt` writes it (bit i: pattern i is a
    # test pattern, 819 of them); results/szt_tanh is such a run.
    test = np.load(os.path.join(ROOT, "results", "szt_tanh", "test_mask.npy")).reshape(-1).astype(bool)
    if x.shape != (4096, 12) or y.shape != (4096,) or test.shape != (4096,) or test.sum() != 819:
        sys.exit("data/szt or results/szt_tanh/test_mask.npy is not the 12-bit task's")
    return x, y, test


def make_net(seed):
    import torch
    from torch import nn

    from infoflow.torch import GaussianNoise

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(seed)
            self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(WIDTHS[:-1], WIDTHS[1:]))
            self.noise = nn.ModuleList(GaussianNoise(BETA) for _ in WIDTHS[1:-1])

        def forward(self, x):
            """Logits and S_5, the last hidden layer before its noise."""
            t = x
            for lin, noise in zip(self.linears[:-1], self.noise):
                s = torch.tanh(lin(t))
                t = noise(s)
            return self.linears[-1](t), s

    return Net()


def log_epochs(total, count):
    e = np.unique(np.round(np.logspace(0, math.log10(total), count)).astype(int))
    return [int(v) for v in e]


def train(lam, args, x, y, test, writer):
    import torch

    import infoflow
    from infoflow.torch import InformationTracker, entropy_bounds

    torch.manual_seed(args.seed)
    net = make_net(args.seed)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    train_idx = np.flatnonzero(~test)
    tracker = InformationTracker(net, samples_per_input=args.samples_per_input, mc_queries=args.mc_queries,
                                 seed=args.seed)
    h_noise = infoflow.gaussian_entropy(WIDTHS[-2], BETA)
    checkpoints = set(log_epochs(args.epochs, args.checkpoints))
    rng = np.random.default_rng(args.seed)
    rows, t0 = [], time.time()
    for epoch in range(1, args.epochs + 1):
        net.train()
        perm = rng.permutation(train_idx)
        for b in range(0, len(perm), args.batch):
            idx = torch.from_numpy(perm[b:b + args.batch])
            logits, s5 = net(xt[idx])
            loss = torch.nn.functional.cross_entropy(logits, yt[idx])
            if lam > 0:
                upper = entropy_bounds(s5, BETA).upper - h_noise  # >= I(X; T_5) over the batch
                loss = loss + lam * upper
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch not in checkpoints:
            continue
        net.eval()
        with torch.no_grad():
            logits, s5 = net(xt)
            pred = logits.argmax(1)
            acc_train = float((pred[~torch.from_numpy(test)] == yt[~torch.from_numpy(test)]).float().mean())
            acc_test = float((pred[torch.from_numpy(test)] == yt[torch.from_numpy(test)]).float().mean())
            # The penalty's own value on all 4096 inputs (noise-free S_5).
            upper_all = float(entropy_bounds(s5.double(), BETA).upper) - h_noise
        info = tracker.measure(xt, yt)
        for layer, (name, r) in enumerate(info.items(), start=1):
            row = {"lambda": lam, "epoch": epoch, "layer": layer, "I_XT_nats": r.I_XT, "I_XT_stderr_nats": r.I_XT_stderr,
                   "I_YT_nats": r.I_YT, "I_YT_stderr_nats": r.I_YT_stderr, "upper_bound_I_XT5_nats": upper_all,
                   "train_acc": acc_train, "test_acc": acc_test}
            rows.append(row)
            writer.writerow(row)
        print(f"lambda {lam:g} epoch {epoch:5d}: test acc {acc_test:.3f}, I(X;T5) {rows[-1]['I_XT_nats']:.2f} "
              f"+- {rows[-1]['I_XT_stderr_nats']:.2f} nats (bound {upper_all:.2f}), {time.time() - t0:.0f} s",
              flush=True)
    return rows, time.time() - t0


def plot(rows, lambdas, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(lambdas) + 1, figsize=(4.4 * (len(lambdas) + 1), 4.0), constrained_layout=True)
    epochs = sorted({r["epoch"] for r in rows})
    norm = matplotlib.colors.LogNorm(vmin=max(1, epochs[0]), vmax=epochs[-1])
    for ax, lam in zip(axes, lambdas):
        mine = [r for r in rows if r["lambda"] == lam]
        for layer in sorted({r["layer"] for r in mine}):
            pts = sorted((r for r in mine if r["layer"] == layer), key=lambda r: r["epoch"])
            xs, ys = [p["I_XT_nats"] for p in pts], [p["I_YT_nats"] for p in pts]
            ax.plot(xs, ys, "-", color="0.8", lw=0.8, zorder=1)
            sc = ax.scatter(xs, ys, c=[p["epoch"] for p in pts], cmap="viridis", norm=norm, s=14, zorder=2)
            ax.annotate(f"T{layer}", (xs[-1], ys[-1]), fontsize=8, xytext=(3, -8), textcoords="offset points")
        last = max(r["epoch"] for r in mine)
        acc = next(r["test_acc"] for r in mine if r["epoch"] == last)
        ax.set_title(f"λ = {lam:g}: test accuracy {100 * acc:.1f} %", fontsize=10)
        ax.set_xlabel("I(X; T) [nats]")
        ax.set_ylabel("I(Y; T) [nats]")
        ax.grid(alpha=0.3)
    fig.colorbar(sc, ax=axes[:len(lambdas)], label="epoch", shrink=0.9)
    ax = axes[-1]
    for lam in lambdas:
        pts = sorted((r for r in rows if r["lambda"] == lam and r["layer"] == len(WIDTHS) - 2), key=lambda r: r["epoch"])
        ax.errorbar([p["epoch"] for p in pts], [p["I_XT_nats"] for p in pts],
                    yerr=[2 * p["I_XT_stderr_nats"] for p in pts], marker="o", ms=3, capsize=2, label=f"λ = {lam:g}")
    ax.set_xscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("I(X; T5) [nats] (± 2 s.e.)")
    ax.set_title("layer 5 over training", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110, bbox_inches="tight")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "entropy_penalty"))
    ap.add_argument("--lambdas", default="0,0.01,0.03", help="penalty weights, comma-separated")
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--lr", type=float, default=4e-3, help="Adam's (the paper: 4e-4 for 10,000 epochs)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--checkpoints", type=int, default=12, help="log-spaced epochs measured")
    ap.add_argument("--samples-per-input", type=int, default=10)
    ap.add_argument("--mc-queries", type=int, default=8192)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--replot", action="store_true", help="redraw the figure of a finished run")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    metrics = os.path.join(args.out, "metrics.csv")
    if args.replot:
        with open(metrics) as f:
            rows = [{k: (float(v) if k not in ("epoch", "layer") else int(v)) for k, v in r.items()} for r in csv.DictReader(f)]
        lambdas = json.load(open(os.path.join(args.out, "summary.json")))["settings"]["lambdas"]
        plot(rows, lambdas, os.path.join(args.out, "information_plane.png"))
        return
    lambdas = [float(v) for v in args.lambdas.split(",")]
    x, y, test = load_szt()
    rows, seconds = [], {}
    fields = ["lambda", "epoch", "layer", "I_XT_nats", "I_XT_stderr_nats", "I_YT_nats", "I_YT_stderr_nats",
              "upper_bound_I_XT5_nats", "train_acc", "test_acc"]
    start = time.time()
    with open(metrics, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for lam in lambdas:
            r, s = train(lam, args, x, y, test, writer)
            rows += r
            seconds[str(lam)] = round(s, 1)
            f.flush()
    import torch
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    final = {}
    for lam in lambdas:
        last = max(r["epoch"] for r in rows if r["lambda"] == lam)
        per_layer = [r for r in rows if r["lambda"] == lam and r["epoch"] == last]
        final[str(lam)] = {"epoch": last, "train_acc": per_layer[0]["train_acc"], "test_acc": per_layer[0]["test_acc"],
                           "upper_bound_I_XT5_nats": per_layer[0]["upper_bound_I_XT5_nats"],
                           "I_XT_nats": [r["I_XT_nats"] for r in per_layer],
                           "I_XT_stderr_nats": [r["I_XT_stderr_nats"] for r in per_layer],
                           "I_YT_nats": [r["I_YT_nats"] for r in per_layer]}
    summary = {"settings": {**vars(args), "lambdas": lambdas, "widths": WIDTHS, "beta": BETA},
               "commit": commit, "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                                             "torch": torch.__version__},
               "seconds_per_lambda": seconds, "seconds": round(time.time() - start, 1), "final": final}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    plot(rows, lambdas, os.path.join(args.out, "information_plane.png"))
    print(f"wrote {args.out}/metrics.csv, summary.json, information_plane.png ({summary['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
