"""A member's own within scatter in a fraction of its size: frequent directions plus the exact diagonal.

A full scatter of F features is F x F (2,400 x 2,400 float32: 23 MB per member), and pair
shapes read it only through products ``X @ S`` and its trace. ``ShapeSketch`` keeps
instead the rows of a *frequent directions* sketch (Liberty, KDD 2013; Ghashami et al.,
SIAM J. Comput. 2016): at most ``2 * rank`` rows B with ``B^T B <= S`` and
``||S - B^T B||_2 <= (the sum of S's eigenvalues beyond its k-th) / (rank + 1 - k)`` for
every k <= rank; it is built from the scatter's rows as they arrive (the exact rows of Chan et
al.'s update), never from S. What B^T B misses on the diagonal, which it always
underestimates, is kept exactly: ``S ~ B^T B + diag(d)`` with ``d = diag(S) - diag(B^T B) >= 0``,
so the trace is exact and every direction keeps its own variance. At rank 32 that is
(64 + 1) x F numbers: 0.6 MB for F = 2,400.
"""

from __future__ import annotations

import torch


class ShapeSketch:
    """``S ~ B^T B + diag(d)`` for a scatter S (F x F) that grows by outer products of rows.

    Args:
        dim: F.
        rank: rows kept after each shrink (the sketch holds at most ``2 * rank`` rows).
    """

    def __init__(self, dim: int, rank: int) -> None:
        if rank < 1:
            raise ValueError(f"a shape sketch needs rank >= 1, got {rank}")
        self.dim, self.rank = dim, rank
        self.rows = torch.zeros(0, dim)  # B, float32
        self.diag = torch.zeros(dim, dtype=torch.float64)  # diag(S), exact
        self._resid: torch.Tensor | None = None  # d (float32), derived

    def add(self, R: torch.Tensor) -> None:
        """S += R^T R for rows R (n, F)."""
        if len(R) == 0:
            return
        R = R.float()
        self.diag += (R.double() ** 2).sum(0)
        for s in range(0, len(R), self.rank):  # a shrink never sees more than 3 * rank rows
            self.rows = torch.cat([self.rows, R[s : s + self.rank]])
            if len(self.rows) > 2 * self.rank:
                self._shrink()
        self._resid = None

    def _shrink(self) -> None:
        """Frequent directions' step: the rows' singular values, each squared one lowered by the (rank + 1)-th's."""
        _, sv, vh = torch.linalg.svd(self.rows.double(), full_matrices=False)
        s2 = sv**2
        delta = s2[self.rank] if len(s2) > self.rank else s2.new_zeros(())
        keep = (s2[: self.rank] - delta).clamp(min=0.0).sqrt()
        self.rows = (keep[:, None] * vh[: self.rank]).float().contiguous()  # (a save reloads it contiguous: same sums)

    @property
    def resid(self) -> torch.Tensor:
        """(F,) what B^T B misses of the diagonal (never below 0)."""
        if self._resid is None:
            self._resid = (self.diag - (self.rows.double() ** 2).sum(0)).clamp(min=0.0).float()
        return self._resid

    def times(self, X: torch.Tensor) -> torch.Tensor:
        """X @ S for X (n, F), approximately: (X B^T) B + X d."""
        return (X @ self.rows.T) @ self.rows + X * self.resid

    def trace(self) -> float:
        return float(self.diag.sum())

    def dense(self) -> torch.Tensor:
        """The sketch as an F x F matrix (for tests and conversions)."""
        return self.rows.T @ self.rows + torch.diag(self.resid)

    @classmethod
    def from_dense(cls, S: torch.Tensor, rank: int) -> "ShapeSketch":
        """The sketch of a full scatter (a save made with full scatters): its top ``rank``
        eigendirections, and its diagonal."""
        out = cls(S.shape[0], rank)
        S = S.double()
        vals, vecs = torch.linalg.eigh((S + S.T) / 2)
        top = vals.flip(0)[:rank].clamp(min=0.0)
        out.rows = (top.sqrt()[:, None] * vecs.flip(1)[:, :rank].T).float()
        out.diag = torch.diagonal(S).clone()
        return out

    def state(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.rows.contiguous(), self.diag.contiguous()

    @classmethod
    def from_state(cls, rows: torch.Tensor, diag: torch.Tensor, rank: int) -> "ShapeSketch":
        if rows.ndim != 2 or diag.ndim != 1 or rows.shape[1] != diag.shape[0] or len(rows) > 2 * rank:
            raise ValueError(f"a saved shape sketch of shape {tuple(rows.shape)} with a diagonal of {tuple(diag.shape)} does not "
                             f"fit rank {rank}")
        out = cls(diag.shape[0], rank)
        out.rows, out.diag = rows.float().clone(), diag.double().clone()
        return out

    def nbytes(self) -> int:
        return self.rows.numel() * 4 + self.diag.numel() * 8
