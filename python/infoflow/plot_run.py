#!/usr/bin/env python3
"""Figures of an `infoflow train` run (run by `infoflow plot DIR`, or directly), or of
several runs together (`infoflow plot RUN [RUN ...] --out DIR`, below).

Reads DIR/metrics.csv, DIR/history.csv and DIR/run.json and writes into DIR/figures/:
  information_flow  I(X;T_l) per layer over epochs (log axis, +- 2 standard errors) beside
                    the binning estimate H(Bin(T_l)) and the cluster entropy
  information_plane I(X;T_l) against I(Y;T_l), one track per layer, coloured by epoch
  clustering        cluster entropy and number of clusters of each layer over epochs
  training          noise-free loss and accuracy, train and test, every epoch

Several runs (e.g. seeds) with --out DIR: the same figures (without the representations)
with, for every curve, the median across runs and a band (min-max below 8 runs, the
quartiles from 8 on; the legend says which), and DIR/summary.csv with the numbers drawn:
epoch, layer, column, median, low, high, n_runs, band for every column of metrics.csv.
The runs must share their layers and tracked epochs (aggregate_runs, usable without
matplotlib).

Needs only numpy and matplotlib; it does not import the compiled module, so it runs
from the source tree as well as from an installed package.
"""
import argparse
import csv
import gzip
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


def history_file(run_dir):
    """DIR/history.csv, else DIR/history.csv.gz, else None."""
    for name in ("history.csv", "history.csv.gz"):
        p = os.path.join(run_dir, name)
        if os.path.isfile(p):
            return p
    return None


def read_csv(path, columns, integer_columns=("epoch",)):
    """The rows of one of train's CSV files, checked: the columns plot needs, one value
    per column on every line, whole numbers where train writes them."""
    try:
        # A .gz is read as its text: committed runs keep their every-epoch history gzipped.
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", newline="", encoding="utf-8") as f:
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


# ---------------------------------------------------------------------------------------
# Several runs (`infoflow plot RUN [RUN ...] --out DIR`): the median and a band per curve.

QUARTILE_RUNS = 8  # from this many runs on the band is the quartiles; below, min-max
ID_COLUMNS = ("epoch", "layer", "width")
HISTORY_AGGREGATED = ("train_loss", "test_loss", "train_acc", "test_acc")


class Aggregate:
    """The runs' metrics on their shared (layer, epoch) grid.

    values[c]: array (runs, layers, epochs) of column c; median[c], low[c], high[c]:
    arrays (layers, epochs) across the runs. A NaN in any run (e.g. an I column of a
    --no-estimate run) makes that point's statistics NaN rather than a statistic of fewer
    runs than n_runs says. history: the same for history.csv's loss and accuracy every
    epoch (values/median/low/high keyed by column, plus "epoch"), or None when a run has
    no history.csv.
    """

    def __init__(self, runs, band, epochs, layers, widths, columns, values, history, settings):
        self.runs, self.band, self.epochs, self.layers = runs, band, epochs, layers
        self.widths, self.columns, self.values = widths, columns, values
        self.history, self.settings = history, settings
        self.n_runs = len(runs)
        self.median, self.low, self.high = {}, {}, {}
        for c in columns:
            self.median[c], self.low[c], self.high[c] = band_statistics(values[c], band)

    def band_label(self):
        return (f"band: min–max of {self.n_runs} runs" if self.band == "min-max"
                else f"band: quartiles (25–75 %) of {self.n_runs} runs")


def band_statistics(values, band):
    """Median and band across axis 0: min-max, or the 25th and 75th percentiles (numpy's
    linear interpolation)."""
    import numpy as np
    median = np.median(values, axis=0)
    if band == "min-max":
        return median, np.min(values, axis=0), np.max(values, axis=0)
    return median, np.percentile(values, 25, axis=0), np.percentile(values, 75, axis=0)


def epoch_axis(ax):
    """Every figure's time axis: epochs on a log scale, with a light grid."""
    ax.set_xscale("log")
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)


def strict_number(path, where, col, v):
    """float(v), or an error naming where it is: a typo must not become a NaN in a median."""
    try:
        return float(v)
    except ValueError:
        raise RunError(path, f"{where}: {col} {v!r} is not a number") from None


