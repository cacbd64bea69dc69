"""Every member's meta-model at once: Gaussians with a shared shape, calibrated, with borders.

Each member's meta-model is a Gaussian in the shared feature space: its own mean, and a
covariance shared by the whole collection (the pooled within-member scatter, as in
linear discriminant analysis). Sharing the shape makes every member's estimate good from
a few dozen examples, and it makes the bank cheap to evaluate: with one shared
covariance, comparing members needs only one linear score per member,
``w_k . z + b_k`` with ``w_k = S^-1 mu_k``, so the whole bank is a single matrix product
(with the novelty test's cross terms alongside: (F, 2M)), the cost of one linear layer
with 2M outputs.

A member's confidence that it should run on z is the product of two calibrated parts:

- **which member** (its border): the Gaussian posterior odds of member k against all the
  others, passed through a per-member logistic correction ``sigmoid(a_k * odds + c_k)``.
  ``a_k`` starts at 1 and ``c_k`` at 0 (the plain posterior); feedback on inputs near the
  threshold moves them, so each member's border sharpens (or softens) where it erred;
- **is it typical at all** (novelty): the fraction of the nearest member's own inputs
  that lie at least as far from its mean as z, under a diagonal metric (a p-value read
  off a table of the member's own distances, with an exponential tail). Only the nearest
  member's distance is used: an input far from its nearest member is far from all.

**Close calls between two members** are settled by the shape of those two alone. Each
member also keeps its own within scatter, so the covariance pooled over just two members
is always at hand, exactly, however long the stream. When a query's two best members
score within ``pair_margin`` nats of each other, their score difference (a log
likelihood ratio under the shared shape) is replaced by the log likelihood ratio under
their pair's shape, ``w_ab . z + c_ab`` with ``w_ab = S_ab^-1 (mu_a - mu_b)``. Look-alike
classes (shirts and T-shirts) spread along their own directions, which the collection's
shared shape averages away: on all of Fashion-MNIST, on these features, batch LDA scores
88.67% and the same LDA with pair shapes for its close calls (within 10 nats) 90.34%;
on MNIST 98.77% and 99.1%. The pairs a query needs are solved together by a few
conjugate-gradient steps (see ``_solve_pairs``). The pairs tested are each member with its
``pair_neighbours`` nearest members; a close call between other members is decided by the
shared shape.
Pair shapes serve queries (``evaluate(exact=True)``); the training loop's own queries use
the shared shape alone, which keeps learning cheap.

**Queries do no hidden work.** Learning (``add``, ``learn``) keeps the fit ready to answer
from: a new member is scored at once, and one that learned once it holds a quarter more
examples than at its last solve; the shared shape is refitted every ``refresh_every``
examples, or at once when a member's mean moves far under it (``_SHIFT``: an outlier), and
then the pair tests whose members have doubled their examples since their last solve are
solved again. ``evaluate`` only reads that fit, so a query's latency does not depend on what
was learned before it; ``prepare()`` brings everything exactly up to date (a refit and every
stale pair) when the answers should see the very last examples. (Refitting the shape also
each time the examples double, while the bank is young, made Split MNIST's training 11%
slower; on digits it helped queries before ``prepare()`` in one stream and not in another.)

Both parts are probabilities, so one threshold means the same for every member. The
cost per input is 2 F M multiply-adds plus about 3F for the novelty and pair tests: per
member, about three percent of a member's model of width 64 (see ``macs_per_input``).
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.linalg import lapack
from threadpoolctl import ThreadpoolController
from torch.nn import functional as F

from riscmoe.meta.block import ShapeBlock, basis_step, carry_terms, initial_basis
from riscmoe.meta.protocol import Lesson
from riscmoe.meta.sketch import ShapeSketch
from riscmoe.registry import register

# Defaults of the settings below (``Gaussian``'s fields say what each does).
_TAIL_LEVEL = 0.9
_N_KNOTS = 64
_LAYOUT = ("pair_block", "reservoir", "half_reservoir", "block_bits")  # how members keep their own scatters
_ALONE_ODDS = 30.0
_SLOPE_RANGE = (0.05, 20.0)
_FAR = 1e30  # the novelty distance of a member the first stage did not score
# While learning, a pair test is solved again once either member holds this many times the
# examples it held at the pair's last solve (``prepare()`` solves every pair that changed).
# (Permuted MNIST: at 2, the solves while learning cost 14 of 74 CPU-seconds; at 4 they cost
# half, and the three standard streams answer exactly as before after ``prepare()``.)
_PAIR_GROWTH = 4.0
# A member whose mean moves by more than this times F (squared, whitened under the last shape)
# between shapes has the shape refitted at once (see ``_refit``); ordinary learning moves means
# far less (digits, F = 576: at most 162 in a class-incremental stream; one pixel at 50: 3,904).
_SHIFT = 0.25
# Between shapes, a member's own columns are solved again once it holds this many times the
# examples it held at its last solve (see ``_due``).
_MEMBER_GROWTH = 1.25
# Between shapes, the first stage's clusters are made again from scratch once the members number
# this many times those they were made from; a member added meanwhile joins its nearest cluster.
_RECLUSTER = 1.25
# With pair_block, the members' shared basis is taken again at a new shape once the bank holds
# this many times the examples it held when the basis was last taken (see ``_rebase``).
_REBASE = 1.5


def _mean64(P: torch.Tensor, block: int = 256) -> torch.Tensor:
    """The float64 mean of the rows of P (n, F), as ``P.to(torch.float64).mean(0)`` gives it.

    A block of columns at a time: each column's sum is its own, so the numbers are the same
    (checked bit for bit on this machine), without a float64 copy of all of P (75 MB for
    4,096 examples of 2,304 features, a fresh mapping whose page faults cost most of its
    time: 21 ms against 65 ms)."""
    out = torch.empty(P.shape[1], dtype=torch.float64)
    for j in range(0, P.shape[1], block):
        torch.mean(P[:, j : j + block].to(torch.float64), 0, out=out[j : j + block])
    return out


def _gram(C: torch.Tensor, block: int = 256) -> torch.Tensor:
    """C.T @ C for C (n, F), computing only the blocks on and below the diagonal.

    The product is symmetric, so the upper blocks are copies: on CPU this costs about two
    thirds of the full product when F is in the thousands. The result is exactly
    symmetric (a save keeps only the lower triangle of members' scatters).
    """
    F_ = C.shape[1]
    if F_ <= 2 * block:
        G = C.T @ C  # exactly symmetric only up to summation order: mirror the lower triangle
        return torch.tril(G) + torch.tril(G, -1).T
    G = torch.empty(F_, F_, dtype=C.dtype)
    for i in range(0, F_, block):
        G[i : i + block, : i + block] = C[:, i : i + block].T @ C[:, : i + block]
        G[:i, i : i + block] = G[i : i + block, :i].T
    return G


def _trace(S: "ShapeSketch | ShapeBlock | torch.Tensor") -> float:
    return S.trace() if isinstance(S, (ShapeSketch, ShapeBlock)) else float(torch.trace(S))


@functools.cache
def _openblas() -> ThreadpoolController:
    """SciPy's OpenBLAS, to be held to the calling thread while it serves torch's code.

    torch computes with its own thread pool; a second pool beside it would leave its
    threads spinning after each call, on cores torch's threads need (on two cores, two
    threads each: a run of the recurring MNIST stream took 31-35 s against 29-30 s)."""
    return ThreadpoolController().select(internal_api="openblas")


def _cholesky(cov: torch.Tensor) -> torch.Tensor:
    """The lower Cholesky factor of a symmetric positive definite float64 matrix, which it overwrites.

    LAPACK's ``dpotrf`` as SciPy ships it (OpenBLAS, on the calling thread): for F = 2,400
    it takes about 145 ms on one core of this machine against 190 ms for
    ``torch.linalg.cholesky`` (MKL, which gains nothing from a second thread), and gives
    the same factor to 2e-15. A C-ordered symmetric matrix is its own transpose in
    Fortran order, so the upper factor LAPACK computes there is the lower factor here,
    with no copy either way.
    """
    with _openblas().limit(limits=1):
        factor, info = lapack.dpotrf(cov.numpy().T, lower=0, clean=1, overwrite_a=1)
    if info > 0:
        raise torch.linalg.LinAlgError(f"the shared covariance is not positive definite (its leading minor of order {info} is not)")
    if info < 0:
        raise ValueError(f"dpotrf refused its argument {-info}")
    return torch.from_numpy(factor.T)


@dataclass
class MetaOutput:
    """The bank's verdict on a batch of B inputs for M members.

    conf: (B, M) confidence in [0, 1] that each member should run.
    rank: (B, M) log of ``conf`` (finite; higher is better), for ordering members.
    odds: (B, M) Gaussian log posterior odds of each member against the rest (the input
        of each member's border).
    novelty: (B,) p-value of the input under its nearest member (small = unlike anything).
    nearest: (B,) index of that member.
    distance: (B, M) novelty distance of the input to every member's mean (diagonal
        metric); ``GaussianMetaBank.novelty_of`` turns a column of it into p-values.
    scored: (B,) members whose meta-model was computed for each input: M, or with a first
        stage (``candidates``) those of its nearest clusters (the others have confidence 0).

    It is the bank's ``Verdict`` (see ``riscmoe.meta.protocol``): ``log_posterior`` is
    ``log sigmoid(odds)``, ``typicality`` the p-value under a chosen member.
    """

    conf: torch.Tensor
    rank: torch.Tensor
    odds: torch.Tensor
    novelty: torch.Tensor
    nearest: torch.Tensor
    distance: torch.Tensor
    bank: "GaussianMetaBank | None" = field(default=None, repr=False, compare=False)
    scored: torch.Tensor | None = field(default=None, repr=False, compare=False)

    @property
    def log_posterior(self) -> torch.Tensor:
        """(B, M) Gaussian log posterior of each member (elementwise in the odds, so a
        gathered column equals the column of the gathered odds, bit for bit)."""
        return F.logsigmoid(self.odds)

    def typicality(self, members: torch.Tensor) -> torch.Tensor:
        """p-values (B,) of each input under the member given for it (see ``GaussianMetaBank.novelty_of``)."""
        assert self.bank is not None, "an empty verdict has no members"
        return self.bank.novelty_of(self, members)

    @staticmethod
    def empty(batch: int) -> "MetaOutput":
        z = torch.zeros(batch, 0)
        return MetaOutput(z, z, z, torch.zeros(batch), torch.full((batch,), -1, dtype=torch.long), z)


def member_layout(
    dim: int, member_kb: int = 1000, *, shape_rank: int = 0, pair_block: int | None = None, reservoir: int | None = None,
    half_reservoir: bool | None = None, block_bits: int | None = None, knots: int = _N_KNOTS,
) -> dict[str, Any]:
    """How a member's meta-model keeps its own scatter and calibration examples on ``dim`` features
    within ``member_kb`` kilobytes (10^3 bytes; 0: no budget), each setting given as None chosen here.

    The choice, in this order (explicit settings are kept as given):

    - the full F x F scatter (float32) and 256 calibration examples (float32) when they fit, which
      answers best and at small F costs little (F = 64: 82 KB a member);
    - otherwise a block in the top-k directions of the shared covariance (``pair_block``), in int8
      (``block_bits=8``), with 60 calibration examples in float16, and k the largest that fits
      (1,122 at F = 2,400, the MNIST features: a member's meta-model 1,000 KB instead of 25,575 KB
      in full; such blocks kept from the first member answer Split MNIST, Split Fashion-MNIST and
      permuted MNIST 0.12, 0.26 and 0.33 points below full scatters, means over seeds 0-2,
      BENCHMARKS.md "Memory per member, fifth try": hence ``full_mb``).

    Returns ``pair_block``, ``reservoir``, ``half_reservoir``, ``block_bits``, the bytes
    ``member_nbytes`` will count once a member holds its scatter (``nbytes``) and ``over``: True
    when even the smallest block chosen here (64 directions) does not fit the budget.
    """
    fixed = 32 * dim + 4 * (knots + 2) + 12  # means (twice), column, product columns, table, bias and border

    def res_bytes(r: int, half: bool) -> int:
        return r * dim * (2 if half else 4)

    def block_bytes(k: int, bits: int) -> int:
        return k * (k + 1) // 2 * (bits // 8) + 4 * k + 8

    budget = 1000 * int(member_kb)
    if pair_block is None:
        if shape_rank or not budget:
            pair_block = 0
        else:
            r, half = reservoir or 256, bool(half_reservoir)
            pair_block = 0 if fixed + res_bytes(r, half) + 4 * dim * dim <= budget else -1
    bits = block_bits or (8 if pair_block and budget else 16)
    if pair_block:
        r = reservoir or (60 if budget else 256)
        half = bool(budget) if half_reservoir is None else bool(half_reservoir)
    else:
        r, half = reservoir or 256, bool(half_reservoir)
    over = False
    if pair_block == -1:  # chosen by the budget
        room = budget - fixed - res_bytes(r, half)
        k = min(dim, max(64, int(math.sqrt(max(room, 0) * 16 / bits))))  # about the largest; then exact
        while k > min(dim, 64) and block_bytes(k, bits) > room:
            k -= 1
        while k < dim and block_bytes(k + 1, bits) <= room:
            k += 1
        over = block_bytes(k, bits) > room
        pair_block = k
    shape = block_bytes(pair_block, bits) if pair_block else 4 * dim * dim if not shape_rank else 4 * dim * (2 * shape_rank + 1)
    return {"pair_block": int(pair_block), "reservoir": int(r), "half_reservoir": half, "block_bits": int(bits),
            "nbytes": fixed + res_bytes(r, half) + shape, "over": over}


# 2: members' own scatters may be sketched (shape_rank); 3: a member's own scatter is made from its
# reservoir when it first needs one (``deferred``), so a save may hold none for young members;
# 4: members' own scatters may be blocks in a shared basis (pair_block); 5: blocks are scaled per
# direction and may be int8 (block_bits); 6: a budget per member (member_kb) chooses the layout of
# the settings left None (``member_layout``); a version 5 save names every setting, as it learned
@register("meta", "gaussian", version=6)
@dataclass(frozen=True)
class Gaussian:
    """The shipped bank: members as Gaussians with a shared shape (``GaussianMetaBank``).

    Args:
        shrinkage: least weight of the spherical part of the shared covariance.
        member_kb: the budget of a member's meta-model beyond its model, in kilobytes (10^3
            bytes): the settings of how members keep their own scatters and calibration
            examples that are left None (``pair_block``, ``reservoir``, ``half_reservoir``,
            ``block_bits``) are chosen to fit it by ``member_layout``: full scatters where they
            fit (up to about 380 features), blocks of int8 in the shared basis beyond (F = 2,400:
            1,000 KB a member, not 25,575). 0: no budget (full scatters, 256 calibration
            examples in float32, as before version 6).
        full_mb: with blocks chosen by ``member_kb``, members keep full scatters and 256
            calibration examples, which answer best, while their meta-models take at most this
            many megabytes in all (78 members at F = 2,400); past it the bank compacts every
            member once into the budget's layout (``GaussianMetaBank._compact``) and keeps new
            ones so. 0: the budget's layout from the first member.
        reservoir: calibration examples kept per member (None: 256, or 60 with blocks chosen by
            the budget).
        refresh_every: examples learned between refits of the shared solve while training.
        border_lr: step size of the per-member border correction.
        border_steps: gradient steps of the border correction per batch.
        pair_margin: score gap (nats) under which two members compare under their pair's shape.
        pair_min: examples each member of a pair needs before its pair shape is used.
        pair_iterations: conjugate-gradient steps of the pair solves.
        pair_neighbours: the pairs with a pair test are each member with its this many
            nearest members (by their means, under the shared shape, among the members with
            ``pair_min`` examples); a close call between other members is decided by the
            shared shape. This bounds the work at ``M * pair_neighbours`` pairs instead of
            ``M^2 / 2`` (7,140 at 120 members, half a million at 1,000).
        candidates: 0 (the default) scores every member of every query; a number makes
            queries (``evaluate(exact=True)``) find about that many candidate members first,
            from clusters of the members' means (``_cluster``), and score only those: the
            cost of a query then grows with the square root of the members, not with them.
            Training's own queries score every member.
        shape_rank: 0 (the default) keeps each member's own scatter (what pair shapes are
            made of) in full, F x F (23 MB per member on 2,400 features); a rank keeps it as a
            frequent-directions sketch of that rank plus its exact diagonal instead
            (``riscmoe.meta.sketch``: 0.6 MB at 32). The sketch loses the directions of small
            variance that a pair's solve weighs most: on Split Fashion-MNIST (seed 0) 88.70%
            at rank 32 and 88.86% at 64 against 90.18% in full (the shared shape alone: about
            88.7%), on Split MNIST 98.73% and 98.77% against 99.08%, and training took 1.7x
            and 2.4x as long (BENCHMARKS.md).
        pair_block: None (the default) chooses by ``member_kb``; 0 keeps each member's own
            scatter in full; a number k keeps only its k x k block in the top-k directions of the
            shared covariance (``riscmoe.meta.block``: 262 KB per member at k = 512 in float16
            instead of 20 MB), and compares a pair under its own block there and the shared shape
            elsewhere. Not with shape_rank.
        block_bits: with pair_block, the width of a block's correlations: 16 (float16) or 8
            (int8: half the bytes, 806 KB at k = 1,280 instead of 1.6 MB; Split Fashion-MNIST
            89.96% against 90.05%, BENCHMARKS.md). None: 8 with blocks chosen by the budget, else 16.
        half_reservoir: keep the calibration examples in float16 (half the bytes: 0.6 MB
            instead of 1.2 at 128 examples of 2,304 features; these features lie in 0..3,
            where float16 is exact to about 1e-3). None: with blocks chosen by the budget.
        tail_level: calibration quantile levels go up to this, then an exponential tail
            keeps far-out confidences ordered instead of collapsing to zero.
        knots: quantile levels of each member's calibration table.
        alone_odds: odds given to the only member of a collection of one (no rival).
        slope_min, slope_max: range kept for a border's slope: it may sharpen or soften,
            never flip or vanish.
    """

    member_kb: int = field(default=1000, metadata={"min": 0})
    full_mb: int = field(default=2000, metadata={"min": 0})
    shrinkage: float = field(default=1e-4, metadata={"min": 0.0, "max": 1.0})
    reservoir: int | None = field(default=None, metadata={"min": 2})
    refresh_every: int = field(default=4096, metadata={"min": 1})
    border_lr: float = field(default=0.05, metadata={"min": 0.0})
    border_steps: int = field(default=3, metadata={"min": 0})
    pair_margin: float = field(default=10.0, metadata={"min": 0.0})
    pair_min: int = field(default=256, metadata={"min": 2})
    pair_iterations: int = field(default=6, metadata={"min": 0})
    pair_neighbours: int = field(default=8, metadata={"min": 1})
    shape_rank: int = field(default=0, metadata={"min": 0})
    pair_block: int | None = field(default=None, metadata={"min": 0})
    block_bits: int | None = field(default=None, metadata={"choices": (8, 16)})
    half_reservoir: bool | None = None
    candidates: int = field(default=0, metadata={"min": 0})
    tail_level: float = field(default=_TAIL_LEVEL, metadata={"above": 0.0, "below": 1.0})
    knots: int = field(default=_N_KNOTS, metadata={"min": 2})
    alone_odds: float = field(default=_ALONE_ODDS, metadata={"above": 0.0})
    slope_min: float = field(default=_SLOPE_RANGE[0], metadata={"above": 0.0})
    slope_max: float = field(default=_SLOPE_RANGE[1], metadata={"above": 0.0})

    def layout(self, dim: int) -> dict[str, Any]:
        """The layout members get on ``dim`` features (``member_layout``)."""
        return member_layout(dim, self.member_kb, shape_rank=self.shape_rank, pair_block=self.pair_block,
                             reservoir=self.reservoir, half_reservoir=self.half_reservoir, block_bits=self.block_bits,
                             knots=self.knots)

    def build(self, dim: int, seed: int) -> "GaussianMetaBank":
        lay = self.layout(dim)
        start, compact_to = lay, None
        if self.pair_block is None and lay["pair_block"] and self.member_kb and self.full_mb:
            # blocks chosen by the budget: full scatters first, compacted past full_mb
            start = member_layout(dim, 0, pair_block=0, reservoir=self.reservoir, half_reservoir=self.half_reservoir,
                                  block_bits=self.block_bits, knots=self.knots)
            compact_to = lay
        if lay["over"]:
            warnings.warn(f"meta__member_kb={self.member_kb} is too small for members on {dim} features: the smallest layout "
                          f"chosen ({lay['pair_block']} directions in {lay['block_bits']} bits, {lay['reservoir']} calibration "
                          f"examples) takes {lay['nbytes'] / 1000:.0f} KB a member; raise member_kb or set the layout yourself",
                          stacklevel=2)
        return GaussianMetaBank(
            dim, shrinkage=self.shrinkage, reservoir=start["reservoir"], refresh_every=self.refresh_every, border_lr=self.border_lr,
            pair_margin=self.pair_margin, pair_min=self.pair_min, pair_iterations=self.pair_iterations, seed=seed,
            pair_neighbours=self.pair_neighbours,
            border_steps=self.border_steps, tail_level=self.tail_level, knots=self.knots, alone_odds=self.alone_odds,
            slope_range=(self.slope_min, self.slope_max), shape_rank=self.shape_rank, candidates=self.candidates,
            pair_block=start["pair_block"], half_reservoir=start["half_reservoir"], block_bits=start["block_bits"],
            compact_to=compact_to, compact_after=1_000_000 * self.full_mb,
        )


class GaussianMetaBank:
    """The meta-models of a whole collection.

    Args:
        dim: size F of the feature space.
        shrinkage: least weight of the spherical part of the shared covariance (more
            while few examples have been seen). 1e-4 is Deep SLDA's default (Hayes &
            Kanan, 2020); on these random-convolution features, batch LDA on all of
            MNIST scores 98.5% with it against 98.1% with 1e-2.
        reservoir: calibration examples kept per member (uniform reservoir sample).
        refresh_every: examples learned between refits of the shared solve (queries answer
            from the last one; ``prepare()`` refits at once).
        border_lr: step size of the per-member border correction.
        pair_margin: score gap (nats) under which a query's two best members are
            compared under their pair's own shape (0 turns pair shapes off).
        pair_min: examples each of the two members needs before its pair shape is used.
        pair_iterations: conjugate-gradient steps of the pair solves (see ``_solve_pairs``).
        seed: seed of the reservoir sampling.
        border_steps, tail_level, knots, alone_odds, slope_range: see ``Gaussian``.
    """

    def __init__(
        self, dim: int, shrinkage: float = 1e-4, reservoir: int = 256, refresh_every: int = 4096, border_lr: float = 0.05,
        pair_margin: float = 10.0, pair_min: int = 256, pair_iterations: int = 6, seed: int = 0, border_steps: int = 3,
        tail_level: float = _TAIL_LEVEL, knots: int = _N_KNOTS, alone_odds: float = _ALONE_ODDS,
        slope_range: tuple[float, float] = _SLOPE_RANGE, shape_rank: int = 0, candidates: int = 0,
        pair_neighbours: int = 8, pair_block: int = 0, half_reservoir: bool = False, block_bits: int = 16,
        compact_to: dict[str, Any] | None = None, compact_after: int = 0,
    ) -> None:
        # Past ``compact_after`` bytes of members' meta-models in all, the bank keeps its members
        # as ``compact_to`` says (``pair_block``, ``reservoir``, ``half_reservoir``, ``block_bits``:
        # see ``_compact``); None: it keeps the layout it starts with.
        if compact_to is not None:
            if pair_block or shape_rank or not compact_to.get("pair_block"):
                raise ValueError("a bank that compacts its members starts with full scatters and compacts them into blocks")
            if not 0 < int(compact_to["pair_block"]) <= dim or int(compact_to["reservoir"]) < 2 or compact_to["block_bits"] not in (8, 16):
                raise ValueError(f"not a layout to compact members into: {compact_to}")
        self._compact_to = None if compact_to is None else {k: compact_to[k] for k in _LAYOUT}
        self.compact_after = int(compact_after)
        self.half_reservoir = bool(half_reservoir)
        if block_bits not in (8, 16):
            raise ValueError(f"block_bits must be 8 or 16, got {block_bits}")
        self.block_bits = int(block_bits)
        self._res_dtype = torch.float16 if half_reservoir else torch.float32
        if pair_block and shape_rank:
            raise ValueError(f"pair_block={pair_block} and shape_rank={shape_rank} are two ways of keeping members' own scatters; "
                             "choose one (set the other to 0)")
        if not 0 <= pair_block <= dim:
            raise ValueError(f"pair_block must be 0 (full scatters) or a basis of at most the {dim} features, got {pair_block}")
        self.pair_block = int(pair_block)
        # With pair_block: the shared basis of the members' blocks (F, k), the examples the bank
        # held when it was last taken, and the shared covariance of the last shape (float32).
        self._basis: torch.Tensor | None = None
        self._basis_at = 0.0
        self._cov32: torch.Tensor | None = None
        self.pair_neighbours = int(pair_neighbours)
        self._likely: set[tuple[int, int]] | None = None  # the pairs solved ahead (see _neighbour_pairs), once asked for
        self.dim = dim
        self.shape_rank = int(shape_rank)
        self.candidates = int(candidates)
        self._clusters: tuple[list[torch.Tensor], torch.Tensor, torch.Tensor] | None = None  # see _cluster
        self._clustered_at = 0  # members the clusters were made from
        self._blocks: list[torch.Tensor] = []  # see _cluster_blocks
        self._block_of: dict[int, tuple[int, int]] = {}  # member -> (its cluster, its place in the cluster's block)
        self.border_steps, self.tail_level, self.alone_odds = border_steps, tail_level, alone_odds
        self.slope_range = (float(slope_range[0]), float(slope_range[1]))
        self.pair_margin, self.pair_min, self.pair_iterations = pair_margin, pair_min, pair_iterations
        self.shrinkage = shrinkage
        self.reservoir = reservoir
        self.refresh_every = refresh_every
        self.border_lr = border_lr
        self._rng = np.random.default_rng(seed)
        self.levels = torch.linspace(0.0, tail_level, knots)  # (Q,)
        # Sufficient statistics in float64, exact however long the stream.
        self.counts: list[float] = []  # per member
        self.means64: list[torch.Tensor] = []  # per member, (F,)
        self.scatter = torch.zeros(dim, dim, dtype=torch.float64)  # pooled within-member scatter
        # Each member's own within scatter (a ``ShapeSketch``, or with shape_rank 0 the full
        # F x F float32 matrix; None for members loaded from a save that lacks it, and for
        # ``deferred`` ones): what pair shapes are made of.
        self.scatters: list[ShapeSketch | ShapeBlock | torch.Tensor | None] = []
        # Members whose own scatter is not made yet: every example they have learned is still
        # in their reservoir, so the scatter is made from it when it is first needed (see
        # ``_own_scatter_due``). A member with fewer than ``pair_min`` examples never compares
        # under its pair's shape, and a stream of many members with a few hundred examples each
        # then costs each member its reservoir instead of an F x F matrix (20 MB at F = 2,304).
        self.deferred: set[int] = set()
        # Pair solves: (a, b) -> (counts of a and b when solved, w_ab (F,), w_ab . (mu_a + mu_b) / 2).
        self._pairs: dict[tuple[int, int], tuple[tuple[float, float], torch.Tensor, torch.Tensor]] = {}
        self.seen: list[int] = []
        self.reservoirs: list[torch.Tensor] = []  # per member, (r, F)
        self.border = torch.zeros(0, 2)  # per member (slope a_k, offset c_k)
        self.border_updates: list[int] = []  # near-threshold examples each border learned from
        # Examples not yet merged into the scatter, and each member's state at the last merge.
        self._pending: dict[int, list[torch.Tensor]] = {}
        self._flushed_counts: list[float] = []
        self._flushed_means: list[torch.Tensor] = []
        # Derived by _refit.
        self._bias: torch.Tensor | None = None  # (M,)
        self._inv_var: torch.Tensor | None = None  # (F,): diagonal metric of the novelty test
        self._center: torch.Tensor | None = None  # (F,): the members' mean, subtracted before scoring
        # The members' columns, in buffers with room for more (``_room``): a new member is written
        # in place, not copied in with every other member's (which made adding the 10,000th member
        # of a bank copy 10,000 members' columns). ``_w_ref``, ``_means32``, ``_score_cols`` and
        # ``_cross_cols`` are views of the members' part.
        self._cap = 0
        self._w_buf = torch.zeros(dim, 0, dtype=torch.float64)  # (F, cap): S^-1 (mu_k - c_ref)
        self._means_buf = torch.zeros(0, dim)  # (cap, F): mu_k - center
        # (2 cap, F): score columns, then scaled means (novelty cross terms), one member's column per
        # row: the (F, M) views over them are transposed, which MKL multiplies 2-3x faster for a few
        # members than columns of a wide (F, 2 cap) buffer (Split MNIST: 1.5 ms per batch against 0.4).
        self._prod_buf = torch.zeros(0, dim)
        self._mean_norms: torch.Tensor | None = None  # (M,): |mu_k - center|^2 / var
        self._knots: torch.Tensor | None = None  # (M, Q)
        self._tails: torch.Tensor | None = None  # (M, 2)
        self._changed_since_fit = 0
        self._structure_changed = True
        self._chol: torch.Tensor | None = None  # Cholesky factor of the last shared covariance
        self._chol32: torch.Tensor | None = None  # the same in float32 (the pair solves' preconditioner)
        self._var: torch.Tensor | None = None  # its diagonal
        # Per member, its count when last solved / calibrated under this shape (see _refit).
        self._solved: list[float] = []
        self._dirty: set[int] = set()  # members that learned since the last refit (see _refit)
        self._likely_of: frozenset[int] = frozenset()  # the members that could have pair tests when _likely was found
        self._calibrated: list[float] = []
        self._c_ref = torch.zeros(dim, dtype=torch.float64)
        # Work done so far (refits with and without a new shape, pair tests solved): what
        # tests and benchmarks read to check that queries do none.
        self.work = {"shape_refits": 0, "member_refits": 0, "pairs_solved": 0, "rebases": 0, "compactions": 0}

    def __len__(self) -> int:
        return len(self.counts)

    @property
    def n_examples(self) -> float:
        return float(sum(self.counts))

    def macs_per_input(self, n_members: int | None = None) -> int:
        """Multiply-adds to evaluate every meta-model on one input (a machine-independent cost)."""
        m = len(self) if n_members is None else n_members
        return 2 * self.dim * m + 3 * self.dim + 8 * m

    def n_parameters(self) -> int:
        """Numbers the bank answers with: the shared covariance (F x F), and per member its
        mean (F) and border (2)."""
        return self.dim * self.dim + len(self) * (self.dim + 2)

    def member_nbytes(self) -> list[int]:
        """Bytes each member's meta-model holds beyond what the bank shares (its model is apart):
        its mean (twice: now and at the last merge), its reservoir, its own scatter (or sketch;
        none while ``deferred``), its calibration table, its column of the fit and its border."""
        F_ = self.dim
        out = []
        for i in range(len(self)):
            own = self.scatters[i]
            shape = 0 if own is None else own.nbytes() if isinstance(own, (ShapeSketch, ShapeBlock)) else own.numel() * own.element_size()
            res = self.reservoirs[i]
            derived = 4 * (len(self.levels) + 2) + 8 * F_ + 4 * 2 * F_ + 4 * 3  # table, column (float64), product columns, bias and border
            out.append(2 * 8 * F_ + res.numel() * res.element_size() + shape + derived)
        return out

    # ----------------------------------------------------------------- learning
    def add(self, Z: torch.Tensor) -> int:
        """Create the meta-model of a new member from its first examples Z (n, F)."""
        self.counts.append(0.0)
        self.means64.append(torch.zeros(self.dim, dtype=torch.float64))
        self.scatters.append(None)
        self.deferred.add(len(self.counts) - 1)
        self.seen.append(0)
        self.reservoirs.append(torch.zeros(0, self.dim, dtype=self._res_dtype))
        self.border = torch.cat([self.border, torch.tensor([[1.0, 0.0]])])
        self.border_updates.append(0)
        self._flushed_counts.append(0.0)
        self._flushed_means.append(torch.zeros(self.dim, dtype=torch.float64))
        idx = len(self.counts) - 1
        self._structure_changed = True
        self.update(idx, Z)
        self._keep_fit()
        return idx

    def update(self, idx: int, Z: torch.Tensor) -> None:
        """Add examples Z (n, F) that belong to member ``idx``.

        Counts and means change at once; the pooled scatter is merged lazily, in one large
        product over everything pending (see ``_flush``), which is far cheaper than a
        small F x F product for every member of every batch.
        """
        n_b = len(Z)
        if n_b == 0:
            return
        n_0 = self.counts[idx]
        if idx in self.deferred and (n_0 + n_b >= self.pair_min or self.seen[idx] + n_b > self.reservoir):
            self._make_own_scatter(idx)
        mean_b = Z.sum(0, dtype=torch.float64) / n_b
        self.means64[idx] = self.means64[idx] + (mean_b - self.means64[idx]) * (n_b / (n_0 + n_b))
        self.counts[idx] = n_0 + n_b
        self._pending.setdefault(idx, []).append(Z.float())
        self._reservoir_add(idx, Z)
        self._changed_since_fit += n_b
        self._dirty.add(idx)

    def _keep_fit(self) -> None:
        """What ``add`` and ``learn`` do last, so that queries never have to: the members that
        are new or have learned enough (``_due``) are solved and calibrated again (their own
        columns, under the last shape), and every ``refresh_every`` examples the shared shape
        is refitted and the pair tests that are due are solved. A bank that compacts its
        members does so first once they outgrow ``compact_after`` (``_compact``)."""
        if len(self) == 0:
            return
        if self._compact_to is not None and self._members_bytes() > self.compact_after:
            self._compact()
        if self._chol is None or self._changed_since_fit >= self.refresh_every:
            self._refit()
            self._solve_due(_PAIR_GROWTH)
        elif (self._structure_changed or (self._dirty and self._due())) and self._refit(shape=False):
            self._solve_due(_PAIR_GROWTH)  # (a member moved far: the shape was refitted)

    def layout(self) -> dict[str, Any]:
        """How members keep their own scatters and calibration examples now (``member_layout``'s keys)."""
        return {"pair_block": self.pair_block, "reservoir": self.reservoir, "half_reservoir": self.half_reservoir,
                "block_bits": self.block_bits}

    def _members_bytes(self) -> int:
        """``sum(member_nbytes())``, without a Python step per member's scatter: before compaction every
        member that is not deferred holds a full F x F float32 scatter (or none, loaded without)."""
        F_ = self.dim
        fixed = 32 * F_ + 4 * (len(self.levels) + 2) + 12
        res = sum(r.numel() for r in self.reservoirs) * (2 if self.half_reservoir else 4)
        full = sum(1 for own in self.scatters if isinstance(own, torch.Tensor))
        return len(self) * fixed + res + full * 4 * F_ * F_

    def _compact(self) -> None:
        """Keep every member as ``compact_to`` says from now on: each full scatter becomes its block in
        the top directions of the shared covariance of everything learned so far (``ShapeBlock.from_dense``:
        exactly ``U^T S U``, better than blocks kept from the start, whose directions are those known
        when they learned), each deferred member with more examples than the new reservoir holds gets
        its block now from the examples its reservoir still holds, and each reservoir keeps a uniform
        sample of its rows (a uniform sample of a uniform sample is one), in float16 if it says so.
        The fit is then made again from the new layout (the next ``_keep_fit`` calibrates every
        member again; pair tests are solved again when next due, every one by ``prepare()``), so
        that the bank answers as a save of it loads."""
        lay, self._compact_to = self._compact_to, None
        assert lay is not None
        self._flush()
        self.pair_block, self.block_bits = int(lay["pair_block"]), int(lay["block_bits"])
        self._basis = None
        self._ensure_basis()
        assert self._basis is not None
        for i, own in enumerate(self.scatters):
            if isinstance(own, torch.Tensor):
                self.scatters[i] = ShapeBlock.from_dense(own, self._basis, self.block_bits)
        r = int(lay["reservoir"])
        for i in sorted(self.deferred):
            if self.seen[i] > r:
                self._make_own_scatter(i)  # (with pair_block set: a block, from every example it learned)
        self.reservoir = r
        self.half_reservoir = bool(lay["half_reservoir"])
        self._res_dtype = torch.float16 if self.half_reservoir else torch.float32
        for i, res in enumerate(self.reservoirs):
            if len(res) > r:
                res = res[torch.from_numpy(np.sort(self._rng.choice(len(res), r, replace=False)))]
            self.reservoirs[i] = res.to(self._res_dtype, copy=True)
        # Answers from the new layout alone (what a save of it loads into): every calibration
        # table is made again at once (the shape stays: the pooled scatter is unchanged), and
        # pair tests when they are next asked for (``prepare()``, or a refit of the shape).
        self._pairs = {}
        self._solved, self._calibrated = [-1.0] * len(self._solved), [-1.0] * len(self._calibrated)
        self._dirty = set(range(len(self)))
        self._structure_changed = True
        self.work["compactions"] += 1

    def _make_own_scatter(self, idx: int) -> None:
        """Member ``idx``'s own scatter, made from the examples merged so far: while a member is
        ``deferred`` its reservoir has replaced nothing, so its first ``_flushed_counts`` rows are
        exactly those examples (pending ones follow them, and ``_flush`` adds them as usual)."""
        n_0 = int(self._flushed_counts[idx])
        own: ShapeSketch | ShapeBlock | torch.Tensor | None
        if self.pair_block:
            own = ShapeBlock(self.pair_block, self.block_bits)
            self._ensure_basis()
        else:
            own = None if self.shape_rank == 0 else ShapeSketch(self.dim, self.shape_rank)  # (a full one: made below)
        if n_0:
            rows = self.reservoirs[idx][:n_0]
            assert len(rows) == n_0, "a deferred member's reservoir holds every example it learned"
            centred = rows.float() - self._flushed_means[idx].float()
            if isinstance(own, ShapeSketch):
                own.add(centred)
            elif isinstance(own, ShapeBlock):
                assert self._basis is not None
                own.add(centred @ self._basis, float((centred.double() ** 2).sum()))
            else:
                own = _gram(centred)  # (what adding it to zeros would give, without the zeros)
        self.scatters[idx] = own if own is not None else torch.zeros(self.dim, self.dim)
        self.deferred.discard(idx)

    def _ensure_basis(self) -> None:
        """With ``pair_block``: the shared basis, taken now from the last shape if there is none."""
        if self._basis is None:
            self._flush()
            n = sum(self._flushed_counts)
            # (Before the first shape, from the examples merged so far: a first member that
            # arrives with many examples needs its block at once; ``_rebase`` soon improves it.)
            cov = self._cov32 if self._cov32 is not None else self._shrunk(self.scatter.clone(), n, len(self)).float()
            self._basis, _ = initial_basis(cov, self.pair_block)
            self._basis_at = n

    def _rebase(self) -> None:
        """With ``pair_block``, at a new shape: once the bank holds ``_REBASE`` times the examples
        it held when the basis was last taken, one step of subspace iteration brings the basis
        nearer the new shape's top directions, and every block is carried into it (see
        ``riscmoe.meta.block``). Pair tests solved before keep their answers until solved again."""
        blocks = [own for own in self.scatters if isinstance(own, ShapeBlock)]
        if self._basis is None or not blocks or self.n_examples < _REBASE * self._basis_at:
            return
        assert self._cov32 is not None
        # One step keeps up with a shape that changes a little; a basis taken from few examples
        # (fewer than the features) is far from the shape's directions, and takes three.
        old = self._basis
        self._basis, _ = basis_step(self._cov32, old, 1 if self._basis_at >= self.dim else 3)
        R, C = carry_terms(self._cov32, old, self._basis)
        self._basis_at = self.n_examples
        for own, n in zip(self.scatters, self._flushed_counts):
            if isinstance(own, ShapeBlock):
                own.carry(R, C, n)
        self.work["rebases"] += 1

    def _flush(self) -> None:
        """Merge pending examples into each member's scatter and the pooled one (exact, Chan et al.'s pairwise rule)."""
        if not self._pending:
            return
        # (Temporaries of tens of megabytes are fresh mappings, a page fault per 4 KB on first
        # touch: on Split Fashion-MNIST about 0.7 million of them in flushes, 5 of a run's 55
        # CPU-seconds. So the sum starts as the first member's G, the examples are centred in
        # place, and the float64 copies are not made; the numbers are the same.)
        total: torch.Tensor | None = None
        for idx, parts in self._pending.items():
            P = torch.cat(parts)  # (a copy, even of one part: centred in place below)
            n_b = len(P)
            mean_b = _mean64(P)
            n_0 = self._flushed_counts[idx]
            delta = mean_b - self._flushed_means[idx]
            centred = P.sub_(mean_b.float())
            G = _gram(centred)
            u = (delta * (n_0 * n_b / (n_0 + n_b)) ** 0.5).float() if n_0 > 0 else None
            if u is not None:
                # u u^T with u = sqrt(weight) delta: exactly symmetric, as G is.
                G.addr_(u, u)
            if total is None:
                total = G  # (later members add into it once this one's own scatter has G)
            else:
                total += G
            own = self.scatters[idx]
            if isinstance(own, ShapeSketch):  # the same rows, sketched
                own.add(centred if u is None else torch.cat([centred, u[None]]))
            elif isinstance(own, ShapeBlock):  # the same rows, in the basis
                assert self._basis is not None
                X = centred if u is None else torch.cat([centred, u[None]])
                own.add(X @ self._basis, float(torch.trace(G)))
            elif own is not None:
                own += G
            self._flushed_counts[idx] = n_0 + n_b
            self._flushed_means[idx] = self._flushed_means[idx] + delta * (n_b / (n_0 + n_b))
        # float64 += float32, exactly as adding ``total.to(torch.float64)`` (the conversion is exact).
        assert total is not None
        np.add(self.scatter.numpy(), total.numpy(), out=self.scatter.numpy())
        self._pending = {}

    def learn_border(self, members: torch.Tensor, odds: torch.Tensor, target: torch.Tensor, steps: int = 3, rate: float = 1.0) -> None:
        """Move members' borders with labelled inputs that fell near their threshold.

        Args:
            members: (n,) member index of each example.
            odds: (n,) that member's posterior odds on the input (``MetaOutput.odds``).
            target: (n,) 1 where the input was the member's own, 0 where it was not.
            steps: gradient steps of the logistic correction on these examples.
            rate: multiplies ``border_lr`` for this call; a caller that calls once per
                few examples passes a small rate, so that borders move as far per
                example whatever the batch size.
        """
        if len(members) == 0:
            return
        members = members.long()
        odds = odds.float().clamp(-self.alone_odds, self.alone_odds)
        target = target.float()
        M = len(self)
        counts = torch.zeros(M).index_add_(0, members, torch.ones(len(members)))
        for _ in range(steps):
            a, c = self.border[members, 0], self.border[members, 1]
            err = torch.sigmoid(a * odds + c) - target  # d(log loss)/d(logit)
            # Mean gradient per member (a member's few examples count as much as many).
            g_a = torch.zeros(M).index_add_(0, members, err * odds) / counts.clamp(min=1.0)
            g_c = torch.zeros(M).index_add_(0, members, err) / counts.clamp(min=1.0)
            # Odds are large numbers: scale the slope's step by their typical size.
            scale = torch.zeros(M).index_add_(0, members, odds * odds) / counts.clamp(min=1.0)
            self.border[:, 0] -= rate * self.border_lr * g_a / (1.0 + scale)
            self.border[:, 1] -= rate * self.border_lr * g_c
        self.border[:, 0].clamp_(*self.slope_range)
        for m, n in zip(*np.unique(members.numpy(), return_counts=True)):
            self.border_updates[int(m)] += int(n)

    def learn(self, lesson: Lesson) -> None:
        """Apply one batch's ``Lesson``: borders first (one step over every near pair, with
        the odds of the verdicts they came from), then each member's own examples in order."""
        members, odds, target = [], [], []
        for verdict, rows, cols, own in lesson.border:
            members.append(cols)
            odds.append(verdict.odds[rows, cols])
            target.append(own)
        if members:
            m = torch.cat(members)
            if len(m):
                self.learn_border(m, torch.cat(odds), torch.cat(target), steps=self.border_steps, rate=lesson.border_rate)
        for idx, Z in lesson.positives:
            self.update(idx, Z)
        self._keep_fit()

    def _reservoir_add(self, idx: int, Z: torch.Tensor) -> None:
        res = self.reservoirs[idx]
        room = self.reservoir - len(res)
        if room > 0:
            res = torch.cat([res, Z[:room].to(self._res_dtype)])
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

    def _refit(self, shape: bool = True) -> bool:
        """Derive the scores and calibrations from the statistics.

        ``shape=False`` keeps the last factorisation of the shared covariance and its center,
        and only brings in the members that are new or learned since their last solve: what
        learning does after each batch, at a small fraction of the cost of a shape (no merge
        of the scatter, no Cholesky factorisation), and touching only those members' columns.
        If a member's mean moved far under the last shape (by more than a quarter of an
        example's typical whitened radius, ``_SHIFT``: an outlier, which the shape has not
        seen), the shape is refitted instead. Returns whether the shape was.
        """
        full = shape or self._chol is None
        self.work["shape_refits" if full else "member_refits"] += 1
        m = len(self)
        before = len(self._solved)
        if full:
            raw_all = torch.stack(self.means64)  # (M, F)
            self._flush()
            # The new covariance (factored in place) goes in the last factor's memory: a fresh F x F
            # float64 matrix is a fresh mapping, 10,000 page faults at F = 2,304 (if the factorisation
            # fails, there is then no fit to answer from: the next query or refit tries again).
            spare, self._chol = self._chol, None
            cov = self._shrunk(self.scatter, self.n_examples, m, out=spare)
            if self.pair_block:
                self._cov32 = cov.float()
                self._rebase()
            self._var = cov.diagonal().clone()
            self._chol = _cholesky(cov)  # overwrites cov
            if self._chol32 is not None and self._chol32.shape == self._chol.shape:
                self._chol32.copy_(self._chol)  # (in the last shape's: the same rounding, no fresh 21 MB)
            else:
                self._chol32 = self._chol.float()
            self._changed_since_fit = 0
            # Work in coordinates centred on the members' mean, fixed until the next shape. The
            # features are all positive with a large common part, so uncentred float32 scores
            # are differences of numbers around 1e6 and lose the last nats of the close calls
            # (0.2 points of accuracy on Fashion-MNIST). Any fixed center changes every score
            # of an input by the same amount, so posteriors and distances are unchanged; keeping
            # it between shapes lets a member that learned change its own columns alone.
            counts = torch.tensor(self.counts, dtype=torch.float64)
            self._c_ref = (raw_all * counts[:, None]).sum(0) / counts.sum().clamp(min=1.0)
            self._center = self._c_ref.float()
            self._inv_var = (1.0 / self._var).float()
            self._bias, self._mean_norms = torch.zeros(0), torch.zeros(0)
            self._knots, self._tails = torch.zeros(0, len(self.levels)), torch.zeros(0, 2)
            self._solved, self._calibrated = [], []  # a new shape: every member is solved and calibrated again
            self._cap = 0  # (the columns are all written again below)
            before = 0
        assert self._chol is not None and self._var is not None
        if len(self._solved) < m:  # new members: room for their columns
            grow = m - len(self._solved)
            self._room(m)
            self._bias, self._mean_norms = torch.cat([self._bias, torch.zeros(grow)]), torch.cat([self._mean_norms, torch.zeros(grow)])
            self._knots = torch.cat([self._knots, torch.zeros(grow, len(self.levels))])
            self._tails = torch.cat([self._tails, torch.zeros(grow, 2)])
            self._solved.extend([-1.0] * grow)
            self._calibrated.extend([-1.0] * grow)
        grown = before < m
        # Members that are new, or learned enough since their last solve and table under this
        # shape (all of them after a new shape); the others stay dirty until they have.
        todo = list(range(m)) if full else sorted(set(self._due()) | set(range(before, m)))
        stale = [i for i in todo if self._solved[i] != self.counts[i]]
        if stale:
            # (F, k) = S^-1 (mu_k - c_ref), by two triangular solves (for a few right-hand sides
            # about a third of the time of cholesky_solve on this machine's CPUs), for the
            # members that are new or learned since their last solve under this shape only.
            idx = torch.tensor(stale)
            rel = torch.stack([self.means64[i] for i in stale]) - self._c_ref  # (k, F)
            w = torch.linalg.solve_triangular(self._chol.T, torch.linalg.solve_triangular(self._chol, rel.T, upper=False), upper=True)
            if not full:
                old = [j for j, i in enumerate(stale) if i < before and self._solved[i] >= 0]
                if old:
                    at = torch.tensor(old)
                    moved = ((rel[at] - self._means32[idx[at]].double()) * (w[:, at] - self._w_ref[:, idx[at]]).T).sum(1)
                    if float(moved.max()) > _SHIFT * self.dim:
                        return self._refit(shape=True)
            self._w_ref[:, idx] = w
            self._means32[idx] = rel.float()
            self._bias[idx] = (-0.5 * (rel * w.T).sum(1)).float()
            self._mean_norms[idx] = (rel * rel / self._var).sum(1).float()
            # Scores and scaled means side by side: (F, 2M), one product per batch.
            self._prod_buf[idx] = w.float().T
            self._prod_buf[idx + self._cap] = (rel / self._var).float()
            for i in stale:
                self._solved[i] = self.counts[i]
        # Calibration tables: a member's depends on its reservoir, its mean and the shape's
        # diagonal only (the center cancels), so only members that learned since their last
        # table under this shape get a new one.
        for i in todo:
            if self._calibrated[i] == self.counts[i]:
                continue
            m2 = self._distance_rows(self.reservoirs[i], i)
            q = torch.quantile(m2, self.levels)
            excess = m2[m2 > q[-1]] - q[-1]
            scale_t = excess.mean() if len(excess) else q[-1].clamp(min=1.0) * 0.1
            self._knots[i] = q
            self._tails[i] = torch.stack([q[-1], torch.clamp(scale_t, min=1e-6)])
            self._calibrated[i] = self.counts[i]
        usable = frozenset(k for k in range(m) if self._usable(k))
        if full or grown or usable != self._likely_of:
            # The pairs with a pair test (float32 ranks them well enough), found now, not by a query;
            # again when members or those that can have pair tests change.
            self._likely = self._neighbour_pairs(self._means32, self._w_ref.float())
            self._likely_of = usable
        if self.candidates and m > self.candidates:
            if full or self._clusters is None or m >= _RECLUSTER * self._clustered_at:
                self._clusters = self._cluster(self._means32.double(), self._w_ref)
                self._blocks = self._cluster_blocks()
                self._clustered_at = m
            else:
                if grown:
                    self._join_clusters(list(range(before, m)))
                old = [k for k in stale if k < before]
                if old:
                    self._refresh_blocks(old)
        else:
            self._clusters, self._blocks = None, []
        self._dirty = set() if full else self._dirty - set(todo)
        self._structure_changed = False
        return full

    def _room(self, m: int) -> None:
        """Room in the column buffers for ``m`` members: the ones held are kept, and the buffers
        grow by half at a time, so that adding members one by one copies each a few times only."""
        if m <= self._cap:
            return
        n = len(self._solved)  # members whose columns are held (the rest are written after this)
        cap = max(m, self._cap + self._cap // 2, 16)
        F_ = self.dim
        w, means, prod = torch.zeros(F_, cap, dtype=torch.float64), torch.zeros(cap, F_), torch.zeros(2 * cap, F_)
        if n and self._cap:
            w[:, :n], means[:n] = self._w_buf[:, :n], self._means_buf[:n]
            prod[:n], prod[cap : cap + n] = self._prod_buf[:n], self._prod_buf[self._cap : self._cap + n]
        self._w_buf, self._means_buf, self._prod_buf, self._cap = w, means, prod, cap

    @property
    def _w_ref(self) -> torch.Tensor:
        """(F, M) S^-1 (mu_k - c_ref) of every member with columns (a view)."""
        return self._w_buf[:, : len(self._solved)]

    @property
    def _means32(self) -> torch.Tensor:
        """(M, F) mu_k - center (a view)."""
        return self._means_buf[: len(self._solved)]

    @property
    def _score_cols(self) -> torch.Tensor:
        """(F, M) the score columns (a view): ``Z_c @ _score_cols + _bias`` are the scores."""
        return self._prod_buf[: len(self._solved)].T

    @property
    def _cross_cols(self) -> torch.Tensor:
        """(F, M) the novelty cross terms' columns, ``(mu_k - center) / var`` (a view)."""
        return self._prod_buf[self._cap : self._cap + len(self._solved)].T

    @property
    def _product(self) -> torch.Tensor | None:
        """(F, 2M): the score columns, then the cross terms' (a copy; None before the first fit)."""
        if self._bias is None:
            return None
        return torch.cat([self._score_cols, self._cross_cols], 1)

    def _due(self) -> list[int]:
        """Dirty members whose columns are due again: never solved under this shape, or holding
        ``_MEMBER_GROWTH`` times the examples of their last solve (a mean from 80% of a member's
        examples scores as one from all of them, and a member that has thousands is solved
        again every few hundred, not at every batch)."""
        n = len(self._solved)
        return [i for i in self._dirty if i >= n or self._solved[i] < 0 or self.counts[i] >= _MEMBER_GROWTH * self._solved[i]]

    def _likely_pairs(self) -> set[tuple[int, int]]:
        """The pairs with a pair test under the last fit (see ``_neighbour_pairs``)."""
        return self._likely or set()

    def _usable(self, k: int) -> bool:
        """Whether member ``k`` can be one of a pair test's two (it has ``pair_min`` merged examples and its own scatter)."""
        return self.scatters[k] is not None and self._flushed_counts[k] >= self.pair_min

    def _neighbour_pairs(self, means: torch.Tensor, w: torch.Tensor) -> set[tuple[int, int]]:
        """Each member that can have pair tests paired with its ``pair_neighbours`` nearest such
        members: (a, b), a < b.

        Near under the shared shape's metric, ``(mu_a - mu_b)^T S^-1 (mu_a - mu_b)``, read off
        ``w = S^-1 mu`` (F, M) without whitening anything; a block of rows at a time. Members
        too young for a pair test take no part (and cost nothing here)."""
        if self.pair_margin <= 0:
            return set()
        usable = torch.tensor([k for k in range(means.shape[0]) if self._usable(k)], dtype=torch.long)
        m = len(usable)
        if m < 2:
            return set()
        means, w = means[usable], w[:, usable]
        k = min(self.pair_neighbours, m - 1)
        norms = (means * w.T).sum(1)  # (m,)
        out: set[tuple[int, int]] = set()
        for s0 in range(0, m, 1024):
            rows = torch.arange(s0, min(m, s0 + 1024))
            d = norms[rows, None] + norms[None, :] - 2.0 * means[rows] @ w  # (rows, m)
            d[torch.arange(len(rows)), rows] = float("inf")  # not itself
            near = d.topk(k, dim=1, largest=False).indices
            for a, bs in zip(usable[rows].tolist(), usable[near].tolist()):
                out.update((min(a, b), max(a, b)) for b in bs)
        return out

    def _cluster(self, means: torch.Tensor, w: torch.Tensor, iterations: int = 8) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """The first stage's index: members' means (M, F), centred, grouped by k-means into
        about sqrt(M) clusters under the shared covariance's metric (the one the scores use:
        a member's score is ``-|z - mu|^2 / 2`` in whitened coordinates, up to a term that is
        the same for every member). ``w`` (F, M) is ``S^-1 mu``, so whitened distances need no
        whitening: ``|m_k - c|^2 = mu_k.w_k - 2 mu_k.w_c + mu_c.w_c`` with ``w_c`` the mean of the
        cluster's ``w``. Returns each cluster's members, and the clusters' score vectors (F, J)
        and offsets (J,): a centroid is scored as a member would be.
        """
        m = means.shape[0]
        J = max(1, int(math.ceil(math.sqrt(m))))
        g = torch.Generator().manual_seed(m)  # the same clusters for the same members, whatever else is random
        norms = (means * w.T).sum(1)  # (M,) mu_k . w_k
        assign = torch.randperm(m, generator=g)[:J]
        c_mu, c_w = means[assign].clone(), w[:, assign].clone()
        for _ in range(iterations):
            d = norms[:, None] - 2.0 * means @ c_w + (c_mu * c_w.T).sum(1)[None, :]  # (M, J)
            label = d.argmin(1)
            counts = torch.bincount(label, minlength=J).to(means.dtype)
            keep = counts > 0
            c_mu = torch.zeros_like(c_mu).index_add_(0, label, means)
            c_w = torch.zeros_like(c_w).index_add_(1, label, w)
            c_mu[keep] /= counts[keep, None]
            c_w[:, keep] /= counts[keep]
            if not bool(keep.all()):  # an empty cluster restarts at the member farthest from its own
                far = d.gather(1, label[:, None]).squeeze(1).argmax()
                c_mu[~keep], c_w[:, ~keep] = means[far], w[:, far : far + 1]
        d = norms[:, None] - 2.0 * means @ c_w + (c_mu * c_w.T).sum(1)[None, :]
        label = d.argmin(1)  # the final assignment; a cluster left empty is dropped, so every probe finds members
        groups = [torch.nonzero(label == j).squeeze(1) for j in range(J)]
        used = [j for j in range(J) if len(groups[j])]
        c_w, c_mu = c_w[:, used], c_mu[used]
        return [groups[j] for j in used], c_w.float(), (-0.5 * (c_mu * c_w.T).sum(1)).float()

    def _cluster_blocks(self) -> list[torch.Tensor]:
        """Each cluster's columns of the product (scores, then novelty cross terms), contiguous: (F, 2 |cluster|) each."""
        assert self._clusters is not None and self._bias is not None
        self._block_of = {k: (j, p) for j, cols in enumerate(self._clusters[0]) for p, k in enumerate(cols.tolist())}
        return [torch.cat([self._score_cols[:, cols], self._cross_cols[:, cols]], 1) for cols in self._clusters[0]]

    def _refresh_blocks(self, members: list[int]) -> None:
        """Copy ``members``' new columns into their clusters' blocks (the clusters themselves stay
        until the next new member or shape)."""
        assert self._clusters is not None and self._bias is not None
        for k in members:
            j, p = self._block_of[k]
            n = len(self._clusters[0][j])
            self._blocks[j][:, p] = self._score_cols[:, k]
            self._blocks[j][:, n + p] = self._cross_cols[:, k]

    def _join_clusters(self, members: list[int]) -> None:
        """New ``members`` join the cluster whose centroid is nearest their mean (the one that
        scores it best, as a query would be probed), columns and all; the clusters are made
        again from scratch at the next shape, or once the members have grown by a quarter
        (``_RECLUSTER``)."""
        assert self._clusters is not None
        groups, c_w, c_b = self._clusters
        best = (self._means32[members] @ c_w + c_b).argmax(1).tolist()
        for k, j in zip(members, best):
            n = len(groups[j])
            groups[j] = torch.cat([groups[j], torch.tensor([k])])
            block = self._blocks[j]
            self._blocks[j] = torch.cat([block[:, :n], self._score_cols[:, k : k + 1], block[:, n:], self._cross_cols[:, k : k + 1]], 1)
            self._block_of[k] = (j, n)

    def _candidate_products(self, Z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The first stage: for centred features Z (B, F), each input's clusters are scored and
        the members of its best ones get their exact products; no other member is touched.

        Returns, per input, its candidates' scores (B, K), novelty cross terms (B, K) and member
        indices (B, K), K the most candidates any input has (at least 2 when M > 1); an input
        with fewer has its row padded with index -1 and score -inf. Its candidates come cluster
        by cluster, best cluster first."""
        assert self._clusters is not None and self._bias is not None
        groups = self._clusters[0]
        blocks = self._blocks
        B, M = len(Z), len(self)
        best = self.probe(Z)  # (B, p)
        assert best is not None
        sizes = torch.tensor([len(g) for g in groups])
        width = sizes[best]  # (B, p)
        start = width.cumsum(1) - width  # where each chosen cluster's members begin in the row
        K = max(int(width.sum(1).max()), 2 if M > 1 else 1)
        s = torch.full((B, K), float("-inf"))
        cross = torch.zeros(B, K)
        cols = torch.full((B, K), -1, dtype=torch.long)
        for j in torch.unique(best).tolist():
            hit = best == j  # (B, p): at most one True per row
            rows = torch.nonzero(hit.any(1)).squeeze(1)
            members = groups[j]
            n = len(members)
            at = start[rows].gather(1, hit[rows].int().argmax(1, keepdim=True))  # (rows, 1)
            block = Z[rows] @ blocks[j]  # (rows, 2n)
            r, c = rows[:, None], at + torch.arange(n)[None, :]
            s[r, c] = block[:, :n] + self._bias[members]
            cross[r, c] = block[:, n:]
            cols[r, c] = members
        return s, cross, cols

    def probe(self, Zc: torch.Tensor) -> torch.Tensor | None:
        """The first stage: each centred input's clusters to score, (B, p), best first (None
        without a first stage)."""
        if self._clusters is None:
            return None
        groups, c_w, c_b = self._clusters
        J, M = len(groups), len(self)
        p = min(J, max(1, int(math.ceil(self.candidates * J / M))))
        return (Zc @ c_w + c_b).topk(p, dim=1).indices

    # The parts a caller needs to have the products computed elsewhere (``riscmoe.sharding``).
    def center(self) -> torch.Tensor:
        """The point (F,) features are centred on before scoring (see ``_refit``)."""
        self._ready()
        assert self._center is not None
        return self._center.clone()

    def centred(self, Z: torch.Tensor) -> torch.Tensor:
        """Features (B, F) in the coordinates the scores use."""
        return Z - self.center()

    def shard_columns(self, members: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Members' product columns, (F, 2k): their scores' then their novelty cross terms'; and their biases (k,)."""
        self._ready()
        assert self._bias is not None
        M = len(self)
        members = members.long()
        return torch.cat([self._score_cols[:, members], self._cross_cols[:, members]], 1), self._bias[members].clone()

    def cluster_of(self) -> torch.Tensor | None:
        """Each member's first-stage cluster (M,), None without a first stage."""
        self._ready()
        if self._clusters is None:
            return None
        out = torch.empty(len(self), dtype=torch.long)
        for j, cols in enumerate(self._clusters[0]):
            out[cols] = j
        return out

    def _shrink_terms(self, trace: float, n: float, m: int) -> tuple[float, float]:
        """Weights (on the scatter, on the identity) of the shrunk covariance of ``m``
        members' pooled scatter, of trace ``trace``, over ``n`` examples.

        Shrunk towards a sphere of the same total variance, heavily while n is small."""
        d = self.dim
        alpha = self.shrinkage + (1.0 - self.shrinkage) * (d / (n + d)) ** 2 * 0.002
        dof = max(n - m, 1.0)
        return (1.0 - alpha) / dof, alpha * max(trace / dof / d, 1e-8)

    def _shrunk(self, scatter: torch.Tensor, n: float, m: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """The covariance of ``m`` members' pooled ``scatter`` over ``n`` examples, shrunk (written
        into ``out`` where it is given and has its shape and type)."""
        on_scatter, on_identity = self._shrink_terms(float(torch.trace(scatter)), n, m)
        if out is not None and out.shape == scatter.shape and out.dtype == scatter.dtype and out.is_contiguous():
            cov = torch.mul(scatter, on_scatter, out=out)
        else:
            cov = scatter * on_scatter
        cov.diagonal().add_(on_identity)
        return cov

    def _pairs_ready(self, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]]:
        """The pair tests of ``pairs`` (a < b) that can be had, each solved now if it is not
        current: (a, b) -> (w_ab (F,), offset).

        ``w_ab = S_ab^-1 (mu_a - mu_b)`` under the covariance of the two members' pooled
        scatter, shrunk like the shared one; ``w_ab . z - offset`` is the log likelihood
        ratio of a against b for an input z. A pair needs ``pair_min`` examples in each
        member. Solves are kept until solved again (see ``_solve_due``); stale ones are
        solved together (see ``_solve_pairs``).
        """
        wanted = [p for p in pairs if self._usable(p[0]) and self._usable(p[1])]
        self._solve_now([p for p in wanted if self._pair_due(p, None)])
        return {p: self._pairs[p][1:] for p in wanted}

    def _pair_due(self, pair: tuple[int, int], growth: float | None) -> bool:
        """Whether ``pair``'s test is missing, or out of date: with ``growth`` None, if either
        member learned anything since its solve; else once either holds ``growth`` times the
        examples it held then."""
        hit = self._pairs.get(pair)
        if hit is None:
            return True
        (n_a, n_b), (a, b) = hit[0], pair
        now_a, now_b = self._flushed_counts[a], self._flushed_counts[b]
        if growth is None:
            return (now_a, now_b) != (n_a, n_b)
        return now_a >= growth * n_a or now_b >= growth * n_b

    def _solve_due(self, growth: float | None) -> None:
        """Solve the pair tests of the last fit's pairs that are due (see ``_pair_due``), at once."""
        if self.pair_margin > 0 and self._likely:
            self._solve_now([p for p in sorted(self._likely) if self._pair_due(p, growth)])

    def _solve_now(self, todo: list[tuple[int, int]]) -> None:
        """Solve ``todo``'s pair tests together: a batch costs about what one pair does (each
        step reads every member's scatter once either way); a pair's solve is the same
        whichever pairs share its batch. Pending examples are merged first."""
        if not todo:
            return
        self._flush()
        for (a, b), w in zip(todo, self._solve_pairs(todo)):
            mu_a, mu_b = self._flushed_means[a], self._flushed_means[b]
            offset = (w.double() * (mu_a + mu_b)).sum() / 2.0
            self._pairs[(a, b)] = ((self._flushed_counts[a], self._flushed_counts[b]), w, offset)
        self.work["pairs_solved"] += len(todo)

    def _solve_pairs(self, pairs: list[tuple[int, int]]) -> torch.Tensor:
        """Solve every pair's ``S_ab w = mu_a - mu_b`` at once: (P, F), one row per pair.

        A factorisation per pair would cost a sixth of the shared one each, and a stream
        whose members all keep learning needs dozens of pairs at every query. Instead,
        ``pair_iterations`` steps of conjugate gradients run on all pairs together,
        preconditioned by the shared covariance (whose factor is at hand) and started
        from the shared shape's answer. Each step reads every member's scatter once, for
        all of its pairs (the cost is memory, not arithmetic). On Fashion-MNIST's
        features, 5 steps decide the close calls as well as exact solves do (90.28% and
        90.35% of the test set right; the shared shape alone 88.65%).
        """
        assert self._chol32 is not None
        P = len(pairs)
        # One row per pair: products with a (symmetric) scatter then read it row by row,
        # three times as fast as columns on this machine's CPUs.
        rhs = torch.stack([(self._flushed_means[a] - self._flushed_means[b]).float() for a, b in pairs])  # (P, F)
        # Each pair's covariance is scale_p * (S_a + S_b) + sphere_p * I (``_shrunk``'s rule).
        scale, sphere = torch.empty(P, 1), torch.empty(P, 1)
        for j, (a, b) in enumerate(pairs):
            trace = _trace(self.scatters[a]) + _trace(self.scatters[b])
            scale[j], sphere[j] = self._shrink_terms(trace, self._flushed_counts[a] + self._flushed_counts[b], 2)
        rows: dict[int, list[int]] = {}
        for j, (a, b) in enumerate(pairs):
            rows.setdefault(a, []).append(j)
            rows.setdefault(b, []).append(j)
        index = {k: torch.tensor(js) for k, js in rows.items()}

        def times_cov(X: torch.Tensor) -> torch.Tensor:
            if self.pair_block:
                return times_blocks(X)
            out = X * sphere
            for k, js in index.items():
                S = self.scatters[k]
                assert S is not None
                rows = X.index_select(0, js)
                out.index_add_(0, js, (S.times(rows) if isinstance(S, ShapeSketch) else rows @ S) * scale[js])
            return out

        blocks: dict[int, torch.Tensor] = {}  # with pair_block: each member's block, unpacked once for every step
        for k in index if self.pair_block else ():
            own = self.scatters[k]
            assert isinstance(own, ShapeBlock)
            blocks[k] = own.matrix()

        def times_blocks(X: torch.Tensor) -> torch.Tensor:
            # cov_ab = U (scale (B_a + B_b) + sphere I) U^T + P_perp Sigma P_perp (riscmoe.meta.block)
            U, Sigma = self._basis, self._cov32
            assert U is not None and Sigma is not None
            Y = X @ U  # (P, k)
            T = Y * sphere
            for k, js in index.items():
                T.index_add_(0, js, (Y.index_select(0, js) @ blocks[k]) * scale[js])
            rest = X - Y @ U.T  # the part outside the basis
            out = rest @ Sigma
            return out - (out @ U) @ U.T + T @ U.T

        # The shared factor read as LAPACK's upper factor (a C-ordered lower triangle is a
        # Fortran-ordered upper one), and rows of R as columns: spotrs with no copies,
        # 32 ms for 190 pairs against 48 ms for torch.cholesky_solve on one core.
        factor = self._chol32.numpy().T

        def precondition(R: torch.Tensor) -> torch.Tensor:
            with _openblas().limit(limits=1):
                solved, info = lapack.spotrs(factor, R.contiguous().numpy().T, lower=0)
            assert info == 0
            return torch.from_numpy(solved.T)

        X = precondition(rhs)
        R = rhs - times_cov(X)
        Zr = precondition(R)
        Pd = Zr.clone()
        rz = (R * Zr).sum(1, keepdim=True)
        for _ in range(self.pair_iterations):
            AP = times_cov(Pd)
            curvature = (Pd * AP).sum(1, keepdim=True)
            step = torch.where(curvature > 0, rz / curvature.clamp(min=1e-30), torch.zeros_like(rz))
            X += Pd * step
            R -= AP * step
            Zr = precondition(R)
            rz_new = (R * Zr).sum(1, keepdim=True)
            Pd = Zr + Pd * torch.where(rz > 0, rz_new / rz.clamp(min=1e-30), torch.zeros_like(rz))
            rz = rz_new
        return X

    def _settle_pairs(self, s: torch.Tensor, Z: torch.Tensor, cols: torch.Tensor | None = None) -> torch.Tensor:
        """Scores s (B, K) with each close call's two best members compared under their pair's shape.

        ``Z`` is centred (Z - center). Column j of row i is member ``cols[i, j]`` (or member j,
        with ``cols`` None: every member, in order). The pair keeps its mean score; only the gap
        between its two members changes, to their pair's log likelihood ratio.
        """
        top = s.topk(2, dim=1)
        close = torch.nonzero(top.values[:, 0] - top.values[:, 1] < self.pair_margin).squeeze(1)
        if len(close) == 0:
            return s
        first, second = top.indices[close, 0], top.indices[close, 1]  # positions in the rows
        if cols is None:
            g_first, g_second = first, second
        else:
            g_first, g_second = cols[close, first], cols[close, second]
        swap = g_first > g_second
        lo, hi = torch.where(swap, g_second, g_first), torch.where(swap, g_first, g_second)
        at_lo, at_hi = torch.where(swap, second, first), torch.where(swap, first, second)
        M = len(self)
        codes = lo * M + hi
        # Only pairs the last fit tests, with a solve at hand: a query solves nothing.
        likely = self._likely_pairs()
        ready = {p: self._pairs[p][1:] for p in map(lambda c: divmod(int(c), M), torch.unique(codes).tolist())
                 if p in likely and p in self._pairs}
        if not ready:
            return s
        s = s.clone()
        assert self._center is not None
        center = self._center.double()
        for (a, b), (w, offset) in ready.items():
            sel = codes == a * M + b
            rows, ja, jb = close[sel], at_lo[sel], at_hi[sel]
            # In centred coordinates, as the shared scores are (see _refit).
            llr = Z[rows] @ w + float((w.double() * center).sum() - offset)
            mid = (s[rows, ja] + s[rows, jb]) / 2.0
            s[rows, ja] = mid + llr / 2.0
            s[rows, jb] = mid - llr / 2.0
        return s

    def refresh(self, force: bool = False) -> None:
        """Refit the shared solve and calibrations if anything changed (or if forced)."""
        if force or self._structure_changed or self._changed_since_fit > 0 or self._chol is None:
            self._refit()

    def prepare(self) -> None:
        """Bring the fit exactly up to date: refit if anything was learned since the last
        refit, and solve every pair test that is out of date. Queries after it answer as if
        the bank had been refitted after every example; without it they answer from the fit
        learning keeps (at most ``refresh_every`` examples old, pair tests solved again as
        their members quadruple)."""
        if len(self) == 0:
            return
        self.refresh()
        self._solve_due(None)

    def _distance_rows(self, Z: torch.Tensor, idx: int) -> torch.Tensor:
        """Novelty distances of rows Z (n, F) to member ``idx`` (diagonal metric)."""
        assert self._inv_var is not None and self._means32 is not None and self._center is not None
        return ((Z.float() - self._center - self._means32[idx]) ** 2 * self._inv_var).sum(1)

    # ---------------------------------------------------------------- inference
    def evaluate(self, Z: torch.Tensor, exact: bool = True) -> MetaOutput:
        """Every member's meta-model on features Z (B, F), in one batched pass.

        Args:
            Z: features (B, F).
            exact: a query: pair tests settle close calls, and the first stage (``candidates``)
                picks whom to score. False: a training loop's own query (the shared shape
                alone, every member scored). Either reads the fit that learning keeps and
                does no refit or solve of its own (see the module's notes; ``prepare()``).
        """
        B, M = len(Z), len(self)
        if M == 0:
            return MetaOutput.empty(B)
        self._ready()
        assert self._bias is not None
        Z = Z - self._center
        if exact and self._clusters is not None:
            # The first stage: only the members of each input's nearest clusters are scored,
            # and the verdict is built over those alone.
            s, cross, cols = self._candidate_products(Z)
            return self.candidate_verdict(Z, s, cross, cols)
        # One product over all members gives their scores and their novelty cross terms.
        s, cross = Z @ self._score_cols + self._bias, Z @ self._cross_cols  # (B, M) each, straight from the buffer
        return self.verdict(Z, s, cross, None, exact)

    def _ready(self) -> None:
        if len(self) and (self._chol is None or self._structure_changed):
            # (only after ``update`` called directly: ``add`` and ``learn`` never leave work behind)
            self._refit(shape=False)

    def verdict(self, Z: torch.Tensor, s: torch.Tensor, cross: torch.Tensor, scored: torch.Tensor | None,
                exact: bool = True) -> MetaOutput:
        """The verdict from centred features Z (B, F) and the members' products: scores s (B, M)
        (-inf where not scored), novelty cross terms (B, M), which were scored (B, M) or None
        (all). ``evaluate`` computes the products here; ``riscmoe.sharding`` where members live."""
        B, M = s.shape
        assert self._inv_var is not None and self._mean_norms is not None
        if exact and M > 1 and self.pair_margin > 0 and self._likely:
            s = self._settle_pairs(s, Z)
        odds = self._log_odds(s, self.alone_odds)
        nearest = s.argmax(1)
        # Diagonal distances to every member: |z|^2_v - 2 z . mu/v + |mu|^2_v.
        distance = ((Z * Z) @ self._inv_var)[:, None] - 2.0 * cross + self._mean_norms
        distance = distance.clamp(min=0.0)
        if scored is not None:
            distance = torch.where(scored, distance, torch.full_like(distance, _FAR))  # unscored: unlike the input
        novelty = self._calibrate(distance.gather(1, nearest[:, None]).squeeze(1), nearest)
        a, c = self.border[:, 0], self.border[:, 1]
        logit = odds * a + c
        log_novelty = torch.log(novelty.clamp(min=1e-30))
        rank = F.logsigmoid(logit) + log_novelty[:, None]
        conf = torch.sigmoid(logit) * novelty[:, None]
        n_scored = scored.sum(1) if scored is not None else torch.full((B,), M, dtype=torch.long)
        return MetaOutput(conf=conf, rank=rank, odds=odds, novelty=novelty, nearest=nearest, distance=distance, bank=self,
                          scored=n_scored)

    def candidate_verdict(self, Z: torch.Tensor, s: torch.Tensor, cross: torch.Tensor, cols: torch.Tensor) -> MetaOutput:
        """The verdict of a query from its candidates alone: centred features Z (B, F), and per
        input its candidates' scores (B, K), novelty cross terms (B, K) and member indices
        (B, K) (-1, with score -inf, where a row has fewer; every row has one at least), as
        ``_candidate_products`` gives them here and ``riscmoe.sharding`` where members live.
        The log-odds, pair tests, distances, calibration and borders are computed over K
        columns, not M. It equals ``verdict`` on the dense scores (-inf where not scored): a
        member that was not scored gets confidence 0, odds -1e4 (the clamp ``_log_odds`` gives
        it there), distance ``_FAR``, and the rank its border gives those odds."""
        M = len(self)
        assert self._inv_var is not None and self._mean_norms is not None
        if M > 1 and s.shape[1] < 2:  # a lone candidate's odds are against the unscored rest, as in the dense verdict
            s = torch.cat([s, torch.full_like(s, float("-inf"))], 1)
            cross = torch.cat([cross, torch.zeros_like(cross)], 1)
            cols = torch.cat([cols, torch.full_like(cols, -1)], 1)
        B, K = s.shape
        valid = cols >= 0
        first = valid.int().argmax(1, keepdim=True)  # each row's first candidate
        c = torch.where(valid, cols, cols.gather(1, first))  # a padded place repeats it
        if M > 1 and self.pair_margin > 0 and self._likely:
            s = self._settle_pairs(s, Z, c)
        odds = self._log_odds(s, self.alone_odds) if M > 1 else torch.full_like(s, self.alone_odds)
        local = s.argmax(1)
        nearest = c.gather(1, local[:, None]).squeeze(1)
        distance = ((Z * Z) @ self._inv_var)[:, None] - 2.0 * cross + self._mean_norms[c]
        distance = distance.clamp(min=0.0)
        novelty = self._calibrate(distance.gather(1, local[:, None]).squeeze(1), nearest)
        a, b = self.border[c, 0], self.border[c, 1]
        logit = odds * a + b
        log_novelty = torch.log(novelty.clamp(min=1e-30))
        rank = F.logsigmoid(logit) + log_novelty[:, None]
        conf = torch.sigmoid(logit) * novelty[:, None]
        # Every member's place: the unscored ones first, then the candidates' values over them
        # (a padded place writes its row's first candidate's values again).
        def spread(values: torch.Tensor, under: torch.Tensor) -> torch.Tensor:
            return under.scatter_(1, c, torch.where(valid, values, values.gather(1, first)))
        unscored_odds = -1e4
        under_logit = unscored_odds * self.border[:, 0] + self.border[:, 1]  # (M,)
        out_rank = spread(rank, F.logsigmoid(under_logit)[None, :] + log_novelty[:, None])
        out_conf = spread(conf, torch.zeros(B, M))
        out_odds = spread(odds, torch.full((B, M), unscored_odds))
        out_distance = spread(distance, torch.full((B, M), _FAR))
        return MetaOutput(conf=out_conf, rank=out_rank, odds=out_odds, novelty=novelty, nearest=nearest,
                          distance=out_distance, bank=self, scored=valid.sum(1))

    def novelty_of(self, out: MetaOutput, members: torch.Tensor) -> torch.Tensor:
        """p-values (B,) of each input under a member of one's choice (``members``: (B,)).

        ``out.novelty`` asks "is this input like anything known?"; this asks "is it like
        what *this* member knows?", which is what tells a new mode of a known label (an
        input far from every member of its label, though perhaps near another label's).
        """
        members = members.long()
        return self._calibrate(out.distance.gather(1, members[:, None]).squeeze(1), members)

    @staticmethod
    def _log_odds(s: torch.Tensor, alone: float = _ALONE_ODDS) -> torch.Tensor:
        """log p_k / (1 - p_k) under a softmax over members, stable for every k (``alone``: a lone member's)."""
        B, M = s.shape
        if M == 1:
            return torch.full_like(s, alone)
        lse = torch.logsumexp(s, 1, keepdim=True)
        log_p = s - lse
        # For members below the top, p_k <= 1/2 and log1p(-p_k) is accurate.
        log_rest = torch.log1p(-log_p.exp().clamp(max=1.0 - 1e-7))
        # For the top member, sum the others directly.
        top = s.argmax(1, keepdim=True)
        masked = s.scatter(1, top, float("-inf"))
        log_rest_top = torch.logsumexp(masked, 1, keepdim=True) - lse
        log_rest = log_rest.scatter(1, top, log_rest_top)
        return (log_p - log_rest).clamp(-1e4, 1e4)

    def _calibrate(self, d2: torch.Tensor, member: torch.Tensor) -> torch.Tensor:
        """p-values (B,) of distances d2 (B,) each under its own member's table."""
        assert self._knots is not None and self._tails is not None
        knots, tails = self._knots[member], self._tails[member]  # (B, Q), (B, 2)
        values = d2[:, None]
        Q = knots.shape[1]
        hi = torch.searchsorted(knots.contiguous(), values.contiguous()).clamp(1, Q - 1)
        lo = hi - 1
        k_lo, k_hi = knots.gather(1, lo), knots.gather(1, hi)
        frac = ((values - k_lo) / (k_hi - k_lo).clamp(min=1e-12)).clamp(0.0, 1.0)
        cdf = self.levels[lo] + frac * (self.levels[hi] - self.levels[lo])
        cdf = torch.where(values <= knots[:, :1], torch.zeros_like(cdf), cdf)
        start, scale = tails[:, :1], tails[:, 1:]
        tail = (1.0 - self.tail_level) * torch.exp(-(values - start).clamp(min=0.0) / scale)
        return torch.where(values > start, tail, 1.0 - cdf).squeeze(1)

    # -------------------------------------------------------------- persistence
    def state_dict(self) -> dict[str, torch.Tensor]:
        """Arrays for safetensors; member order is the collection's order."""
        self._flush()
        out = {"meta.scatter": self.scatter.contiguous(), "meta.border": self.border.contiguous()}
        out["meta.border_updates"] = torch.tensor(self.border_updates, dtype=torch.int64)
        out["meta.deferred"] = torch.tensor(sorted(self.deferred), dtype=torch.int64)
        if self._basis is not None:
            out["meta.basis"] = self._basis.contiguous()
            out["meta.basis_at"] = torch.tensor([self._basis_at], dtype=torch.float64)
        lower = None
        for i in range(len(self)):
            out[f"meta.{i}.count"] = torch.tensor([self.counts[i]], dtype=torch.float64)
            out[f"meta.{i}.seen"] = torch.tensor([self.seen[i]], dtype=torch.int64)
            out[f"meta.{i}.mean"] = self.means64[i].contiguous()
            out[f"meta.{i}.reservoir"] = self.reservoirs[i].contiguous()
            own = self.scatters[i]
            if isinstance(own, ShapeSketch):
                out[f"meta.{i}.shape_rows"], out[f"meta.{i}.shape_diag"] = own.state()
            elif isinstance(own, ShapeBlock):
                out[f"meta.{i}.block"], out[f"meta.{i}.block_info"] = own.state()
            elif own is not None:  # symmetric: its lower triangle, row by row
                lower = self._lower() if lower is None else lower
                out[f"meta.{i}.scatter_tril"] = own[lower].contiguous()
        return out

    def save_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Arrays (those of ``state_dict``, without its prefix) and notes: member count, random
        state, and each member's border for ``riscmoe inspect``.

        The bank is prepared first (as ``load_state`` prepares the copy), so that the saved
        bank and a loaded copy answer and learn on identically."""
        self.prepare()
        arrays = {k[len("meta."):]: v for k, v in self.state_dict().items()}
        per_member = [{"border": [round(float(v), 4) for v in self.border[i].tolist()], "border_updates": self.border_updates[i]}
                      for i in range(len(self))]
        return arrays, {"members": len(self), "rng": self._rng.bit_generator.state, "per_member": per_member,
                        "layout": self.layout(), "compact_to": self._compact_to}

    def load_state(self, arrays: dict[str, torch.Tensor], info: dict[str, Any]) -> None:
        """Restore ``save_state``'s output (checked first; ValueError names what does not fit)."""
        try:
            n = int(info["members"])
            rng = np.random.default_rng()
            rng.bit_generator.state = info["rng"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"the saved meta-models' notes hold no usable member count or random state: {exc}") from None
        # A bank that compacts its members (``compact_to``) takes the layout the save's members are
        # in, and whether they were still to be compacted; any other bank reads the save into its
        # own layout (``load_state_dict``).
        before = (self.layout(), self._compact_to, self._res_dtype)
        if self._compact_to is not None and "layout" in info:
            lay, to = info["layout"], info.get("compact_to")
            if (not isinstance(lay, dict) or set(lay) != set(_LAYOUT) or not (to is None or isinstance(to, dict) and set(to) == set(_LAYOUT))
                    or not all(isinstance(lay[k], (bool, int)) for k in _LAYOUT) or not 0 <= lay["pair_block"] <= self.dim
                    or lay["reservoir"] < 2 or lay["block_bits"] not in (8, 16)):
                raise ValueError(f"the saved meta-models' layout notes are not usable: {lay!r}, {to!r}")
            self.pair_block, self.reservoir, self.block_bits = int(lay["pair_block"]), int(lay["reservoir"]), int(lay["block_bits"])
            self.half_reservoir = bool(lay["half_reservoir"])
            self._res_dtype = torch.float16 if self.half_reservoir else torch.float32
            self._compact_to = None if to is None else dict(to)
        try:
            self.load_state_dict({f"meta.{k}": v for k, v in arrays.items()}, n)
        except ValueError:
            (self.pair_block, self.reservoir, self.half_reservoir, self.block_bits), self._compact_to, self._res_dtype = (
                tuple(before[0][k] for k in _LAYOUT), before[1], before[2])
            raise
        self._rng = rng

    def _saved_basis(self, state: dict[str, torch.Tensor], n_members: int) -> tuple[torch.Tensor | None, float]:
        """The basis of a save's blocks (None if it has none), checked against this bank's ``pair_block``."""
        has_blocks = any(f"meta.{i}.block" in state for i in range(n_members))
        basis = state.get("meta.basis")
        if not has_blocks:
            return (None, 0.0)
        if basis is None or basis.ndim != 2 or basis.shape[0] != self.dim:
            raise ValueError(f"saved meta-models keep blocks of members' scatters but no basis of {self.dim} features for them")
        if basis.shape[1] != self.pair_block:
            raise ValueError(f"saved meta-models keep members' scatters as blocks in a basis of {basis.shape[1]} directions; "
                             f"this bank has pair_block={self.pair_block}: load it with pair_block={basis.shape[1]}")
        at = state.get("meta.basis_at", torch.zeros(0))
        if at.numel() != 1 or not torch.isfinite(basis).all():
            raise ValueError("saved meta-models' basis of blocks is not usable (missing count, or numbers not finite)")
        return basis.float().clone(), float(at.reshape(-1)[0])

    def _lower(self) -> torch.Tensor:
        """(F, F) mask of the lower triangle; indexing with it reads the triangle row by row."""
        return torch.ones(self.dim, self.dim, dtype=torch.bool).tril_()

    def load_state_dict(self, state: dict[str, torch.Tensor], n_members: int) -> None:
        try:
            scatter, border, border_updates = state["meta.scatter"], state["meta.border"], state["meta.border_updates"]
            rows = [
                (float(state[f"meta.{i}.count"][0]), int(state[f"meta.{i}.seen"][0]), state[f"meta.{i}.mean"], state[f"meta.{i}.reservoir"])
                for i in range(n_members)
            ]
        except KeyError as exc:
            raise ValueError(f"saved meta-models lack the array {exc.args[0]!r}") from None
        if tuple(scatter.shape) != (self.dim, self.dim) or any(tuple(r[2].shape) != (self.dim,) for r in rows):
            raise ValueError(f"saved meta-models do not fit a feature space of size {self.dim}")
        if tuple(border.shape) != (n_members, 2) or tuple(border_updates.shape) != (n_members,):
            raise ValueError(f"saved meta-model borders do not match {n_members} members")
        # Members whose own scatter is still to be made from their reservoir (saves of kind
        # version 2 have none: they hold every member's scatter, or lack it).
        deferred_arr = state.get("meta.deferred", torch.zeros(0, dtype=torch.int64))
        if deferred_arr.ndim != 1 or deferred_arr.is_floating_point() or deferred_arr.is_complex():
            raise ValueError(f"saved meta-models' deferred members are not a list of member indices (shape {tuple(deferred_arr.shape)})")
        deferred = {int(v) for v in deferred_arr.tolist()}
        for i in deferred:
            if not 0 <= i < n_members or any(f"meta.{i}.{k}" in state for k in ("scatter_tril", "shape_rows", "block")):
                raise ValueError(f"saved meta-models name member {i} as deferred, which does not fit the save")
            if rows[i][1] > self.reservoir or len(rows[i][3]) != rows[i][1] or rows[i][0] != rows[i][1]:
                raise ValueError(f"saved meta-model {i} is deferred but its reservoir does not hold its every example")
        # Members' own scatters (saves before they were kept lack them: those members
        # compare under the shared shape only). Checked before anything is assigned.
        # A save's layout (full or sketched) is read into this bank's: a full scatter is
        # sketched, a sketch made dense.
        scatters: list[ShapeSketch | ShapeBlock | torch.Tensor | None] = []
        lower = None
        basis, basis_at = self._saved_basis(state, n_members)
        for i in range(n_members):
            packed, sketched = state.get(f"meta.{i}.scatter_tril"), state.get(f"meta.{i}.shape_rows")
            block = state.get(f"meta.{i}.block")
            if block is not None:
                assert basis is not None  # (_saved_basis checked it)
                scatters.append(ShapeBlock.from_state(block, state.get(f"meta.{i}.block_info", torch.zeros(0)), basis.shape[1], self.block_bits))
                continue
            if sketched is not None:
                diag = state.get(f"meta.{i}.shape_diag")
                if diag is None or sketched.ndim != 2 or tuple(diag.shape) != (self.dim,) or sketched.shape[1] != self.dim:
                    raise ValueError(f"saved shape sketch of meta-model {i} does not fit a feature space of size {self.dim}")
                sketch = ShapeSketch.from_state(sketched, diag, max(self.shape_rank, (len(sketched) + 1) // 2))
                scatters.append(sketch if self.shape_rank else sketch.dense() if not self.pair_block else ("dense", sketch.dense()))
                continue
            if packed is None:
                scatters.append(None)
                continue
            if tuple(packed.shape) != (self.dim * (self.dim + 1) // 2,):
                raise ValueError(f"saved scatter of meta-model {i} does not fit a feature space of size {self.dim}")
            lower = self._lower() if lower is None else lower
            own = torch.zeros(self.dim, self.dim)
            own[lower] = packed.float()
            own.T[lower] = packed.float()  # the same numbers, mirrored above the diagonal
            scatters.append(("dense", own) if self.pair_block else own if self.shape_rank == 0 else ShapeSketch.from_dense(own, self.shape_rank))
        if any(isinstance(own, tuple) for own in scatters):
            # Full scatters (or sketches) read into a bank of blocks: each projected onto the basis
            # of the saved shared scatter's top directions.
            cov = self._shrunk(scatter.to(torch.float64, copy=True), float(sum(r[0] for r in rows)), n_members).float()
            basis, _ = initial_basis(cov, self.pair_block)
            basis_at = float(sum(r[0] for r in rows))
            scatters = [ShapeBlock.from_dense(own[1], basis, self.block_bits) if isinstance(own, tuple) else own for own in scatters]
        # Copies throughout: the bank learns in place, and must never write into the arrays it
        # was given (an in-memory round trip would otherwise share them with the original).
        self.scatter = scatter.to(torch.float64, copy=True)
        self.border = border.float().clone()
        self.border_updates = [int(v) for v in border_updates.tolist()]
        self.counts = [r[0] for r in rows]
        self.seen = [r[1] for r in rows]
        self.means64 = [r[2].to(torch.float64, copy=True) for r in rows]
        self._pending = {}
        self._flushed_counts = list(self.counts)
        self._flushed_means = [m.clone() for m in self.means64]
        self.reservoirs = [r[3].to(self._res_dtype, copy=True) for r in rows]
        self.scatters = scatters
        self.deferred = deferred
        self._basis, self._basis_at, self._cov32 = basis, basis_at, None
        self._pairs = {}
        self._structure_changed = True
        self._chol = None
        self._likely, self._likely_of, self._dirty = None, frozenset(), set()
        self._solved, self._calibrated = [], []
        self.prepare()  # a loaded bank answers at once: its first query finds nothing left to do
