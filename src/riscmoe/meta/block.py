"""A member's own scatter as a block: its k x k part in the top-k directions of the shared shape.

Pair shapes (``GaussianMetaBank._solve_pairs``) compare two look-alike members under the
covariance of those two alone. A full scatter per member is F x F (20 MB at F = 2,304). On
Fashion-MNIST's features the pair shape's gain over the shared shape lies mostly in the
directions of large shared variance (BENCHMARKS.md, "Memory per member"), so a member keeps
only ``B = U^T S U``, its scatter in the bank's basis U (F x k): the top-k eigendirections of
the shared covariance, or a close approximation of them (``basis_step``). The pair's
covariance is then block diagonal in ``[U, U_perp]``:

    cov_ab ~ U C_ab U^T + P_perp Sigma P_perp,      P_perp = I - U U^T,

with ``C_ab`` the two members' pooled block, shrunk as the full pair scatter would be, and the
shared covariance Sigma outside U. That is positive definite for any orthonormal U, so a basis
that lags the shared shape costs accuracy, never stability.

The basis follows the shared shape: when it is taken again (U to U'), every block is carried
into U' by modelling the member's scatter outside U as n times the shared covariance,
``B' = R^T B R + n C`` with ``R = U^T U'`` and ``C = W^T Sigma W``, ``W = U' - U R`` (one C for all
members). Replaying Fashion-MNIST as a stream of two classes at a time, the basis taken again
twenty times (``benchmarks/probes/pair_shapes.py stream``), k = 512 keeps exactly what the
final basis would give (89.83% against 89.83%).

A block is stored as its upper triangle in float16, each entry divided by the square roots of
its two diagonal entries, ``B_ij / (d_i d_j)`` with ``d = sqrt(diag B)`` (a correlation, in
[-1, 1]), and ``d`` in float32: k (k + 1) + 4k bytes (264 KB at k = 512), its full trace kept
exactly apart (the pair's shrinkage needs it). Scaled per direction, every entry keeps
float16's relative precision: the shared covariance's eigenvalues on these features span
1.8e1 to 4e-6 over the top 1,280 directions, and one scale for the whole block (the first
layout) put the small directions' entries among float16's subnormals. At k = 1,280 that cost
3.1 points on Split Fashion-MNIST (86.94% against 90.05% with float32 blocks); scaled per
direction, float16 answers as float32 does. Saves of the first layout (one scale, ``info`` of
two numbers) are read as they were written.

``bits=8`` keeps the correlations as int8 instead (``round(127 r)``: k (k + 1) / 2 + 4k bytes, 806 KB
at k = 1,280, where float16 takes 1.6 MB). Each learning step rounds the block again, which
the figures include: on Split Fashion-MNIST at k = 1,280, 89.96% against 90.05% in float16 and
90.10% with full scatters (BENCHMARKS.md). A block read from a save of the other width is
converted.
"""

from __future__ import annotations

import functools

import torch


