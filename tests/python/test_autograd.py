"""infoflow.torch.log_density, mixture_entropy and entropy_bounds: gradients.

The truth is float64 PyTorch autograd of the dense n x m formula written with explicit
differences (torch.cdist's squared distances are not accurate enough to test against), and
for the Monte Carlo entropy's gradient in expectation, finite differences of the exact 1-D
entropy by quadrature.
"""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed (scripts/install-deps.sh installs python3-torch)")

import infoflow  # noqa: E402
from infoflow import _infoflow  # noqa: E402
from infoflow.torch import log_density  # noqa: E402


def dense_log_density(q, c, sigma, w=None):
    """log sum_j w_j N(q_i; c_j, sigma^2 I), dense, float64 autograd.

    The weights multiply exp(.) instead of adding log w_j, so the gradient with respect to a
    zero weight is finite, as the library's is. The shift M is a constant for autograd.
    """
    q2 = q.reshape(q.shape[0], -1)
    c2 = c.reshape(c.shape[0], -1)
    d = q2.shape[1]
    if w is None:
        w = torch.full((c2.shape[0],), 1.0 / c2.shape[0], dtype=torch.float64)
    diff = q2[:, None, :] - c2[None, :, :]
    e = -(diff * diff).sum(-1) / (2 * sigma * sigma)
    shift = e.max(dim=1, keepdim=True).values.detach()
    return (torch.log((w * torch.exp(e - shift)).sum(1)) + shift[:, 0]
            - 0.5 * d * torch.log(2 * math.pi * torch.as_tensor(sigma, dtype=torch.float64) ** 2))


def rel_err(got, want):
    """Largest error relative to the largest entry of the truth (absolute when that is 0:
    separated centres at small sigma have exactly zero gradient)."""
    scale = float(want.abs().max())
    return float((got - want).abs().max()) / (scale if scale > 0 else 1.0)


