"""Input checks shared by every entry point: clear errors, raised before any state changes."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_X(X: Any, *, input_shape: tuple[int, ...] | None = None, what: str = "X") -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 array of shape (n, ...), or raise.

    Args:
        X: array-like of numbers, shape (n, ...) with n >= 1.
        input_shape: the per-example shape the learner was fitted on; None accepts any.
        what: the argument's name, for messages.
    """
    if isinstance(X, (str, bytes)) or X is None:
        raise TypeError(f"{what} must be a numeric array of shape (n, ...), got {type(X).__name__}")
    arr = np.asarray(X)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(
            f"{what} must hold numbers (int, float or bool), got dtype {arr.dtype}; "
            "convert it with np.asarray(X, dtype=np.float32)"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{what} must hold real numbers, got complex dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(
            f"{what} must have shape (n, ...) with one row per example, got shape {arr.shape}; "
            "for a single example use X[None]"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{what} is an empty batch (shape {arr.shape}); pass at least one example")
    if input_shape is not None and tuple(arr.shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"{what} has examples of shape {tuple(arr.shape[1:])}, but this learner was fitted on "
            f"examples of shape {tuple(input_shape)}"
        )
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        bad = np.argwhere(~np.isfinite(out.reshape(len(out), -1)).all(axis=1)).ravel()
        raise ValueError(
            f"{what} contains NaN or infinite values (rows {bad[:5].tolist()}"
            f"{' ...' if len(bad) > 5 else ''}); clean or drop them first"
        )
    return out


def check_y(y: Any, n: int, *, what: str = "y") -> np.ndarray:
    """Return labels as a 1-D array of length ``n`` (integers or strings), or raise."""
    if y is None:
        raise TypeError(f"{what} is required: one label per row of X")
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D with one label per example, got shape {arr.shape}")
    if len(arr) != n:
        raise ValueError(f"X has {n} rows but {what} has {len(arr)} labels; they must match")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"{what} contains NaN or infinite labels")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{what} holds non-integer floats ({arr[arr != np.round(arr)][:3]}); labels must be integers or strings")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind in "iub":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind in "US":
        arr = arr.astype(str).astype(object)
    elif arr.dtype == object:
        for v in arr:
            if v is None or not isinstance(v, (str, int, np.integer)):
                raise TypeError(f"{what} labels must be integers or strings, found {v!r} ({type(v).__name__})")
        kinds = {isinstance(v, str) for v in arr}
        if len(kinds) > 1:
            raise TypeError(f"{what} mixes string and integer labels; use one kind")
    else:
        raise TypeError(f"{what} must hold integer or string labels, got dtype {arr.dtype}")
    if arr.dtype != object and (arr == -1).any():
        raise ValueError(f"{what} uses -1, which predict() reserves for 'unknown'; use another label")
    return arr
