"""Result objects returned by infoflow.mixture_entropy and infoflow.mutual_information."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Optional


def _json_number(v):
    """The CLI's JSON has no NaN: an undefined value is null."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


@dataclass(frozen=True)
class EntropyResult:
    """Monte Carlo estimate of the differential entropy of a Gaussian mixture.

    Attributes
    ----------
    entropy : float
        Estimate of h(g) in nats.
    stderr : float
        Its Monte Carlo standard error in nats (nan for a single draw).
    kl_upper : float or None
        Kolchinsky-Tracey pairwise upper bound (KL), in nats; None unless ``bounds=True``.
    bhattacharyya_lower : float or None
        Pairwise lower bound (Bhattacharyya), in nats; None unless ``bounds=True``.
    n, d : int
        Number of centres and their dimension.
    samples : int
        Monte Carlo queries drawn, ``n * samples_per_center``.
    sigma : float
        Standard deviation of every component.
    samples_per_center, seed : int
        The arguments the estimate was drawn with.
    backend : str
        The backend that ran (``"cpu"``, ``"cuda"`` or ``"reference"``).
    seconds : float
        Wall time of the computation.
    control_variate : bool
        Whether the control variate was subtracted (the default).
    tolerance : float
        The pruning bound the log-sum-exps were computed with.
    """

    entropy: float
    stderr: float
    kl_upper: Optional[float]
    bhattacharyya_lower: Optional[float]
    n: int
    d: int
    samples: int
    sigma: float
    samples_per_center: int
    seed: int
    backend: str
    seconds: float
    control_variate: bool = True
    tolerance: float = 1e-6

    def to_dict(self):
        """The keys of ``infoflow entropy --json`` (without ``input``), NaN as None."""
        out = {
            "entropy_nats": _json_number(self.entropy),
            "stderr_nats": _json_number(self.stderr),
            "n": self.n,
            "d": self.d,
            "sigma": self.sigma,
            "samples": self.samples,
            "samples_per_center": self.samples_per_center,
            "seed": self.seed,
            "backend": self.backend,
            "control_variate": self.control_variate,
            "tolerance": self.tolerance,
            "ranks": 1,  # one process; MPI runs go through the CLI
            "seconds": self.seconds,
        }
        if self.kl_upper is not None:
            out["kl_upper_nats"] = _json_number(self.kl_upper)
            out["bhattacharyya_lower_nats"] = _json_number(self.bhattacharyya_lower)
        return out

    def __repr__(self):
        bounds = ""
        if self.kl_upper is not None:
            bounds = f", bounds=[{self.bhattacharyya_lower:.6f}, {self.kl_upper:.6f}]"
        return (
            f"EntropyResult(entropy={self.entropy:.6f} nats +- {self.stderr:.6f}{bounds}, "
            f"n={self.n}, d={self.d}, sigma={self.sigma:g}, samples={self.samples}, "
            f"backend={self.backend!r}, seconds={self.seconds:.3g})"
        )


