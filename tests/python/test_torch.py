"""infoflow.sample_information and infoflow.torch: GaussianNoise, InformationTracker.

Oracles: separated and clustered representations (oracles 3 and 13, docs/method.md#test-oracles), agreement of the
tracker on a torch network with infoflow.mutual_information on the same weights, and the
bookkeeping a training script relies on (names, modes, reproducibility, errors).
"""
import csv
import math
import os
import pathlib
import subprocess
import tempfile

import numpy as np
import pytest

import infoflow

torch = pytest.importorskip("torch", reason="PyTorch not installed (scripts/install-deps.sh installs python3-torch)")
from torch import nn  # noqa: E402

from infoflow.torch import GaussianNoise, InformationTracker  # noqa: E402


def test_sample_information_separated_and_clustered():
    # 50 inputs at distinct points 1 apart, beta 0.01: I(X;T) = ln 50 (oracle 3, docs/method.md#test-oracles).
    m, k = 50, 4
    pts = np.stack([np.arange(m, dtype=float), np.zeros(m)], axis=1)
    s = np.repeat(pts[:, None, :], k, axis=1)  # (m, K, d): every pass the same S
    r = infoflow.sample_information(s, 0.01, seed=1)
    assert r.width == 2
    assert abs(r.I_XT - math.log(m)) < 4 * r.I_XT_stderr + 1e-3
    # Two tight clusters of 30 and 20 inputs: I -> H(cluster) (oracle 13, docs/method.md#test-oracles); with labels
    # equal to the cluster, I(Y;T) is the same value.
    pts = np.zeros((m, 2))
    pts[30:, 0] = 1.0
    pts += 1e-5 * np.random.default_rng(0).standard_normal(pts.shape)
    y = (np.arange(m) >= 30).astype(np.int64)
    r = infoflow.sample_information(np.repeat(pts[:, None, :], k, axis=1), 0.01, y, seed=1)
    h = -(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
    assert abs(r.I_XT - h) < 4 * r.I_XT_stderr + 1e-3
    assert abs(r.I_YT - h) < 4 * r.I_YT_stderr + 1e-3


def test_sample_information_shapes_and_errors():
    s = np.random.default_rng(1).standard_normal((6, 3, 2, 2))  # trailing dims flattened
    r = infoflow.sample_information(s, 0.5)
    assert r.width == 4
    flat = infoflow.sample_information(s.reshape(18, 4), 0.5, samples_per_input=3)
    assert flat.I_XT == r.I_XT  # same rows, same seed: the same numbers
    with pytest.raises(ValueError, match="samples_per_input=K"):
        infoflow.sample_information(s.reshape(18, 4), 0.5)
    with pytest.raises(ValueError, match="not a multiple of 4"):
        infoflow.sample_information(s.reshape(18, 4), 0.5, samples_per_input=4)
    with pytest.raises(ValueError, match="labels"):
        infoflow.sample_information(s, 0.5, np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="beta"):
        infoflow.sample_information(s, 0.0)
    bad = s.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        infoflow.sample_information(bad, 0.5)


def test_gaussian_noise_module():
    g = GaussianNoise(0.3)
    x = torch.zeros(200000)
    torch.manual_seed(0)
    y = g.train()(x)
    assert abs(float(y.mean())) < 5 * 0.3 / math.sqrt(x.numel())
    assert abs(float(y.std()) / 0.3 - 1) < 0.01
    assert torch.equal(g.eval()(x), x)  # eval: noise-free, as the authors evaluate accuracy
    assert "beta=0.3" in repr(g)
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="beta"):
            GaussianNoise(bad)


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 6), nn.Tanh(), GaussianNoise(0.1),
                         nn.Linear(6, 4), nn.Tanh(), GaussianNoise(0.1),
                         nn.Linear(4, 2)).double()


def _inputs(m=64, seed=2):
    g = np.random.default_rng(seed)
    x = g.standard_normal((m, 3))
    return torch.from_numpy(x), torch.from_numpy((x[:, 0] > 0).astype(np.int64))


