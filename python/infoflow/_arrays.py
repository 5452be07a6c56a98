"""Argument checks shared by the public functions: arrays, counts, names.

The zero-copy rule lives here and in the compiled module: a float64 C-contiguous NumPy
array (or CPU tensor exposing DLPack) is handed to the library as is, and the library reads
the caller's buffer. Anything else is converted once (float32 -> float64, strided -> C
order) by NumPy or PyTorch while the call is made. log_density of two torch CUDA tensors
reads them in place on their GPU (as_device_matrix); other functions copy CUDA tensors to
the host once.
"""

from __future__ import annotations

import math
import operator
import os

import numpy as np

# DLPack device types (dlpack.h): host memory, pinned host memory, and the CUDA family.
_DL_CPU, _DL_CUDA_HOST = 1, 3
_DL_CUDA, _DL_CUDA_MANAGED, _DL_ROCM = 2, 13, 10


def reject_device_arrays(name, x):
    """Raise TypeError for arrays that live on a GPU (torch CUDA tensors, CuPy arrays)."""
    device = getattr(x, "__dlpack_device__", None)
    if device is None or isinstance(x, np.ndarray):
        return
    try:
        kind = int(device()[0])
    except Exception:  # not a working DLPack object: np.asarray decides later
        return
    if kind in (_DL_CUDA, _DL_CUDA_MANAGED, _DL_ROCM):
        raise TypeError(
            f"{name}: GPU arrays other than torch tensors are not supported; copy to the host "
            f"first (.get() / .cpu()) (got a {type(x).__name__} on {getattr(x, 'device', 'a GPU')})"
        )
    if kind not in (_DL_CPU, _DL_CUDA_HOST):
        raise TypeError(
            f"{name}: arrays on device type {kind} are not supported; call .cpu()"
        )


def _is_torch(x):
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "__dlpack__")


is_torch = _is_torch


def is_torch_cuda(x):
    """A torch tensor in GPU memory."""
    return _is_torch(x) and getattr(x, "is_cuda", False)


def as_device_matrix(name, x):
    """A torch CUDA tensor as log_density_device reads it in place: float32 or float64
    (other real dtypes converted on the device), 1-D or 2-D with contiguous columns."""
    import torch
    if getattr(x, "requires_grad", False):
        x = x.detach()
    if x.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be a 2-D array (rows x d) or 1-D (d = 1), "
            f"got {x.ndim}-D array of shape {tuple(x.shape)}"
        )
    if x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32)
    if x.ndim == 2 and x.shape[1] > 1 and x.stride(1) != 1:
        x = x.contiguous()
    return x


def torch_float64():
    import torch
    return torch.float64


def _is_float64(x):
    return str(getattr(x, "dtype", "")) in ("float64", "torch.float64")