@dataclass(frozen=True)
class LayerInformation:
    """Information estimates for one noisy layer T_l (all values in nats).

    Attributes
    ----------
    layer : int
        1-based layer number, as the CLI prints it.
    width : int
        Number of units of the layer.
    h_T, h_T_stderr : float
        Entropy h(T_l) and its Monte Carlo standard error.
    h_T_given_X, h_T_given_X_stderr : float
        Conditional entropy h(T_l | X) and its standard error (0 for layer 1, where it is
        exact).
    I_XT, I_XT_stderr : float
        I(X; T_l) = h(T_l) - h(T_l | X) and its standard error.
    I_YT, I_YT_stderr : float or None
        I(Y; T_l) and its standard error; None without labels.
    mc_queries : int
        Monte Carlo queries spent on h(T_l).
    target_stderr_met : bool
        False when ``target_stderr`` was not reached because a term stopped at the query
        cap (2**24): its standard error is then larger than asked for. True otherwise.
    numerical_error : float
        A bound on how far float32 rounding and pruning can move any I of this layer from
        float64 with every pair (same draws); not in the standard errors; 0 on the
        reference backend.
    I_XT_bias, I_XT_bias_stderr, I_XT_debiased, I_XT_debiased_stderr : float or None
        With ``bias_correction``: the plug-in bias of I(X; T_l) estimated by extrapolation
        in 1/K, I_XT - I_XT_bias, and their Monte Carlo standard errors; None otherwise.
    I_YT_bias, I_YT_bias_stderr, I_YT_debiased, I_YT_debiased_stderr : float or None
        The same for I(Y; T_l) (with labels).
    I_XT_lower, I_XT_upper, I_YT_lower, I_YT_upper : float or None
        With ``bounds``: pairwise (Kolchinsky-Tracey) bounds of I(X; T_l) and I(Y; T_l)
        (of the plug-in mixtures; of the true I at layer 1); None otherwise.
    """

    layer: int
    width: int
    h_T: float
    h_T_stderr: float
    h_T_given_X: float
    h_T_given_X_stderr: float
    I_XT: float
    I_XT_stderr: float
    I_YT: Optional[float]
    I_YT_stderr: Optional[float]
    mc_queries: int
    target_stderr_met: bool = True
    numerical_error: float = 0.0
    I_XT_bias: Optional[float] = None
    I_XT_bias_stderr: Optional[float] = None
    I_XT_debiased: Optional[float] = None
    I_XT_debiased_stderr: Optional[float] = None
    I_YT_bias: Optional[float] = None
    I_YT_bias_stderr: Optional[float] = None
    I_YT_debiased: Optional[float] = None
    I_YT_debiased_stderr: Optional[float] = None
    I_XT_lower: Optional[float] = None
    I_XT_upper: Optional[float] = None
    I_YT_lower: Optional[float] = None
    I_YT_upper: Optional[float] = None

    def to_dict(self):
        """One entry of ``layers`` in ``infoflow mi --json``."""
        out = {
            "layer": self.layer,
            "width": self.width,
            "h_T_nats": self.h_T,
            "h_T_stderr_nats": _json_number(self.h_T_stderr),
            "h_T_given_X_nats": self.h_T_given_X,
            "I_XT_nats": self.I_XT,
            "I_XT_stderr_nats": _json_number(self.I_XT_stderr),
            "mc_queries": self.mc_queries,
            "target_stderr_met": self.target_stderr_met,
            "numerical_error_nats": self.numerical_error,
        }
        if self.I_YT is not None:
            out["I_YT_nats"] = _json_number(self.I_YT)
            out["I_YT_stderr_nats"] = _json_number(self.I_YT_stderr)
        for key in ("I_XT_bias", "I_XT_bias_stderr", "I_XT_debiased", "I_XT_debiased_stderr",
                    "I_YT_bias", "I_YT_bias_stderr", "I_YT_debiased", "I_YT_debiased_stderr",
                    "I_XT_lower", "I_XT_upper", "I_YT_lower", "I_YT_upper"):
            value = getattr(self, key)
            if value is not None:
                out[key + "_nats"] = _json_number(value)
        return out


@dataclass(frozen=True)
class MutualInformationResult:
    """I(X; T_l) (and I(Y; T_l)) of the noisy layers of a network, by sample propagation.

    Attributes
    ----------
    layers : list of LayerInformation
        One record per reported layer, in order.
    n_inputs : int
        Number of input rows (X is uniform over them unless ``input_weights`` was given).
    samples_per_input : int
        Noisy forward passes per input.
    beta : float
        Noise standard deviation of every noisy layer.
    backend : str
        The backend that ran.
    seconds : float
        Wall time of the computation.
    resample_inputs : str
        "none", or "bootstrap" (the inputs were drawn with replacement).
    resampled_rows : list of int
        With the bootstrap: the input row each of the m entries was drawn from.
    input_entropy : float
        H(X) of the inputs the estimator saw, the ceiling of every I(X; T_l): ln m for X
        uniform, H(input_weights), or the bootstrap draw's -sum (c/m) ln(c/m).
    clip_at_zero, bias_correction, bounds : bool
        The options the estimate was made with.
    seed : int
        The Philox seed (noise, Monte Carlo draws and the bootstrap draw).
    """

    layers: List[LayerInformation]
    n_inputs: int
    samples_per_input: int
    beta: float
    backend: str
    seconds: float
    resample_inputs: str = "none"
    resampled_rows: List[int] = field(default_factory=list)
    input_entropy: float = math.nan
    clip_at_zero: bool = False
    bias_correction: bool = False
    bounds: bool = False
    seed: int = 0

    def to_dict(self):
        """The object ``infoflow mi --json`` prints (same keys, NaN as None)."""
        return {
            "beta": self.beta,
            "n_inputs": self.n_inputs,
            "samples_per_input": self.samples_per_input,
            "backend": self.backend,
            "ranks": 1,
            "seconds": self.seconds,
            "layers": [layer.to_dict() for layer in self.layers],
            "resample_inputs": self.resample_inputs,
            "input_entropy_nats": _json_number(self.input_entropy),
            "clip_at_zero": self.clip_at_zero,
            "bias_correction": self.bias_correction,
            "bounds": self.bounds,
            "seed": self.seed,
        }

    def __repr__(self):
        labels = bool(self.layers) and self.layers[0].I_YT is not None
        lines = [
            f"MutualInformationResult: {self.n_inputs} inputs x {self.samples_per_input} "
            f"noisy passes, beta = {self.beta:g} (nats; +- standard error + numerical error bound)",
            "layer width     h(T)     h(T|X)      I(X;T)" + ("             I(Y;T)" if labels else ""),
        ]
        for l in self.layers:
            row = (f"{l.layer:5d} {l.width:5d} {l.h_T:9.4f} {l.h_T_given_X:10.4f} "
                   f"{l.I_XT:9.4f} +- {l.I_XT_stderr + l.numerical_error:.4f}")
            if labels:
                row += f"  {l.I_YT:9.4f} +- {l.I_YT_stderr + l.numerical_error:.4f}"
            lines.append(row)
        lines.append(f"backend {self.backend}, {self.seconds:.2f} s")
        return "\n".join(lines)


