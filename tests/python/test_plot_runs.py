"""Tests of `infoflow plot RUN [RUN ...] --out DIR`: the median and band of several runs.

Oracle: numpy's median, min, max and percentiles of the values the test itself wrote into
synthetic metrics.csv files (and read back from real short `infoflow train` runs).
The aggregation is plot_run.py's aggregate_runs, loaded from the source tree, so these
tests need neither the compiled module nor, for the function tests, matplotlib output.
"""

import csv
import gzip
import importlib.util
import os
import pathlib
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = pathlib.Path(os.environ.get("INFOFLOW_CLI", ROOT / "build" / "infoflow"))
needs_cli = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} not built (./scripts/build.sh)")
try:
    import matplotlib  # noqa: F401
    have_matplotlib = True
except ImportError:
    have_matplotlib = False
needs_matplotlib = pytest.mark.skipif(not have_matplotlib, reason="matplotlib is not installed")

_spec = importlib.util.spec_from_file_location("plot_run", ROOT / "python" / "infoflow" / "plot_run.py")
plot_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plot_run)

# The columns `infoflow train` writes, in its order.
HEADER = ["epoch", "layer", "width", "I_XT_nats", "I_XT_stderr_nats", "I_YT_nats", "I_YT_stderr_nats",
          "h_T_nats", "h_T_given_X_nats", "H_bin_nats", "I_XT_bin_nats", "I_YT_bin_nats", "H_cluster_nats",
          "clusters", "class_distance_ratio", "train_loss", "test_loss", "train_acc", "test_acc"]
VALUE_COLUMNS = HEADER[3:]
EPOCHS = [1, 3, 10, 30]
LAYERS = [1, 2, 3]
WIDTHS = {1: 10, 2: 7, 3: 5}


