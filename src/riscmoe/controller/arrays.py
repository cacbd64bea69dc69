"""The few array operations the cascade and the routing policies need, for torch tensors and numpy arrays alike.

Recognition routes with torch tensors (its banks evaluate in torch); the functions domain
routes with numpy arrays and never imports torch (its command line starts in a fraction of
torch's import time). ``ops(x)`` gives the namespace that fits ``x``; every operation keeps
the array type it was given, so one policy's code serves both.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


class _Numpy:
    """The operations on numpy arrays (indices int64, floats float32 unless given)."""

    long, bool_, float_ = np.int64, np.bool_, np.float32

    @staticmethod
    def full(shape: tuple, value: float | int | bool, like: Any = None, dtype: Any = None) -> np.ndarray:
        return np.full(shape, value, dtype=dtype if dtype is not None else np.float32)

    @staticmethod
    def zeros(shape: tuple, dtype: Any = None) -> np.ndarray:
        return np.zeros(shape, dtype=dtype if dtype is not None else np.float32)

    @staticmethod
    def arange(n: int, dtype: Any = None) -> np.ndarray:
        return np.arange(n, dtype=dtype if dtype is not None else np.int64)

    @staticmethod
    def topk(x: np.ndarray, k: int) -> np.ndarray:
        """(B, k) indices of each row's k largest, largest first (ties: lower index first)."""
        return np.argsort(-x, axis=1, kind="stable")[:, :k]

    @staticmethod
    def gather(x: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return np.take_along_axis(x, idx, axis=1)

    where = staticmethod(np.where)

    @staticmethod
    def nonzero(mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(mask)

    @staticmethod
    def nonzero2(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(i, j) of a 2-D mask's true entries, row by row."""
        i, j = np.nonzero(mask)
        return i.astype(np.int64), j.astype(np.int64)

    @staticmethod
    def cat(parts: list) -> np.ndarray:
        return np.concatenate(parts)

    @staticmethod
    def bincount(x: np.ndarray, n: int) -> np.ndarray:
        return np.bincount(x, minlength=n)

    @staticmethod
    def log_clamped(x: np.ndarray, low: float) -> np.ndarray:
        return np.log(np.maximum(x, low))

    @staticmethod
    def clamp_min(x: np.ndarray, low: float) -> np.ndarray:
        return np.maximum(x, low)

    @staticmethod
    def as_float(x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float32)

    @staticmethod
    def copy(x: np.ndarray) -> np.ndarray:
        return x.copy()

    @staticmethod
    def scatter_add(out: np.ndarray, idx: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``out[b, idx[b, j]] += values[b, j]`` for every (b, j); returns ``out``."""
        np.add.at(out, (np.arange(len(idx))[:, None], idx), values)
        return out

    @staticmethod
    def expand(x: np.ndarray, shape: tuple) -> np.ndarray:
        return np.broadcast_to(x, shape)


class _Torch:
    """The same operations on torch tensors."""

    def __init__(self, torch: Any) -> None:
        self.t = torch
        self.long, self.bool_, self.float_ = torch.long, torch.bool, torch.float32

    def full(self, shape: tuple, value: float | int | bool, like: Any = None, dtype: Any = None) -> Any:
        return self.t.full(shape, value, dtype=dtype)

    def zeros(self, shape: tuple, dtype: Any = None) -> Any:
        return self.t.zeros(shape, dtype=dtype)

    def arange(self, n: int, dtype: Any = None) -> Any:
        return self.t.arange(n, dtype=dtype if dtype is not None else self.t.long)

    def topk(self, x: Any, k: int) -> Any:
        return x.topk(k, dim=1).indices

    def gather(self, x: Any, idx: Any) -> Any:
        return x.gather(1, idx)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return self.t.where(cond, a, b)

    def nonzero(self, mask: Any) -> Any:
        return self.t.nonzero(mask).squeeze(1)

    def nonzero2(self, mask: Any) -> tuple[Any, Any]:
        ij = self.t.nonzero(mask)
        return ij[:, 0], ij[:, 1]

    def cat(self, parts: list) -> Any:
        return self.t.cat(parts)

    def bincount(self, x: Any, n: int) -> Any:
        return self.t.bincount(x, minlength=n)

    def log_clamped(self, x: Any, low: float) -> Any:
        return self.t.log(x.clamp(min=low))

    def clamp_min(self, x: Any, low: float) -> Any:
        return x.clamp(min=low)

    def as_float(self, x: Any) -> Any:
        return x.float()

    def copy(self, x: Any) -> Any:
        return x.clone()

    def scatter_add(self, out: Any, idx: Any, values: Any) -> Any:
        return out.scatter_add_(1, idx, values)

    def expand(self, x: Any, shape: tuple) -> Any:
        return x.expand(*shape)


NUMPY = _Numpy()
_TORCH: _Torch | None = None


def ops(x: Any) -> Any:
    """The operations for ``x``'s array type: torch's for a torch tensor, numpy's otherwise."""
    global _TORCH
    torch = sys.modules.get("torch")  # a torch tensor exists only where torch was imported
    if torch is not None and isinstance(x, torch.Tensor):
        if _TORCH is None:
            _TORCH = _Torch(torch)
        return _TORCH
    return NUMPY
