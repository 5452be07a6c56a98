#!/usr/bin/env python3
"""Figures of an `infoflow train` run (run by `infoflow plot DIR`, or directly).

Reads DIR/metrics.csv, DIR/history.csv and DIR/run.json and writes into DIR/figures/:
  information_flow  I(X;T_l) per layer over epochs (log axis, +- 2 standard errors) beside
                    the binning estimate H(Bin(T_l)) and the cluster entropy
  information_plane I(X;T_l) against I(Y;T_l), one track per layer, coloured by epoch
  clustering        cluster entropy and number of clusters of each layer over epochs
  training          noise-free loss and accuracy, train and test, every epoch

Needs only numpy and matplotlib; it does not import the compiled module, so it runs
from the source tree as well as from an installed package.
"""
import argparse
import csv
import json
import math
import os
import stat
import sys


class RunError(Exception):
    """A damaged run: one line naming the file and the problem, never a traceback."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")


METRICS_COLUMNS = ("epoch", "layer", "width", "I_XT_nats", "I_XT_stderr_nats", "I_YT_nats",
                   "H_bin_nats", "H_cluster_nats", "clusters")
HISTORY_COLUMNS = ("epoch", "train_loss", "test_loss", "train_acc", "test_acc")


def read_csv(path, columns, integer_columns=("epoch",)):
    """The rows of one of train's CSV files, checked: the columns plot needs, one value
    per column on every line, whole numbers where train writes them."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise RunError(path, "is empty")
            missing = [c for c in columns if c not in header]
            if missing:
                raise RunError(path, f"has no column {missing[0]!r} (not written by infoflow train?)")
            rows = []
            for line in reader:
                if not line:
                    continue
                if len(line) != len(header):
                    raise RunError(path, f"line {reader.line_num} has {len(line)} values, expected {len(header)}")
                row = dict(zip(header, line))
                for c in integer_columns:
                    try:
                        int(row[c])
                    except ValueError:
                        raise RunError(path, f"line {reader.line_num}: {c} {row[c]!r} is not a whole number") from None
                rows.append(row)
    except UnicodeDecodeError:
        raise RunError(path, "is not a text file") from None
    except csv.Error as e:
        raise RunError(path, f"is not valid CSV ({e})") from None
    except OSError as e:
        raise RunError(path, f"cannot be read ({e.strerror or e})") from None
    if not rows:
        raise RunError(path, "has no data rows")
    return rows


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            run = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise RunError(path, f"is not valid JSON ({str(e).splitlines()[0]})") from None
    except OSError as e:
        raise RunError(path, f"cannot be read ({e.strerror or e})") from None
    if not isinstance(run, dict):
        raise RunError(path, "is not a JSON object")
    return run


