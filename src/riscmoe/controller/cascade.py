"""The cascade every domain routes with: a policy's ranked candidates, their models run in rounds, stopped by the policy.

A domain supplies three things: a ``Verdict`` over its candidate members (``conf``,
``rank``, ``log_posterior``: see ``riscmoe.meta.protocol``), which of them may run at all
(``accepted``), and how to run members' models (``run``). The policy (``first``, ``best``,
``mixture`` or a user's own, see ``riscmoe.controller.protocol``) orders the candidates,
says which run whatever happens (close calls) and when a cascade stops; it then combines
what ran into answers. Recognition runs one candidate per round, member models grouped per
member; the functions domain runs a policy's whole chunk of candidates per round, in one
sandbox round trip (``step``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from riscmoe.controller.arrays import ops
from riscmoe.controller.protocol import RoutingPolicy
from riscmoe.meta.protocol import Verdict

Tensor = Any  # a torch tensor or a numpy array, as the verdict's (``riscmoe.controller.arrays``)
# run(rows, members) -> (n,) probability of "mine" of each (input row, member) pair, in [0, 1].
Run = Callable[[Tensor, Tensor], Tensor]


@dataclass
class Cascaded:
    """What ran: ``order`` (B, k) candidate members of each input in the policy's order,
    ``probs`` (B, k) each one's model probability of "mine" where it ran and -1 where it did
    not, ``n_run`` (B,) models run per input."""

    order: Tensor
    probs: Tensor
    n_run: Tensor


def cascade(policy: RoutingPolicy, verdict: Verdict, accepted: Tensor, k: int, run: Run, step: int = 1) -> Cascaded:
    """Run the policy's top ``k`` candidates of each input through ``run``, ``step`` candidates per round.

    In each round, candidate j of input b runs when it is valid and either the input's
    cascade is still going or the policy forces it (a close call). After a round, an input's
    cascade stops once a model that ran on it reached the policy's ``stop_at``. All pairs of
    a round go to ``run`` in one call, so a domain batches them as it likes; columns that
    run wherever they may whatever stops (forced everywhere, or no ``stop_at``) join the
    round, which changes no answer and saves round trips.
    """
    if k < 1 or step < 1:
        raise ValueError(f"a cascade needs k >= 1 candidates and step >= 1 per round, got k={k}, step={step}")
    xp, B = ops(accepted), accepted.shape[0]
    order, valid, forced = policy.candidates(verdict, accepted, k)
    k = order.shape[1]
    probs = xp.full((B, k), -1.0)
    n_run = xp.zeros((B,), dtype=xp.long)
    active = xp.copy(valid[:, 0]) if k else xp.zeros((B,), dtype=xp.bool_)
    stop_at = policy.stop_at
    every = ((forced | ~valid).all(0)).tolist()  # (k,) columns that run wherever they may, whatever stops
    start = 0
    while start < k:
        end = k if stop_at is None else min(k, start + step)  # nothing stops a cascade without stop_at: one round
        while end < k and every[end]:
            end += 1  # a column that runs wherever it may joins the round
        runs = (active[:, None] | forced[:, start:end]) & valid[:, start:end]  # (B, columns of the round)
        has = runs.any(0).tolist()
        if not all(has):  # a column no input runs ends the cascade (valid candidates come first)
            runs, end = runs[:, : has.index(False)], k
        if runs.shape[1] == 0:
            break
        cols_of, rows = xp.nonzero2(runs.T)  # column by column, rows ascending within each
        cols_of = cols_of + start
        start = end
        got = run(rows, order[rows, cols_of])
        probs[rows, cols_of] = got
        n_run += xp.bincount(rows, B)
        if stop_at is not None:
            # A cascade stops at the first round in which a model is sure of its input.
            sure = xp.zeros((B,), dtype=xp.bool_)
            sure[rows[got >= stop_at]] = True
            active = active & ~sure
    return Cascaded(order, probs, n_run)