def write_run(path, values, epochs=EPOCHS, layers=LAYERS, history=None):
    """A run directory whose metrics.csv holds values[column] (an array layers x epochs)."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "metrics.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for k, e in enumerate(epochs):
            for j, l in enumerate(layers):
                w.writerow([e, l, WIDTHS[l]] + [repr(float(values[c][j, k])) for c in VALUE_COLUMNS])
    if history is not None:
        with open(path / "history.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["epoch", "noisy_batch_loss", "train_loss", "test_loss", "train_acc", "test_acc"])
            for i, row in enumerate(history):
                w.writerow([i + 1] + [repr(float(v)) for v in row])
    return path


def random_runs(tmp_path, n, seed=0, nan_at=None):
    """n synthetic runs; returns their directories and the values, array (n, layers, epochs) per column."""
    rng = np.random.default_rng(seed)
    values = {c: rng.normal(3.0, 1.5, size=(n, len(LAYERS), len(EPOCHS))) for c in VALUE_COLUMNS}
    if nan_at is not None:
        values["class_distance_ratio"][nan_at] = np.nan
    dirs = [write_run(tmp_path / f"run{i}", {c: v[i] for c, v in values.items()}) for i in range(n)]
    return dirs, values


def read_summary(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    table = {(int(r["epoch"]), int(r["layer"]), r["column"]): r for r in rows}
    assert len(table) == len(rows), "a (epoch, layer, column) appears twice"
    return rows, table


def check_summary(table, values, epochs, layers, low_fn, high_fn, n, band):
    for c, v in values.items():
        median, low, high = np.median(v, axis=0), low_fn(v), high_fn(v)
        for j, l in enumerate(layers):
            for k, e in enumerate(epochs):
                r = table[(e, l, c)]
                np.testing.assert_allclose([float(r["median"]), float(r["low"]), float(r["high"])],
                                           [median[j, k], low[j, k], high[j, k]], rtol=1e-14, atol=0,
                                           err_msg=f"{c} layer {l} epoch {e}")
                assert int(r["n_runs"]) == n and r["band"] == band


def run_cli(*args):
    return subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True)


def minmax():
    return (lambda v: np.min(v, axis=0)), (lambda v: np.max(v, axis=0))


def quartiles():
    return (lambda v: np.percentile(v, 25, axis=0)), (lambda v: np.percentile(v, 75, axis=0))


# --- the aggregation as a function ------------------------------------------------------

def test_aggregate_is_the_median_and_min_max_below_eight_runs(tmp_path):
    dirs, values = random_runs(tmp_path, 4)  # even: the median is the mean of the middle two
    agg = plot_run.aggregate_runs([str(d) for d in dirs])
    assert agg.band == "min-max" and agg.n_runs == 4
    assert agg.epochs == EPOCHS and agg.layers == LAYERS and agg.columns == VALUE_COLUMNS
    for c, v in values.items():
        np.testing.assert_array_equal(agg.values[c], v)
        np.testing.assert_allclose(agg.median[c], (np.sort(v, axis=0)[1] + np.sort(v, axis=0)[2]) / 2, rtol=1e-15)
        np.testing.assert_array_equal(agg.low[c], v.min(axis=0))
        np.testing.assert_array_equal(agg.high[c], v.max(axis=0))


def test_aggregate_uses_quartiles_from_eight_runs(tmp_path):
    dirs, values = random_runs(tmp_path, 9, seed=1)
    agg = plot_run.aggregate_runs([str(d) for d in dirs])
    assert agg.band == "quartiles"
    assert "quartiles (25–75 %) of 9 runs" in agg.band_label()
    for c, v in values.items():
        # 9 runs: the 25th and 75th percentiles are the 3rd and 7th smallest values exactly
        s = np.sort(v, axis=0)
        np.testing.assert_allclose(agg.low[c], s[2], rtol=1e-15)
        np.testing.assert_allclose(agg.high[c], s[6], rtol=1e-15)
        np.testing.assert_allclose(agg.median[c], s[4], rtol=1e-15)


def test_a_nan_in_one_run_makes_that_point_nan(tmp_path):
    dirs, _ = random_runs(tmp_path, 3, nan_at=(1, 0, 2))  # run 1, layer 1, epoch 10
    agg = plot_run.aggregate_runs([str(d) for d in dirs])
    r = agg.median["class_distance_ratio"]
    assert np.isnan(r[0, 2]) and np.isnan(agg.low["class_distance_ratio"][0, 2])
    assert np.isfinite(np.delete(r.ravel(), 2)).all()


def test_a_column_no_run_measured_is_left_out(tmp_path):
    dirs, _ = random_runs(tmp_path, 2, nan_at=(slice(None), slice(None), slice(None)))
    agg = plot_run.aggregate_runs([str(d) for d in dirs])
    assert "class_distance_ratio" not in agg.columns and "class_distance_ratio" not in agg.median
    assert agg.columns == [c for c in VALUE_COLUMNS if c != "class_distance_ratio"]


def test_history_is_aggregated_every_epoch(tmp_path):
    rng = np.random.default_rng(5)
    hist = rng.uniform(size=(3, 12, 5))  # runs x epochs x (noisy_batch_loss, train_loss, test_loss, train_acc, test_acc)
    values = {c: rng.normal(size=(len(LAYERS), len(EPOCHS))) for c in VALUE_COLUMNS}
    dirs = [str(write_run(tmp_path / f"r{i}", values, history=hist[i])) for i in range(3)]
    agg = plot_run.aggregate_runs(dirs)
    np.testing.assert_array_equal(agg.history["epoch"], np.arange(1, 13))
    for i, c in enumerate(("train_loss", "test_loss", "train_acc", "test_acc")):
        np.testing.assert_array_equal(agg.history["median"][c], np.median(hist[:, :, i + 1], axis=0))
        np.testing.assert_array_equal(agg.history["low"][c], hist[:, :, i + 1].min(axis=0))
        np.testing.assert_array_equal(agg.history["high"][c], hist[:, :, i + 1].max(axis=0))
    # A gzipped history (as the committed seed runs keep it) is read as its text.
    gz = tmp_path / "r1" / "history.csv"
    with open(gz, "rb") as f_in, gzip.open(str(gz) + ".gz", "wb") as f_out:
        f_out.write(f_in.read())
    gz.unlink()
    again = plot_run.aggregate_runs(dirs)
    for c in ("train_loss", "test_acc"):
        np.testing.assert_array_equal(again.history["median"][c], agg.history["median"][c])
    # A run trained for fewer epochs is named.
    write_run(tmp_path / "r2", values, history=hist[2][:10])
    with pytest.raises(plot_run.RunError, match=r"r2/history.csv: has epochs 1..10"):
        plot_run.aggregate_runs(dirs)


def test_runs_that_differ_are_refused_naming_the_run(tmp_path):
    dirs, values = random_runs(tmp_path, 2)
    one = {c: v[0] for c, v in values.items()}
    odd = write_run(tmp_path / "other_epochs", {c: np.hstack([v, v[:, :1]]) for c, v in one.items()},
                    epochs=EPOCHS + [100])
    with pytest.raises(plot_run.RunError, match=r"other_epochs/metrics.csv: tracks epochs 100 that .*run0"):
        plot_run.aggregate_runs([str(dirs[0]), str(odd)])
    fewer = write_run(tmp_path / "fewer_layers", {c: v[:2] for c, v in one.items()}, layers=[1, 2])
    with pytest.raises(plot_run.RunError, match=r"fewer_layers/metrics.csv: has layers 1, 2, but .* has 1, 2, 3"):
        plot_run.aggregate_runs([str(dirs[0]), str(fewer)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(plot_run.RunError, match=r"empty: no metrics.csv"):
        plot_run.aggregate_runs([str(dirs[0]), str(tmp_path / "empty")])
    with pytest.raises(plot_run.RunError, match=r"is given twice"):
        plot_run.aggregate_runs([str(dirs[0]), str(dirs[1]), str(dirs[0]) + "/"])
    lines = (dirs[1] / "metrics.csv").read_text().splitlines()
    (dirs[1] / "metrics.csv").write_text("\n".join(lines[:-1]) + "\n")  # the last epoch loses layer 3
    with pytest.raises(plot_run.RunError, match=r"run1/metrics.csv: has no row for layer 3 at epoch 30"):
        plot_run.aggregate_runs([str(d) for d in dirs])
    (dirs[1] / "metrics.csv").write_text("\n".join(lines[:2] + [lines[1]]) + "\n")
    with pytest.raises(plot_run.RunError, match=r"layer 1 at epoch 1 appears twice"):
        plot_run.aggregate_runs([str(d) for d in dirs])
    fields = lines[1].split(",")
    fields[HEADER.index("I_YT_nats")] = "abc"
    (dirs[1] / "metrics.csv").write_text("\n".join([lines[0], ",".join(fields)] + lines[2:]) + "\n")
    with pytest.raises(plot_run.RunError, match=r"I_YT_nats 'abc' is not a number"):
        plot_run.aggregate_runs([str(d) for d in dirs])


# --- the command ------------------------------------------------------------------------

@needs_cli
@needs_matplotlib
def test_cli_summary_matches_numpy(tmp_path):
    dirs, values = random_runs(tmp_path, 3, seed=2)
    out = tmp_path / "out"
    r = run_cli("plot", *dirs, "--out", out)
    assert r.returncode == 0, r.stderr
    rows, table = read_summary(out / "summary.csv")
    assert list(rows[0].keys()) == ["epoch", "layer", "column", "median", "low", "high", "n_runs", "band"]
    assert len(rows) == len(EPOCHS) * len(LAYERS) * len(VALUE_COLUMNS)
    check_summary(table, values, EPOCHS, LAYERS, *minmax(), 3, "min-max")
    for name in ("information_flow", "information_plane", "clustering", "training"):
        assert (out / f"{name}.png").stat().st_size > 1000, name
    assert sorted(os.listdir(out)) == sorted(["summary.csv", "information_flow.png", "information_plane.png",
                                              "clustering.png", "training.png"])

    r = run_cli("plot", *dirs, "--out", out, "--band", "quartiles", "--format", "svg")
    assert r.returncode == 0, r.stderr
    _, table = read_summary(out / "summary.csv")
    check_summary(table, values, EPOCHS, LAYERS, *quartiles(), 3, "quartiles")
    assert (out / "clustering.svg").exists()


@needs_cli
def test_cli_bad_input_is_one_clear_error_and_writes_nothing(tmp_path):
    dirs, values = random_runs(tmp_path, 2)
    out = tmp_path / "out"

    def refused(args, needle, code=None):
        r = run_cli("plot", *args)
        assert r.returncode != 0 and (code is None or r.returncode == code), (args, r.returncode, r.stderr)
        assert needle in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
        assert r.stdout == ""
        assert not out.exists(), f"{args} created {out}"

    (tmp_path / "nothing").mkdir()
    refused([dirs[0], tmp_path / "nothing", "--out", out], f"{tmp_path / 'nothing'}: no metrics.csv", 2)
    refused([*dirs], "2 runs need --out DIR", 2)
    refused([dirs[0], "--band", "quartiles"], "--band applies to several runs", 2)
    refused([*dirs, "--out", out, "--band", "iqr"], "unknown band 'iqr'", 2)
    refused([dirs[0], dirs[1], str(dirs[0]) + "/.", "--out", out], "is given twice", 2)
    refused([*dirs, "--out", dirs[1]], f"--out {dirs[1]} is the run", 2)
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    refused([*dirs, "--out", a_file], f"--out {a_file}: exists and is not a directory", 2)
    assert a_file.read_text() == "mine"
    odd = write_run(tmp_path / "odd", {c: v[0][:, :3] for c, v in values.items()}, epochs=EPOCHS[:3])
    refused([dirs[0], odd, "--out", out], f"{odd / 'metrics.csv'}: does not track epochs 30 that")

    # A refusal after the run was read, with an earlier result in --out: that result stays whole.
    if have_matplotlib:
        assert run_cli("plot", *dirs, "--out", out).returncode == 0
        before = {p: (out / p).read_bytes() for p in os.listdir(out)}
        os.remove(out / "training.png")
        os.symlink(a_file, out / "training.png")
        r = run_cli("plot", *dirs, "--out", out)
        assert r.returncode != 0 and "training.png: is not a regular file" in r.stderr, r.stderr
        assert a_file.read_text() == "mine"
        after = {p: (out / p).read_bytes() for p in os.listdir(out) if p != "training.png"}
        assert after == {p: b for p, b in before.items() if p != "training.png"}  # no new figure, no temporary


@needs_cli
@needs_matplotlib
def test_real_short_runs_over_seeds(tmp_path):
    """Three 30-epoch SZT runs (seeds 1..3): summary.csv against numpy over their metrics.csv."""
    dirs = []
    for seed in (1, 2, 3):
        d = tmp_path / f"seed{seed}"
        r = run_cli("train", "--preset", "szt", "--epochs", 30, "--track", "log:3", "--samples-per-input", 5,
                    "--mc-queries", 512, "--backend", "cpu", "--seed", seed, "--out", d)
        assert r.returncode == 0, r.stderr
        dirs.append(d)
    values, epochs, layers = {}, None, None
    for i, d in enumerate(dirs):
        with open(d / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        epochs = sorted({int(r["epoch"]) for r in rows})
        layers = sorted({int(r["layer"]) for r in rows})
        for r in rows:
            for c in VALUE_COLUMNS:
                values.setdefault(c, np.full((3, len(layers), len(epochs)), np.nan))
                values[c][i, layers.index(int(r["layer"])), epochs.index(int(r["epoch"]))] = float(r[c])
    assert epochs == [1, 5, 30] and layers == [1, 2, 3, 4, 5]
    # Different seeds give different networks: the band is not a line.
    assert np.ptp(values["I_XT_nats"][:, 4, -1]) > 0.01
    out = tmp_path / "seeds"
    r = run_cli("plot", *dirs, "--out", out)
    assert r.returncode == 0, r.stderr
    _, table = read_summary(out / "summary.csv")
    check_summary(table, values, epochs, layers, *minmax(), 3, "min-max")
    # The single-run form is unchanged: figures into the run's own figures/.
    r = run_cli("plot", dirs[0])
    assert r.returncode == 0, r.stderr
    assert (dirs[0] / "figures" / "information_flow.png").exists() and (dirs[0] / "figures" / "representations.png").exists()
