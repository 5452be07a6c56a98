"""PyTorch integration: make a network noisy, and measure I(X; T_l) of its layers.

Three added lines log the information flow of a training script::

    from infoflow.torch import GaussianNoise, InformationTracker
    model = nn.Sequential(nn.Linear(784, 256), nn.Tanh(), GaussianNoise(0.1), ...)  # noisy layers
    tracker = InformationTracker(model)            # every GaussianNoise module, its own beta
    ...
    print(tracker.measure(x_val, y_val))           # once per epoch: {name: LayerMeasures}

The estimator is the sample propagation of Goldfeld et al. (ICML 2019; docs/method.md#sample-propagation): for
each input, K noisy forward passes give K samples of a layer's representation S before
its noise; T = S + beta Z; I(X; T) = h(T) - h(T|X) from those samples
(:func:`infoflow.sample_information`). Every number comes from the compiled library.

:func:`log_density` is the differentiable mixture log-density: its forward pass is
:func:`infoflow.log_density`, its backward pass the library's streaming
``log_density_backward``; neither forms the m x n matrix. :func:`mixture_entropy` (the
Monte Carlo entropy, from the library's own draws) and :func:`entropy_bounds` (the
pairwise bounds) are differentiable through the same two calls.
"""

from __future__ import annotations

import math
import os
from collections import OrderedDict, namedtuple

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from . import _arrays, _infoflow
from . import _plane_options, measure_checkpoint
from ._results import LayerMeasures
from . import log_density as _log_density_values

__all__ = ["GaussianNoise", "InformationTracker", "log_density", "mixture_entropy", "entropy_bounds",
           "EntropyBounds"]


class GaussianNoise(nn.Module):
    """Adds N(0, beta^2 I) noise: T = S + beta Z, the noisy layer of Goldfeld et al.

    Active in training mode (fresh noise at every forward pass) and while an
    :class:`InformationTracker` samples; the identity in eval mode, so validation loss and
    accuracy are noise-free as in the authors' code. Place it after an activation.

    Parameters
    ----------
    beta : float
        Noise standard deviation, > 0.
    """

    def __init__(self, beta):
        super().__init__()
        beta = _arrays.positive("GaussianNoise: beta", beta)
        self.beta = beta
        self.sampling = False  # set by InformationTracker: noise on in eval mode too

    def forward(self, s):
        if self.training or self.sampling:
            return s + self.beta * torch.randn_like(s)
        return s

    def extra_repr(self):
        return f"beta={self.beta:g}"


