"""infoflow: differential entropy of Gaussian mixtures and the information flow of noisy
neural networks (Goldfeld et al., "Estimating Information Flow in Deep Neural Networks",
ICML 2019), from Python.

Every function calls the same compiled C++ library as the ``infoflow`` command line; all
values are in nats.

Arrays (the zero-copy rule)
---------------------------
Array arguments accept NumPy arrays, CPU PyTorch tensors (through DLPack) and anything
``numpy.asarray`` accepts. A **float64, C-contiguous** array is passed to the library
**without a copy**: the library reads your buffer, with the GIL released, so do not modify
the array from another thread during the call. Any other real dtype (float32, integers) or
a non-contiguous array (a slice, a transpose) is converted once to a float64 C-contiguous
copy. A 1-D array of n values means n points in d = 1.

PyTorch CUDA tensors are copied to the host once (the library's views describe host
memory; the copy is small next to the n x n kernel work), and with ``backend="auto"`` the
estimation then runs on the GPU backend when one answers. Other GPU arrays (CuPy) raise
``TypeError``: copy them to the host first.

Errors
------
``ValueError``
    A bad value: wrong shape or dimension, NaN or inf, sigma or beta <= 0, unknown
    backend or activation, weights that do not sum to 1.
``TypeError``
    A wrong type: not an array, complex or non-numeric dtype, a GPU array that is not a
    torch tensor, a string or a bool where a number is expected.
``OverflowError``
    A count or seed of 2**64 or more, an int too large for a float64: refused, never
    wrapped (the CLI refuses the same values).
``OSError``
    A model file that cannot be read or is malformed (the message names the file and the
    tensor).
``RuntimeError`` / ``MemoryError``
    The backend failed (``backend="cuda"`` without a usable GPU), or the problem does not
    fit in memory (``MemoryError``, also for an array whose float64 copy would not fit,
    such as a huge broadcast view; the message names the argument).

Every function checks its arguments as the CLI checks its options (sigma and beta finite
and > 0, tolerance in [0, 1), threads 0 to 1024, target_stderr >= 0), and a result that
would not be a finite number (a log-density below -1.8e308) is a ``ValueError``.
Big-endian and other non-native arrays are converted, as the CLI converts big-endian
files. Type stubs (``__init__.pyi``) and ``py.typed`` are installed with the package.
"""

from __future__ import annotations

import os

import numpy as np

from . import _arrays
from . import _infoflow
from ._results import (CheckpointMeasures, EntropyResult, LayerInformation, LayerMeasures,
                       MutualInformationResult)

__version__ = _infoflow.version()
Network = _infoflow.Network

__all__ = [
    "mixture_entropy",
    "log_density",
    "mutual_information",
    "sample_information",
    "measure_checkpoint",
    "load_network",
    "gaussian_entropy",
    "cuda_available",
    "EntropyResult",
    "LayerInformation",
    "MutualInformationResult",
    "LayerMeasures",
    "CheckpointMeasures",
    "Network",
]

def cuda_available():
    """Whether the CUDA backend is compiled in and a GPU answers.

    Returns
    -------
    bool
    """
    return _infoflow.cuda_available()


def gaussian_entropy(d, sigma):
    """Entropy of one Gaussian N(mu, sigma^2 I_d): (d/2) log(2 pi e sigma^2) nats.

    Parameters
    ----------
    d : int
        Dimension.
    sigma : float
        Standard deviation.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        d < 0, or sigma not a finite number > 0.
    TypeError
        d not an integer, sigma not a real number.
    """
    return _infoflow.gaussian_entropy(_arrays.count("d", d, 0), _arrays.positive("sigma", sigma))