def _available_memory():
    """MemAvailable in bytes, or None where unknown (then nothing is refused)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _as_float64_c(name, x):
    """The one conversion of a NumPy array that is not float64 in native byte order and C
    order (float32, integers, big-endian, a slice, a broadcast view), checked against the
    memory it needs first: a broadcast view of 10**12 rows is 8 bytes per element once
    copied."""
    if x.dtype == np.float64 and x.dtype.isnative and x.flags.c_contiguous:
        return x
    need = int(x.size) * 8
    avail = _available_memory()
    if avail is not None and need > avail:
        raise MemoryError(f"{name}: converting the array of shape {tuple(x.shape)} to float64 needs "
                          f"{need / 2**30:.1f} GiB, only {avail / 2**30:.1f} GiB of memory is available")
    try:
        return np.ascontiguousarray(x, dtype=np.float64)
    except MemoryError:
        raise MemoryError(f"{name}: converting the array of shape {tuple(x.shape)} to float64 needs "
                          f"{need / 2**30:.1f} GiB") from None


def as_array(name, x, convert=True):
    """A NumPy array or a float64 DLPack CPU tensor holding real numbers; never copies a
    float64 C-contiguous array. NumPy arrays of other dtypes, byte orders or layouts are
    converted here, once; torch tensors by the compiled module."""
    if x is None:
        raise TypeError(f"{name} must be an array, got None")
    if hasattr(x, "detach") and getattr(x, "requires_grad", False):
        x = x.detach()  # a view: DLPack refuses tensors that require grad
    if is_torch_cuda(x):
        # The library reads host memory: one device-to-host copy (small next to the n^2
        # kernel work); backend "auto" then runs the estimation on the GPU.
        x = x.to(device="cpu", dtype=torch_float64())
    reject_device_arrays(name, x)
    if _is_torch(x):
        if x.is_complex():
            raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
        return x  # any real dtype: nanobind converts with .to(torch.float64).contiguous()
    if not isinstance(x, np.ndarray) and not (hasattr(x, "__dlpack__") and _is_float64(x)):
        try:
            x = np.asarray(x)
        except Exception as e:
            raise TypeError(f"{name} must be an array of numbers, got {type(x).__name__}: {e}") from None
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
        if convert:
            x = _as_float64_c(name, x)
    return x


def as_matrix(name, x):
    """A 2-D array (rows x d) or 1-D (n values, d = 1)."""
    x = as_array(name, x)
    if x.ndim not in (1, 2):
        raise ValueError(
            f"{name} must be a 2-D array (rows x d) or 1-D (d = 1), "
            f"got {x.ndim}-D array of shape {tuple(x.shape)}"
        )
    return x


def columns(x):
    return 1 if x.ndim == 1 else int(x.shape[1])


def as_vector(name, x):
    """None, or a 1-D array."""
    if x is None:
        return None
    x = as_array(name, x)
    if x.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {tuple(x.shape)}")
    return x


def as_labels(name, y):
    """None, or 1-D int64 class labels (integer dtypes, or floats holding whole numbers)."""
    if y is None:
        return None
    y = np.asarray(as_array(name, y, convert=False))
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of integers, got shape {y.shape}")
    # As the CLI reads label files: exact int64 values, nothing wrapped or rounded.
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{name} must hold whole numbers (class labels)")
        if y.size and np.max(np.abs(y)) > 2.0**53:
            raise ValueError(f"{name}: a float label beyond 2**53 is not an exact integer; pass integer labels")
    elif y.dtype.kind == "u":
        if y.size and int(np.max(y)) > 2**63 - 1:
            raise OverflowError(f"{name}: label {int(np.max(y))} is too large for int64")
    elif y.dtype.kind not in "ib":
        raise TypeError(f"{name} must hold integers, got dtype {y.dtype}")
    if not (y.dtype == np.int64 and y.dtype.isnative and y.flags.c_contiguous):
        need, avail = int(y.size) * 8, _available_memory()
        if avail is not None and need > avail:
            raise MemoryError(f"{name}: converting the array of shape {tuple(y.shape)} to int64 needs "
                              f"{need / 2**30:.1f} GiB, only {avail / 2**30:.1f} GiB of memory is available")
    return np.ascontiguousarray(y, dtype=np.int64)


_MAX_COUNT = 2**64 - 1


def count(name, v, minimum, maximum=_MAX_COUNT):
    """An integer in [minimum, maximum]; bools are refused (True is not a count). Past
    2**64 - 1 it is an OverflowError, as the CLI refuses it, never a wrapped value."""
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        v = operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(v).__name__}") from None
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if v > maximum:
        if maximum == _MAX_COUNT:
            raise OverflowError(f"{name} must be < 2**64, got {v}")
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def threads_value(v):
    """0 (all cores) to 1024, as the CLI's --threads."""
    v = count("threads", v, 0, _MAX_COUNT)
    if v > 1024:
        raise ValueError(f"threads must be between 0 (all cores) and 1024, got {v}")
    return v


def seed_value(seed):
    """0 <= seed < 2**64, as the CLI's --seed."""
    return count("seed", seed, 0)


def real(name, v):
    """A Python or NumPy real number as float; strings and bools are refused (float("1")
    would read a string), and an int beyond float64 is an OverflowError naming the argument."""
    if isinstance(v, (str, bytes, bool, np.bool_)) or isinstance(v, complex):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}")
    try:
        return float(v)
    except OverflowError:
        raise OverflowError(f"{name} is too large for a float64, got {v}") from None
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {type(v).__name__}") from None


def positive(name, v):
    """A finite real > 0 (sigma, beta), as the CLI's --sigma / --beta."""
    v = real(name, v)
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {v}")
    return v


def non_negative(name, v):
    """A finite real >= 0 (target_stderr: 0 means off)."""
    v = real(name, v)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {v}")
    return v


def tolerance_value(v):
    v = real("tolerance", v)
    if not 0 <= v < 1:
        raise ValueError(f"tolerance must be in [0, 1), got {v}")
    return v


def text(name, v):
    if not isinstance(v, str):
        raise TypeError(f"{name} must be a string, got {type(v).__name__}")
    return v


def is_path(model):
    return isinstance(model, (str, bytes, os.PathLike))


def layer_list(layers):
    """None / "all" -> [] (every noisy layer); an int, "1,3" or an iterable of 1-based ints."""
    if layers is None or (isinstance(layers, str) and layers.strip() == "all"):
        return []
    if isinstance(layers, str):
        try:
            layers = [int(s) for s in layers.split(",")]
        except ValueError:
            raise ValueError(f"layers: {layers!r} is not 'all' or 1-based layer numbers like '1,3'") from None
    elif isinstance(layers, (int, np.integer)):
        layers = [layers]
    return [count("layers entry", v, 1) for v in layers]