def test_tracker_agrees_with_mutual_information_on_the_same_weights():
    net = _net()
    x, y = _inputs()
    tracker = InformationTracker(net, samples_per_input=40, mc_queries=1 << 15, seed=3)
    got = tracker.measure(x, y)
    assert list(got) == ["2", "5"]  # GaussianNoise modules by their path in the Sequential
    linears = [m for m in net if isinstance(m, nn.Linear)]
    model = [(l.weight, l.bias, a) for l, a in zip(linears, ["tanh", "tanh", "linear"])]
    ref = infoflow.mutual_information(model, x.numpy(), y.numpy(), beta=0.1, samples_per_input=40,
                                      mc_queries=1 << 15, seed=3)
    # A Sequential of Linear / Tanh / GaussianNoise is run by the library itself
    # (measure_checkpoint): the same passes, noise and estimates as mutual_information.
    for (name, a), b in zip(got.items(), ref.layers):
        assert a.width == b.width
        assert a.I_XT == b.I_XT and a.I_XT_stderr == b.I_XT_stderr, name
        assert a.I_YT == b.I_YT, name
    # The same model run by PyTorch (an activation the library does not run makes the
    # tracker use forward hooks): other noise draws, and on layer 1 MC instead of the exact
    # h(T|X), so equal in distribution only: within 4 combined standard errors.
    hooked = _net()
    hooked[1] = _TanhByHand()
    via_hooks = InformationTracker(hooked, samples_per_input=40, mc_queries=1 << 15, seed=3).measure(x, y)
    for (name, a), b in zip(via_hooks.items(), ref.layers):
        assert a.width == b.width
        assert abs(a.I_XT - b.I_XT) < 4 * math.hypot(a.I_XT_stderr, b.I_XT_stderr), name
        assert abs(a.I_YT - b.I_YT) < 4 * math.hypot(a.I_YT_stderr, b.I_YT_stderr), name


def test_tracker_passes_the_estimator_options():
    """bootstrap, clipping, bias correction and bounds: the tracker's numbers are
    mutual_information's with the same options; a hooked model refuses the resample."""
    net = _net()
    x, y = _inputs()
    opts = dict(resample_inputs="bootstrap", clip_at_zero=True, bias_correction=True, bounds=True)
    got = InformationTracker(net, samples_per_input=8, mc_queries=2048, seed=4, **opts).measure(x, y)
    linears = [m for m in net if isinstance(m, nn.Linear)]
    model = [(l.weight, l.bias, a) for l, a in zip(linears, ["tanh", "tanh", "linear"])]
    ref = infoflow.mutual_information(model, x.numpy(), y.numpy(), beta=0.1, samples_per_input=8,
                                      mc_queries=2048, seed=4, **opts)
    assert ref.input_entropy < math.log(64) - 0.1  # the draw repeats inputs
    for a, b in zip(got.values(), ref.layers):
        for f in ("I_XT", "I_YT", "I_XT_bias", "I_XT_debiased", "I_YT_debiased", "I_XT_lower", "I_XT_upper",
                  "I_YT_lower", "I_YT_upper", "numerical_error"):
            assert getattr(a, f) == getattr(b, f), f
            assert getattr(a, f) is not None and math.isfinite(getattr(a, f)), f
        assert a.I_XT >= 0 and a.I_YT >= 0
    hooked = _net()
    hooked[1] = _TanhByHand()
    with pytest.raises(ValueError, match="bootstrap"):
        InformationTracker(hooked, resample_inputs="bootstrap")
    r = InformationTracker(hooked, samples_per_input=8, seed=4, bias_correction=True, bounds=True).measure(x, y)
    for layer in r.values():
        assert layer.I_XT_lower <= layer.I_XT + 4 * layer.I_XT_stderr
        assert layer.I_XT_upper >= layer.I_XT - 4 * layer.I_XT_stderr
        assert layer.I_XT_debiased == pytest.approx(layer.I_XT - layer.I_XT_bias, abs=1e-12)


class _TanhByHand(nn.Module):
    """tanh, but not nn.Tanh: a module the tracker cannot hand to the library."""

    def forward(self, s):
        return torch.tanh(s)


def _read_safetensors(path):
    """{name: float64 array} of an F64 safetensors file (8-byte header size, JSON, data)."""
    import json
    import struct
    raw = pathlib.Path(path).read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F64", t
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f8").reshape(t["shape"]).copy()
    return out