def describe(values, limit=6):
    values = sorted(values)
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def read_run_metrics(run_dir):
    """One run's metrics.csv as {(layer, epoch): row} with its header, checked to be a full
    grid: every tracked epoch has a row for every layer, once."""
    path = os.path.join(run_dir, "metrics.csv")
    if not os.path.isfile(path):
        raise RunError(run_dir, "no metrics.csv (not the --out directory of a completed `infoflow train` run)")
    rows = read_csv(path, METRICS_COLUMNS, ("epoch", "layer"))
    table = {}
    for i, r in enumerate(rows):
        key = (int(r["layer"]), int(r["epoch"]))
        if key in table:
            raise RunError(path, f"layer {key[0]} at epoch {key[1]} appears twice")
        table[key] = r
    layers = sorted({k[0] for k in table})
    epochs = sorted({k[1] for k in table})
    for l in layers:
        for e in epochs:
            if (l, e) not in table:
                raise RunError(path, f"has no row for layer {l} at epoch {e} (a run measures every layer at every tracked epoch)")
    header = list(rows[0])  # each row is a dict in the file's column order
    return path, header, table, layers, epochs


def aggregate_runs(run_dirs, band="auto"):
    """Reads the runs, checks that they share their layers (and widths) and tracked epochs,
    and returns an Aggregate of every numeric column of metrics.csv that all runs have and
    at least one run measured (not NaN everywhere).

    band: "min-max", "quartiles", or "auto" (min-max below QUARTILE_RUNS runs: with few
    runs the quartiles would be interpolated between two or three of them). Runs that
    differ are refused, naming the run and the difference, rather than aligned: a median
    over a subset of runs at some epochs would draw as one curve."""
    import numpy as np
    if not run_dirs:
        raise RunError("plot", "no run given")
    if band == "auto":
        band = "min-max" if len(run_dirs) < QUARTILE_RUNS else "quartiles"
    if band not in ("min-max", "quartiles"):
        raise RunError("plot", f"unknown band {band!r} (min-max, quartiles, auto)")
    seen = {}
    for d in run_dirs:
        real = os.path.realpath(d)
        if real in seen:
            raise RunError(d, f"is given twice (also as {seen[real]}); each run counts once in the median")
        seen[real] = d
    runs = [read_run_metrics(d) for d in run_dirs]
    ref_path, ref_header, ref_table, layers, epochs = runs[0]
    widths = {l: ref_table[(l, epochs[0])]["width"] for l in layers}
    for path, header, table, run_layers, run_epochs in runs[1:]:
        if run_layers != layers:
            raise RunError(path, f"has layers {describe(run_layers)}, but {ref_path} has {describe(layers)}; "
                                 "the runs to aggregate must have the same network")
        for l in layers:
            if table[(l, run_epochs[0])]["width"] != widths[l]:
                raise RunError(path, f"layer {l} has width {table[(l, run_epochs[0])]['width']}, but {widths[l]} in "
                                     f"{ref_path}; the runs to aggregate must have the same network")
        if run_epochs != epochs:
            only_here = set(run_epochs) - set(epochs)
            only_there = set(epochs) - set(run_epochs)
            what = []
            if only_here:
                what.append(f"tracks epochs {describe(only_here)} that {ref_path} does not")
            if only_there:
                what.append(f"does not track epochs {describe(only_there)} that {ref_path} tracks")
            raise RunError(path, f"{', and '.join(what)}; the runs to aggregate must track the same epochs "
                                 "(the same --epochs and --track)")
    columns = [c for c in ref_header if c not in ID_COLUMNS and all(c in r[1] for r in runs)]
    values = {}
    for c in columns:
        v = np.empty((len(runs), len(layers), len(epochs)))
        for i, (path, _, table, _, _) in enumerate(runs):
            for j, l in enumerate(layers):
                for k, e in enumerate(epochs):
                    v[i, j, k] = strict_number(path, f"layer {l} at epoch {e}", c, table[(l, e)][c])
        values[c] = v
    # A column no run measured (the bounds without --bounds, say) is not a result to summarise.
    columns = [c for c in columns if not np.isnan(values[c]).all()]
    values = {c: values[c] for c in columns}
    history = aggregate_history(run_dirs, band)
    settings = []
    for d in run_dirs:
        p = os.path.join(d, "run.json")
        settings.append(read_json(p) if os.path.isfile(p) else {})
    return Aggregate(list(run_dirs), band, epochs, layers, widths, columns, values, history, settings)