def mixture_entropy(centers, sigma, *, samples_per_center=1, seed=0, backend="auto",
                    bounds=False, weights=None, threads=0, tolerance=1e-6, control_variate=True):
    """Differential entropy of the Gaussian mixture g = sum_i w_i N(c_i, sigma^2 I).

    Monte Carlo: ``samples_per_center`` draws y = c_i + sigma z per centre (counter-based
    Philox: the same seed gives the same draws on every backend and thread count), and
    h = -sum_i w_i mean log g(y), with its standard error. Same numbers as
    ``infoflow entropy --json`` for the same centres, seed and backend.

    Parameters
    ----------
    centers : array_like, shape (n, d) or (n,)
        The centres, one per row; 1-D means d = 1. float64 C-contiguous arrays are read
        in place (no copy); others are converted once. A torch CUDA tensor (float32 or
        float64, contiguous columns) is read in place on its GPU when infoflow has a
        usable GPU: the Monte Carlo draws are made there from the same Philox stream, so
        the result equals the cuda backend's on a host copy (``threads`` and
        ``tolerance`` unused: every pair exact). ``backend="cpu"`` copies it to the host.
    sigma : float
        Standard deviation of every component, > 0.
    samples_per_center : int, default 1
        Monte Carlo draws per centre (K).
    seed : int, default 0
        Philox key, 0 <= seed < 2**64.
    backend : {"auto", "cpu", "cuda", "reference"}, default "auto"
        ``auto`` runs ``cuda`` when a GPU answers, else ``cpu``; ``reference`` is the
        exact float64 loops (slow). The result says which ran.
    bounds : bool, default False
        Also compute the Kolchinsky-Tracey pairwise bounds (two more n x n passes).
    weights : array_like, shape (n,), optional
        Mixture weights (>= 0, summing to 1); default uniform 1/n.
    threads : int, default 0
        CPU threads; 0 uses all cores.
    tolerance : float, default 1e-6
        Pruning of far centres (cpu backend): each log-sum-exp may be low by at most this
        relative amount; 0 evaluates every pair.
    control_variate : bool, default True
        Subtract (|z|^2 - d)/2 (mean 0) from each draw's -log g(y): unbiased, and it removes
        the chi^2 spread of the draw's own component, most of the error when components
        are far apart or d is large. False: the plain estimator.

    Returns
    -------
    EntropyResult
        ``entropy``, ``stderr``, ``kl_upper``, ``bhattacharyya_lower`` (None unless
        ``bounds``), ``n``, ``d``, ``samples``, ``sigma``, ``backend``, ``seconds``.

    Raises
    ------
    ValueError
        Bad shape, NaN/inf centres, sigma <= 0, unknown backend, bad weights.
    TypeError
        Not a real-valued array, or a non-torch GPU array.

    Examples
    --------
    >>> import numpy as np, infoflow
    >>> r = infoflow.mixture_entropy(np.array([-1.0, 1.0]), 1.0, samples_per_center=100000)
    >>> round(r.entropy - infoflow.gaussian_entropy(1, 1.0), 2)  # I(X; X + Z), 0 dB
    0.34
    """
    backend = _arrays.text("backend", backend)
    spc = _arrays.count("samples_per_center", samples_per_center, 1)
    seed = _arrays.seed_value(seed)
    if _device_path(backend, threads, tolerance, centers):
        (c,) = _device_matrices(centers=centers)
        r = _infoflow.mixture_entropy_device(
            c, _arrays.positive("sigma", sigma), spc, seed, backend, bool(bounds),
            _arrays.as_vector("weights", weights), bool(control_variate))
        # tolerance 0 in the result: the device path evaluates every pair.
        return EntropyResult(samples_per_center=spc, seed=seed, control_variate=bool(control_variate),
                             tolerance=0.0, **r)
    c = _arrays.as_matrix("centers", centers)
    w = _arrays.as_vector("weights", weights)
    r = _infoflow.mixture_entropy(
        c, _arrays.positive("sigma", sigma), spc, seed, _arrays.text("backend", backend),
        bool(bounds), w, _arrays.threads_value(threads),
        _arrays.tolerance_value(tolerance), bool(control_variate))
    return EntropyResult(samples_per_center=spc, seed=seed, control_variate=bool(control_variate),
                         tolerance=float(tolerance), **r)