def problem(m, n, d, seed):
    g = torch.Generator().manual_seed(seed)
    c = torch.randn(n, d, dtype=torch.float64, generator=g)
    # Half the queries near centres, half anywhere: both the one-dominant-term and the
    # many-terms regimes of the softmax weights.
    near = c[torch.randint(0, n, (m // 2,), generator=g)] + 0.1 * torch.randn(m // 2, d, dtype=torch.float64, generator=g)
    far = 1.5 * torch.randn(m - m // 2, d, dtype=torch.float64, generator=g)
    q = torch.cat([near, far])
    w = torch.rand(n, dtype=torch.float64, generator=g) + 0.1
    w = w / w.sum()
    up = torch.randn(m, dtype=torch.float64, generator=g)  # upstream gradient: not all ones
    return q, c, w, up


def underflow_fraction(q, c, sigma, w):
    """Share of pairs whose term is below float64's smallest number relative to its sum."""
    diff = q[:, None, :] - c[None, :, :]
    e = torch.log(w) - (diff * diff).sum(-1) / (2 * sigma ** 2)
    return float((e - torch.logsumexp(e, 1, keepdim=True) < -745).double().mean())


# sigma in units of the typical distance between points, sqrt(2 d): 0.003 leaves most
# terms below float64's range (the underflow regime), 3 makes every term matter.
@pytest.mark.parametrize("d", [1, 3, 64])
@pytest.mark.parametrize("scale", [0.003, 0.05, 0.5, 3.0])
def test_gradients_match_dense_float64_autograd(d, scale):
    m, n = 150, 200
    q, c, w, up = problem(m, n, d, seed=d)
    sigma = scale * math.sqrt(2 * d)
    if scale == 0.003:
        assert underflow_fraction(q, c, sigma, w) > 0.5
    args = [x.clone().requires_grad_() for x in (q, c, w, torch.tensor(sigma, dtype=torch.float64))]
    got = log_density(args[0], args[1], args[3], args[2])
    got_grads = torch.autograd.grad((up * got).sum(), args)
    ref_args = [x.clone().requires_grad_() for x in (q, c, w, torch.tensor(sigma, dtype=torch.float64))]
    want = dense_log_density(ref_args[0], ref_args[1], ref_args[3], ref_args[2])
    want_grads = torch.autograd.grad((up * want).sum(), ref_args)
    # The forward is the float32 cpu backend: its contract, 1e-5 (1 + |value|), holds at
    # sigma comparable to the data (docs/method.md#sigma-units-and-float32-accuracy); in
    # the underflow regime queries lie hundreds of sigma out and it was measured at 1.4e-5.
    fwd_tol = 1e-4 if scale == 0.003 else 1e-5
    assert float(((got - want).abs() / (1 + want.abs())).max()) < fwd_tol
    for name, a, b in zip(["queries", "centers", "weights", "sigma"], got_grads, want_grads):
        assert a.shape == b.shape and a.dtype == torch.float64
        # Asked for: 1e-5. The backward is float64 and renormalises the float32 forward's
        # softmax weights, so it is held to far less (largest measured: 8e-12).
        assert rel_err(a, b) < 1e-9, (name, rel_err(a, b))
        # Elementwise too, for entries not much smaller than the largest.
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12 * float(b.abs().max()))


def test_gradcheck_float64_tiny():
    # The float64 reference forward, so that gradcheck's finite differences are not lost in
    # the float32 forward's rounding. Weights through a softmax: a finite-difference step
    # on a raw weight would leave the simplex, which the library refuses.
    g = torch.Generator().manual_seed(5)
    for d, sigma in [(1, 0.4), (3, 0.8), (2, 0.15)]:
        q = torch.randn(4, d, dtype=torch.float64, generator=g, requires_grad=True)
        c = torch.randn(5, d, dtype=torch.float64, generator=g, requires_grad=True)
        theta = torch.randn(5, dtype=torch.float64, generator=g, requires_grad=True)
        s = torch.tensor(sigma, dtype=torch.float64, requires_grad=True)

        def f(q, c, theta, s):
            return log_density(q, c, s, torch.softmax(theta, 0), backend="reference")

        assert torch.autograd.gradcheck(f, (q, c, theta, s), eps=1e-6, atol=1e-7, rtol=1e-6)


def test_zero_weight_has_a_finite_gradient():
    q, c, w, up = problem(40, 30, 2, seed=11)
    w[[3, 17]] = 0
    w = w / w.sum()
    wt = w.clone().requires_grad_()
    (gw,) = torch.autograd.grad((up * log_density(q, c, 0.3, wt)).sum(), [wt])
    wr = w.clone().requires_grad_()
    (want,) = torch.autograd.grad((up * dense_log_density(q, c, 0.3, wr)).sum(), [wr])
    assert torch.isfinite(gw).all() and gw[3] != 0 and gw[17] != 0
    assert rel_err(gw, want) < 1e-10  # both float64; the library's only rounding differs


def test_uniform_weights_float_sigma_and_partial_requests():
    q, c, _, up = problem(30, 25, 3, seed=2)
    qt = q.clone().requires_grad_()
    ct = c.clone()  # no grad: the per-centre pass is skipped
    (gq,) = torch.autograd.grad((up * log_density(qt, ct, 0.5)).sum(), [qt])
    qr = q.clone().requires_grad_()
    (want,) = torch.autograd.grad((up * dense_log_density(qr, c, 0.5)).sum(), [qr])
    assert rel_err(gq, want) < 1e-10


def test_one_dimensional_float32_inputs_keep_shape_and_dtype():
    g = torch.Generator().manual_seed(3)
    q = torch.randn(20, generator=g).requires_grad_()
    c = torch.randn(15, generator=g).requires_grad_()
    out = log_density(q, c, 0.7)
    assert out.shape == (20,) and out.dtype == torch.float32
    out.sum().backward()
    assert q.grad.shape == (20,) and q.grad.dtype == torch.float32
    assert c.grad.shape == (15,) and c.grad.dtype == torch.float32
    qr, cr = q.detach().double().requires_grad_(), c.detach().double().requires_grad_()
    dense_log_density(qr, cr, 0.7).sum().backward()
    assert rel_err(q.grad.double(), qr.grad) < 1e-6
    assert rel_err(c.grad.double(), cr.grad) < 1e-6
    # The sum of the queries' and centres' gradients is 0 (shifting everything leaves the
    # log-density unchanged): a check that needs no reference.
    assert abs(float(q.grad.sum() + c.grad.sum())) < 1e-4 * float(q.grad.abs().sum())


def test_gradient_does_not_depend_on_thread_count():
    q, c, w, up = problem(100, 120, 4, seed=9)
    ld = infoflow.log_density(q.numpy(), c.numpy(), 0.4, weights=w.numpy(), tolerance=0)
    runs = [_infoflow.log_density_backward(q.numpy(), c.numpy(), 0.4, w.numpy(), ld, up.numpy(),
                                           True, True, True, t, "cpu") for t in (3, 2, 1)]
    for r in runs[1:]:
        for a, b in zip(runs[0][:3], r[:3]):
            np.testing.assert_array_equal(a, b)
        assert runs[0][3] == r[3]


def test_zero_threads_means_every_core_after_importing_torch():
    # Importing PyTorch shrinks OpenMP's default team (to 1 with Debian's 1.13 on 2 cores),
    # which the library's threads = 0 would inherit; infoflow.torch asks for every core.
    import os
    from infoflow.torch import _threads
    assert _threads(0) == len(os.sched_getaffinity(0))
    assert _threads(3) == 3


def test_a_pruned_forward_gives_the_same_gradient():
    # The backward renormalises each query's weights in float64, so a forward that is low by
    # up to log(1 + tolerance) (pruning) gives the exact gradient all the same.
    q, c, w, up = problem(80, 100, 2, seed=4)
    args = (q.numpy(), c.numpy(), 0.05)
    exact = infoflow.log_density(*args, weights=w.numpy(), tolerance=0)
    pruned = infoflow.log_density(*args, weights=w.numpy(), tolerance=1e-3)
    a = _infoflow.log_density_backward(*args, w.numpy(), exact, up.numpy(), True, True, True, 0)
    b = _infoflow.log_density_backward(*args, w.numpy(), pruned, up.numpy(), True, True, True, 0)
    for x, y in zip(a[:3], b[:3]):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12 * np.abs(y).max())


def test_errors():
    q, c, w, up = problem(10, 12, 2, seed=1)
    ld = infoflow.log_density(q.numpy(), c.numpy(), 0.5, tolerance=0)
    wrong = ld.copy()
    wrong[4] += 200  # not the forward of these inputs: the shifted sums would underflow
    with pytest.raises(ValueError, match=r"log_density\[4\]"):
        _infoflow.log_density_backward(q.numpy(), c.numpy(), 0.5, None, wrong, up.numpy(), True, False, False, 0)
    with pytest.raises(ValueError, match="grad has 9 entries"):
        _infoflow.log_density_backward(q.numpy(), c.numpy(), 0.5, None, ld, up.numpy()[:9], True, False, False, 0)
    qt = q.clone().requires_grad_()
    out = log_density(qt, c, 0.5)
    (gq,) = torch.autograd.grad(out.sum(), [qt], create_graph=True)
    with pytest.raises(RuntimeError):
        gq.sum().backward()  # double backward is not supported: it raises, never returns zeros
    with pytest.raises(ValueError, match="sigma must be one number"):
        log_density(q, c, torch.ones(2))
    with pytest.raises(ValueError, match="sum to"):
        log_density(q, c, 0.5, torch.full((12,), 0.1, dtype=torch.float64))


def dense_bounds(c, sigma, w):
    """The pairwise bounds by the dense formula (docs/method.md#pairwise-bounds)."""
    c2 = c.reshape(c.shape[0], -1)
    d = c2.shape[1]
    diff = c2[:, None, :] - c2[None, :, :]
    d2 = (diff * diff).sum(-1)
    h = 0.5 * d * torch.log(2 * math.pi * math.e * sigma * sigma)
    return [h - (w * torch.logsumexp(torch.log(w) - d2 * a, 1)).sum()
            for a in (1 / (8 * sigma * sigma), 1 / (2 * sigma * sigma))]


def test_entropy_bounds_values():
    # +-1 with sigma = 1: I = h - h(noise) lies in [0.21907, 0.56622] (oracle 4,
    # docs/method.md#test-oracles).
    from infoflow.torch import entropy_bounds
    b = entropy_bounds(torch.tensor([-1.0, 1.0], dtype=torch.float64), 1.0)
    h1 = infoflow.gaussian_entropy(1, 1.0)
    assert float(b.lower) - h1 == pytest.approx(0.21907, abs=1e-5)
    assert float(b.upper) - h1 == pytest.approx(0.56622, abs=1e-5)
    # The same numbers as mixture_entropy's bounds, with weights.
    q, c, w, _ = problem(10, 120, 3, seed=8)
    r = infoflow.mixture_entropy(c.numpy(), 0.4, weights=w.numpy(), bounds=True, tolerance=0)
    b = entropy_bounds(c, 0.4, w)
    assert float(b.lower) == pytest.approx(r.bhattacharyya_lower, rel=1e-6)
    assert float(b.upper) == pytest.approx(r.kl_upper, rel=1e-6)


@pytest.mark.parametrize("d", [1, 3, 64])
@pytest.mark.parametrize("scale", [0.003, 0.1, 1.0])
def test_entropy_bounds_gradients_match_dense_autograd(d, scale):
    from infoflow.torch import entropy_bounds
    _, c, w, _ = problem(2, 150, d, seed=20 + d)
    sigma = scale * math.sqrt(2 * d)
    args = [x.clone().requires_grad_() for x in (c, w, torch.tensor(sigma, dtype=torch.float64))]
    ref = [x.clone().requires_grad_() for x in (c, w, torch.tensor(sigma, dtype=torch.float64))]
    got = entropy_bounds(args[0], args[2], args[1])
    want = dense_bounds(ref[0], ref[2], ref[1])
    for which, a, b in zip(["lower", "upper"], got, want):
        assert float(a) == pytest.approx(float(b), rel=1e-5)
        ga = torch.autograd.grad(a, args, retain_graph=True)
        gb = torch.autograd.grad(b, ref, retain_graph=True)
        for name, x, y in zip(["centers", "weights", "sigma"], ga, gb):
            # The weights' gradient holds -log sum_j w_j exp(...) itself, the float32
            # forward's value (1e-5 (1 + |value|)); the others only the renormalised weights.
            tol = 1e-5 if name == "weights" else 1e-9
            assert rel_err(x, y) < tol, (which, name, rel_err(x, y))


def test_entropy_bounds_gradcheck():
    from infoflow.torch import entropy_bounds
    g = torch.Generator().manual_seed(6)
    c = torch.randn(5, 2, dtype=torch.float64, generator=g, requires_grad=True)
    theta = torch.randn(5, dtype=torch.float64, generator=g, requires_grad=True)
    s = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)

    def f(c, theta, s):
        return tuple(entropy_bounds(c, s, torch.softmax(theta, 0), backend="reference"))

    assert torch.autograd.gradcheck(f, (c, theta, s), eps=1e-6, atol=1e-7, rtol=1e-6)


def test_argument_checks():
    q, c, _, _ = problem(6, 5, 2, seed=3)
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        log_density(q, c, 0.0)
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        log_density(q, c, torch.tensor(-1.0))
    with pytest.raises(ValueError, match="threads"):
        log_density(q, c, 0.5, threads=5000)
    with pytest.raises(TypeError, match="backend"):
        log_density(q, c, 0.5, backend=3)
    from infoflow.torch import entropy_bounds
    with pytest.raises(ValueError, match="sigma must be one number"):
        entropy_bounds(c, torch.ones(3))
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        entropy_bounds(c, float("nan"))


# ---- mixture_entropy ----------------------------------------------------------------------

def dense_mixture_entropy(c, sigma, k, seed, w=None):
    """The estimate infoflow.torch.mixture_entropy makes (no control variate), written densely
    in float64 with the library's draws: y = c_i + sigma z, h = -sum_i w_i mean_k log g(y_ik)."""
    n, d = c.shape
    z = torch.from_numpy(_infoflow.monte_carlo_normals(seed, 0, n * k, d))
    y = c.repeat_interleave(k, dim=0) + sigma * z
    ld = dense_log_density(y, c, sigma, w)
    if w is None:
        return -ld.mean()
    return -(w.repeat_interleave(k) * ld).sum() / k


@pytest.mark.parametrize("cv", [False, True])
def test_mixture_entropy_value_is_the_library_estimate(cv):
    from infoflow.torch import mixture_entropy
    _, c, w, _ = problem(2, 60, 3, seed=31)
    for k, seed, weights in [(1, 0, None), (4, 7, w), (2, 2**40 + 3, None)]:
        got = mixture_entropy(c, 0.4, k, seed, weights, control_variate=cv)
        want = infoflow.mixture_entropy(c.numpy(), 0.4, samples_per_center=k, seed=seed,
                                        weights=None if weights is None else weights.numpy(),
                                        control_variate=cv, tolerance=0).entropy
        assert got.shape == () and got.dtype == torch.float64
        # The same draws and the same float32 forward: equal up to float64 rounding in
        # practice; the contract allows the forward's 1e-5 (1 + |h|).
        assert float(got) == pytest.approx(want, rel=1e-6, abs=1e-6), (k, seed)


@pytest.mark.parametrize("d", [1, 3, 16])
@pytest.mark.parametrize("sigma", [0.05, 0.5, 3.0])
def test_mixture_entropy_gradient_matches_dense_autograd(d, sigma):
    from infoflow.torch import mixture_entropy
    _, c, w, _ = problem(2, 40, d, seed=40 + d)
    for weights in (None, w):
        args = [x.clone().requires_grad_() for x in (c, torch.tensor(sigma, dtype=torch.float64))]
        ref = [x.clone().requires_grad_() for x in (c, torch.tensor(sigma, dtype=torch.float64))]
        wa = None if weights is None else weights.clone().requires_grad_()
        wr = None if weights is None else weights.clone().requires_grad_()
        got = mixture_entropy(args[0], args[1], 3, 5, wa, control_variate=False)
        want = dense_mixture_entropy(ref[0], ref[1], 3, 5, wr)
        assert float(got) == pytest.approx(float(want), rel=1e-5)
        ga = torch.autograd.grad(got, args + ([] if wa is None else [wa]))
        gb = torch.autograd.grad(want, ref + ([] if wr is None else [wr]))
        for name, x, y in zip(["centers", "sigma", "weights"], ga, gb):
            # As for entropy_bounds: the weights' gradient holds the log-densities themselves,
            # the float32 forward's values; the others only renormalised float64 weights.
            tol = 1e-5 if name == "weights" else 1e-9
            # A centre's gradient is two terms of size ~|z| / (n sigma) each (through its
            # draws and through the mixture) that cancel exactly when the components do not
            # overlap (small sigma): there the error is measured against that size.
            floor = 1 / (c.shape[0] * sigma) if name == "centers" else 0.0
            err = float((x - y).abs().max()) / max(float(y.abs().max()), floor, 1e-300)
            assert err < tol, (name, weights is None, err)


def exact_entropy_1d(c, sigma):
    """h(g) of a 1-D mixture with equal weights, by adaptive quadrature (scipy)."""
    from scipy import integrate, stats
    c = np.asarray(c, dtype=np.float64)

    def integrand(y):
        g = stats.norm.pdf(y, c, sigma).mean()
        return -g * np.log(g) if g > 0 else 0.0

    lo, hi = c.min() - 12 * sigma, c.max() + 12 * sigma
    return integrate.quad(integrand, lo, hi, points=list(c), epsabs=1e-14, epsrel=1e-13, limit=500)[0]


def test_mixture_entropy_gradient_is_unbiased_against_quadrature():
    pytest.importorskip("scipy", reason="scipy is needed for the quadrature")
    from infoflow.torch import mixture_entropy
    c0, sigma0 = np.array([-1.0, 0.3, 0.8]), 0.5
    # The truth: central differences of the exact entropy (quadrature error ~1e-13, step
    # 1e-4: truncation ~1e-8 and rounding ~1e-9, far below the Monte Carlo error below).
    step = 1e-4
    truth = []
    for j in range(3):
        up, down = c0.copy(), c0.copy()
        up[j] += step
        down[j] -= step
        truth.append((exact_entropy_1d(up, sigma0) - exact_entropy_1d(down, sigma0)) / (2 * step))
    truth.append((exact_entropy_1d(c0, sigma0 + step) - exact_entropy_1d(c0, sigma0 - step)) / (2 * step))
    truth = np.array(truth)
    # One gradient per seed: the seeds' draws are independent (Philox keys), so the mean
    # over seeds has standard error std / sqrt(seeds).
    grads = []
    for seed in range(200):
        c = torch.tensor(c0, requires_grad=True)
        s = torch.tensor(sigma0, dtype=torch.float64, requires_grad=True)
        gc, gs = torch.autograd.grad(mixture_entropy(c, s, 20, seed), [c, s])
        grads.append(np.concatenate([gc.numpy(), gs.numpy().reshape(1)]))
    grads = np.array(grads)
    mean, se = grads.mean(0), grads.std(0, ddof=1) / np.sqrt(len(grads))
    # Within 4 standard errors (fixed seeds; a fresh draw fails this with probability 6e-5
    # per entry), and the errors small enough for the check to mean something.
    assert np.all(np.abs(mean - truth) < 4 * se), (mean, truth, se)
    assert np.all(se < 0.05 * np.abs(truth).max()), se
    # Translating every centre leaves h unchanged: the centres' gradients sum to 0 per draw.
    assert abs(grads[:, :3].sum(1)).max() < 1e-10


def test_mixture_entropy_control_variate_and_arguments():
    from infoflow.torch import mixture_entropy
    _, c, _, _ = problem(2, 20, 2, seed=3)
    grads = []
    for cv in (False, True):
        x = c.clone().requires_grad_()
        (g,) = torch.autograd.grad(mixture_entropy(x, 0.7, 2, 1, control_variate=cv), [x])
        grads.append(g)
    # The control variate depends only on the draws' z: the gradient is the same.
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
    # float32 centres: a float32 estimate; 1-D centres mean d = 1.
    h32 = mixture_entropy(c.float(), 0.7, 2, 1)
    assert h32.dtype == torch.float32
    assert float(h32) == pytest.approx(float(mixture_entropy(c, 0.7, 2, 1)), rel=1e-5)
    h1 = mixture_entropy(c[:, 0], 0.7)
    assert float(h1) == pytest.approx(float(mixture_entropy(c[:, :1], 0.7)), rel=1e-12)
    with pytest.raises(ValueError, match="samples_per_center"):
        mixture_entropy(c, 0.7, 0)
    with pytest.raises(ValueError, match="sigma must be one number"):
        mixture_entropy(c, torch.ones(2))
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        mixture_entropy(c, -1.0)
    with pytest.raises(ValueError, match="non-empty"):
        mixture_entropy(torch.zeros(0, 2), 0.7)


def test_monte_carlo_normals_are_the_estimate_draws():
    # Row g of the normals is draw g's noise: rows taken from the middle are the same numbers.
    whole = _infoflow.monte_carlo_normals(9, 0, 50, 3)
    part = _infoflow.monte_carlo_normals(9, 20, 10, 3)
    np.testing.assert_array_equal(whole[20:30], part)
    assert abs(whole.mean()) < 0.5 and 0.5 < whole.std() < 1.5
    with pytest.raises(ValueError):
        _infoflow.monte_carlo_normals(0, 2**40, 1, 3)


# ---- torch.compile -------------------------------------------------------------------------

@pytest.mark.skipif(not hasattr(torch, "compile"),
                    reason=f"torch.compile needs PyTorch >= 2; this is PyTorch {torch.__version__}")
def test_functions_inside_torch_compile():
    from infoflow.torch import entropy_bounds, mixture_entropy

    def step(c, s):
        b = entropy_bounds(c, s)
        return b.upper + 0.5 * b.lower + mixture_entropy(c, s, 2, 3) + log_density(c[:5] + 0.1, c, s).sum()

    _, c, _, _ = problem(2, 30, 3, seed=12)
    results = []
    for fn in (step, torch.compile(step)):
        x = c.clone().requires_grad_()
        s = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
        value = fn(x, s)
        results.append((value.detach(),) + torch.autograd.grad(value, [x, s]))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