class InformationTracker:
    """Measures I(X; T_l) (and I(Y; T_l)) of marked layers of a PyTorch model.

    Parameters
    ----------
    model : torch.nn.Module
        The network. It is run under ``torch.no_grad()`` in eval mode (dropout and batch
        norm frozen) with the noise of every :class:`GaussianNoise` on; its mode is
        restored afterwards.
    layers : None, list of str, or dict of str -> nn.Module
        Which representations to measure. None: every GaussianNoise module, named by its
        path in ``model.named_modules()``, with S its input (the representation before
        the noise) and beta its own. Names or modules of other kinds: S is the module's
        output, and ``beta`` must be given (the noise the estimator assumes on S).
    beta : float, optional
        Noise standard deviation for layers that are not GaussianNoise modules (and an
        override for those that are).
    samples_per_input : int, default 10
        K noisy passes per input. h(T|X) is a plug-in from K samples, biased low, so
        I(X;T) is biased up by an amount that falls with K.
    batch_size : int, default 1024
        Inputs per forward pass.
    mc_queries, target_stderr, seed, backend, threads
        As for :func:`infoflow.sample_information`; ``seed`` also seeds the noise of the
        passes (``torch.random.fork_rng``), so a measurement is reproducible.
    estimate, bin_size, num_bins, cluster_radius
        As for :func:`infoflow.measure_checkpoint`: every measurement also gives the
        binned and clustering baselines of the noise-free representation.
    clip_at_zero, bias_correction, bounds
        As for :func:`infoflow.mutual_information`, for every tracked layer.
    resample_inputs : {"none", "bootstrap"}
        The authors' bootstrap resample of the inputs; only for a model the library runs
        itself (below), since a duplicated input needs noisy passes of its own.

    How it measures
    ---------------
    A model infoflow can run itself, an ``nn.Sequential`` of ``nn.Linear`` layers each
    followed by an activation (Tanh, ReLU, LeakyReLU(0.01), Sigmoid, Identity or none)
    and a GaussianNoise of one common beta, ending with a bare ``nn.Linear`` (affine
    logits), is measured by :func:`infoflow.measure_checkpoint` on its current weights:
    the library's own float64 passes and Philox noise, so the numbers are those of
    ``infoflow train`` and ``infoflow mi`` for the same weights, data, options and seed.
    Any other model is run by PyTorch, the representations are collected by forward
    hooks (K noisy passes and one noise-free pass), and the library measures those
    (``measure_layer``: the same estimator and baselines on your samples).
    """

    def __init__(self, model, layers=None, *, beta=None, samples_per_input=10, batch_size=1024,
                 mc_queries=0, target_stderr=0.0, seed=0, backend="auto", threads=0,
                 estimate=True, bin_size=None, num_bins=30, cluster_radius=2.0,
                 resample_inputs="none", clip_at_zero=False, bias_correction=False, bounds=False):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        # Checked here, as infoflow.sample_information checks them, so that a bad value is
        # named when the tracker is made, not at the first measure().
        self.samples_per_input = _arrays.count("samples_per_input", samples_per_input, 1)
        self.batch_size = _arrays.count("batch_size", batch_size, 1)
        self.options = dict(mc_queries=_arrays.count("mc_queries", mc_queries, 0),
                            target_stderr=_arrays.non_negative("target_stderr", target_stderr),
                            seed=_arrays.seed_value(seed), backend=_arrays.text("backend", backend),
                            threads=_threads(threads))
        self.seed = self.options["seed"]
        # Checked now; measure_checkpoint takes bin_size None for 10 beta, measure_layer 0.
        self._plane_checked = _plane_options(bin_size, num_bins, cluster_radius, estimate)
        self.plane = dict(estimate=bool(estimate), bin_size=bin_size, num_bins=self._plane_checked[2],
                          cluster_radius=self._plane_checked[3])
        self.estimator = dict(clip_at_zero=bool(clip_at_zero), bias_correction=bool(bias_correction),
                              bounds=bool(bounds))
        self.resample_inputs = _arrays.text("resample_inputs", resample_inputs)
        if self.resample_inputs not in ("none", "bootstrap"):
            raise ValueError(f"resample_inputs must be 'none' or 'bootstrap', got {self.resample_inputs!r}")
        modules = dict(model.named_modules())
        if layers is None:
            layers = OrderedDict((n, m) for n, m in modules.items() if isinstance(m, GaussianNoise))
            if not layers:
                raise ValueError("the model has no GaussianNoise modules: add some, or pass "
                                 "layers=[...] and beta=")
        elif not isinstance(layers, dict):
            names = list(layers)
            missing = [n for n in names if n not in modules]
            if missing:
                raise ValueError(f"no module named {missing[0]!r} in the model "
                                 f"(known: {', '.join(n for n in modules if n)})")
            layers = OrderedDict((n, modules[n]) for n in names)
        self.layers = OrderedDict(layers)
        self.betas = {}
        for name, m in self.layers.items():
            b = beta if beta is not None else (m.beta if isinstance(m, GaussianNoise) else None)
            if b is None:
                raise ValueError(f"layer {name!r} is a {type(m).__name__}, not GaussianNoise: give beta=")
            self.betas[name] = _arrays.positive(f"beta of layer {name!r}", b)
        self.history = []  # (step, {name: LayerMeasures}) for every measure(step=...)
        self._library_model = self._library_layout()
        if self.resample_inputs != "none" and self._library_model is None:
            raise ValueError("resample_inputs='bootstrap' needs a model infoflow runs itself (a Sequential of "
                             "Linear, activation and GaussianNoise layers): each drawn entry needs its own passes")

    _ACTIVATIONS = {nn.Tanh: "tanh", nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Identity: "linear"}

    def _activation_name(self, m):
        if type(m) in self._ACTIVATIONS:
            return self._ACTIVATIONS[type(m)]
        if type(m) is nn.LeakyReLU and m.negative_slope == 0.01:
            return "leaky-relu"  # the library's slope: PyTorch's default
        return None

    def _library_layout(self):
        """[(linear, activation)] when the library can run the model itself (see the class
        docstring) and every GaussianNoise is tracked with one beta; else None."""
        if type(self.model) is not nn.Sequential:
            return None
        mods = list(self.model)
        noise = [m for m in mods if isinstance(m, GaussianNoise)]
        if not noise or list(self.layers.values()) != noise or len(set(self.betas.values())) != 1:
            return None
        layout, i = [], 0
        while i < len(mods):
            lin = mods[i]
            if type(lin) is not nn.Linear or lin.bias is None:
                return None
            i += 1
            act = "linear"
            if i < len(mods) and self._activation_name(mods[i]) is not None:
                act = self._activation_name(mods[i])
                i += 1
            noisy = i < len(mods) and isinstance(mods[i], GaussianNoise)
            i += noisy
            last = i == len(mods)
            if noisy == last:  # every hidden layer noisy, the last bare and affine
                return None
            if last and act != "linear":
                return None
            layout.append((lin, act))
        return layout

    def _capture(self, captured):
        """Forward hooks appending each tracked layer's S (flattened) to captured[name]."""
        hooks = []
        for name, m in self.layers.items():
            if isinstance(m, GaussianNoise):
                hook = (lambda n: lambda mod, args, out: captured[n].append(args[0].detach().flatten(1)))(name)
            else:
                hook = (lambda n: lambda mod, args, out: captured[n].append(out.detach().flatten(1)))(name)
            hooks.append(m.register_forward_hook(hook))
        return hooks

    def _passes(self, inputs):
        """K passes over the inputs; {name: tensor (m, K, d)} of the representations S."""
        captured = {name: [] for name in self.layers}
        hooks = self._capture(captured)
        noise = [m for m in self.model.modules() if isinstance(m, GaussianNoise)]
        was_training = self.model.training
        self.model.eval()
        for m in noise:
            m.sampling = True
        devices = [inputs.device.index or 0] if inputs.is_cuda else []
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=devices):
                torch.manual_seed(self.seed)
                per_pass = []
                for _ in range(self.samples_per_input):
                    for start in range(0, inputs.shape[0], self.batch_size):
                        self.model(inputs[start:start + self.batch_size])
                    per_pass.append({n: torch.cat(v) for n, v in captured.items()})
                    for v in captured.values():
                        v.clear()
        finally:
            for h in hooks:
                h.remove()
            for m in noise:
                m.sampling = False
            self.model.train(was_training)
        return {n: torch.stack([p[n] for p in per_pass], dim=1) for n in self.layers}

    def measure(self, inputs, labels=None, *, step=None):
        """I(X; T_l) (and I(Y; T_l) with labels) of every tracked layer, with the baselines.

        X is uniform over the rows of ``inputs`` (a tensor on the model's device).

        Returns
        -------
        dict of str -> LayerMeasures
            In the order of the layers; ``width`` is the flattened size of S. A
            :class:`infoflow.LayerMeasures` is a :class:`infoflow.LayerInformation` with
            the binned and clustering baselines added.
        """
        if not torch.is_tensor(inputs):
            raise TypeError(f"inputs must be a torch tensor, got {type(inputs).__name__}")
        if labels is not None:
            labels = torch.as_tensor(labels).detach().cpu().reshape(-1).numpy()
            if labels.shape[0] != inputs.shape[0]:
                raise ValueError(f"labels has {labels.shape[0]} entries for {inputs.shape[0]} inputs")
        out = OrderedDict()
        if self._library_model is not None:
            model = [(_host64(lin.weight), _host64(lin.bias), act) for lin, act in self._library_model]
            r = measure_checkpoint(model, _host64(inputs.flatten(1)), labels, beta=next(iter(self.betas.values())),
                                   samples_per_input=self.samples_per_input, resample_inputs=self.resample_inputs,
                                   **self.options, **self.plane, **self.estimator)
            for name, layer in zip(self.layers, r.layers):
                out[name] = layer
        else:
            samples = self._passes(inputs)
            clean = self._clean(inputs)
            y = None if labels is None else _arrays.as_labels("labels", labels)
            for name, s in samples.items():
                m, k = s.shape[0], s.shape[1]
                r = _infoflow.measure_layer(
                    _host64(s.reshape(m * k, -1)), k, _host64(clean[name]), y, self.betas[name],
                    self.options["mc_queries"], 0, self.options["target_stderr"], None, self.options["seed"],
                    self.options["backend"], self.options["threads"], True, *self._plane_checked,
                    **self.estimator)
                r.pop("backend")
                out[name] = LayerMeasures(**r)
        if step is not None:
            self.history.append((step, out))
        return out

    def _clean(self, inputs):
        """One noise-free pass: {name: tensor (m, d)} of the representations S."""
        captured = {name: [] for name in self.layers}
        hooks = self._capture(captured)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                for start in range(0, inputs.shape[0], self.batch_size):
                    self.model(inputs[start:start + self.batch_size])
        finally:
            for h in hooks:
                h.remove()
            self.model.train(was_training)
        return {n: torch.cat(v) for n, v in captured.items()}