def log_density(queries, centers, sigma, *, weights=None, backend="auto", threads=0,
                tolerance=1e-6):
    """Log-density log g(y) of the mixture g = sum_j w_j N(c_j, sigma^2 I) at each query.

    The quantity ``sklearn.neighbors.KernelDensity(bandwidth=sigma).fit(centers)
    .score_samples(queries)`` returns (Gaussian kernel), without forming the m x n matrix.

    Parameters
    ----------
    queries : array_like, shape (m, d) or (m,)
        Points y, one per row; 1-D means d = 1 (use ``y.reshape(1, -1)`` for one point
        in d > 1). float64 C-contiguous arrays are read in place (no copy). When queries
        and centers are both torch CUDA tensors (float32 or float64, contiguous columns),
        they are read in place on their GPU, every pair exact (``tolerance`` and
        ``threads`` are unused there: pruning orders the data on the host), when
        infoflow has a usable GPU; pass ``backend="cpu"`` to copy them to the host.
    centers : array_like, shape (n, d) or (n,)
        Mixture centres, one per row.
    sigma : float
        Standard deviation of every component, > 0.
    weights : array_like, shape (n,), optional
        Mixture weights (>= 0, summing to 1); default uniform.
    backend : {"auto", "cpu", "cuda", "reference"}, default "auto"
        ``auto`` runs ``cuda`` when a GPU answers, else ``cpu``.
    threads : int, default 0
        CPU threads; 0 uses all cores.
    tolerance : float, default 1e-6
        Pruning bound: each value may be low by at most log(1 + tolerance); 0 is exact.

    Returns
    -------
    numpy.ndarray
        float64, shape (m,): log g(y) in nats.

    Raises
    ------
    ValueError
        Bad shapes (queries and centers of different d), NaN/inf, sigma <= 0, unknown
        backend.
    TypeError
        Not a real-valued array, or a non-torch GPU array.
    """
    backend = _arrays.text("backend", backend)
    if _device_path(backend, threads, tolerance, queries, centers):
        q, c = _device_matrices(queries=queries, centers=centers)
        return _infoflow.log_density_device(q, c, _arrays.positive("sigma", sigma),
                                            _arrays.as_vector("weights", weights))
    q = _arrays.as_matrix("queries", queries)
    c = _arrays.as_matrix("centers", centers)
    if _arrays.columns(q) != _arrays.columns(c):
        raise ValueError(
            f"queries have d = {_arrays.columns(q)} but centers have d = {_arrays.columns(c)} "
            f"(shapes {tuple(q.shape)} and {tuple(c.shape)}); a 1-D array means d = 1, "
            "use y.reshape(1, -1) for a single point")
    w = _arrays.as_vector("weights", weights)
    return _infoflow.log_density(
        q, c, _arrays.positive("sigma", sigma), w, backend,
        _arrays.threads_value(threads), _arrays.tolerance_value(tolerance))


def _device_path(backend, threads, tolerance, *arrays):
    """Whether the arrays, all torch CUDA tensors, are read in place on their GPU: when
    infoflow has a usable GPU, or backend="cuda" asks for it. ``threads`` and
    ``tolerance`` are unused there (every pair exact) but checked as on the host path."""
    if not (all(_arrays.is_torch_cuda(a) for a in arrays)
            and (backend == "cuda" or (backend == "auto" and _infoflow.cuda_available()))):
        return False
    _arrays.threads_value(threads)
    _arrays.tolerance_value(tolerance)
    return True


def _device_matrices(**tensors):
    """Torch CUDA tensors as the device API reads them in place (DLPack), all on one GPU,
    once the caller's queued work there is done: infoflow works on CUDA's legacy default
    stream."""
    import torch
    names = list(tensors)
    out = [_arrays.as_device_matrix(name, t) for name, t in tensors.items()]
    for name, x in zip(names[1:], out[1:]):
        if x.device != out[0].device:
            raise ValueError(f"{names[0]} are on {out[0].device} but {name} on {x.device}")
    torch.cuda.current_stream(out[0].device).synchronize()
    return out


