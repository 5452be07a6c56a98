# Type stubs of the public API (python/infoflow/__init__.py): the signatures editors and
# type checkers see. Arrays are anything numpy.asarray accepts, or torch tensors.
import os
from typing import Any, Iterable, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from ._infoflow import Network as Network
from ._results import EntropyResult as EntropyResult
from ._results import LayerInformation as LayerInformation
from ._results import MutualInformationResult as MutualInformationResult
from ._results import LayerMeasures as LayerMeasures
from ._results import CheckpointMeasures as CheckpointMeasures

__version__: str
__all__: List[str]

ArrayLike = Union[npt.ArrayLike, Any]  # NumPy arrays, sequences, torch tensors
Backend = Literal["auto", "cpu", "cuda", "reference"]
Activation = Literal["tanh", "relu", "leaky-relu", "sigmoid", "linear"]
PathLike = Union[str, bytes, os.PathLike]
LayerSpec = Union[Tuple[ArrayLike, ArrayLike, str], Tuple[ArrayLike, ArrayLike]]
Model = Union[PathLike, Network, Sequence[LayerSpec]]
Layers = Union[None, str, int, Iterable[int]]

def cuda_available() -> bool: ...
def gaussian_entropy(d: int, sigma: float) -> float: ...
def mixture_entropy(
    centers: ArrayLike,
    sigma: float,
    *,
    samples_per_center: int = 1,
    seed: int = 0,
    backend: Backend = "auto",
    bounds: bool = False,
    weights: Optional[ArrayLike] = None,
    threads: int = 0,
    tolerance: float = 1e-6,
    control_variate: bool = True,
) -> EntropyResult: ...
def log_density(
    queries: ArrayLike,
    centers: ArrayLike,
    sigma: float,
    *,
    weights: Optional[ArrayLike] = None,
    backend: Backend = "auto",
    threads: int = 0,
    tolerance: float = 1e-6,
) -> npt.NDArray[np.float64]: ...
def load_network(path: PathLike, activation: Optional[Activation] = None) -> Network: ...
def mutual_information(
    model: Model,
    inputs: ArrayLike,
    labels: Optional[ArrayLike] = None,
    *,
    beta: float,
    samples_per_input: int = 100,
    mc_queries: int = 0,
    mc_samples_per_center: int = 0,
    target_stderr: float = 0.0,
    layers: Layers = None,
    activation: Optional[Activation] = None,
    noisy_last_layer: bool = False,
    input_weights: Optional[ArrayLike] = None,
    seed: int = 0,
    backend: Backend = "auto",
    threads: int = 0,
    control_variate: bool = True,
    resample_inputs: Literal["none", "bootstrap"] = "none",
    clip_at_zero: bool = False,
    bias_correction: bool = False,
    bounds: bool = False,
) -> MutualInformationResult: ...
def sample_information(
    samples: ArrayLike,
    beta: float,
    labels: Optional[ArrayLike] = None,
    *,
    samples_per_input: Optional[int] = None,
    mc_queries: int = 0,
    mc_samples_per_center: int = 0,
    target_stderr: float = 0.0,
    input_weights: Optional[ArrayLike] = None,
    seed: int = 0,
    backend: Backend = "auto",
    threads: int = 0,
    control_variate: bool = True,
    clip_at_zero: bool = False,
    bias_correction: bool = False,
    bounds: bool = False,
) -> LayerInformation: ...
def measure_checkpoint(
    model: Model,
    inputs: ArrayLike,
    labels: Optional[ArrayLike] = None,
    *,
    beta: float,
    samples_per_input: int = 100,
    mc_queries: int = 0,
    mc_samples_per_center: int = 0,
    target_stderr: float = 0.0,
    activation: Optional[Activation] = None,
    noisy_last_layer: bool = False,
    input_weights: Optional[ArrayLike] = None,
    seed: int = 0,
    backend: Backend = "auto",
    threads: int = 0,
    control_variate: bool = True,
    estimate: bool = True,
    bin_size: Optional[float] = None,
    num_bins: int = 30,
    cluster_radius: float = 2.0,
    resample_inputs: Literal["none", "bootstrap"] = "none",
    clip_at_zero: bool = False,
    bias_correction: bool = False,
    bounds: bool = False,
) -> CheckpointMeasures: ...