def test_tracker_gives_the_numbers_of_infoflow_train():
    """train's metrics.csv row = measure_checkpoint = InformationTracker on the same weights."""
    cli = pathlib.Path(os.environ.get("INFOFLOW_CLI", pathlib.Path(__file__).parents[2] / "build" / "infoflow"))
    if not cli.exists():
        pytest.skip(f"no infoflow binary at {cli} (set INFOFLOW_CLI)")
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "run"
        subprocess.run([str(cli), "train", "--preset", "szt", "--epochs", "20", "--track", "log:1",
                        "--samples-per-input", "8", "--mc-queries", "1024", "--backend", "cpu", "--seed", "5",
                        "--out", str(out)], check=True, capture_output=True)
        with open(out / "metrics.csv") as f:
            rows = list(csv.DictReader(f))
        w = _read_safetensors(out / "checkpoints" / "epoch_00020.safetensors")
        x = np.load(out / "inputs.npy")
        y = np.load(out / "labels.npy").reshape(-1).astype(np.int64)
    widths = [12, 10, 7, 5, 4, 3, 2]
    mods = []
    for i in range(6):
        lin = nn.Linear(widths[i], widths[i + 1]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w[f"layers.{i}.weight"]))
            lin.bias.copy_(torch.from_numpy(w[f"layers.{i}.bias"]))
        mods.append(lin)
        if i < 5:
            mods += [nn.Tanh(), GaussianNoise(0.005)]
    model = nn.Sequential(*mods)
    got = InformationTracker(model, samples_per_input=8, mc_queries=1024, seed=5, backend="cpu").measure(
        torch.from_numpy(x), y)
    plane = infoflow.measure_checkpoint(model_layers(model), x, y, beta=0.005, samples_per_input=8,
                                        mc_queries=1024, seed=5, backend="cpu")
    assert len(rows) == len(got) == len(plane.layers) == 5
    for row, (name, a), b in zip(rows, got.items(), plane.layers):
        assert a == b, name  # the tracker is measure_checkpoint
        for column, value in [("I_XT_nats", a.I_XT), ("I_XT_stderr_nats", a.I_XT_stderr), ("I_YT_nats", a.I_YT),
                              ("h_T_nats", a.h_T), ("h_T_given_X_nats", a.h_T_given_X), ("H_bin_nats", a.H_bin),
                              ("I_XT_bin_nats", a.I_XT_bin), ("I_YT_bin_nats", a.I_YT_bin),
                              ("H_cluster_nats", a.H_cluster), ("clusters", a.clusters),
                              ("class_distance_ratio", a.class_distance_ratio)]:
            # metrics.csv holds 9 significant digits
            assert float(row[column]) == pytest.approx(value, rel=1e-8, abs=1e-12), (name, column)


def model_layers(model):
    linears = [m for m in model if isinstance(m, nn.Linear)]
    return [(l.weight.detach(), l.bias.detach(), "tanh" if i + 1 < len(linears) else "linear")
            for i, l in enumerate(linears)]