def load_network(path, activation=None):
    """Read a network from a safetensors file (the CLI's ``--model`` format).

    Parameters
    ----------
    path : str or os.PathLike
        File with tensors ``layers.{i}.weight`` (out x in) and ``layers.{i}.bias``, in
        F32, F64, F16 or BF16, activations in the header metadata ``"activations"``.
    activation : str, optional
        Activation of every layer (tanh, relu, leaky-relu, sigmoid, linear), overriding
        the file.

    Returns
    -------
    Network
        Opaque; ``.layers`` lists (in, out, activation). Pass it to
        :func:`mutual_information` to reuse one model across calls.

    Raises
    ------
    OSError
        The file is missing, unreadable or malformed (the message names file and tensor).
    ValueError
        Unknown activation.
    """
    act = "" if activation is None else _arrays.text("activation", activation)
    if not _arrays.is_path(path):
        raise TypeError(f"path must be a str, bytes or os.PathLike, got {type(path).__name__}")
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise ValueError("path is empty")
    return _infoflow.load_network(path, act)


def _mc_budget(mc_queries, mc_samples_per_center, target_stderr):
    """The Monte Carlo budget of the estimators, checked: at most one of the three is set."""
    mcq = _arrays.count("mc_queries", mc_queries, 0)
    mcj = _arrays.count("mc_samples_per_center", mc_samples_per_center, 0)
    tse = _arrays.non_negative("target_stderr", target_stderr)
    if (mcq > 0) + (mcj > 0) + (tse != 0) > 1:
        raise ValueError("give at most one of mc_queries, mc_samples_per_center, target_stderr")
    return mcq, mcj, tse


def _network(model, activation):
    if isinstance(model, _infoflow.Network):
        if activation is not None:
            raise ValueError("activation= applies to a path or a list of layers, not a loaded Network")
        return model
    if _arrays.is_path(model):
        return load_network(model, activation)
    try:
        items = list(model)
    except TypeError:
        raise TypeError("model must be a path to a safetensors file, a Network, or a list of "
                        f"(weight, bias, activation) tuples; got {type(model).__name__}") from None
    layers = []
    for i, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise TypeError(f"model[{i}] must be a (weight, bias, activation) tuple")
        act = activation if activation is not None else (item[2] if len(item) == 3 else None)
        if act is None:
            raise ValueError(f"model[{i}] has no activation: give (weight, bias, activation) "
                             "or activation=")
        # Copied into the network anyway: convert here, where the message can name the layer.
        w = np.ascontiguousarray(np.asarray(_arrays.as_array(f"model[{i}] weight", item[0])),
                                 dtype=np.float64)
        b = np.ascontiguousarray(np.asarray(_arrays.as_array(f"model[{i}] bias", item[1])),
                                 dtype=np.float64)
        layers.append((w, b, _arrays.text(f"model[{i}] activation", act)))
    return _infoflow.network_from_layers(layers)


