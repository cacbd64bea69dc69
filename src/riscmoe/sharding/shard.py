"""One shard's members: their score columns and their models (a plain object; Ray runs it as an actor)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _tensor(array: np.ndarray, dtype: Any = np.float32) -> torch.Tensor:
    """A tensor of ``array`` (copied when it is read-only, as arrays from Ray's object store are)."""
    array = np.asarray(array, dtype)
    return torch.from_numpy(array if array.flags.writeable else array.copy())


class MemberShard:
    """The members a worker holds, and the two things it does for a batch of inputs.

    ``scores`` gives its members' exact meta-model products (scores and the novelty test's
    cross terms) on centred features, for every input or, with a first stage, only for the
    inputs that probe a member's cluster; ``run`` runs its members' models on the inputs the
    controller sends them to. The driver (``ShardedSystem``) combines what every shard returns.

    Args:
        threads: torch threads this shard's products and models use.
    """

    def __init__(self, threads: int = 1) -> None:
        torch.set_num_threads(max(1, int(threads)))
        self.members = np.zeros(0, np.int64)  # (m,) the collection's index of each member held here
        self.columns = torch.zeros(0, 0)  # (F, 2m): score columns, then novelty columns
        self.bias = torch.zeros(0)  # (m,)
        self.center = torch.zeros(0)  # (F,): subtracted from features before scoring (the bank's)
        self.models: dict[int, Any] = {}
        self._blocks: dict[int, tuple[np.ndarray, torch.Tensor]] = {}  # cluster -> (local positions, (F, 2 |them|))

    def set_members(self, members: np.ndarray, columns: torch.Tensor, bias: torch.Tensor, center: torch.Tensor,
                    cluster_of: np.ndarray | None) -> int:
        """Hold ``members`` (m,) with their columns (F, 2m), biases (m,) and the bank's center (F,);
        ``cluster_of`` (m,) is each one's cluster in the first stage (None: no first stage). Returns m."""
        m = len(members)
        if columns.shape[1] != 2 * m or len(bias) != m:
            raise ValueError(f"a shard of {m} members needs (F, {2 * m}) columns and {m} biases, got {tuple(columns.shape)} and {len(bias)}")
        self.members, self.columns, self.bias, self.center = np.asarray(members, np.int64), columns.contiguous(), bias, center
        self._blocks = {}
        if cluster_of is not None:
            for j in np.unique(cluster_of).tolist():
                pos = np.flatnonzero(cluster_of == j)
                idx = torch.from_numpy(pos)
                self._blocks[int(j)] = (pos, self.columns[:, torch.cat([idx, idx + m])].contiguous())
        return m

    def set_models(self, models: dict[int, Any]) -> int:
        """Hold (or replace) the models of members, by the collection's index. Returns how many are held."""
        self.models.update(models)
        return len(self.models)

    @torch.no_grad()
    def scores(self, Z: np.ndarray, probe: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """This shard's members on features ``Z`` (B, F) (the batch ``run`` gets too).

        ``probe`` None (score every member): scores (B, m), novelty cross terms (B, m), None.
        ``probe`` (B, p), each input's first-stage clusters: only the members of those clusters
        are scored, and each input's row holds its candidates here alone: scores (B, K), cross
        terms (B, K) and the collection's index of each (B, K), K the most any input has here;
        places past an input's own candidates have index -1 and score -inf."""
        Z = _tensor(Z) - self.center  # centred as the bank centres them
        m = len(self.members)
        if probe is None:
            both = Z @ self.columns  # (B, 2m)
            return (both[:, :m] + self.bias).numpy(), both[:, m:].numpy(), None
        B = len(Z)
        probe_t = _tensor(probe, np.int64)
        mine = [j for j in torch.unique(probe_t).tolist() if j in self._blocks]
        hits = {j: (probe_t == j).any(1) for j in mine}
        width = torch.zeros(B, dtype=torch.long)
        for j in mine:
            width += hits[j].long() * len(self._blocks[j][0])
        K = int(width.max()) if B and mine else 0
        s = torch.full((B, K), float("-inf"))
        cross = torch.zeros(B, K)
        cols = torch.full((B, K), -1, dtype=torch.long)
        filled = torch.zeros(B, dtype=torch.long)  # candidates placed so far in each row
        members = torch.from_numpy(self.members)
        for j in mine:
            pos, block = self._blocks[j]
            n = len(pos)
            rows = torch.nonzero(hits[j]).squeeze(1)
            out = Z[rows] @ block  # (rows, 2n)
            local = torch.from_numpy(pos)
            r, c = rows[:, None], filled[rows][:, None] + torch.arange(n)[None, :]
            s[r, c] = out[:, :n] + self.bias[local]
            cross[r, c] = out[:, n:]
            cols[r, c] = members[local]
            filled[rows] += n
        return s.numpy(), cross.numpy(), cols.numpy()

    @torch.no_grad()
    def run(self, Z: np.ndarray, rows: np.ndarray, members: np.ndarray) -> np.ndarray:
        """Probabilities of "mine" (n,) of member ``members[i]``'s model on input ``Z[rows[i]]``."""
        Zt = _tensor(Z)
        rows_t, members_t = _tensor(rows, np.int64), _tensor(members, np.int64)
        out = torch.empty(len(rows_t))
        for k in torch.unique(members_t).tolist():
            model = self.models.get(k)
            if model is None:
                raise KeyError(f"member {k} is not held by this shard (it holds {len(self.models)} models)")
            sel = members_t == k
            out[sel] = torch.sigmoid(model.logits(Zt[rows_t[sel]]))
        return out.numpy()
