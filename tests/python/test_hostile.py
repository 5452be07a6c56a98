"""Hostile input through the Python package: every public function validates as the CLI
does (tests/README.md, "Hostile input"), with ValueError / TypeError / OverflowError /
MemoryError naming the argument, never nanobind's "incompatible function arguments".
"""

import math
import pathlib

import numpy as np
import pytest

import infoflow

ROOT = pathlib.Path(__file__).resolve().parents[2]
SZT_NET = ROOT / "examples" / "szt_random_net.safetensors"


def raises(exc, match, f):
    with pytest.raises(exc, match=match) as info:
        f()
    assert "incompatible function arguments" not in str(info.value)


@pytest.mark.parametrize("sigma", [-1.0, 0.0, math.nan, math.inf, -math.inf])
def test_gaussian_entropy_refuses_bad_sigma(sigma):
    # It used to return the value for |sigma| (sigma = -1 gave sigma = 1's entropy).
    raises(ValueError, "sigma must be a finite number > 0", lambda: infoflow.gaussian_entropy(3, sigma))


def test_numbers_are_numbers():
    raises(TypeError, "sigma must be a real number, got str", lambda: infoflow.gaussian_entropy(3, "1.0"))
    raises(TypeError, "sigma must be a real number, got bool", lambda: infoflow.gaussian_entropy(3, True))
    raises(OverflowError, "sigma is too large for a float64", lambda: infoflow.gaussian_entropy(3, 10**400))
    raises(TypeError, "d must be an integer, got bool", lambda: infoflow.gaussian_entropy(True, 1.0))
    raises(ValueError, "d must be >= 0", lambda: infoflow.gaussian_entropy(-1, 1.0))
    assert infoflow.gaussian_entropy(2, 1.0) == pytest.approx(math.log(2 * math.pi * math.e))


def test_counts_never_wrap():
    c = np.arange(20.0)
    # 922337203685477581 x 20 centres is 2^64 + 4: it used to wrap to 4 draws.
    raises(ValueError, r"922337203685477581 x 20 is more than 2\^64 - 1",
           lambda: infoflow.mixture_entropy(c, 1.0, samples_per_center=922337203685477581))
    raises(OverflowError, "samples_per_center must be < 2\\*\\*64",
           lambda: infoflow.mixture_entropy(c, 1.0, samples_per_center=2**64))
    raises(OverflowError, "seed must be < 2\\*\\*64", lambda: infoflow.mixture_entropy(c, 1.0, seed=2**64))
    raises(ValueError, "threads must be between 0", lambda: infoflow.mixture_entropy(c, 1.0, threads=2**40))
    raises(ValueError, "samples_per_center must be >= 1", lambda: infoflow.mixture_entropy(c, 1.0, samples_per_center=-1))
    raises(OverflowError, "mc_queries must be < 2\\*\\*64",
           lambda: infoflow.sample_information(np.zeros((4, 2, 1)), 0.1, mc_queries=2**64))
    raises(ValueError, "tolerance must be in", lambda: infoflow.log_density(c, c, 1.0, tolerance=1.0))
    raises(ValueError, "target_stderr must be a finite number >= 0",
           lambda: infoflow.sample_information(np.zeros((4, 2, 1)), 0.1, target_stderr=-1.0))


def test_big_endian_arrays_are_converted():
    rng = np.random.default_rng(3)
    c = rng.normal(size=(50, 2))
    native = infoflow.mixture_entropy(c, 0.5, samples_per_center=4, seed=1, backend="cpu")
    swapped = infoflow.mixture_entropy(c.astype(">f8"), 0.5, samples_per_center=4, seed=1, backend="cpu")
    assert swapped.entropy == native.entropy
    q = infoflow.log_density(c[:5].astype(">f4"), c.astype(">f8"), 0.5, backend="cpu")
    assert np.allclose(q, infoflow.log_density(c[:5].astype(np.float32), c, 0.5, backend="cpu"))
    y = np.array([0, 1] * 25, dtype=">i8")
    r = infoflow.sample_information(rng.normal(size=(50, 2, 2)).astype(">f8"), 0.5, labels=y, mc_queries=256)
    assert math.isfinite(r.I_YT)


def test_huge_broadcast_view_is_a_memory_error_naming_the_argument():
    view = np.broadcast_to(np.zeros(3, dtype=np.float32), (10**12, 3))
    raises(MemoryError, "centers: converting the array of shape", lambda: infoflow.mixture_entropy(view, 1.0))
    labels = np.broadcast_to(np.zeros(1, dtype=np.int32), (10**12,))
    raises(MemoryError, "labels: converting the array of shape", lambda: infoflow.sample_information(
        np.zeros((2, 2, 1)), 0.1, labels=labels))


def test_labels_stay_exact():
    raises(OverflowError, "labels: label 9223372036854775808 is too large",
           lambda: infoflow.sample_information(np.zeros((2, 2, 1)), 0.1,
                                               labels=np.array([0, 2**63], dtype=np.uint64)))
    raises(ValueError, "beyond 2\\*\\*53", lambda: infoflow.sample_information(
        np.zeros((2, 2, 1)), 0.1, labels=np.array([0.0, 2.0**60])))


def test_values_outside_float64_are_errors():
    raises(ValueError, "outside float64",
           lambda: infoflow.log_density(np.array([1e160]), np.array([0.0, 1.0]), 1.0, backend="cpu"))


def test_zero_weight_class_contributes_nothing():
    rng = np.random.default_rng(5)
    s = rng.normal(size=(40, 4, 2))
    y = np.array([0, 1] * 20)
    w = (y == 0) / np.sum(y == 0)  # class 1 has no weight: Y is constant, I(Y;T) = 0
    r = infoflow.sample_information(s, 0.3, labels=y, input_weights=w, mc_queries=2048, seed=2)
    assert math.isfinite(r.I_YT) and math.isfinite(r.I_XT)
    assert abs(r.I_YT) < 5 * r.I_YT_stderr + 1e-3


def test_network_without_noisy_layer_is_named():
    model = [(np.ones((2, 3)), np.zeros(2), "linear")]
    raises(ValueError, "no noisy layer", lambda: infoflow.mutual_information(model, np.zeros((4, 3)), beta=0.1))
    r = infoflow.mutual_information(model, np.eye(3)[[0, 1, 2, 0]], beta=0.1, noisy_last_layer=True,
                                    samples_per_input=2, mc_queries=256)
    assert len(r.layers) == 1


def test_target_stderr_met_is_reported():
    r = infoflow.sample_information(np.random.default_rng(1).normal(size=(20, 4, 2)), 0.3, target_stderr=0.5)
    assert r.target_stderr_met is True
    assert r.to_dict()["target_stderr_met"] is True


def test_model_paths_are_checked():
    raises(TypeError, "path must be a str", lambda: infoflow.load_network(123))
    raises(ValueError, "path is empty", lambda: infoflow.load_network(""))
    raises(OSError, "cannot open", lambda: infoflow.load_network("/nonexistent/net.safetensors"))
    raises(TypeError, "model must be a path", lambda: infoflow.mutual_information(123, np.zeros((2, 12)), beta=0.1))


def test_type_stubs_are_shipped():
    pkg = pathlib.Path(infoflow.__file__).parent
    assert (pkg / "py.typed").is_file()
    stub = (pkg / "__init__.pyi").read_text()
    assert "def mixture_entropy(" in stub and "samples_per_center: int = 1" in stub