def _threads(threads):
    """threads checked, with 0 (all cores) made explicit.

    Importing PyTorch sets OpenMP's default team size for the process to PyTorch's own
    thread count (Debian's PyTorch 1.13 on this project's 2-core machines: 1). This was
    written when the library's 0 meant that default; the library's cpu_threads(0) now
    counts the cores itself, and differs from this only where the user set
    OMP_NUM_THREADS (the library honours it, this does not).
    """
    t = _arrays.threads_value(threads)
    return t if t > 0 else max(1, min(len(os.sched_getaffinity(0)), 1024))


def _eager(fn):
    """fn run as one opaque step under torch.compile (torch >= 2.1: torch.compiler.disable).

    The library calls and their NumPy conversions cannot be traced; marked so, a compiled
    caller breaks its graph at them and compiles the torch code around them, instead of
    tracing into NumPy. Older PyTorch has no compiler: fn itself.
    """
    disable = getattr(getattr(torch, "compiler", None), "disable", None)
    return disable(fn) if disable is not None else fn


def _host64(x):
    """A float64 C-contiguous NumPy view of a tensor's values (no copy when it already is one)."""
    return x.detach().to(device="cpu", dtype=torch.float64).contiguous().numpy()


class _LogDensity(torch.autograd.Function):
    # once_differentiable: the backward is a library call, not torch operations, so a
    # second derivative would silently be wrong; this makes it raise instead.
    @staticmethod
    def forward(ctx, queries, centers, weights, sigma, backend, threads, out_dtype):
        w = None if weights is None else _host64(weights)
        s = float(sigma)
        values = _log_density_values(_host64(queries), _host64(centers), s, weights=w,
                                     backend=backend, threads=threads, tolerance=0.0)
        values = torch.from_numpy(values)
        ctx.save_for_backward(queries, centers, weights, values)
        # The value and the tensor's metadata, not the tensor: ctx keeps no reference to an
        # input outside save_for_backward.
        ctx.sigma = s
        ctx.sigma_like = (sigma.dtype, sigma.device, sigma.shape) if torch.is_tensor(sigma) else None
        ctx.threads = threads
        ctx.backend = backend
        return values.to(device=queries.device, dtype=out_dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        queries, centers, weights, values = ctx.saved_tensors
        want_q, want_c, want_w, want_s = ctx.needs_input_grad[:4]
        if not (want_q or want_c or want_w or want_s):
            return (None,) * 7
        gq, gc, gw, gs = _infoflow.log_density_backward(
            _host64(queries), _host64(centers), ctx.sigma,
            None if weights is None else _host64(weights), values.numpy(), _host64(grad),
            bool(want_q), bool(want_c), bool(want_w), ctx.threads, ctx.backend)

        def like(g, x):
            return torch.from_numpy(g).reshape(x.shape).to(device=x.device, dtype=x.dtype)

        gsigma = None
        if want_s:
            dtype, device, shape = ctx.sigma_like
            gsigma = torch.tensor(gs, dtype=dtype, device=device).reshape(shape)
        return (like(gq, queries) if want_q else None,
                like(gc, centers) if want_c else None,
                like(gw, weights) if want_w else None,
                gsigma, None, None, None)


# What a compiled caller runs eagerly: the autograd Function whose forward and backward
# are library calls, and the draws. Everything else here is torch operations.
_apply_log_density = _eager(_LogDensity.apply)
_monte_carlo_normals = _eager(_infoflow.monte_carlo_normals)


def _as_tensor(name, x):
    if torch.is_tensor(x):
        return x
    try:
        return torch.as_tensor(x)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"{name} must be a tensor or array_like, got {type(x).__name__}") from e


