"""Checks and conversions of user input, done before any compiled work starts."""

import numbers

import numpy as np

from .kernels import losses
from .kernels.network import all_finite


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_positive_float(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_features(X, n_features, dtype, name="X", finite=True):
    """``X`` as a C-contiguous 2-D array of ``dtype`` with ``n_features`` columns.

    An array that already has that form is returned as it is, without a copy.
    ``finite=False`` leaves the NaN/inf check to the caller (``predict``
    does it in its compiled call, which saves a call on a one-row predict);
    ``not_finite_message`` is its error.
    """
    if isinstance(X, np.ndarray) and X.dtype == dtype and X.ndim == 2 and X.flags.c_contiguous:
        arr = X
    else:
        arr = np.asarray(X)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        if arr.ndim != 2:
            raise ValueError(
                f"{name} must be 2-D (rows, features), got shape {arr.shape}; "
                "use X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single row"
            )
        with np.errstate(over="ignore"):  # a value beyond the dtype's range becomes inf, refused below
            arr = np.ascontiguousarray(arr, dtype=dtype)
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, the network expects {n_features}")
    if finite and not all_finite(arr.reshape(-1)):
        raise ValueError(not_finite_message(name, dtype))
    return arr


def not_finite_message(name, dtype):
    return f"{name} contains NaN or inf (or values beyond the {np.dtype(dtype).name} range)"


def check_targets(y, n_rows, n_out, loss_code, dtype, name="y"):
    """Targets in the kernel's form: ``(y2d, labels)``, one of them empty.

    ``y2d`` is (n, n_out) of ``dtype``; ``labels`` is (n,) int64 class indices
    (cross_entropy with 1-D integer targets only).
    """
    arr = np.asarray(y)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.shape[:1] != (n_rows,):
        raise ValueError(f"{name} has {arr.shape[0] if arr.ndim else 0} rows, X has {n_rows}")
    no_labels = np.empty(0, dtype=np.int64)
    if loss_code == losses.CROSS_ENTROPY and arr.ndim == 1:
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise ValueError(f"{name}: class labels must be whole numbers")
        labels = np.ascontiguousarray(arr, dtype=np.int64)
        if labels.min() < 0 or labels.max() >= n_out:
            raise ValueError(
                f"{name}: class labels must lie in 0..{n_out - 1} for {n_out} outputs, "
                f"got {labels.min()}..{labels.max()}"
            )
        return np.empty((0, n_out), dtype=dtype), labels
    if arr.ndim == 1 and n_out == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2 or arr.shape[1] != n_out:
        raise ValueError(f"{name} must have shape ({n_rows}, {n_out}), got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=dtype)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    if loss_code in (losses.CROSS_ENTROPY, losses.BINARY_CROSS_ENTROPY):
        if arr.min() < 0 or arr.max() > 1:
            raise ValueError(f"{name}: {losses.NAMES[loss_code]} targets must lie in [0, 1]")
    return arr, no_labels


def check_sample_weight(sample_weight, n_rows, name="sample_weight"):
    """Row weights as a float64 (n_rows,) array, or an empty array for None (every weight 1)."""
    if sample_weight is None:
        return np.empty(0)
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {w.dtype}")
    if w.ndim == 0:
        w = np.full(n_rows, float(w))
    if w.shape != (n_rows,):
        raise ValueError(f"{name} must have shape ({n_rows},), got {w.shape}")
    w = np.asarray(w, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"{name} must be finite and >= 0")
    total = w.sum()
    if not total > 0:
        raise ValueError(f"{name} must have a positive sum")
    return np.ascontiguousarray(w)