def aggregate_history(run_dirs, band):
    """Loss and accuracy every epoch across runs, from history.csv; None when a run has none
    (the training figure then uses the tracked epochs of metrics.csv)."""
    import numpy as np
    paths = [history_file(d) for d in run_dirs]
    if not all(paths):
        return None
    ref_epochs = None
    values = {c: [] for c in HISTORY_AGGREGATED}
    for p in paths:
        rows = read_csv(p, HISTORY_COLUMNS)
        epochs = [int(r["epoch"]) for r in rows]
        if ref_epochs is None:
            ref_epochs, ref_path = epochs, p
        elif epochs != ref_epochs:
            raise RunError(p, f"has epochs {epochs[0]}..{epochs[-1]} ({len(epochs)} rows), but {ref_path} has "
                              f"{ref_epochs[0]}..{ref_epochs[-1]} ({len(ref_epochs)} rows); the runs to aggregate "
                              "must train for the same epochs")
        for c in HISTORY_AGGREGATED:
            values[c].append([strict_number(p, f"line {i + 2}", c, r[c]) for i, r in enumerate(rows)])
    out = {"epoch": np.array(ref_epochs, dtype=float), "values": {}, "median": {}, "low": {}, "high": {}}
    for c in HISTORY_AGGREGATED:
        v = np.array(values[c])
        out["values"][c] = v
        out["median"][c], out["low"][c], out["high"][c] = band_statistics(v, band)
    return out


SUMMARY_COLUMNS = ("epoch", "layer", "column", "median", "low", "high", "n_runs", "band")


def summary_rows(agg):
    """summary.csv's rows: one per tracked epoch x layer x aggregated column, in that order."""
    rows = []
    for k, e in enumerate(agg.epochs):
        for j, l in enumerate(agg.layers):
            for c in agg.columns:
                rows.append((e, l, c, float(agg.median[c][j, k]), float(agg.low[c][j, k]),
                             float(agg.high[c][j, k]), agg.n_runs, agg.band))
    return rows


def write_summary(path, agg):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(SUMMARY_COLUMNS)
        for e, l, c, med, lo, hi, n, band in summary_rows(agg):
            # repr: the shortest text that reads back as the same double
            w.writerow((e, l, c, repr(med), repr(lo), repr(hi), n, band))


def common_setting(settings, *keys):
    """A run.json value shared by every run, or None when a run lacks it or they differ."""
    found = []
    for s in settings:
        v = s
        for k in keys:
            if not isinstance(v, dict) or k not in v:
                return None
            v = v[k]
        found.append(v)
    return found[0] if found and all(v == found[0] for v in found) else None