def log_density(queries, centers, sigma, weights=None, *, backend="auto", threads=0):
    """Differentiable log g(y) of the mixture g = sum_j w_j N(c_j, sigma^2 I) per query.

    Gradients flow to ``queries``, ``centers``, ``weights`` (when a tensor) and ``sigma``
    (when a tensor), without the m x n matrix: memory O((m + n) d) in both passes.

    Forward: :func:`infoflow.log_density` with every pair evaluated (``tolerance=0``).
    Backward: the library's ``log_density_backward`` on the same backend (cpu: SIMD on
    all cores; cuda: the GPU kernels, tensors passing through host memory), float64, two
    streaming passes (per query, then per centre), no pruning; each query's softmax
    weights are renormalised there in float64, so the gradient is that of the exact
    float64 log-density. Double backward is not supported (it raises).

    Parameters
    ----------
    queries : torch.Tensor, shape (m, d) or (m,)
        Points y; 1-D means d = 1.
    centers : torch.Tensor, shape (n, d) or (n,)
        Mixture centres.
    sigma : float or torch.Tensor (one element)
        Standard deviation of every component, > 0.
    weights : torch.Tensor, shape (n,), optional
        Mixture weights, >= 0 and summing to 1 (within 1e-9 n, checked: normalise float32
        weights in float64); default uniform. Their gradient is the partial derivative
        with every w_j free, d log g(y_i) / d w_j = N(y_i; c_j, sigma^2 I) / g(y_i), which
        is finite for w_j = 0; parameterise by a softmax to stay on the simplex.
    backend, threads
        As for :func:`infoflow.log_density`, for both passes (``threads``: CPU threads, 0
        all cores).

    Returns
    -------
    torch.Tensor, shape (m,)
        log g(y_i) in nats, on ``queries``' device, in the promoted floating dtype of
        ``queries`` and ``centers`` (float64 for integer inputs).
    """
    q = _as_tensor("queries", queries)
    c = _as_tensor("centers", centers)
    w = None if weights is None else _as_tensor("weights", weights)
    if torch.is_tensor(sigma):
        if sigma.numel() != 1:
            raise ValueError(f"sigma must be one number, got a tensor of shape {tuple(sigma.shape)}")
        _arrays.positive("sigma", float(sigma))
    else:
        sigma = _arrays.positive("sigma", sigma)
    dtype = torch.promote_types(q.dtype, c.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float64
    return _apply_log_density(q, c, w, sigma, _arrays.text("backend", backend),
                              _threads(threads), dtype)


def _sigma_arg(sigma):
    """sigma checked: a one-element tensor as it is (reshaped to 0-d), or a float."""
    if torch.is_tensor(sigma):
        if sigma.numel() != 1:
            raise ValueError(f"sigma must be one number, got a tensor of shape {tuple(sigma.shape)}")
        _arrays.positive("sigma", float(sigma))
        return sigma.reshape(())
    return _arrays.positive("sigma", sigma)


def mixture_entropy(centers, sigma, samples_per_center=1, seed=0, weights=None, *, control_variate=True,
                    backend="auto", threads=0):
    """Differentiable Monte Carlo estimate of the mixture entropy h(g), from the library's draws.

    For g = sum_i w_i N(c_i, sigma^2 I): K = ``samples_per_center`` reparameterised draws
    y_ik = c_i + sigma z_ik per centre, with z the same Philox normals as
    :func:`infoflow.mixture_entropy` makes for this ``seed`` (``infoflow._infoflow
    .monte_carlo_normals``), and::

        h = -sum_i w_i (1/K) sum_k log g(y_ik)

    through :func:`log_density`. So the value is infoflow.mixture_entropy's for the same
    seed, centres, sigma and control_variate (up to its float32 forward, 1e-5 (1 + |h|)),
    and gradients flow to ``centers`` both through the draws and through the mixture, to
    ``sigma`` (a tensor) both ways too, and to ``weights`` (a tensor; the partial derivative
    with every w_i free, as :func:`log_density`'s). With the draws fixed by the seed, the
    gradient is the pathwise (reparameterisation) estimate: unbiased for the gradient of
    the true h, with a Monte Carlo error that falls as 1/sqrt(n K). Change the seed between
    training steps for fresh noise. Memory O(n K d); no n x nK matrix in either pass.

    Parameters
    ----------
    centers : torch.Tensor, shape (n, d) or (n,)
    sigma : float or torch.Tensor (one element), > 0
    samples_per_center : int, default 1
    seed : int, default 0
    weights : torch.Tensor, shape (n,), optional
        As for :func:`log_density`; default uniform.
    control_variate : bool, default True
        Subtract (|z|^2 - d)/2 from each draw's -log g(y), as infoflow.mixture_entropy
        does: it has mean 0 and does not depend on the centres or sigma, so it lowers the
        value's Monte Carlo error and leaves the gradient exactly as it is.
    backend, threads
        As for :func:`log_density`.

    Returns
    -------
    torch.Tensor
        0-d, in nats, in ``centers``' floating dtype (float64 for integer centres), on its device.
    """
    c = _as_tensor("centers", centers)
    if c.dim() == 1:
        c = c.reshape(-1, 1)
    if c.dim() != 2 or c.shape[0] == 0 or c.shape[1] == 0:
        raise ValueError(f"centers must be a non-empty (n, d) or (n,) tensor, got shape {tuple(c.shape)}")
    k = _arrays.count("samples_per_center", samples_per_center, 1)
    seed = _arrays.seed_value(seed)
    n, d = c.shape
    dtype = c.dtype if c.dtype.is_floating_point else torch.float64
    c = c.to(dtype)
    s = _sigma_arg(sigma)
    z = _monte_carlo_normals(seed, 0, n * k, d)
    zt = torch.from_numpy(z).to(device=c.device, dtype=dtype)
    y = c.repeat_interleave(k, dim=0) + (s.to(dtype) if torch.is_tensor(s) else s) * zt
    ld = log_density(y, c, s, weights, backend=backend, threads=threads)
    if weights is None:
        h = -ld.mean()
    else:
        w = _as_tensor("weights", weights)
        h = -(w.to(ld.dtype).repeat_interleave(k) * ld).sum() / k
    if control_variate:
        cv = 0.5 * ((zt * zt).sum(1) - d).to(h.dtype)  # per draw; a constant for autograd
        h = h - (cv.mean() if weights is None else (w.detach().to(h.dtype).repeat_interleave(k) * cv).sum() / k)
    return h


EntropyBounds = namedtuple("EntropyBounds", ["lower", "upper"])
EntropyBounds.__doc__ = """Pairwise bounds on h(g) in nats: ``lower`` (Bhattacharyya) <= h(g) <= ``upper`` (KL)."""


def entropy_bounds(centers, sigma, weights=None, *, backend="auto", threads=0):
    """Kolchinsky-Tracey pairwise bounds on the mixture entropy, as differentiable tensors.

    For g = sum_i w_i N(c_i, sigma^2 I) (docs/method.md#pairwise-bounds)::

        upper = h(sigma, d) - sum_i w_i log sum_j w_j exp(-|c_i - c_j|^2 / (2 sigma^2))
        lower = h(sigma, d) - sum_i w_i log sum_j w_j exp(-|c_i - c_j|^2 / (8 sigma^2))

    with h(sigma, d) = (d/2) log(2 pi e sigma^2): the values ``infoflow.mixture_entropy(...,
    bounds=True)`` reports as ``kl_upper`` and ``bhattacharyya_lower``, here exact (no
    pruning) and with gradients to ``centers``, ``weights`` and ``sigma`` (when tensors).
    No Monte Carlo: the gradients are exact. Each bound is one :func:`log_density` of the
    centres at themselves (at sigma and 2 sigma), so both passes stream in memory
    O(n d), and double backward is not supported.

    Parameters
    ----------
    centers : torch.Tensor, shape (n, d) or (n,)
    sigma : float or torch.Tensor (one element), > 0
    weights : torch.Tensor, shape (n,), optional
        As for :func:`log_density`; default uniform.
    backend, threads
        As for :func:`log_density`.

    Returns
    -------
    EntropyBounds
        ``(lower, upper)``, two 0-d tensors in nats.
    """
    c = _as_tensor("centers", centers)
    n = c.shape[0] if c.dim() > 0 else 0
    d = 1 if c.dim() == 1 else (c.shape[1] if c.dim() == 2 else 0)
    w = None if weights is None else _as_tensor("weights", weights)
    dtype = c.dtype if c.dtype.is_floating_point else torch.float64
    if torch.is_tensor(sigma):
        if sigma.numel() != 1:
            raise ValueError(f"sigma must be one number, got a tensor of shape {tuple(sigma.shape)}")
        s = sigma.reshape(())
    else:
        s = torch.tensor(_arrays.positive("sigma", sigma), dtype=torch.float64)
    outer = (w if w is not None else torch.full((n,), 1.0 / max(n, 1), dtype=dtype, device=c.device))

    def bound(width):
        # log sum_j w_j exp(-|c_i - c_j|^2 / (2 width^2)) is the log-density at width plus its
        # normalising constant (d/2) log(2 pi width^2).
        lse = log_density(c, c, width, w, backend=backend, threads=threads)
        lse = lse + 0.5 * d * torch.log(2 * math.pi * width * width).to(lse.dtype)
        return (0.5 * d * torch.log(2 * math.pi * math.e * s * s)).to(lse.dtype) - (outer.to(lse.dtype) * lse).sum()

    return EntropyBounds(lower=bound(2 * s), upper=bound(s))
