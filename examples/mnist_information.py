#!/usr/bin/env python3
"""The MNIST CNN experiment of Goldfeld et al. (ICML 2019; docs/method.md#the-mnist-cnn) on the CPU.

Three versions of one four-layer CNN — deterministic, noisy (GaussianNoise after every
hidden layer) and dropout — trained with Adam; after every epoch the infoflow tracker
measures I(X; T_l) and I(Y; T_l) of the three hidden layers, and the cosine similarity of
same-class and different-class pairs of noise-free representations is recorded (the
clustering the paper shows). Writes metrics.csv, run.json and figures into --out.

Data: the 10,000-image MNIST *test* set in data/mnist (the only MNIST here), split into
--train training and --val validation images (default 8000 / 2000, seeded).

Run with Debian's interpreter (python3-torch, python3-matplotlib) after `pip install .`:
    /usr/bin/python3 examples/mnist_information.py --out results/mnist
--replot redraws the figures of a finished run from its metrics.csv, cosine_pairs.npz and
run.json, without training.
"""
import argparse
import csv
import gzip
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

import infoflow
from infoflow.torch import GaussianNoise, InformationTracker

SHA256 = {
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
LAYERS = ["conv1", "conv2", "fc1"]


def load_idx(path, magic):
    raw = open(path, "rb").read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[os.path.basename(path)]:
        sys.exit(f"{path}: SHA-256 {digest} is not the MNIST file's (see data/mnist/README.md)")
    data = gzip.decompress(raw)
    if int.from_bytes(data[:4], "big") != magic:
        sys.exit(f"{path}: not an IDX file with magic {magic:#x}")
    n = int.from_bytes(data[4:8], "big")
    if magic == 0x803:
        rows, cols = int.from_bytes(data[8:12], "big"), int.from_bytes(data[12:16], "big")
        return np.frombuffer(data, np.uint8, n * rows * cols, 16).reshape(n, 1, rows, cols)
    return np.frombuffer(data, np.uint8, n, 8)


class Cnn(nn.Module):
    """conv5x5-32 -> pool -> conv5x5-64 -> pool -> FC-1024 -> FC-10 with ReLU (docs/method.md#the-mnist-cnn).

    The marker after each hidden layer is a GaussianNoise(beta) (noisy), a Dropout (dropout)
    or an Identity (deterministic); it sits after the pooling, so the measured
    representations have 32*12*12, 64*4*4 and 1024 dimensions.
    """

    def __init__(self, variant, beta, dropout):
        super().__init__()

        def marker():
            if variant == "noisy":
                return GaussianNoise(beta)
            return nn.Dropout(dropout) if variant == "dropout" else nn.Identity()

        self.conv1 = nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.t1 = marker()
        self.conv2 = nn.Sequential(nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.t2 = marker()
        self.fc1 = nn.Sequential(nn.Flatten(), nn.Linear(64 * 4 * 4, 1024), nn.ReLU())
        self.t3 = marker()
        self.fc2 = nn.Linear(1024, 10)

    def forward(self, x):
        return self.fc2(self.t3(self.fc1(self.t2(self.conv2(self.t1(self.conv1(x)))))))


def representations(model, x):
    """Noise-free (eval mode) S_l of every hidden layer, flattened."""
    out = {}
    hooks = [getattr(model, n).register_forward_hook(
        (lambda name: lambda m, a, o: out.__setitem__(name, o.detach().flatten(1)))(n)) for n in LAYERS]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return out


def cosine_pairs(s, y, pairs, gen):
    """Cosine similarities of `pairs` random same-class and different-class pairs."""
    s = torch.nn.functional.normalize(s, dim=1)
    same, diff = [], []
    while len(same) < pairs or len(diff) < pairs:
        i, j = gen.integers(0, len(y), 2)
        if i == j:
            continue
        c = float((s[i] * s[j]).sum())
        (same if y[i] == y[j] else diff).append(c)
    return np.array(same[:pairs]), np.array(diff[:pairs])


def torch_entropy(centers, beta, queries, chunk=1024):
    """h of the mixture (1/n) sum N(c_j, beta^2 I) by Monte Carlo on the given queries with a
    chunked torch.cdist + torch.logsumexp: the pure-PyTorch way, for timing and agreement."""
    n, d = centers.shape
    logs = []
    for q in torch.split(queries, chunk):
        d2 = torch.cdist(q, centers).pow(2)
        logs.append(torch.logsumexp(-d2 / (2 * beta**2), dim=1))
    log_g = torch.cat(logs) - math.log(n) - d / 2 * math.log(2 * math.pi * beta**2)
    return float(-log_g.mean()), float(log_g.std() / math.sqrt(len(log_g)))


def evaluate(model, x, y, batch=1000):
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for s in range(0, len(x), batch):
            out = model(x[s:s + batch])
            loss += float(nn.functional.cross_entropy(out, y[s:s + batch], reduction="sum"))
            correct += int((out.argmax(1) == y[s:s + batch]).sum())
    return loss / len(x), correct / len(x)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "..", "data", "mnist"))
    p.add_argument("--out", default="results/mnist")
    p.add_argument("--variants", default="deterministic,noisy,dropout")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--train", type=int, default=8000)
    p.add_argument("--val", type=int, default=2000)
    p.add_argument("--beta", type=float, default=0.5, help="noise of the noisy CNN and of the estimator")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--mi-inputs", type=int, default=500, help="validation images X is uniform over")
    p.add_argument("--samples-per-input", type=int, default=8)
    p.add_argument("--mc-queries", type=int, default=8192)
    p.add_argument("--pairs", type=int, default=2000, help="cosine pairs per class relation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--replot", action="store_true", help="redraw the figures of the run in --out, no training")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.replot:
        replot(a.out)
        return
    device = torch.device(a.device)
    images = load_idx(os.path.join(a.data_dir, "t10k-images-idx3-ubyte.gz"), 0x803)
    labels = load_idx(os.path.join(a.data_dir, "t10k-labels-idx1-ubyte.gz"), 0x801)
    if a.train + a.val > len(images):
        sys.exit(f"--train {a.train} + --val {a.val} exceeds the {len(images)} images")
    order = np.random.default_rng(a.seed).permutation(len(images))
    x = torch.from_numpy(images[order].astype(np.float32) / 255.0)
    x = (x - 0.1307) / 0.3081  # the usual MNIST normalisation
    y = torch.from_numpy(labels[order].astype(np.int64))
    x_tr, y_tr = x[:a.train].to(device), y[:a.train].to(device)
    x_va, y_va = x[a.train:a.train + a.val].to(device), y[a.train:a.train + a.val].to(device)
    x_mi, y_mi = x_va[:a.mi_inputs], y_va[:a.mi_inputs]
    h_y = label_entropy(y_mi.cpu().numpy())
    os.makedirs(a.out, exist_ok=True)
    rows, cos_final, timing = [], {}, {}
    t_start = time.time()
    for variant in a.variants.split(","):
        torch.manual_seed(a.seed)
        model = Cnn(variant, a.beta, a.dropout).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=a.lr)
        # The estimator's channel: T_l = S_l + beta Z on every marked layer. In the noisy
        # CNN the noise is the network's own (and upstream noise enters S_l); in the other
        # two the passes are deterministic (eval mode) and beta is the measurement noise.
        tracker = InformationTracker(model, LAYERS, beta=a.beta, samples_per_input=a.samples_per_input,
                                     mc_queries=a.mc_queries, seed=a.seed)
        gen = np.random.default_rng(a.seed)
        est_s = 0.0
        for epoch in range(a.epochs + 1):
            train_loss = float("nan")
            if epoch > 0:
                model.train()
                perm = torch.randperm(a.train, device=device)
                total = 0.0
                for s in range(0, a.train, a.batch_size):
                    idx = perm[s:s + a.batch_size]
                    loss = nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss) * len(idx)
                train_loss = total / a.train
            val_loss, val_acc = evaluate(model, x_va, y_va)
            t0 = time.time()
            info = tracker.measure(x_mi, y_mi, step=epoch)
            est_s += time.time() - t0
            reps = representations(model, x_va)
            y_np = y_va.cpu().numpy()
            for name in LAYERS:
                same, diff = cosine_pairs(reps[name].cpu(), y_np, a.pairs, gen)
                r = info[name]
                rows.append(dict(variant=variant, epoch=epoch, layer=name, width=r.width,
                                 I_XT_nats=r.I_XT, I_XT_stderr_nats=r.I_XT_stderr, I_YT_nats=r.I_YT,
                                 I_YT_stderr_nats=r.I_YT_stderr, val_loss=val_loss, val_acc=val_acc,
                                 train_loss=train_loss, cos_same_mean=same.mean(), cos_diff_mean=diff.mean()))
                if epoch in (0, a.epochs):
                    cos_final[(variant, epoch, name)] = (same, diff)
            print(f"{variant:13s} epoch {epoch:2d}: val acc {val_acc:.4f}, loss {val_loss:.4f}; I(X;T) = "
                  + ", ".join(f"{n} {info[n].I_XT:.3f}+-{info[n].I_XT_stderr:.3f}" for n in LAYERS)
                  + f"  ({time.time() - t_start:.0f}s)", flush=True)
        timing[variant] = est_s
        # infoflow against a chunked torch.cdist + logsumexp on the same samples and queries
        # (h(T) of fc1 at the final epoch): the pure-PyTorch way of the same estimate.
        if variant == "noisy":
            samples = tracker._passes(x_mi)["fc1"].reshape(-1, 1024).double().cpu()
            qgen = torch.Generator().manual_seed(1)
            pick = torch.randint(0, samples.shape[0], (a.mc_queries,), generator=qgen)
            queries = samples[pick] + a.beta * torch.randn(a.mc_queries, 1024, generator=qgen, dtype=torch.float64)
            t0 = time.time()
            h_torch, se_torch = torch_entropy(samples.to(device), a.beta, queries.to(device))
            t_torch = time.time() - t0
            t0 = time.time()
            ours = infoflow.mixture_entropy(samples.numpy(), a.beta, samples_per_center=2, seed=1)
            t_ours = time.time() - t0
            timing["h_fc1"] = dict(n=samples.shape[0], d=1024, torch_queries=a.mc_queries, torch_s=t_torch,
                                   torch_h=h_torch, torch_se=se_torch, infoflow_queries=ours.samples,
                                   infoflow_s=t_ours, infoflow_h=ours.entropy, infoflow_se=ours.stderr,
                                   infoflow_backend=ours.backend, torch_device=str(device))
    with open(os.path.join(a.out, "metrics.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    np.savez_compressed(os.path.join(a.out, "cosine_pairs.npz"),
                        **{f"{v}_epoch{e}_{n}_{k}": arr for (v, e, n), pair in cos_final.items()
                           for k, arr in zip(("same", "diff"), pair)})
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    with open(os.path.join(a.out, "run.json"), "w") as f:
        json.dump(dict(settings=vars(a), commit=commit, torch=torch.__version__, infoflow=infoflow.__version__,
                       machine=dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                                    torch_threads=torch.get_num_threads()),
                       data="MNIST test set (10,000 images) split %d train / %d validation (seed %d)"
                            % (a.train, a.val, a.seed),
                       label_entropy_nats=h_y, estimation_seconds=timing,
                       total_seconds=time.time() - t_start), f, indent=2)
    plot(a, rows, cos_final, h_y)


