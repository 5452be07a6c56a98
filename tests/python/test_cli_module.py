"""`python -m infoflow` against the CMake-built binary (INFOFLOW_CLI, set by ctest): the
package runs the same cli::run (python/cli_entry.cpp), so the same arguments give the same
JSON (all but the wall time `seconds`), the same exit code and the same messages.
"""

import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = pathlib.Path(os.environ.get("INFOFLOW_CLI", ROOT / "build" / "infoflow"))
SZT_INPUTS = ROOT / "data" / "szt" / "szt_inputs.npy"
SZT_LABELS = ROOT / "data" / "szt" / "szt_labels.npy"
SZT_NET = ROOT / "examples" / "szt_random_net.safetensors"

needs_cli = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} not built (./scripts/build.sh)")


def run(program, *args):
    return subprocess.run([*program, *map(str, args)], capture_output=True, text=True, timeout=120)


def module(*args):
    # Not from the source tree: the installed package (tests run from the repository root,
    # whose python/ directory is not on sys.path).
    return run([sys.executable, "-m", "infoflow"], *args)


def binary(*args):
    return run([str(CLI)], *args)


def json_of(proc):
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["seconds"] > 0
    del d["seconds"]
    return d


def test_module_entropy_of_one_centre_is_the_closed_form(tmp_path):
    # One centre: with the control variate every draw gives the exact entropy of
    # N(s, sigma^2 I), up to the cpu backend's float32 log-density (tests/test_oracles.cpp).
    np.save(tmp_path / "one.npy", np.array([[0.3, -1.0, 2.0]]))
    d = json_of(module("entropy", "--input", tmp_path / "one.npy", "--sigma", 0.5, "--json"))
    assert d["entropy_nats"] == pytest.approx(1.5 * math.log(2 * math.pi * math.e * 0.25), abs=1e-6)
    assert (d["n"], d["d"], d["sigma"], d["ranks"]) == (1, 3, 0.5, 1)


@needs_cli
def test_entropy_json_is_the_binarys(tmp_path):
    centres = np.random.default_rng(3).normal(size=(400, 4))
    np.save(tmp_path / "c.npy", centres)
    args = ("entropy", "--input", tmp_path / "c.npy", "--sigma", 0.7, "--samples-per-center", 3,
            "--seed", 11, "--bounds", "--json")
    ours, theirs = json_of(module(*args)), json_of(binary(*args))
    assert ours == theirs
    # Real numbers, not two identical failures: the bounds bracket the estimate, and the
    # estimate lies between one component's entropy and that plus log n.
    h0 = 2 * math.log(2 * math.pi * math.e * 0.49)
    assert h0 < ours["entropy_nats"] < h0 + math.log(400)
    assert ours["bhattacharyya_lower_nats"] < ours["entropy_nats"] < ours["kl_upper_nats"]
    assert (ours["n"], ours["d"], ours["samples"], ours["seed"]) == (400, 4, 1200, 11)


@needs_cli
def test_mi_json_is_the_binarys():
    args = ("mi", "--model", SZT_NET, "--inputs", SZT_INPUTS, "--labels", SZT_LABELS,
            "--beta", 0.05, "--samples-per-input", 4, "--mc-queries", 512, "--seed", 5, "--json")
    ours, theirs = json_of(module(*args)), json_of(binary(*args))
    assert ours == theirs
    assert len(ours["layers"]) == 5 and ours["n_inputs"] == 4096
    layer1 = ours["layers"][0]
    # Layer 1's 4096 images of distinct inputs are far apart at beta = 0.05: I(X;T_1) is
    # near log 4096 = 8.318 and I(Y;T_1) near H(Y) <= log 2 = 0.693 (README's table).
    assert 8.2 < layer1["I_XT_nats"] <= math.log(4096) + 0.05
    assert 0.6 < layer1["I_YT_nats"] <= math.log(2) + 0.05


@needs_cli
@pytest.mark.parametrize("args", [
    ("entropy", "--input", "/nonexistent/c.npy", "--sigma", 1),    # unreadable file
    ("entropy", "--input", SZT_INPUTS, "--sigma", -1),             # bad value
    ("entropy", "--input", SZT_INPUTS, "--sigm", 1),               # misspelt option
    ("entropyy", "--input", SZT_INPUTS),                           # misspelt command
    ("mi", "--model", SZT_INPUTS, "--inputs", SZT_INPUTS, "--beta", 0.1),  # not a model
    ("plot", "/nonexistent"),                                      # not a train run
    (),                                                            # no command
])
def test_errors_are_the_binarys(args):
    ours, theirs = module(*args), binary(*args)
    assert ours.returncode == theirs.returncode == 2
    assert ours.stdout == theirs.stdout == ""
    assert ours.stderr == theirs.stderr
    assert "infoflow: error: " in ours.stderr


@needs_cli
def test_version_is_the_binarys():
    ours, theirs = module("--version"), binary("--version")
    assert ours.returncode == theirs.returncode == 0
    assert ours.stdout == theirs.stdout
    assert ours.stdout.startswith("infoflow 0.1.0")


def test_help_names_python_m_infoflow():
    # argv[0] is what CLI11 prints as the program: the way this was run.
    h = module("entropy", "--help")
    assert h.returncode == 0
    assert "Usage: python -m infoflow entropy [OPTIONS]" in h.stdout
    assert "--samples-per-center" in h.stdout