@functools.lru_cache(maxsize=4)
def _triu(k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column indices of a k x k upper triangle, row by row."""
    r, c = torch.triu_indices(k, k)
    return r, c


BITS = {16: torch.float16, 8: torch.int8}


class ShapeBlock:
    """``B = U^T S U`` (k x k) of a member's scatter S, and S's exact trace.

    Args:
        k: size of the basis.
        bits: 16 (correlations in float16) or 8 (in int8, steps of 1/127).
    """

    def __init__(self, k: int, bits: int = 16) -> None:
        if k < 1:
            raise ValueError(f"a shape block needs k >= 1, got {k}")
        if bits not in BITS:
            raise ValueError(f"a shape block keeps its correlations in 16 or 8 bits, got {bits}")
        self.k, self.bits = k, bits
        self.packed = torch.zeros(k * (k + 1) // 2, dtype=BITS[bits])  # upper triangle of B / (d d^T)
        self.d = torch.zeros(k)  # sqrt(diag B), float32
        self.tr = 0.0  # trace of the full scatter S (float64, exact)

    def matrix(self) -> torch.Tensor:
        """B as a (k, k) float32 matrix."""
        r, c = _triu(self.k)
        B = torch.zeros(self.k, self.k)
        vals = self._correlations() * (self.d[r] * self.d[c])
        B[r, c] = vals
        B[c, r] = vals
        return B

    def _store(self, B: torch.Tensor) -> None:
        r, c = _triu(self.k)
        d = B.diagonal().clamp(min=0.0).sqrt()
        scale = d[r] * d[c]
        # (A direction with no variance has no correlations: its row is stored as zeros.)
        corr = torch.where(scale > 0, B[r, c] / scale.clamp(min=1e-30), torch.zeros(())).clamp(-1.0, 1.0)
        self.packed = corr.half() if self.bits == 16 else (corr * 127.0).round_().to(torch.int8)
        self.d = d

    def _correlations(self) -> torch.Tensor:
        return self.packed.float() if self.bits == 16 else self.packed.float() / 127.0

    def add(self, rows: torch.Tensor, trace: float) -> None:
        """S += X^T X for rows X whose coordinates in the basis are ``rows`` (n, k) and whose
        squared norms sum to ``trace``."""
        if len(rows) == 0:
            return
        rows = rows.float()
        self._store(self.matrix() + rows.T @ rows)
        self.tr += float(trace)

    def carry(self, R: torch.Tensor, C: torch.Tensor, n: float) -> None:
        """Carry B into a new basis (see the module's docstring): ``B' = R^T B R + n C``."""
        self._store(R.T @ self.matrix() @ R + C * n)

    def trace(self) -> float:
        return self.tr

    def state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(packed triangle, float16), (-1, trace, then ``d``) as float64 (k + 2 numbers; the -1 tells this
        layout from the first one's (scale, trace), whose scale is never negative)."""
        return self.packed.contiguous(), torch.cat([torch.tensor([-1.0, self.tr], dtype=torch.float64), self.d.double()])

    @classmethod
    def from_state(cls, packed: torch.Tensor, info: torch.Tensor, k: int, bits: int = 16) -> "ShapeBlock":
        """A block of ``bits`` from ``state``'s two arrays (float16 or int8 correlations; one of the
        other width is converted). ``info`` of two numbers (scale, trace) is the first layout's
        (one scale for the whole block), read as it was written and kept per direction."""
        if packed.dtype not in BITS.values():
            raise ValueError(f"a saved shape block holds {packed.dtype} numbers, not float16 or int8")
        if packed.ndim != 1 or len(packed) != k * (k + 1) // 2 or tuple(info.shape) not in ((k + 2,), (2,)):
            raise ValueError(f"a saved shape block of {tuple(packed.shape)} numbers with notes of shape {tuple(info.shape)} "
                             f"does not fit a basis of {k} directions")
        if not torch.isfinite(packed.float()).all() or not torch.isfinite(info).all():
            raise ValueError("a saved shape block holds numbers that are not finite")
        out = cls(k, bits)
        if tuple(info.shape) == (2,):  # the first layout: B = packed * scale
            if packed.dtype != torch.float16:
                raise ValueError("a saved shape block of one scale (the first layout) must hold float16 numbers")
            r, c = _triu(k)
            B = torch.zeros(k, k)
            vals = packed.float() * float(info[0])
            B[r, c] = vals
            B[c, r] = vals
            out._store(B)
            out.tr = float(info[1])
            return out
        if float(info[0]) != -1.0 or (info[2:] < 0).any():
            raise ValueError("a saved shape block's notes are not those of a block scaled per direction")
        saved = cls(k, 16 if packed.dtype == torch.float16 else 8)
        saved.packed = packed.clone()
        saved.tr, saved.d = float(info[1]), info[2:].float().clone()
        if saved.bits != bits:
            out._store(saved.matrix())
            out.tr = saved.tr
            return out
        return saved

    @classmethod
    def from_dense(cls, S: torch.Tensor, U: torch.Tensor, bits: int = 16) -> "ShapeBlock":
        """The block of a full scatter S (F, F) in the basis U (F, k)."""
        out = cls(U.shape[1], bits)
        out._store(U.T @ S.float() @ U)
        out.tr = float(torch.trace(S.double()))
        return out

    def nbytes(self) -> int:
        return self.packed.numel() * self.packed.element_size() + self.d.numel() * self.d.element_size() + 8


def initial_basis(cov: torch.Tensor, k: int, seed: int = 0, iterations: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """An orthonormal basis (F, k) close to the top-k eigendirections of ``cov`` (F, F, float32),
    and the Rayleigh quotients (k,) of its columns, by subspace iteration from a random start
    (Halko, Martinsson & Tropp, 2011): a full eigendecomposition of 2,304 features takes
    tens of seconds on a busy two-core machine, one step here about half a second."""
    g = torch.Generator().manual_seed(seed)
    U = torch.linalg.qr(torch.randn(cov.shape[0], k, generator=g))[0]
    return basis_step(cov, U, iterations)


def basis_step(cov: torch.Tensor, U: torch.Tensor, iterations: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``iterations`` steps of subspace iteration from U (F, k): the new basis (F, k; columns by
    decreasing Rayleigh quotient under ``cov``) and its quotients (k,)."""
    lam = torch.zeros(U.shape[1])
    for _ in range(iterations):
        Q = torch.linalg.qr(cov @ U)[0]
        T = Q.T @ (cov @ Q)
        lam, V = torch.linalg.eigh((T + T.T) / 2)
        lam, V = lam.flip(0), V.flip(1)
        U = Q @ V
    return U, lam


def carry_terms(cov: torch.Tensor, U: torch.Tensor, U_new: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """What ``ShapeBlock.carry`` needs to carry blocks from basis U into U_new (both F x k):
    ``R = U^T U_new`` and ``C = W^T cov W`` with ``W = U_new - U R`` (both k x k)."""
    R = U.T @ U_new
    W = U_new - U @ R
    C = W.T @ (cov @ W)
    return R, (C + C.T) / 2