def plot_runs(run_dirs, out_dir, formats, band="auto"):
    """The figures of several runs (median line, band) and summary.csv, written into out_dir.

    Everything is read and checked before out_dir is touched, and the files are drawn under
    temporary names and renamed into place only when all are drawn: a failure leaves no
    new file in out_dir (and no out_dir that this call created)."""
    if not out_dir:
        raise RunError("--out", "empty value")
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        raise RunError(out_dir, "exists and is not a directory (--out names the folder for the figures and summary.csv)")
    agg = aggregate_runs(run_dirs, band)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch
    import numpy as np

    names = ["information_flow", "information_plane", "clustering", "training"]
    finals = [os.path.join(out_dir, f"{n}.{f}") for n in names for f in formats]
    finals.append(os.path.join(out_dir, "summary.csv"))
    for path in finals:
        if os.path.lexists(path) and (os.path.islink(path) or not stat.S_ISREG(os.lstat(path).st_mode)):
            raise RunError(path, "is not a regular file; plot replaces only the files it writes")
    created = not os.path.exists(out_dir)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as e:
        raise RunError(out_dir, f"cannot be created ({e.strerror or e})") from None
    staged = []  # (temporary, final)
    done = False

    def tmp_for(path):
        d, base = os.path.split(path)
        return os.path.join(d, f".{base}.infoflow-tmp-{os.getpid()}")

    try:
        seeds = [s.get("training", {}).get("seed") if isinstance(s.get("training"), dict) else None
                 for s in agg.settings]
        beta = common_setting(agg.settings, "training", "beta")
        activation = common_setting(agg.settings, "network", "activation")
        alpha = common_setting(agg.settings, "training", "orthonormal_alpha")
        title = f"median of {agg.n_runs} runs"
        if all(isinstance(s, int) for s in seeds):
            title += " (seeds " + ", ".join(str(s) for s in seeds) + ")"
        if activation:
            title += f", {activation}"
        if isinstance(beta, (int, float)):
            title += f", beta = {beta:g}"
        if isinstance(alpha, (int, float)) and alpha > 0:
            title += f", orthonormal alpha = {alpha:g}"
        bin_size = common_setting(agg.settings, "estimation", "bin_size")
        radius = common_setting(agg.settings, "estimation", "cluster_radius")
        inputs = common_setting(agg.settings, "data", "inputs")
        ln_m = math.log(inputs) if isinstance(inputs, int) and inputs > 0 else None
        cmap = plt.get_cmap("viridis")
        colors = {l: cmap(i / max(1, len(agg.layers) - 1)) for i, l in enumerate(agg.layers)}
        ep = np.array(agg.epochs, dtype=float)
        band_patch = Patch(color="gray", alpha=0.3, label=agg.band_label())

        def save(fig, name):
            for f in formats:
                path = os.path.join(out_dir, f"{name}.{f}")
                tmp = tmp_for(path)
                staged.append((tmp, path))
                fig.savefig(tmp, dpi=130, bbox_inches="tight", format=f)
            plt.close(fig)

        def curves(ax, col, ylabel, log_y=False):
            if col not in agg.columns:
                ax.text(0.5, 0.5, f"no {col} in these runs", ha="center", va="center", transform=ax.transAxes)
                return
            if ln_m and col.startswith(("I_XT", "H_")):
                ax.axhline(ln_m, color="gray", ls="--", lw=0.8)
            for j, l in enumerate(agg.layers):
                ax.plot(ep, agg.median[col][j], "-o", ms=2.5, color=colors[l], label=f"layer {l} (d={agg.widths[l]})")
                ax.fill_between(ep, agg.low[col][j], agg.high[col][j], color=colors[l], alpha=0.2, lw=0)
            epoch_axis(ax)
            if log_y:
                ax.set_yscale("log")
            ax.set_ylabel(ylabel)

        def legend(ax, **kw):
            handles, labels = ax.get_legend_handles_labels()
            ax.legend(handles + [band_patch], labels + [band_patch.get_label()], fontsize=7, **kw)

        # 1. Information over epochs: sample propagation, binning, clustering.
        fig, axes = plt.subplots(2, 3, figsize=(17, 9), sharex=True)
        panels = [("I_XT_nats", "I(X;T_l), sample propagation"),
                  ("H_bin_nats", "binning H(Bin(S_l))" + (f", bin size {bin_size:g}" if isinstance(bin_size, (int, float)) else "")),
                  ("H_cluster_nats", "cluster entropy of S_l" + (f" (linkage < {radius:g})" if isinstance(radius, (int, float)) else "")),
                  ("I_YT_nats", "I(Y;T_l), sample propagation"),
                  ("I_XT_bin_nats", "I(X;Bin(S_l)), 30 bins over the observed range"),
                  ("I_YT_bin_nats", "I(Y;Bin(S_l)), 30 bins over the observed range")]
        for ax, (col, name) in zip(axes.flat, panels):
            curves(ax, col, "nats")
            ax.set_title(name, fontsize=10)
        legend(axes[0, 0], loc="lower left")
        fig.suptitle(title)
        save(fig, "information_flow")

        # 2. The information plane: medians, coloured by epoch, with the band as cross bars.
        fig, ax = plt.subplots(figsize=(8, 6))
        norm = LogNorm(vmin=max(1.0, ep.min()), vmax=max(2.0, ep.max()))
        sc = None
        for j, l in enumerate(agg.layers):
            x, y = agg.median["I_XT_nats"][j], agg.median["I_YT_nats"][j]
            xerr = np.vstack([x - agg.low["I_XT_nats"][j], agg.high["I_XT_nats"][j] - x])
            yerr = np.vstack([y - agg.low["I_YT_nats"][j], agg.high["I_YT_nats"][j] - y])
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", ecolor=colors[l], alpha=0.25, lw=0.7)
            ax.plot(x, y, "-", color=colors[l], lw=0.8, alpha=0.7)
            sc = ax.scatter(x, y, c=ep, cmap="plasma", norm=norm, s=16, zorder=3)
            ax.annotate(f"L{l}", (x[-1], y[-1]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if sc is not None:
            fig.colorbar(sc, ax=ax, label="epoch")
        ax.set_xlabel("I(X;T) [nats], median")
        ax.set_ylabel("I(Y;T) [nats], median")
        ax.set_title(f"information plane, {title}\nbars: {agg.band_label()[6:]}", fontsize=10)
        ax.grid(alpha=0.3)
        save(fig, "information_plane")

        # 3. Clustering over epochs.
        fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
        curves(axes[0], "H_cluster_nats", "cluster entropy [nats]")
        curves(axes[1], "clusters", "number of clusters", log_y=True)
        curves(axes[2], "class_distance_ratio", "same-class / different-class mean distance")
        legend(axes[0], loc="best")
        fig.suptitle("clustering of the noise-free representations, " + title)
        save(fig, "clustering")

        # 4. Loss and accuracy (every epoch from history.csv, else at the tracked epochs).
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
        for i, (split, color) in enumerate((("train", "C0"), ("test", "C1"))):
            for ax, what in zip(axes, ("loss", "acc")):
                col = f"{split}_{what}"
                if agg.history is not None:
                    x, h = agg.history["epoch"], agg.history
                    med, lo, hi = h["median"][col], h["low"][col], h["high"][col]
                else:
                    x, med, lo, hi = ep, agg.median[col][0], agg.low[col][0], agg.high[col][0]
                ax.plot(x, med, color=color, label=split)
                ax.fill_between(x, lo, hi, color=color, alpha=0.25, lw=0)
        axes[0].set_ylabel("cross-entropy [nats]")
        axes[0].set_yscale("log")
        axes[1].set_ylabel("accuracy")
        for ax in axes:
            epoch_axis(ax)
            legend(ax)
        fig.suptitle("training (noise-free evaluation), " + title)
        save(fig, "training")

        summary = os.path.join(out_dir, "summary.csv")
        staged.append((tmp_for(summary), summary))
        write_summary(staged[-1][0], agg)
        for tmp, path in staged:
            os.replace(tmp, path)
        done = True
    except OSError as e:
        raise RunError(getattr(e, "filename", None) or out_dir, f"cannot be written ({e.strerror or e})") from None
    finally:
        if not done:
            for tmp, _ in staged:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        if not done and created:
            try:
                os.rmdir(out_dir)
            except OSError:
                pass
    return finals


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", nargs="+", help="the --out directory of `infoflow train` (several: aggregate them)")
    p.add_argument("--format", default="png", help="png, svg, pdf, or a comma-separated list")
    p.add_argument("--out", help="with several runs: the folder for the aggregated figures and summary.csv")
    p.add_argument("--band", default="auto", choices=("auto", "min-max", "quartiles"),
                   help=f"the band around the median of several runs (auto: min-max below {QUARTILE_RUNS} runs)")
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
    if len(a.dir) > 1 or a.out is not None:
        if a.out is None:
            sys.exit(f"plot_run: error: {len(a.dir)} runs need --out DIR (the folder for their aggregated figures)")
        for path in plot_runs(a.dir, a.out, formats, a.band):
            print(path)
        return 0
    a.dir = a.dir[0]
    metrics_path = os.path.join(a.dir, "metrics.csv")
    if not os.path.isfile(metrics_path):
        sys.exit(f"plot_run: error: {metrics_path} not found (not a completed `infoflow train` run)")
    metrics = read_csv(metrics_path, METRICS_COLUMNS, ("epoch", "layer"))
    history_path = history_file(a.dir)
    history = read_csv(history_path, HISTORY_COLUMNS) if history_path else []
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
    if not out_dir:
        raise RunError("--out", "empty value")
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
        epoch_axis(ax)
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
        epoch_axis(ax)
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
            epoch_axis(ax)
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
