"""Every member's meta-model at once: Gaussians with a shared shape, calibrated.

Each member's meta-model is a Gaussian in the shared feature space: its own mean, and a
covariance shared by the whole collection (the pooled within-member scatter, as in
linear discriminant analysis). Sharing the shape makes every member's estimate good from
a few dozen examples and makes distances comparable across members.

A member's confidence that it should run on x is calibrated to mean the same for every
member: the estimated fraction of the member's own inputs that lie at least as far from
its mean as x (a p-value of the squared Mahalanobis distance, read off a table of the
member's own distances with an exponential tail). A threshold of 0.001 means "accept
unless x is stranger than 99.9% of what I have seen", whichever member is asking.

The whole collection is evaluated in one batched operation:
(B, F) @ (F, F) -> (B, F) whitened inputs, then distances to the (M, F) whitened means.
"""

from __future__ import annotations

import numpy as np
import torch

# Calibration table: quantile levels up to _TAIL_LEVEL, then an exponential tail so that
# far-out confidences stay ordered instead of collapsing to zero.
_TAIL_LEVEL = 0.9
_N_KNOTS = 64


class GaussianMetaBank:
    """The meta-models of a whole collection.

    Args:
        dim: size F of the feature space.
        shrinkage: least weight of the spherical part of the shared covariance (more
            while few examples have been seen).
        reservoir: calibration examples kept per member (uniform reservoir sample).
        refresh_every: examples learned between refits of the shared factor while
            training; a query after any change always sees an up-to-date fit.
        seed: seed of the reservoir sampling.
    """

    def __init__(self, dim: int, shrinkage: float = 1e-3, reservoir: int = 256, refresh_every: int = 2048, seed: int = 0) -> None:
        self.dim = dim
        self.shrinkage = shrinkage
        self.reservoir = reservoir
        self.refresh_every = refresh_every
        self._rng = np.random.default_rng(seed)
        self.levels = torch.linspace(0.0, _TAIL_LEVEL, _N_KNOTS)  # (Q,)
        # Sufficient statistics in float64, exact however long the stream.
        self.counts: list[float] = []  # per member
        self.means64: list[torch.Tensor] = []  # per member, (F,)
        self.scatter = torch.zeros(dim, dim, dtype=torch.float64)  # pooled within-member scatter
        self.seen: list[int] = []
        self.reservoirs: list[torch.Tensor] = []  # per member, (r, F)
        # Derived by _refit.
        self._factor: torch.Tensor | None = None  # (F, F), precision = L L^T
        self._white_means: torch.Tensor | None = None  # (M, F)
        self._knots: torch.Tensor | None = None  # (M, Q)
        self._tails: torch.Tensor | None = None  # (M, 2)
        self._changed_since_fit = 0
        self._structure_changed = True

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def n_examples(self) -> float:
        return float(sum(self.counts))

    # ----------------------------------------------------------------- learning
    def add(self, Z: torch.Tensor) -> int:
        """Create the meta-model of a new member from its first examples Z (n, F)."""
        self.counts.append(0.0)
        self.means64.append(torch.zeros(self.dim, dtype=torch.float64))
        self.seen.append(0)
        self.reservoirs.append(torch.zeros(0, self.dim))
        idx = len(self.counts) - 1
        self._structure_changed = True
        self.update(idx, Z)
        return idx

    def update(self, idx: int, Z: torch.Tensor) -> None:
        """Add examples Z (n, F) that belong to member ``idx``."""
        n_b = len(Z)
        if n_b == 0:
            return
        Z64 = Z.to(torch.float64)
        mean_b = Z64.mean(0)
        centred = Z64 - mean_b
        n_0 = self.counts[idx]
        delta = mean_b - self.means64[idx]
        # Chan et al.'s pairwise update: exact pooled scatter without revisiting old data.
        self.scatter += centred.T @ centred + (n_0 * n_b / (n_0 + n_b)) * torch.outer(delta, delta)
        self.means64[idx] = self.means64[idx] + delta * (n_b / (n_0 + n_b))
        self.counts[idx] = n_0 + n_b
        self._reservoir_add(idx, Z)
        self._changed_since_fit += n_b

    def _reservoir_add(self, idx: int, Z: torch.Tensor) -> None:
        res = self.reservoirs[idx]
        room = self.reservoir - len(res)
        if room > 0:
            res = torch.cat([res, Z[:room].float()])
            self.seen[idx] += min(room, len(Z))
            Z = Z[room:]
        if len(Z):
            # Reservoir sampling: the i-th example takes a random slot with probability
            # R / i, so the sample stays uniform over everything the member has seen.
            seen = self.seen[idx] + np.arange(1, len(Z) + 1)
            slots = (self._rng.random(len(Z)) * seen).astype(np.int64)
            for row in np.flatnonzero(slots < self.reservoir):
                res[slots[row]] = Z[row]
            self.seen[idx] += len(Z)
        self.reservoirs[idx] = res

    def _refit(self) -> None:
        d, n, m = self.dim, self.n_examples, len(self)
        cov = self.scatter / max(n - m, 1.0)
        # Shrink towards a sphere of the same total variance, heavily while n is small.
        alpha = self.shrinkage + (1.0 - self.shrinkage) * d / (n + d) * 0.1
        scale = torch.clamp(torch.trace(cov) / d, min=1e-8)
        cov = (1.0 - alpha) * cov + alpha * scale * torch.eye(d, dtype=torch.float64)
        chol = torch.linalg.cholesky(cov)  # cov = C C^T, so precision = C^-T C^-1
        eye = torch.eye(d, dtype=torch.float64)
        factor = torch.linalg.solve_triangular(chol, eye, upper=False).T  # L = C^-T
        self._factor = factor.float().contiguous()
        self._white_means = (torch.stack(self.means64) @ factor).float()  # (M, F)
        knots, tails = [], []
        for i in range(m):
            m2 = self._distance_rows(self.reservoirs[i], i)
            q = torch.quantile(m2, self.levels)
            excess = m2[m2 > q[-1]] - q[-1]
            scale_t = excess.mean() if len(excess) else q[-1].clamp(min=1.0) * 0.1
            knots.append(q)
            tails.append(torch.stack([q[-1], torch.clamp(scale_t, min=1e-6)]))
        self._knots = torch.stack(knots)
        self._tails = torch.stack(tails)
        self._changed_since_fit = 0
        self._structure_changed = False

    def refresh(self, force: bool = False) -> None:
        """Refit the shared factor and calibrations if anything changed (or if forced)."""
        if force or self._structure_changed or self._changed_since_fit > 0:
            self._refit()

    def _maybe_refresh(self, exact: bool) -> None:
        if self._structure_changed or (self._changed_since_fit and (exact or self._changed_since_fit >= self.refresh_every)):
            self._refit()

    def _distance_rows(self, Z: torch.Tensor, idx: int) -> torch.Tensor:
        assert self._factor is not None and self._white_means is not None
        return ((Z @ self._factor - self._white_means[idx]) ** 2).sum(1)

    # ---------------------------------------------------------------- inference
    def evaluate(self, Z: torch.Tensor, exact: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Confidences (B, M) in [0, 1] and squared distances (B, M) of every member.

        Args:
            Z: features (B, F).
            exact: refit first if anything changed; False lets a training loop reuse a
                fit that is at most ``refresh_every`` examples old.
        """
        if len(self) == 0:
            empty = torch.zeros(len(Z), 0)
            return empty, empty
        self._maybe_refresh(exact)
        assert self._factor is not None and self._white_means is not None
        W = Z @ self._factor  # (B, F) whitened
        m2 = (W * W).sum(1, keepdim=True) - 2.0 * W @ self._white_means.T + (self._white_means**2).sum(1)
        m2 = m2.clamp(min=0.0)  # (B, M)
        return self._calibrate(m2), m2

    def _calibrate(self, m2: torch.Tensor) -> torch.Tensor:
        knots, tails = self._knots, self._tails
        assert knots is not None and tails is not None
        values = m2.T.contiguous()  # (M, B)
        Q = knots.shape[1]
        hi = torch.searchsorted(knots.contiguous(), values).clamp(1, Q - 1)
        lo = hi - 1
        k_lo, k_hi = knots.gather(1, lo), knots.gather(1, hi)
        frac = ((values - k_lo) / (k_hi - k_lo).clamp(min=1e-12)).clamp(0.0, 1.0)
        cdf = self.levels[lo] + frac * (self.levels[hi] - self.levels[lo])
        cdf = torch.where(values <= knots[:, :1], torch.zeros_like(cdf), cdf)
        start, scale = tails[:, :1], tails[:, 1:]
        tail = (1.0 - _TAIL_LEVEL) * torch.exp(-(values - start).clamp(min=0.0) / scale)
        return torch.where(values > start, tail, 1.0 - cdf).T.contiguous()

    # -------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Arrays for safetensors; member order is the collection's order."""
        out = {"meta.scatter": self.scatter.contiguous()}
        for i in range(len(self)):
            out[f"meta.{i}.count"] = torch.tensor([self.counts[i]], dtype=torch.float64)
            out[f"meta.{i}.seen"] = torch.tensor([self.seen[i]], dtype=torch.int64)
            out[f"meta.{i}.mean"] = self.means64[i].contiguous()
            out[f"meta.{i}.reservoir"] = self.reservoirs[i].contiguous()
        return out

    def load_state_dict(self, state: dict[str, torch.Tensor], n_members: int) -> None:
        try:
            scatter = state["meta.scatter"]
            rows = [
                (float(state[f"meta.{i}.count"][0]), int(state[f"meta.{i}.seen"][0]), state[f"meta.{i}.mean"], state[f"meta.{i}.reservoir"])
                for i in range(n_members)
            ]
        except KeyError as exc:
            raise ValueError(f"saved meta-models lack the array {exc.args[0]!r}") from None
        if tuple(scatter.shape) != (self.dim, self.dim) or any(tuple(r[2].shape) != (self.dim,) for r in rows):
            raise ValueError(f"saved meta-models do not fit a feature space of size {self.dim}")
        self.scatter = scatter.to(torch.float64)
        self.counts = [r[0] for r in rows]
        self.seen = [r[1] for r in rows]
        self.means64 = [r[2].to(torch.float64) for r in rows]
        self.reservoirs = [r[3].float() for r in rows]
        self._structure_changed = True
