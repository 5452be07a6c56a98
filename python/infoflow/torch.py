"""PyTorch integration: make a network noisy, and measure I(X; T_l) of its layers.

Three added lines log the information flow of a training script::

    from infoflow.torch import GaussianNoise, InformationTracker
    model = nn.Sequential(nn.Linear(784, 256), nn.Tanh(), GaussianNoise(0.1), ...)  # noisy layers
    tracker = InformationTracker(model)            # every GaussianNoise module, its own beta
    ...
    print(tracker.measure(x_val, y_val))           # once per epoch: {name: LayerInformation}

The estimator is the sample propagation of Goldfeld et al. (ICML 2019; docs/method.md#sample-propagation): for
each input, K noisy forward passes give K samples of a layer's representation S before
its noise; T = S + beta Z; I(X; T) = h(T) - h(T|X) from those samples
(:func:`infoflow.sample_information`). Every number comes from the compiled library.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from . import _arrays, sample_information

__all__ = ["GaussianNoise", "InformationTracker"]


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
    """

    def __init__(self, model, layers=None, *, beta=None, samples_per_input=10, batch_size=1024,
                 mc_queries=0, target_stderr=0.0, seed=0, backend="auto", threads=0):
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
                            threads=_arrays.threads_value(threads))
        self.seed = self.options["seed"]
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
        self.history = []  # (step, {name: LayerInformation}) for every measure(step=...)

    def _passes(self, inputs):
        """K passes over the inputs; {name: tensor (m, K, d)} of the representations S."""
        captured = {name: [] for name in self.layers}
        hooks = []
        for name, m in self.layers.items():
            if isinstance(m, GaussianNoise):
                hook = (lambda n: lambda mod, args, out: captured[n].append(args[0].detach().flatten(1)))(name)
            else:
                hook = (lambda n: lambda mod, args, out: captured[n].append(out.detach().flatten(1)))(name)
            hooks.append(m.register_forward_hook(hook))
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
        """I(X; T_l) (and I(Y; T_l) with labels) of every tracked layer.

        X is uniform over the rows of ``inputs`` (a tensor on the model's device).

        Returns
        -------
        dict of str -> LayerInformation
            In the order of the layers; ``width`` is the flattened size of S.
        """
        if not torch.is_tensor(inputs):
            raise TypeError(f"inputs must be a torch tensor, got {type(inputs).__name__}")
        if labels is not None:
            labels = torch.as_tensor(labels).detach().cpu().reshape(-1).numpy()
            if labels.shape[0] != inputs.shape[0]:
                raise ValueError(f"labels has {labels.shape[0]} entries for {inputs.shape[0]} inputs")
        samples = self._passes(inputs)
        out = OrderedDict()
        for name, s in samples.items():
            out[name] = sample_information(s, self.betas[name], labels, **self.options)
        if step is not None:
            self.history.append((step, out))
        return out