def mutual_information(model, inputs, labels=None, *, beta, samples_per_input=100,
                       mc_queries=0, mc_samples_per_center=0, target_stderr=0.0,
                       layers=None, activation=None, noisy_last_layer=False,
                       input_weights=None, seed=0, backend="auto", threads=0, control_variate=True,
                       resample_inputs="none", clip_at_zero=False, bias_correction=False, bounds=False):
    """I(X; T_l) (and I(Y; T_l)) of every noisy layer by sample propagation.

    Each hidden layer computes T_l = a_l(W_l T_{l-1} + b_l) + beta Z_l with fresh noise;
    the last layer is affine logits without noise unless ``noisy_last_layer``. For X
    uniform over the input rows (or ``input_weights``), I(X; T_l) = h(T_l) - h(T_l | X)
    from ``samples_per_input`` noisy passes per input. Same numbers as ``infoflow mi``
    for the same model, data, seed and backend.

    Parameters
    ----------
    model : str, os.PathLike, Network or list of tuples
        A safetensors file (see :func:`load_network`), a loaded :class:`Network`, or one
        ``(weight, bias, activation)`` per layer: weight (out x in, torch.nn.Linear's
        layout) and bias as NumPy arrays or CPU tensors, activation one of tanh, relu,
        leaky-relu, sigmoid, linear. Weights are copied.
    inputs : array_like, shape (m, d_0)
        One input x per row (1-D: d_0 = 1). float64 C-contiguous arrays are not copied.
    labels : array_like of int, shape (m,), optional
        Class of each input; adds I(Y; T_l).
    beta : float
        Noise standard deviation of every noisy layer, > 0.
    samples_per_input : int, default 100
        K noisy passes per input (bias of h(T|X) falls with K).
    mc_queries : int, default 0
        Monte Carlo queries per unconditional entropy; 0 means the default (8192).
    mc_samples_per_center : int, default 0
        Instead: J draws per centre (the authors' scheme).
    target_stderr : float, default 0
        > 0: double the queries until every term's standard error is below it. At most
        one of ``mc_queries``, ``mc_samples_per_center``, ``target_stderr`` may be set.
    layers : None, "all", int, "1,3" or list of int
        1-based noisy layers to report; default all.
    activation : str, optional
        Activation of every layer, overriding the file or the tuples.
    noisy_last_layer : bool, default False
        The last layer carries noise too.
    input_weights : array_like, shape (m,), optional
        Probability of each input row (summing to 1); default uniform.
    seed : int, default 0
        Philox key.
    backend : {"auto", "cpu", "cuda", "reference"}, default "auto"
    threads : int, default 0
        CPU threads; 0 uses all cores.
    control_variate : bool, default True
        As for :func:`mixture_entropy`, in every term.
    resample_inputs : {"none", "bootstrap"}, default "none"
        "bootstrap": draw m inputs with replacement (seeded by ``seed``), each drawn entry
        an input of its own with its own K passes, as the authors' code does; the result is
        then I of the resampled X, at most its ``input_entropy`` < ln m. Not with
        ``input_weights``.
    clip_at_zero : bool, default False
        Report max(0, I) for every I (and its debiased value and bounds), as the authors'
        code does.
    bias_correction : bool, default False
        Also the plug-in bias of each I and the debiased I (``I_XT_bias``,
        ``I_XT_debiased`` and their standard errors), from K, K/2 and K/4 passes per input
        extrapolated in 1/K. Needs K >= 4; about 3x the time.
    bounds : bool, default False
        Also ``I_XT_lower <= I_XT <= I_XT_upper`` (and for I(Y;T)) from the pairwise
        (Kolchinsky-Tracey) bounds of every term: n^2 kernel evaluations per mixture of n
        centres, (m K)^2 for h(T_l) at layers l >= 2.

    Returns
    -------
    MutualInformationResult
        ``layers`` (list of :class:`LayerInformation`), ``n_inputs``,
        ``samples_per_input``, ``beta``, ``backend``, ``seconds``; ``to_dict()`` gives
        the keys of ``infoflow mi --json``.

    Raises
    ------
    ValueError
        Bad shapes (inputs vs. the first layer, labels vs. inputs, chained layer shapes),
        NaN, beta <= 0, unknown backend or activation, a layer that is not noisy.
    OSError
        Model file missing or malformed.
    TypeError
        Not a real-valued array, a non-torch GPU array, or a malformed model list.
    """
    net = _network(model, activation)
    x = _arrays.as_matrix("inputs", inputs)
    y = _arrays.as_labels("labels", labels)
    iw = _arrays.as_vector("input_weights", input_weights)
    mcq, mcj, tse = _mc_budget(mc_queries, mc_samples_per_center, target_stderr)
    r = _infoflow.mutual_information(
        net, x, y, _arrays.positive("beta", beta),
        _arrays.count("samples_per_input", samples_per_input, 1), mcq, mcj, tse,
        _arrays.layer_list(layers), bool(noisy_last_layer), iw, _arrays.seed_value(seed),
        _arrays.text("backend", backend), _arrays.threads_value(threads), bool(control_variate),
        _arrays.text("resample_inputs", resample_inputs), bool(clip_at_zero), bool(bias_correction),
        bool(bounds))
    r["layers"] = [LayerInformation(**layer) for layer in r["layers"]]
    r["clip_at_zero"], r["bias_correction"], r["bounds"] = bool(clip_at_zero), bool(bias_correction), bool(bounds)
    r["seed"] = _arrays.seed_value(seed)
    return MutualInformationResult(**r)


