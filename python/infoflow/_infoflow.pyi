"""
Compiled core of the infoflow package; use the functions of `infoflow` instead.
"""

from collections.abc import Sequence
from typing import Annotated

import numpy
from numpy.typing import NDArray


def version() -> str: ...

def cuda_available() -> bool: ...

def cuda_unavailable_reason() -> str: ...

def gaussian_entropy(d: int, sigma: float) -> float: ...

def _data_pointer(array: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)]) -> int: ...

def mixture_entropy(centers: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], sigma: float, samples_per_center: int, seed: int, backend: str, bounds: bool, weights: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)] | None, threads: int, tolerance: float, control_variate: bool = True) -> dict: ...

def mixture_entropy_device(centers: Annotated[NDArray, dict(device='cuda', writable=False)], sigma: float, samples_per_center: int, seed: int, backend: str, bounds: bool, weights: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)] | None, control_variate: bool = True) -> dict: ...

def log_density(queries: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], centers: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], sigma: float, weights: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)] | None, backend: str, threads: int, tolerance: float) -> Annotated[NDArray[numpy.float64], dict(shape=(None,))]: ...

def log_density_backward(queries: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], centers: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], sigma: float, weights: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)] | None, log_density: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], grad: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], want_queries: bool, want_centers: bool, want_weights: bool, threads: int, backend: str = 'auto') -> tuple: ...

def monte_carlo_normals(seed: int, row0: int, rows: int, d: int) -> Annotated[NDArray[numpy.float64], dict(shape=(None, None))]: ...

def log_density_device(queries: Annotated[NDArray, dict(device='cuda', writable=False)], centers: Annotated[NDArray, dict(device='cuda', writable=False)], sigma: float, weights: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)] | None) -> Annotated[NDArray[numpy.float64], dict(shape=(None,))]: ...

def sample_information(samples: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], samples_per_input: int, labels: Annotated[NDArray[numpy.int64], dict(order='C', device='cpu', writable=False)] | None, beta: float, mc_queries: int, mc_samples_per_center: int, target_stderr: float, input_weights: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)] | None, seed: int, backend: str, threads: int, control_variate: bool = True, clip_at_zero: bool = False, bias_correction: bool = False, bounds: bool = False) -> dict: ...

class Network:
    """
    A noisy feed-forward network (opaque; see infoflow.mutual_information).
    """

    @property
    def layers(self) -> list[tuple[int, int, str]]:
        """[(in, out, activation)] per layer"""

    def __repr__(self) -> str: ...

def load_network(path: str, activation: str = '') -> Network: ...

def network_from_layers(layers: Sequence[tuple[Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], str]]) -> Network: ...

def _cli_main(argv: Sequence[str]) -> int:
    """
    Runs the infoflow command line on argv (argv[0] is the program name shown in usage) and returns its exit code. Writes to the process's file descriptors 1 and 2, not to sys.stdout: for `python -m infoflow`, not for use inside a program.
    """

def mutual_information(model: Network, inputs: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], labels: Annotated[NDArray[numpy.int64], dict(order='C', device='cpu', writable=False)] | None, beta: float, samples_per_input: int, mc_queries: int, mc_samples_per_center: int, target_stderr: float, layers: Sequence[int], noisy_last_layer: bool, input_weights: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)] | None, seed: int, backend: str, threads: int, control_variate: bool = True, resample_inputs: str = 'none', clip_at_zero: bool = False, bias_correction: bool = False, bounds: bool = False) -> dict: ...

def measure_checkpoint(model: Network, inputs: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], labels: Annotated[NDArray[numpy.int64], dict(order='C', device='cpu', writable=False)] | None, beta: float, samples_per_input: int, mc_queries: int, mc_samples_per_center: int, target_stderr: float, noisy_last_layer: bool, input_weights: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)] | None, seed: int, backend: str, threads: int, control_variate: bool, estimate: bool, bin_size: float, num_bins: int, cluster_radius: float, resample_inputs: str = 'none', clip_at_zero: bool = False, bias_correction: bool = False, bounds: bool = False) -> dict: ...

def measure_layer(samples: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], samples_per_input: int, clean: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)], labels: Annotated[NDArray[numpy.int64], dict(order='C', device='cpu', writable=False)] | None, beta: float, mc_queries: int, mc_samples_per_center: int, target_stderr: float, input_weights: Annotated[NDArray[numpy.float64], dict(order='C', device='cpu', writable=False)] | None, seed: int, backend: str, threads: int, control_variate: bool, estimate: bool, bin_size: float, num_bins: int, cluster_radius: float, clip_at_zero: bool = False, bias_correction: bool = False, bounds: bool = False) -> dict: ...