def test_tracker_baselines_by_hooks_match_numpy():
    """A model the library cannot run: the baselines of its hooked noise-free S, against numpy."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), _TanhByHand(), GaussianNoise(0.05), nn.Linear(4, 2)).double()
    x, y = _inputs(200)
    r = InformationTracker(model, samples_per_input=3, seed=2, num_bins=7, cluster_radius=3.0).measure(x, y)["2"]
    with torch.no_grad():
        s = torch.tanh(model[0](x)).numpy()
    def entropy_of_rows(cells):
        _, counts = np.unique(cells, axis=0, return_counts=True)
        p = counts / counts.sum()
        return float(-(p * np.log(p)).sum())
    # H(Bin(S)): grid of width 10 beta, edges at multiples of it.
    assert r.H_bin == pytest.approx(entropy_of_rows(np.floor(s / 0.5)), abs=1e-12)
    # 7 bins over the observed range, the maximum in the last bin.
    lo, hi = s.min(), s.max()
    cells = np.minimum(np.floor((s - lo) / (hi - lo) * 7), 6)
    h = entropy_of_rows(cells)
    assert r.I_XT_bin == pytest.approx(h, abs=1e-12)
    yn = y.numpy()
    h_given_y = sum((yn == c).mean() * entropy_of_rows(cells[yn == c]) for c in np.unique(yn))
    assert r.I_YT_bin == pytest.approx(h - h_given_y, abs=1e-12)
    # Class distance ratio over all pairs.
    d = np.sqrt(((s[:, None, :] - s[None, :, :]) ** 2).sum(-1))
    iu = np.triu_indices(len(s), 1)
    same = (yn[:, None] == yn[None, :])[iu]
    ratio = d[iu][same].mean() / d[iu][~same].mean()
    assert r.class_distance_ratio == pytest.approx(ratio, rel=1e-12)
    # Single-linkage clusters at 3 beta = 0.15 (scipy's, when it is here).
    hierarchy = pytest.importorskip("scipy.cluster.hierarchy")
    labels = hierarchy.fcluster(hierarchy.linkage(s, "single"), t=0.15 - 1e-12, criterion="distance")
    assert 1 < r.clusters < len(s)  # a case where the clustering has something to decide
    assert r.clusters == len(np.unique(labels))
    assert r.H_cluster == pytest.approx(entropy_of_rows(labels[:, None]), abs=1e-12)


def test_tracker_is_reproducible_restores_the_model_and_needs_no_grad():
    net = _net()
    x, y = _inputs(32)
    net.train()
    before = [p.clone() for p in net.parameters()]
    a = InformationTracker(net, samples_per_input=5, seed=7).measure(x, y, step=1)
    assert net.training  # mode restored
    assert all(m.sampling is False for m in net.modules() if isinstance(m, GaussianNoise))
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))
    b = InformationTracker(net, samples_per_input=5, seed=7).measure(x, y)
    assert [r.I_XT for r in a.values()] == [r.I_XT for r in b.values()]
    c = InformationTracker(net, samples_per_input=5, seed=8).measure(x, y)
    assert [r.I_XT for r in a.values()] != [r.I_XT for r in c.values()]
    t = InformationTracker(net, samples_per_input=5)
    t.measure(x, step=10)
    assert t.history[0][0] == 10 and t.history[0][1]["2"].I_YT is None


def test_tracker_on_named_non_noise_layers_and_errors():
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    x = torch.randn(20, 1, 6, 6)
    r = InformationTracker(cnn, ["1"], beta=0.5, samples_per_input=3).measure(x)
    assert r["1"].width == 32  # flattened conv feature map
    # No noise anywhere: every pass is the same, I(X;T) = h(T) - h(one Gaussian) >= 0.
    assert r["1"].I_XT > -4 * r["1"].I_XT_stderr
    with pytest.raises(ValueError, match="no GaussianNoise"):
        InformationTracker(cnn)
    with pytest.raises(ValueError, match="give beta="):
        InformationTracker(cnn, ["1"])
    with pytest.raises(ValueError, match="no module named 'nope'"):
        InformationTracker(cnn, ["nope"], beta=0.1)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        InformationTracker(object())
    with pytest.raises(ValueError, match="labels has 3 entries for 20 inputs"):
        InformationTracker(cnn, ["1"], beta=0.5).measure(x, [0, 1, 2])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device for torch")
def test_cuda_tensors_are_measured():
    net = _net().cuda()
    x, y = _inputs()
    r = InformationTracker(net, samples_per_input=5).measure(x.cuda(), y)
    assert all(math.isfinite(v.I_XT) for v in r.values())


@pytest.mark.skipif(not (torch.cuda.is_available() and infoflow.cuda_available()),
                    reason="no CUDA device for torch and infoflow")
def test_log_density_reads_cuda_tensors_in_place():
    rng = np.random.default_rng(3)
    q = rng.standard_normal((500, 6))
    c = rng.standard_normal((900, 6)) + 2.0
    expected = infoflow.log_density(q, c, 0.4, backend="cpu", tolerance=0)
    for dtype in (torch.float64, torch.float32):
        qt = torch.tensor(q, dtype=dtype, device="cuda")
        ct = torch.tensor(c, dtype=dtype, device="cuda", requires_grad=True)
        ref = expected if dtype == torch.float64 else infoflow.log_density(
            qt.cpu().double().numpy(), ct.detach().cpu().double().numpy(), 0.4, backend="cpu", tolerance=0)
        got = infoflow.log_density(qt, ct, 0.4)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # Rows with a gap between them (a column slice) are read as they lie; strided columns
    # (a transpose) are made contiguous on the device first.
    wide = torch.tensor(np.hstack([q, q]), device="cuda")[:, :6]
    assert wide.stride() == (12, 1)
    np.testing.assert_allclose(infoflow.log_density(wide, torch.tensor(c, device="cuda"), 0.4), expected,
                               rtol=1e-5, atol=1e-5)
    qt_t = torch.tensor(q.T.copy(), device="cuda").t()
    np.testing.assert_allclose(infoflow.log_density(qt_t, torch.tensor(c, device="cuda"), 0.4), expected,
                               rtol=1e-5, atol=1e-5)
    bad = torch.tensor(c, device="cuda")
    bad[17, 2] = float("nan")
    with pytest.raises(ValueError, match="centers row 17"):
        infoflow.log_density(torch.tensor(q, device="cuda"), bad, 0.4)


@pytest.mark.skipif(not (torch.cuda.is_available() and infoflow.cuda_available()),
                    reason="no CUDA device for torch and infoflow")
def test_mixture_entropy_draws_on_the_device():
    # A CUDA tensor's centres are read in place and the draws made on the GPU, from the
    # same Philox rows as the host: the same estimate as the cuda backend on a host copy.
    rng = np.random.default_rng(4)
    c = rng.standard_normal((800, 4)) * 0.5 + 1.0
    w = rng.uniform(1, 2, 800)
    w /= w.sum()
    for dtype in (torch.float64, torch.float32):
        ct = torch.tensor(c, dtype=dtype, device="cuda")
        host = ct.cpu().double().numpy()
        ref = infoflow.mixture_entropy(host, 0.3, samples_per_center=3, seed=2, backend="cuda",
                                       bounds=True, weights=w, tolerance=0)
        got = infoflow.mixture_entropy(ct, 0.3, samples_per_center=3, seed=2, bounds=True, weights=w)
        assert got.backend == "cuda" and got.samples == 2400 and got.tolerance == 0
        assert got.entropy == pytest.approx(ref.entropy, rel=1e-6, abs=1e-6)
        assert got.stderr == pytest.approx(ref.stderr, rel=1e-3)
        assert got.kl_upper == pytest.approx(ref.kl_upper, rel=1e-5, abs=1e-5)
        assert got.bhattacharyya_lower == pytest.approx(ref.bhattacharyya_lower, rel=1e-5, abs=1e-5)
    bad = torch.tensor(c, device="cuda")
    bad[5, 1] = float("nan")
    with pytest.raises(ValueError, match="centers row 5"):
        infoflow.mixture_entropy(bad, 0.3)


def test_device_matrix_preparation():
    # What log_density does to CUDA tensors before reading them in place, checked on CPU
    # tensors (the same torch calls): dtypes, column strides, grad, bad shapes.
    from infoflow import _arrays
    x = torch.arange(12, dtype=torch.int32).reshape(3, 4)
    y = _arrays.as_device_matrix("x", x)
    assert y.dtype == torch.float32 and torch.equal(y, x.float())
    t = torch.randn(4, 3, dtype=torch.float64).t()
    assert t.stride(1) != 1
    z = _arrays.as_device_matrix("t", t)
    assert z.dtype == torch.float64 and z.stride(1) == 1 and torch.equal(z, t)
    g = _arrays.as_device_matrix("g", torch.ones(2, 2, requires_grad=True))
    assert not g.requires_grad
    sliced = torch.randn(5, 8)[:, :3]
    assert _arrays.as_device_matrix("s", sliced).stride() == (8, 1)  # read as it lies
    with pytest.raises(ValueError, match="2-D"):
        _arrays.as_device_matrix("x", torch.zeros(2, 2, 2))
    with pytest.raises(TypeError, match="real"):
        _arrays.as_device_matrix("x", torch.zeros(2, 2, dtype=torch.complex64))