def sample_information(samples, beta, labels=None, *, samples_per_input=None, mc_queries=0,
                       mc_samples_per_center=0, target_stderr=0.0, input_weights=None, seed=0,
                       backend="auto", threads=0, control_variate=True, clip_at_zero=False,
                       bias_correction=False, bounds=False):
    """I(X; T) (and I(Y; T)) from noisy-pass samples you propagated yourself.

    The estimator of :func:`mutual_information` for any model (a CNN, a transformer
    block): for each of m inputs x, K noisy forward passes give K samples S of a layer's
    representation *before* its noise beta Z; T = S + beta Z. Then I(X; T) = h(T) - h(T|X)
    with h(T) from the mixture of all m K samples and h(T|X) the mean over inputs of the
    mixture entropy of each input's K samples. :class:`infoflow.torch.InformationTracker`
    collects the samples through forward hooks and calls this.

    Parameters
    ----------
    samples : array_like, shape (m, K, ...) or (m K, d)
        Sample k of input x at ``samples[x, k]`` (trailing dimensions are flattened), or
        row x K + k of a 2-D array with ``samples_per_input=K``. float64 C-contiguous
        2-D arrays are read without a copy; CUDA tensors are copied to the host once (the
        estimation then runs on the GPU backend when ``backend`` is auto and a GPU answers).
    beta : float
        Noise standard deviation, > 0.
    labels : array_like of int, shape (m,), optional
        Class of each input; adds I(Y; T).
    samples_per_input : int, optional
        K, required for a 2-D ``samples``.
    mc_queries, mc_samples_per_center, target_stderr, input_weights, seed, backend, threads, control_variate
        As for :func:`mutual_information`.
    clip_at_zero, bias_correction, bounds
        As for :func:`mutual_information` (the bootstrap resample needs passes of its own
        for every duplicate: resample the inputs before propagating).

    Returns
    -------
    LayerInformation
        ``layer`` is 0 and ``width`` the flattened dimension d.

    Raises
    ------
    ValueError
        Bad shapes (rows not a multiple of K, labels not one per input), NaN, beta <= 0.
    TypeError
        Not a real-valued array.
    """
    x = _arrays.as_array("samples", samples)
    if x.ndim >= 3:
        if samples_per_input is not None and _arrays.count("samples_per_input", samples_per_input, 1) != int(x.shape[1]):
            raise ValueError(f"samples_per_input={samples_per_input} but samples have shape "
                             f"{tuple(x.shape)} (m, K, ...) with K = {x.shape[1]}")
        k = int(x.shape[1])
        x = x.reshape(int(x.shape[0]) * k, -1)
    elif x.ndim == 2:
        if samples_per_input is None:
            raise ValueError("a 2-D samples array (m K, d) needs samples_per_input=K; "
                             "or pass shape (m, K, d)")
        k = _arrays.count("samples_per_input", samples_per_input, 1)
    else:
        raise ValueError(f"samples must have shape (m, K, ...) or (m K, d), got {tuple(x.shape)}")
    if _arrays.is_torch(x):
        x = x.contiguous()
    y = _arrays.as_labels("labels", labels)
    iw = _arrays.as_vector("input_weights", input_weights)
    mcq, mcj, tse = _mc_budget(mc_queries, mc_samples_per_center, target_stderr)
    r = _infoflow.sample_information(
        x, k, y, _arrays.positive("beta", beta), mcq, mcj, tse, iw, _arrays.seed_value(seed),
        _arrays.text("backend", backend), _arrays.threads_value(threads), bool(control_variate),
        bool(clip_at_zero), bool(bias_correction), bool(bounds))
    r.pop("backend")
    return LayerInformation(**r)


