"""Input checks shared by every entry point: clear errors, raised before any state changes."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_X(X: Any, *, input_shape: tuple[int, ...] | None = None, what: str = "X", who: str = "this learner") -> np.ndarray:
    """Return ``X`` as a C-contiguous float32 array of shape (n, ...), or raise.

    Args:
        X: array-like of numbers, shape (n, ...) with n >= 1 (an object array of numbers
            is read as numbers).
        input_shape: the per-example shape the learner was fitted on; None accepts any.
        what: the argument's name, for messages.
        who: the learner's name, for messages.
    """
    if isinstance(X, (str, bytes)) or X is None:
        raise TypeError(f"{what} must be a numeric array of shape (n, ...), got {type(X).__name__}")
    if type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"{what} is a sparse {type(X).__name__}; sparse input is not supported: pass a dense array "
                        f"({what}.toarray())")
    arr = np.asarray(X)
    if arr.dtype == object:
        arr = _object_numbers(arr, what)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(
            f"{what} must hold numbers (int, float or bool), got dtype {arr.dtype}; "
            "convert it with np.asarray(X, dtype=np.float32)"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{what} must hold real numbers, got complex dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(
            f"{what} must have shape (n, ...) with one row per example, got shape {arr.shape}; "
            "Reshape your data: for a single example use X[None]"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{what} is an empty batch (shape {arr.shape}); pass at least one example")
    if 0 in arr.shape[1:]:
        raise ValueError(f"{what} has examples of shape {tuple(arr.shape[1:])}, which hold no values: 0 feature(s) "
                         f"(shape={arr.shape}) while a minimum of 1 is required; each example needs at least one")
    if input_shape is not None and tuple(arr.shape[1:]) != tuple(input_shape):
        if arr.ndim == 2 and len(input_shape) == 1:  # (scikit-learn's wording, for flat rows)
            raise ValueError(f"{what} has {arr.shape[1]} features, but {who} is expecting {input_shape[0]} features as input "
                             f"(examples of shape {tuple(input_shape)})")
        raise ValueError(
            f"{what} has examples of shape {tuple(arr.shape[1:])}, but {who} was fitted on "
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


def _object_numbers(arr: np.ndarray, what: str) -> np.ndarray:
    """An object array of numbers as float64 (NumPy would take "1.5" for a number: strings are refused)."""
    if any(isinstance(v, (str, bytes)) for v in arr.flat):
        raise TypeError(f"{what} must hold numbers (int, float or bool), found strings in an object array; "
                        "convert it with np.asarray(X, dtype=np.float32) if they are numbers")
    try:
        return np.asarray(arr, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must hold numbers (int, float or bool), but an element is not one: {exc}") from None


_INT64 = np.iinfo(np.int64)


def check_y(y: Any, n: int, *, what: str = "y") -> np.ndarray:
    """Return labels as a 1-D array of length ``n``: int64 for integer labels, object for strings.

    Booleans, a mix of integers and strings, non-integer floats and integers outside int64
    are refused (NumPy would quietly turn ``[1, "a"]`` into two strings, ``True`` into 1,
    and wrap a uint64 above 2**63 to a negative number).
    """
    if y is None:
        raise ValueError(f"this learner requires {what} to be passed, but the target {what} is None: give one label per row of X")
    if isinstance(y, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of labels, got a single {type(y).__name__}")
    # Lists are looked at element by element: np.asarray would already have converted them.
    arr = np.asarray(y, dtype=object) if isinstance(y, (list, tuple)) else np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be 1-D with one label per example, got shape {arr.shape}")
    if len(arr) != n:
        raise ValueError(f"X has {n} rows but {what} has {len(arr)} labels; they must match")
    if arr.dtype == object:
        arr = _object_labels(arr, what)
    if arr.dtype.kind == "b":
        raise TypeError(f"{what} holds booleans; use integer or string labels (e.g. y.astype(int))")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ValueError(f"{what} contains NaN or infinite labels")
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{what} holds non-integer floats ({arr[arr != np.round(arr)][:3]}), a continuous target; labels "
                             "must be integers or strings")
        if arr.size and (arr.min() < _INT64.min or arr.max() > _INT64.max):
            raise ValueError(f"{what} holds labels outside the int64 range (e.g. {arr[np.abs(arr) > _INT64.max][:1]}); use smaller integers or strings")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind in "iu":
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) > _INT64.max:
            raise ValueError(f"{what} holds labels above the int64 range ({int(arr.max())}); use smaller integers or strings")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind in "US":
        arr = arr.astype(str).astype(object)
    elif arr.dtype != object:
        raise TypeError(f"{what} must hold integer or string labels, got dtype {arr.dtype}")
    if arr.dtype != object and (arr == -1).any():
        raise ValueError(f"{what} uses -1, which predict() reserves for 'unknown'; use another label")
    return arr


def _object_labels(arr: np.ndarray, what: str) -> np.ndarray:
    """Labels given as Python objects: all strings (kept as objects) or all integers (int64)."""
    kinds = set()
    for v in arr:
        if isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{what} holds the boolean {v!r}; use integer or string labels")
        if isinstance(v, str):
            kinds.add("str")
        elif isinstance(v, (int, np.integer)):
            if not _INT64.min <= int(v) <= _INT64.max:
                raise ValueError(f"{what} holds the label {int(v)}, outside the int64 range; use smaller integers or strings")
            kinds.add("int")
        elif isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
            if not _INT64.min <= v <= _INT64.max:
                raise ValueError(f"{what} holds the label {v!r}, outside the int64 range; use smaller integers or strings")
            kinds.add("int")
        else:
            raise TypeError(f"{what} labels must be integers or strings, found {v!r} ({type(v).__name__})")
    if len(kinds) > 1:
        raise TypeError(f"{what} mixes string and integer labels (e.g. {arr[:4].tolist()}); use one kind")
    if kinds == {"str"}:
        return arr
    return np.array([int(v) for v in arr], np.int64)


class ValueScale:
    """The scale of the inputs a learner has learned from, to refuse far outliers.

    One image with one pixel at 1e20 (or 1e6) used to put NaN (or ruin) into every
    meta-model it touched. The rule: a row's scale is its largest absolute value; the
    learner's scale is the median of the scales of every nonzero row it learned from (the
    rows of the batch being checked included, so a first batch judges its own rows); a row
    whose scale exceeds ``factor`` times the learner's scale is refused. On scikit-learn's
    digits a pixel at 1,000 times the usual largest value still did no harm and 10,000
    times cost three points, so the default factor of 100 leaves a margin both ways.

    The counts are kept in a histogram by powers of two (exact counts, constant memory,
    saved with the system); the median is read as the upper edge of its bin, so the limit
    is ``factor`` to ``2 * factor`` times the true median. A batch of one or two rows that
    a new learner sees first has nothing to be judged against but itself.

    Example:
        >>> s = ValueScale()
        >>> s.learn(s.check(np.ones((4, 3), np.float32), factor=100.0))
        >>> s.check(np.full((1, 3), 1e6, np.float32), factor=100.0)
        Traceback (most recent call last):
        ...
        ValueError: X row 0 has values up to 1e+06, far outside the inputs learned so far (the typical row's largest value is at most 2; refused above 200 = outlier_factor x that); rescale it, drop the row, or set outlier_factor=None to accept such rows
    """

    _LOW, _HIGH = -126, 128  # frexp exponents kept: float32's whole range

    def __init__(self) -> None:
        self.counts = np.zeros(self._HIGH - self._LOW + 1, np.int64)

    def _bins(self, row_max: np.ndarray) -> np.ndarray:
        _, exp = np.frexp(row_max[row_max > 0].astype(np.float64))
        return np.clip(exp, self._LOW, self._HIGH) - self._LOW

    def scale(self, extra: np.ndarray | None = None) -> float | None:
        """The median row scale (upper edge of its power-of-two bin), or None if nothing nonzero was seen."""
        counts = self.counts if extra is None else self.counts + np.bincount(self._bins(extra), minlength=len(self.counts))
        total = int(counts.sum())
        if total == 0:
            return None
        k = int(np.searchsorted(np.cumsum(counts), (total + 1) / 2))
        return float(2.0 ** (k + self._LOW))

    def check(self, X: np.ndarray, factor: float | None, *, learning: bool = True, what: str = "X") -> np.ndarray:
        """Raise if a row of X (n, ...) lies beyond ``factor`` times the scale; return the rows' scales.

        ``learning`` counts X's own rows in the scale (a batch about to be learned); a
        batch only predicted is judged against what was learned.
        """
        row_max = np.abs(X.reshape(len(X), -1)).max(axis=1).astype(np.float64)
        if factor is None:
            return row_max
        scale = self.scale(row_max if learning else None)
        if scale is None:
            return row_max
        limit = factor * scale
        bad = np.flatnonzero(row_max > limit)
        if len(bad):
            rows = "row" if len(bad) == 1 else "rows"
            more = " ..." if len(bad) > 5 else ""
            raise ValueError(
                f"{what} {rows} {', '.join(map(str, bad[:5].tolist()))}{more} has values up to {row_max[bad].max():.3g}, far outside "
                f"the inputs learned so far (the typical row's largest value is at most {scale:.3g}; refused above {limit:.3g} = outlier_factor x that); "
                "rescale it, drop the row, or set outlier_factor=None to accept such rows"
            )
        return row_max

    def learn(self, row_max: np.ndarray) -> None:
        """Count rows (their scales, as ``check`` returned them) as learned."""
        self.counts += np.bincount(self._bins(row_max), minlength=len(self.counts))