@dataclass(frozen=True)
class LayerMeasures(LayerInformation):
    """Everything ``infoflow train`` measures for one noisy layer at one checkpoint (a row
    of its metrics.csv): the SP estimates of :class:`LayerInformation` (NaN with
    ``estimate=False``) and the baselines on the noise-free representation S_l.

    Attributes
    ----------
    H_bin : float
        Binned entropy H(Bin(S_l)) on the grid of width ``bin_size``.
    I_XT_bin, I_YT_bin : float
        I(X; Bin(S_l)) and I(Y; Bin(S_l)) with ``num_bins`` bins over the layer's
        observed range, as Shwartz-Ziv and Tishby's code computes them; I_YT_bin is None
        without labels.
    H_cluster : float
        Entropy of the single-linkage clusters of S_l at distance ``cluster_radius`` beta.
    clusters : int
        Number of those clusters.
    class_distance_ratio : float or None
        Mean same-class over mean different-class distance of S_l; None without labels.
    """

    H_bin: float = float("nan")
    I_XT_bin: float = float("nan")
    I_YT_bin: Optional[float] = None
    H_cluster: float = float("nan")
    clusters: int = 0
    class_distance_ratio: Optional[float] = None

    def to_dict(self):
        """One row of ``infoflow train``'s metrics.csv, by column name (without epoch and losses)."""
        out = super().to_dict()
        out.update({"H_bin_nats": _json_number(self.H_bin), "I_XT_bin_nats": _json_number(self.I_XT_bin),
                    "H_cluster_nats": _json_number(self.H_cluster), "clusters": self.clusters})
        if self.I_YT_bin is not None:
            out["I_YT_bin_nats"] = _json_number(self.I_YT_bin)
        if self.class_distance_ratio is not None:
            out["class_distance_ratio"] = _json_number(self.class_distance_ratio)
        return out


@dataclass(frozen=True)
class CheckpointMeasures:
    """The information plane of one network state (:func:`infoflow.measure_checkpoint`).

    Attributes
    ----------
    layers : list of LayerMeasures
        Every noisy layer, first to last.
    representations : list of numpy.ndarray
        The noise-free representation S_l of every layer (m x d_l), the last layer too.
    backend : str
        The backend the estimates ran on.
    seconds : float
        Wall time.
    resampled_rows : list of int
        With ``resample_inputs="bootstrap"``, the input row each entry was drawn from.
    input_entropy : float
        H(X) of the inputs the estimator saw, the ceiling of every I(X; T_l).
    """

    layers: List[LayerMeasures]
    representations: list
    backend: str
    seconds: float
    resampled_rows: list = field(default_factory=list)
    input_entropy: float = float("nan")

    def __repr__(self):
        lines = ["CheckpointMeasures (nats)",
                 "layer width    I(X;T)  +- se       I(Y;T)   H_bin  I_XT_bin  H_cluster clusters"]
        for l in self.layers:
            iyt = "" if l.I_YT is None else f"{l.I_YT:9.4f}"
            lines.append(f"{l.layer:5d} {l.width:5d} {l.I_XT:9.4f} +- {l.I_XT_stderr:.4f} {iyt:>12} "
                         f"{l.H_bin:7.4f} {l.I_XT_bin:9.4f} {l.H_cluster:10.4f} {l.clusters:8d}")
        lines.append(f"backend {self.backend}, {self.seconds:.2f} s")
        return "\n".join(lines)