def _plane_options(bin_size, num_bins, cluster_radius, estimate):
    """bin_size (None: 10 beta), num_bins and cluster_radius, checked as the CLI checks them."""
    b = 0.0 if bin_size is None else _arrays.positive("bin_size", bin_size)
    return (bool(estimate), b, _arrays.count("num_bins", num_bins, 1),
            _arrays.positive("cluster_radius", cluster_radius))


def measure_checkpoint(model, inputs, labels=None, *, beta, samples_per_input=100,
                       mc_queries=0, mc_samples_per_center=0, target_stderr=0.0,
                       activation=None, noisy_last_layer=False, input_weights=None, seed=0,
                       backend="auto", threads=0, control_variate=True, estimate=True,
                       bin_size=None, num_bins=30, cluster_radius=2.0, resample_inputs="none",
                       clip_at_zero=False, bias_correction=False, bounds=False):
    """Everything ``infoflow train`` measures at a checkpoint, for one network state.

    For every noisy layer: I(X; T_l) and I(Y; T_l) by sample propagation (as
    :func:`mutual_information`), the binned entropy H(Bin(S_l)), the binned I(X; Bin(S_l))
    and I(Y; Bin(S_l)) over the layer's observed range, the cluster entropy and the class
    distance ratio of the noise-free representation S_l. The same library call as
    ``infoflow train``: the same weights, data, options and seed give the numbers of its
    metrics.csv.

    Parameters
    ----------
    model, inputs, labels, beta, samples_per_input, mc_queries, mc_samples_per_center, target_stderr, activation, noisy_last_layer, input_weights, seed, backend, threads, control_variate, resample_inputs, clip_at_zero, bias_correction, bounds
        As for :func:`mutual_information` (every noisy layer is measured).
    estimate : bool, default True
        False: the baselines only (``train --no-estimate``); the SP fields are NaN.
    bin_size : float, optional
        Width of the H(Bin(S_l)) grid; default 10 beta.
    num_bins : int, default 30
        Bins of I_XT_bin / I_YT_bin over each layer's observed range.
    cluster_radius : float, default 2
        Single-linkage distance in units of beta.

    Returns
    -------
    CheckpointMeasures
    """
    net = _network(model, activation)
    x = _arrays.as_matrix("inputs", inputs)
    y = _arrays.as_labels("labels", labels)
    iw = _arrays.as_vector("input_weights", input_weights)
    mcq, mcj, tse = _mc_budget(mc_queries, mc_samples_per_center, target_stderr)
    est, b, nb_, cr = _plane_options(bin_size, num_bins, cluster_radius, estimate)
    r = _infoflow.measure_checkpoint(
        net, x, y, _arrays.positive("beta", beta), _arrays.count("samples_per_input", samples_per_input, 1),
        mcq, mcj, tse, bool(noisy_last_layer), iw, _arrays.seed_value(seed), _arrays.text("backend", backend),
        _arrays.threads_value(threads), bool(control_variate), est, b, nb_, cr,
        _arrays.text("resample_inputs", resample_inputs), bool(clip_at_zero), bool(bias_correction), bool(bounds))
    return CheckpointMeasures(layers=[LayerMeasures(**layer) for layer in r["layers"]],
                              representations=r["representations"], backend=r["backend"],
                              seconds=r["seconds"], resampled_rows=list(r["resampled_rows"]),
                              input_entropy=r["input_entropy"])