def label_entropy(y):
    """H(Y) of the empirical label distribution, nats: the ceiling of I(Y;T)."""
    _, counts = np.unique(y, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def replot(out):
    """The figures of the run in `out` again, from what it wrote."""
    with open(os.path.join(out, "run.json")) as f:
        run = json.load(f)
    a = argparse.Namespace(**{**run["settings"], "out": out})
    with open(os.path.join(out, "metrics.csv"), newline="") as f:
        rows = [{k: (v if k in ("variant", "layer") else int(v) if k in ("epoch", "width") else float(v))
                 for k, v in r.items()} for r in csv.DictReader(f)]
    pairs = np.load(os.path.join(out, "cosine_pairs.npz"))
    cos_final = {(v, e, n): (pairs[f"{v}_epoch{e}_{n}_same"], pairs[f"{v}_epoch{e}_{n}_diff"])
                 for v in a.variants.split(",") for e in (0, a.epochs) for n in LAYERS}
    h_y = run.get("label_entropy_nats")
    if h_y is None:  # runs before it was recorded: the same seeded split of the labels
        labels = load_idx(os.path.join(a.data_dir, "t10k-labels-idx1-ubyte.gz"), 0x801)
        order = np.random.default_rng(a.seed).permutation(len(labels))
        h_y = label_entropy(labels[order][a.train:a.train + a.val][:a.mi_inputs])
    plot(a, rows, cos_final, h_y)


def plot(a, rows, cos_final, h_y):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    variants = a.variants.split(",")
    fig, axes = plt.subplots(2, len(variants), figsize=(5 * len(variants), 8), squeeze=False)
    for j, v in enumerate(variants):
        for name in LAYERS:
            rs = [r for r in rows if r["variant"] == v and r["layer"] == name]
            ep = [r["epoch"] for r in rs]
            i_xt = np.array([r["I_XT_nats"] for r in rs])
            se = np.array([r["I_XT_stderr_nats"] for r in rs])
            axes[0][j].errorbar(ep, i_xt, yerr=2 * se, marker="o", ms=3, capsize=2, label=f"{name} I(X;T)")
            axes[1][j].plot(ep, [r["I_YT_nats"] for r in rs], marker="o", ms=3, label=f"{name} I(Y;T)")
        axes[0][j].axhline(math.log(a.mi_inputs), color="gray", ls="--", lw=0.8)
        axes[1][j].axhline(h_y, color="gray", ls="--", lw=0.8)  # H(Y) of the measured labels
        acc = [r["val_acc"] for r in rows if r["variant"] == v and r["layer"] == LAYERS[0]]
        axes[0][j].set_title(f"{v} (final val acc {acc[-1]:.3f})")
        for ax in axes[:, j]:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        axes[0][j].set_ylabel("nats (±2 s.e.)")
    fig.suptitle(f"MNIST CNN: I(X;T_l), I(Y;T_l) over {a.mi_inputs} validation images, beta = {a.beta:g}")
    fig.savefig(os.path.join(a.out, "information.png"), dpi=120, bbox_inches="tight")
    plt.close(fig)
    fig, axes = plt.subplots(len(variants), len(LAYERS), figsize=(4.5 * len(LAYERS), 3.2 * len(variants)),
                             squeeze=False)
    bins = np.linspace(-0.2, 1, 61)
    for i, v in enumerate(variants):
        for j, name in enumerate(LAYERS):
            ax = axes[i][j]
            for e, ls in ((0, ":"), (a.epochs, "-")):
                same, diff = cos_final[(v, e, name)]
                ax.hist(same, bins, histtype="step", ls=ls, color="C0", density=True, label=f"same class, epoch {e}")
                ax.hist(diff, bins, histtype="step", ls=ls, color="C3", density=True, label=f"different, epoch {e}")
            ax.set_title(f"{v}: {name}")
            ax.set_xlabel("cosine similarity")
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.suptitle("cosine similarity of noise-free representations of validation pairs")
    fig.tight_layout()
    fig.savefig(os.path.join(a.out, "cosine_histograms.png"), dpi=120, bbox_inches="tight")
    plt.close(fig)


if __name__ == "__main__":
    main()