def load_npy(np, path):
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # numpy raises ValueError, OSError, EOFError ... for damaged files
        raise RunError(path, f"is not a readable .npy file ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def by_layer(metrics):
    layers = {}
    for r in metrics:
        layers.setdefault(int(r["layer"]), []).append(r)
    for rows in layers.values():
        rows.sort(key=lambda r: int(r["epoch"]))
    return dict(sorted(layers.items()))


def column(rows, key):
    return [num(r[key]) for r in rows]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="the --out directory of `infoflow train`")
    p.add_argument("--format", default="png", help="png, svg, pdf, or a comma-separated list")
    a = p.parse_args(argv)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.colors import LogNorm
    except ImportError:
        sys.exit(f"plot_run: error: matplotlib is not installed for {sys.executable} "
                 "(apt-get install python3-matplotlib, or set INFOFLOW_PYTHON)")
    formats = [f.strip() for f in a.format.split(",") if f.strip()]
    for f in formats:
        if f not in ("png", "svg", "pdf"):
            sys.exit(f"plot_run: error: unknown format '{f}' (png, svg, pdf)")
    metrics_path = os.path.join(a.dir, "metrics.csv")
    if not os.path.isfile(metrics_path):
        sys.exit(f"plot_run: error: {metrics_path} not found (not a completed `infoflow train` run)")
    metrics = read_csv(metrics_path, METRICS_COLUMNS, ("epoch", "layer"))
    history_path = os.path.join(a.dir, "history.csv")
    history = read_csv(history_path, HISTORY_COLUMNS) if os.path.isfile(history_path) else []
    run_path = os.path.join(a.dir, "run.json")
    run = read_json(run_path) if os.path.isfile(run_path) else {}
    layers = by_layer(metrics)

    def setting(*keys, kind=(int, float)):
        """A value of run.json, or None; of the wrong type it is damage, not a default."""
        v = run
        for k in keys:
            if not isinstance(v, dict) or k not in v:
                return None
            v = v[k]
        if v is not None and (not isinstance(v, kind) or isinstance(v, bool)):
            expected = "number" if kind == (int, float) else "whole number" if kind is int else kind.__name__
            raise RunError(run_path, f"{'.'.join(keys)} is {v!r}, not a {expected}")
        return v

    beta = setting("training", "beta")
    est = {"bin_size": setting("estimation", "bin_size"), "cluster_radius": setting("estimation", "cluster_radius")}
    est = {k: v for k, v in est.items() if v is not None}
    widths = setting("network", "widths", kind=list)
    title = "SZT-style run" if not widths else "network " + "-".join(str(w) for w in widths)
    if beta:
        title += f", beta = {beta:g}"
    inputs = setting("data", "inputs", kind=int)
    ln_m = math.log(inputs) if inputs and inputs > 0 else None
    out_dir = os.path.join(a.dir, "figures")
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise RunError(out_dir, "exists and is not a directory")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise RunError(out_dir, f"cannot be created ({e.strerror or e})") from None
    cmap = plt.get_cmap("viridis")
    colors = {l: cmap(i / max(1, len(layers) - 1)) for i, l in enumerate(layers)}
    written = []

    def save(fig, name):
        for f in formats:
            path = os.path.join(out_dir, f"{name}.{f}")
            # As infoflow's other outputs: a reader sees the old figure or the new one
            # whole, and only a regular file is replaced (never a link, FIFO or device).
            if os.path.lexists(path) and (os.path.islink(path) or not stat.S_ISREG(os.lstat(path).st_mode)):
                raise RunError(path, "is not a regular file; plot replaces only the figures it wrote")
            tmp = os.path.join(out_dir, f".{name}.{f}.infoflow-tmp-{os.getpid()}")
            try:
                fig.savefig(tmp, dpi=130, bbox_inches="tight", format=f)
                os.replace(tmp, path)
            except OSError as e:
                raise RunError(path, f"cannot be written ({e.strerror or e})") from None
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            written.append(path)
        plt.close(fig)

    # 1. I(X;T_l) over epochs beside the binning estimate and the cluster entropy.
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), sharey=True)
    for l, rows in layers.items():
        ep = column(rows, "epoch")
        i_xt, se = column(rows, "I_XT_nats"), column(rows, "I_XT_stderr_nats")
        label = f"layer {l} (d={rows[0]['width']})"
        axes[0].plot(ep, i_xt, "-o", ms=2.5, color=colors[l], label=label)
        lo = [v - 2 * s if not math.isnan(s) else v for v, s in zip(i_xt, se)]
        hi = [v + 2 * s if not math.isnan(s) else v for v, s in zip(i_xt, se)]
        axes[0].fill_between(ep, lo, hi, color=colors[l], alpha=0.25, lw=0)
        axes[1].plot(ep, column(rows, "H_bin_nats"), "-o", ms=2.5, color=colors[l], label=label)
        axes[2].plot(ep, column(rows, "H_cluster_nats"), "-o", ms=2.5, color=colors[l], label=label)
    axes[0].set_title("I(X;T_l), sample propagation (band: ±2 s.e.)")
    axes[1].set_title(f"binning H(Bin(S_l)), bin size {est.get('bin_size', float('nan')):g}")
    radius = est.get("cluster_radius")
    axes[2].set_title("cluster entropy of S_l" + (f" (linkage < {radius:g})" if radius else ""))
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ln_m:
            ax.axhline(ln_m, color="gray", ls="--", lw=0.8)
    axes[0].set_ylabel("nats")
    axes[0].legend(fontsize=8, loc="lower left")
    fig.suptitle(title)
    save(fig, "information_flow")

    # 2. The information plane, coloured by epoch.
    all_epochs = [num(r["epoch"]) for r in metrics]
    norm = LogNorm(vmin=max(1.0, min(all_epochs)), vmax=max(2.0, max(all_epochs)))
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    sc = None
    for l, rows in layers.items():
        x, y = column(rows, "I_XT_nats"), column(rows, "I_YT_nats")
        ax.plot(x, y, "-", color=colors[l], lw=0.8, alpha=0.6)
        sc = ax.scatter(x, y, c=column(rows, "epoch"), cmap="plasma", norm=norm, s=18, zorder=3)
        ax.annotate(f"L{l}", (x[-1], y[-1]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    if sc is not None:
        fig.colorbar(sc, ax=ax, label="epoch")
    ax.set_xlabel("I(X;T) [nats]")
    ax.set_ylabel("I(Y;T) [nats]")
    ax.set_title("information plane, " + title)
    ax.grid(alpha=0.3)
    save(fig, "information_plane")

    # 3. Clustering over epochs: cluster entropy, cluster counts, class distance ratio.
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.5))
    for l, rows in layers.items():
        ep = column(rows, "epoch")
        axes[0].plot(ep, column(rows, "H_cluster_nats"), "-o", ms=2.5, color=colors[l], label=f"layer {l}")
        axes[1].plot(ep, column(rows, "clusters"), "-o", ms=2.5, color=colors[l], label=f"layer {l}")
        if "class_distance_ratio" in rows[0]:
            axes[2].plot(ep, column(rows, "class_distance_ratio"), "-o", ms=2.5, color=colors[l], label=f"layer {l}")
    axes[0].set_ylabel("cluster entropy [nats]")
    axes[1].set_ylabel("number of clusters")
    axes[1].set_yscale("log")
    axes[2].set_ylabel("same-class / different-class mean distance")
    for ax in axes:
        ax.set_xscale("log")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("clustering of the noise-free representations, " + title)
    save(fig, "clustering")

    # 4. Loss and accuracy, noise-free, every epoch.
    if history:
        ep = column(history, "epoch")
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        axes[0].plot(ep, column(history, "train_loss"), label="train")
        axes[0].plot(ep, column(history, "test_loss"), label="test")
        axes[0].set_ylabel("cross-entropy [nats]")
        axes[0].set_yscale("log")
        axes[1].plot(ep, column(history, "train_acc"), label="train")
        axes[1].plot(ep, column(history, "test_acc"), label="test")
        axes[1].set_ylabel("accuracy")
        for ax in axes:
            ax.set_xscale("log")
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            ax.legend()
        fig.suptitle("training (noise-free evaluation), " + title)
        save(fig, "training")

    # 5. Scatter of the last noisy layer's noise-free representation at a few epochs.
    rep_dir = os.path.join(a.dir, "representations")
    reps = sorted(f for f in os.listdir(rep_dir) if f.endswith(".npy")) if os.path.isdir(rep_dir) else []
    labels_path = os.path.join(a.dir, "labels.npy")
    if reps and os.path.isfile(labels_path):
        import numpy as np
        labels = load_npy(np, labels_path).reshape(-1)
        picks = sorted({reps[round(i * (len(reps) - 1) / 3)] for i in range(4)})
        fig = plt.figure(figsize=(4.2 * len(picks), 4.2))
        for i, name in enumerate(picks):
            rep_path = os.path.join(rep_dir, name)
            s = load_npy(np, rep_path)
            if s.ndim != 2 or s.shape[0] != labels.shape[0] or s.dtype.kind not in "fiu":
                raise RunError(rep_path, f"has shape {s.shape} and dtype {s.dtype}; expected {labels.shape[0]} rows "
                                         f"of numbers, one per label in {labels_path}")
            try:
                epoch = int(name.split("_")[1])
                layer = name.split("_layer")[1].split(".")[0]
            except (IndexError, ValueError):
                raise RunError(rep_path, "is not named epoch_NNNNN_layerL.npy as train names it") from None
            if s.shape[1] >= 3:
                ax = fig.add_subplot(1, len(picks), i + 1, projection="3d")
                ax.scatter(s[:, 0], s[:, 1], s[:, 2], c=labels, cmap="coolwarm", s=2, alpha=0.6)
            else:
                ax = fig.add_subplot(1, len(picks), i + 1)
                ax.scatter(s[:, 0], s[:, 1] if s.shape[1] > 1 else np.zeros(len(s)), c=labels, cmap="coolwarm", s=2)
            ax.set_title(f"layer {layer}, epoch {epoch}")
        fig.suptitle("noise-free representations coloured by label, " + title)
        save(fig, "representations")

    for path in written:
        print(path)
    return 0


def run_main(argv=None):
    """main, with a damaged run reported as one line on stderr (exit 1)."""
    try:
        return main(argv)
    except RunError as e:
        print(f"plot_run: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # anything else a damaged run can raise: still one line
        first = str(e).splitlines()[0] if str(e) else ""
        args = sys.argv[1:] if argv is None else argv
        print(f"plot_run: error: cannot plot {args[0] if args else 'the run'}: {type(e).__name__}: {first}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(run_main())
