"""Tests of the infoflow Python package (the installed one: scripts/test-python.sh).

Oracles: the CLI (same library, same seed => same numbers), scikit-learn's KernelDensity
for the log-density, the closed-form entropy of one Gaussian, and the same network given
as arrays and as a safetensors file.
"""

import json
import math
import os
import pathlib
import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import infoflow
from infoflow import _infoflow

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLI = pathlib.Path(os.environ.get("INFOFLOW_CLI", ROOT / "build" / "infoflow"))
SZT_INPUTS = ROOT / "data" / "szt" / "szt_inputs.npy"
SZT_LABELS = ROOT / "data" / "szt" / "szt_labels.npy"
SZT_NET = ROOT / "examples" / "szt_random_net.safetensors"

needs_cli = pytest.mark.skipif(not CLI.exists(), reason=f"{CLI} not built (./scripts/build.sh)")

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def run_cli(*args):
    out = subprocess.run([str(CLI), *map(str, args)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def without_seconds(d):
    return {k: v for k, v in d.items() if k != "seconds"}


def small_model(seed=1):
    """A 3-4-2 network: tanh hidden layer, linear logits, as (weight, bias, activation)."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(4, 3)), rng.normal(size=4), "tanh"),
            (rng.normal(size=(2, 4)), rng.normal(size=2), "linear")]


def write_safetensors(path, model, dtype="F64"):
    """A pure-Python safetensors writer (json + struct): layers.{i}.weight / .bias."""
    fmt = {"F64": "<f8", "F32": "<f4"}[dtype]
    header, blobs, offset = {}, [], 0
    for i, (w, b, _) in enumerate(model):
        for name, t in ((f"layers.{i}.weight", w), (f"layers.{i}.bias", b)):
            data = np.ascontiguousarray(t, dtype=fmt).tobytes()
            header[name] = {"dtype": dtype, "shape": list(np.shape(t)),
                            "data_offsets": [offset, offset + len(data)]}
            blobs.append(data)
            offset += len(data)
    header["__metadata__"] = {"activations": ",".join(act for _, _, act in model)}
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# ---- agreement with the CLI ----------------------------------------------------------

@needs_cli
@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_entropy_matches_cli_json(tmp_path, backend):
    centers = np.random.default_rng(3).normal(size=(300, 3))
    np.save(tmp_path / "c.npy", centers)
    cli = run_cli("entropy", "--input", tmp_path / "c.npy", "--sigma", 0.4,
                  "--samples-per-center", 3, "--seed", 11, "--backend", backend, "--bounds", "--json")
    r = infoflow.mixture_entropy(centers, 0.4, samples_per_center=3, seed=11, backend=backend,
                                 bounds=True)
    mine = r.to_dict()
    assert set(mine) == set(cli) - {"input"}
    for key in ("n", "d", "samples", "samples_per_center", "seed", "backend", "sigma", "control_variate",
                "tolerance", "ranks"):
        assert mine[key] == cli[key], key
    for key in ("entropy_nats", "stderr_nats", "kl_upper_nats", "bhattacharyya_lower_nats"):
        assert mine[key] == pytest.approx(cli[key], rel=1e-12, abs=1e-12), key


@needs_cli
def test_entropy_matches_cli_on_uint8_file():
    # The file holds uint8: the package converts it once, the CLI reads it as float64.
    cli = run_cli("entropy", "--input", SZT_INPUTS, "--sigma", 0.3, "--backend", "cpu", "--json")
    r = infoflow.mixture_entropy(np.load(SZT_INPUTS), 0.3, backend="cpu")
    assert r.entropy == pytest.approx(cli["entropy_nats"], rel=1e-12)
    assert (r.n, r.d) == (cli["n"], cli["d"]) == (4096, 12)


@needs_cli
def test_mutual_information_matches_cli_json():
    cli = run_cli("mi", "--model", SZT_NET, "--inputs", SZT_INPUTS, "--labels", SZT_LABELS,
                  "--beta", 0.005, "--samples-per-input", 4, "--mc-queries", 2048,
                  "--layers", "1,3", "--backend", "cpu", "--json")
    r = infoflow.mutual_information(SZT_NET, np.load(SZT_INPUTS), np.load(SZT_LABELS),
                                    beta=0.005, samples_per_input=4, mc_queries=2048,
                                    layers="1,3", backend="cpu")
    mine = r.to_dict()
    assert without_seconds(mine).keys() == without_seconds(cli).keys()
    assert [l.keys() for l in mine["layers"]] == [l.keys() for l in cli["layers"]]
    for a, b in zip(mine["layers"], cli["layers"]):
        for key, v in b.items():
            assert a[key] == pytest.approx(v, rel=1e-12, abs=1e-12), key


@needs_cli
@pytest.mark.parametrize("options", [
    ["--resample-inputs", "bootstrap", "--clip-at-zero"],
    ["--bias-correction", "--bounds"],
])
def test_statistics_options_match_cli_json(options):
    """The bootstrap, clip, bias and bounds options give the CLI's keys and values."""
    cli = run_cli("mi", "--model", SZT_NET, "--inputs", SZT_INPUTS, "--labels", SZT_LABELS,
                  "--beta", 0.005, "--samples-per-input", 4, "--mc-queries", 2048, "--seed", 3,
                  "--layers", "1,3", "--backend", "cpu", "--json", *options)
    kw = {o.lstrip("-").replace("-", "_"): True for o in options if o.startswith("--") and o != "--resample-inputs"}
    if "--resample-inputs" in options:
        kw["resample_inputs"] = "bootstrap"
    r = infoflow.mutual_information(SZT_NET, np.load(SZT_INPUTS), np.load(SZT_LABELS), beta=0.005,
                                    samples_per_input=4, mc_queries=2048, seed=3, layers="1,3",
                                    backend="cpu", **kw)
    mine = r.to_dict()
    assert without_seconds(mine).keys() == without_seconds(cli).keys()
    for key in ("resample_inputs", "clip_at_zero", "bias_correction", "bounds", "seed"):
        assert mine[key] == cli[key], key
    assert mine["input_entropy_nats"] == pytest.approx(cli["input_entropy_nats"], rel=1e-12)
    assert [l.keys() for l in mine["layers"]] == [l.keys() for l in cli["layers"]]
    for a, b in zip(mine["layers"], cli["layers"]):
        for key, v in b.items():
            assert a[key] == pytest.approx(v, rel=1e-12, abs=1e-12), key
    if "bootstrap" in options:
        assert len(r.resampled_rows) == 4096 and r.input_entropy < math.log(4096) - 0.4
        assert all(l.I_XT >= 0 and l.I_YT >= 0 for l in r.layers)
    else:
        assert r.resampled_rows == [] and r.input_entropy == pytest.approx(math.log(4096))
        for l in r.layers:
            assert l.I_XT_lower <= l.I_XT <= l.I_XT_upper
            assert l.I_XT_bias == pytest.approx(l.I_XT - l.I_XT_debiased, abs=1e-12)


def test_sample_information_statistics_options():
    """sample_information takes bias_correction and bounds; the bootstrap is refused."""
    rng = np.random.default_rng(2)
    s = rng.normal(size=(8, 6, 2))
    r = infoflow.sample_information(s, 0.5, [0, 1] * 4, bias_correction=True, bounds=True, seed=1)
    assert r.I_XT_lower <= r.I_XT_upper and r.I_YT_lower <= r.I_YT_upper
    assert r.I_XT_debiased_stderr > 0 and r.numerical_error > 0
    plain = infoflow.sample_information(s, 0.5, seed=1)
    assert plain.I_XT_bias is None and plain.I_XT_lower is None
    assert plain.I_XT == r.I_XT  # the same draws: the options add terms, they change none
    with pytest.raises(ValueError, match="K >= 4"):
        infoflow.sample_information(s[:, :3], 0.5, bias_correction=True)
    with pytest.raises(ValueError, match="bootstrap"):
        infoflow.mutual_information(small_model(), np.zeros((4, 3)), beta=0.1, resample_inputs="jackknife")


def test_readme_example_runs():
    """The README's Python example, run as written (so it cannot go stale)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Python\n"):]
    code = section[section.index("```python\n") + 10:section.index("\n```", section.index("```python"))]
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout
    assert out.startswith("EntropyResult(entropy=14.8") and "layer width" in out


# ---- numerical oracles ---------------------------------------------------------------

@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("d", [1, 3, 10])
def test_log_density_matches_sklearn(backend, d):
    sklearn_neighbors = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(d)
    centers, queries, sigma = rng.normal(size=(400, d)), rng.normal(size=(150, d)), 0.6
    expected = sklearn_neighbors.KernelDensity(bandwidth=sigma).fit(centers).score_samples(queries)
    got = infoflow.log_density(queries, centers, sigma, backend=backend)
    assert got.dtype == np.float64 and got.shape == (150,)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    if d == 1:  # 1-D arrays mean d = 1
        np.testing.assert_allclose(infoflow.log_density(queries[:, 0], centers[:, 0], sigma,
                                                        backend=backend), expected, rtol=1e-5)


def test_log_density_weights_match_sklearn():
    sklearn_neighbors = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(5)
    centers, queries = rng.normal(size=(200, 2)), rng.normal(size=(50, 2))
    w = rng.uniform(size=200)
    expected = (sklearn_neighbors.KernelDensity(bandwidth=0.3)
                .fit(centers, sample_weight=w).score_samples(queries))
    got = infoflow.log_density(queries, centers, 0.3, weights=w / w.sum())
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("d,sigma", [(1, 0.5), (4, 2.0), (12, 0.01)])
def test_one_centre_entropy_is_gaussian_entropy(d, sigma):
    exact = 0.5 * d * math.log(2 * math.pi * math.e * sigma**2)
    assert infoflow.gaussian_entropy(d, sigma) == pytest.approx(exact, rel=1e-14)
    # Plain Monte Carlo: within 4 standard errors of the closed form.
    plain = infoflow.mixture_entropy(np.full((1, d), 3.0), sigma, samples_per_center=20000, seed=2,
                                     control_variate=False)
    assert (plain.n, plain.d, plain.samples) == (1, d, 20000)
    assert abs(plain.entropy - exact) < 4 * plain.stderr
    assert plain.kl_upper is None and plain.bhattacharyya_lower is None
    # With the control variate (default) one centre is exact up to the float32 kernel's
    # rounding: what remains is not Monte Carlo error, so the test is a tolerance.
    r = infoflow.mixture_entropy(np.full((1, d), 3.0), sigma, samples_per_center=20000, seed=2)
    assert abs(r.entropy - exact) < 1e-6 * max(1.0, abs(exact))
    assert r.stderr < 1e-3 * plain.stderr


def test_entropy_bounds_backends_and_threads_agree():
    c = np.random.default_rng(0).uniform(size=(500, 4))
    ref = infoflow.mixture_entropy(c, 0.2, samples_per_center=2, backend="reference", bounds=True)
    cpu = infoflow.mixture_entropy(c, 0.2, samples_per_center=2, backend="cpu", bounds=True)
    one = infoflow.mixture_entropy(c, 0.2, samples_per_center=2, backend="cpu", bounds=True,
                                   threads=1)
    assert ref.backend == "reference" and cpu.backend == "cpu"
    for a in ("entropy", "kl_upper", "bhattacharyya_lower"):
        assert getattr(cpu, a) == pytest.approx(getattr(ref, a), rel=1e-5)
        assert getattr(one, a) == pytest.approx(getattr(cpu, a), rel=1e-12)
    assert ref.bhattacharyya_lower <= ref.entropy <= ref.kl_upper
    text = repr(cpu)
    assert "entropy=" in text and "backend='cpu'" in text and "bounds=" in text


# ---- mutual information: arrays vs file ----------------------------------------------

@pytest.mark.parametrize("noisy_last_layer", [False, True])
def test_mutual_information_arrays_equal_safetensors(tmp_path, noisy_last_layer):
    model = small_model()
    write_safetensors(tmp_path / "net.safetensors", model)
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(64, 3)), rng.integers(0, 3, size=64)
    kw = dict(beta=0.1, samples_per_input=8, mc_queries=1024, seed=4,
              noisy_last_layer=noisy_last_layer, backend="cpu")
    from_arrays = infoflow.mutual_information(model, x, y, **kw)
    from_file = infoflow.mutual_information(tmp_path / "net.safetensors", x, y, **kw)
    from_net = infoflow.mutual_information(
        infoflow.load_network(str(tmp_path / "net.safetensors")), x, y, **kw)
    assert len(from_arrays.layers) == (2 if noisy_last_layer else 1)
    assert without_seconds(from_arrays.to_dict()) == without_seconds(from_file.to_dict())
    assert without_seconds(from_net.to_dict()) == without_seconds(from_file.to_dict())
    first = from_arrays.layers[0]
    assert (first.layer, first.width) == (1, 4)
    assert first.I_XT == pytest.approx(first.h_T - first.h_T_given_X)
    assert first.I_YT is not None and first.mc_queries == 1024
    assert from_arrays.n_inputs == 64 and from_arrays.samples_per_input == 8
    assert "layer width" in repr(from_arrays)


def test_mutual_information_without_labels_and_activation_override(tmp_path):
    model = small_model()
    x = np.random.default_rng(1).normal(size=(32, 3))
    r = infoflow.mutual_information([(w, b) for w, b, _ in model], x, beta=0.2,
                                    samples_per_input=4, activation="relu", seed=1)
    assert r.layers[0].I_YT is None and "I_YT_nats" not in r.to_dict()["layers"][0]
    relu_model = [(w, b, "relu") for w, b, _ in model]
    same = infoflow.mutual_information(relu_model, x, beta=0.2, samples_per_input=4, seed=1)
    assert without_seconds(same.to_dict()) == without_seconds(r.to_dict())
    net = infoflow.load_network(SZT_NET)
    assert net.layers[0] == (12, 10, "tanh")
    assert repr(net) == "Network(12-10-7-5-4-3-2, activations=tanh,tanh,tanh,tanh,tanh,linear)"


# ---- zero copy -----------------------------------------------------------------------

def test_float64_contiguous_is_not_copied():
    big = np.random.default_rng(0).normal(size=(1_000_000, 4))  # 32 MB
    centers = big[:16].copy()
    assert _infoflow._data_pointer(big) == big.ctypes.data
    tracemalloc.start()
    try:
        out = infoflow.log_density(big, centers, 1.0, tolerance=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (1_000_000,) and np.all(np.isfinite(out))
    assert peak < big.nbytes // 4, f"{peak} bytes traced: the array was copied"


def test_float32_and_strided_are_converted_once():
    rng = np.random.default_rng(1)
    c64 = rng.normal(size=(100, 3))
    c32 = c64.astype(np.float32)
    assert _infoflow._data_pointer(c32) != c32.ctypes.data  # a converted copy
    r32 = infoflow.mixture_entropy(c32, 0.5, seed=3)
    r64 = infoflow.mixture_entropy(c32.astype(np.float64), 0.5, seed=3)
    assert r32.entropy == r64.entropy
    wide = rng.normal(size=(100, 6))
    strided = wide[:, ::2]
    assert not strided.flags.c_contiguous
    q = rng.normal(size=(10, 3))
    np.testing.assert_array_equal(infoflow.log_density(q, strided, 0.5),
                                  infoflow.log_density(q, np.ascontiguousarray(strided), 0.5))
    assert infoflow.log_density([[0.0]], [[0.0], [1.0]], 1.0).shape == (1,)  # lists work too


@needs_torch
def test_torch_cpu_tensors():
    t = torch.randn(200, 3, dtype=torch.float64)
    assert _infoflow._data_pointer(t) == t.data_ptr()
    r = infoflow.mixture_entropy(t, 0.5, seed=1)
    assert r.entropy == infoflow.mixture_entropy(t.numpy(), 0.5, seed=1).entropy
    assert infoflow.log_density(t.float(), t, 0.5).shape == (200,)
    lin = torch.nn.Linear(3, 2)  # parameters require grad
    res = infoflow.mutual_information([(lin.weight, lin.bias, "tanh"), (torch.eye(2), torch.zeros(2), "linear")],
                                      t, beta=0.1, samples_per_input=2)
    assert len(res.layers) == 1


# ---- errors --------------------------------------------------------------------------

class FakeCudaTensor:
    """Stands in for a GPU array that is not a torch tensor (CuPy): DLPack device type 2 (kDLCUDA)."""
    device = "cuda:0"
    ndim, shape, dtype = 2, (4, 2), "float64"

    def __dlpack_device__(self):
        return (2, 0)

    def __dlpack__(self, stream=None):
        raise AssertionError("must not be read")


def test_wrong_shapes():
    with pytest.raises(ValueError, match=r"centers must be a 2-D array.*\(2, 3, 4\)"):
        infoflow.mixture_entropy(np.zeros((2, 3, 4)), 1.0)
    with pytest.raises(ValueError, match="queries have d = 3 but centers have d = 2"):
        infoflow.log_density(np.zeros((5, 3)), np.zeros((4, 2)), 1.0)
    with pytest.raises(ValueError, match="centers is empty"):
        infoflow.mixture_entropy(np.zeros((0, 2)), 1.0)
    with pytest.raises(ValueError, match="weights has 3 entries for 4"):
        infoflow.mixture_entropy(np.zeros((4, 2)), 1.0, weights=np.full(3, 1 / 3))
    with pytest.raises(ValueError, match="weights sum to"):
        infoflow.mixture_entropy(np.zeros((4, 2)), 1.0, weights=np.ones(4))
    x = np.zeros((8, 5))
    with pytest.raises(ValueError, match="inputs have 5 columns but the first layer expects 3"):
        infoflow.mutual_information(small_model(), x, beta=0.1)
    with pytest.raises(ValueError, match="labels have 2 entries for 8 inputs"):
        infoflow.mutual_information(small_model(), x[:, :3], [0, 1], beta=0.1)
    bad = small_model()
    bad[1] = (np.zeros((2, 5)), np.zeros(2), "linear")
    with pytest.raises(ValueError, match=r"model\[1\] weight takes 5 inputs but model\[0\] has 4"):
        infoflow.mutual_information(bad, x[:, :3], beta=0.1)
    with pytest.raises(ValueError, match="layer 2 is not a noisy layer"):
        infoflow.mutual_information(small_model(), x[:, :3], beta=0.1, layers=[2])


def test_bad_values():
    c = np.zeros((3, 2))
    c[1, 1] = np.nan
    with pytest.raises(ValueError, match="centers: non-finite value nan at row 1, column 1"):
        infoflow.mixture_entropy(c, 1.0)
    with pytest.raises(ValueError, match="queries: non-finite"):
        infoflow.log_density(c, np.zeros((3, 2)), 1.0)
    for sigma in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
            infoflow.mixture_entropy(np.zeros((3, 2)), sigma)
        with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
            infoflow.log_density(np.zeros((3, 2)), np.zeros((3, 2)), sigma)
    with pytest.raises(ValueError, match="beta must be a finite number > 0"):
        infoflow.mutual_information(small_model(), np.zeros((4, 3)), beta=0)
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        infoflow.mixture_entropy(np.zeros((3, 2)), 1.0, backend="gpu")
    with pytest.raises(ValueError, match="unknown activation 'softmax'"):
        infoflow.mutual_information([(np.eye(3), np.zeros(3), "softmax")] * 2, np.zeros((4, 3)), beta=1)
    with pytest.raises(ValueError, match="samples_per_center must be >= 1"):
        infoflow.mixture_entropy(np.zeros((3, 2)), 1.0, samples_per_center=0)
    with pytest.raises(ValueError, match=r"threads must be between 0 \(all cores\) and 1024, got 100000"):
        infoflow.mixture_entropy(np.zeros((3, 2)), 1.0, threads=100000)
    with pytest.raises(ValueError, match="at most one of"):
        infoflow.mutual_information(small_model(), np.zeros((4, 3)), beta=1, mc_queries=10,
                                    target_stderr=0.1)


def test_bad_types():
    with pytest.raises(TypeError, match=r"centers: GPU arrays other than torch tensors are not supported"):
        infoflow.mixture_entropy(FakeCudaTensor(), 1.0)
    with pytest.raises(TypeError, match="queries must hold real numbers"):
        infoflow.log_density(np.zeros((2, 2), dtype=complex), np.zeros((2, 2)), 1.0)
    with pytest.raises(TypeError, match="backend must be a string"):
        infoflow.mixture_entropy(np.zeros((3, 2)), 1.0, backend=None)
    with pytest.raises(TypeError, match="model must be a path"):
        infoflow.mutual_information(42, np.zeros((4, 3)), beta=1)


def test_bad_model_files(tmp_path):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(OSError, match="missing.safetensors: cannot open file"):
        infoflow.mutual_information(missing, np.zeros((4, 3)), beta=0.1)
    truncated = tmp_path / "truncated.safetensors"
    write_safetensors(truncated, small_model())
    truncated.write_bytes(truncated.read_bytes()[:-8])
    with pytest.raises(OSError, match="truncated.safetensors"):
        infoflow.load_network(truncated)


@pytest.mark.skipif(infoflow.cuda_available(), reason="a GPU answers")
def test_cuda_backend_without_gpu_is_runtime_error():
    with pytest.raises(RuntimeError, match="cuda backend requested but unavailable"):
        infoflow.mixture_entropy(np.zeros((3, 2)), 1.0, backend="cuda")
