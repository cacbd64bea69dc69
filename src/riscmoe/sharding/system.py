"""``ShardedSystem``: a trained classifier served from shards of its members (Ray actors, or in process)."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np
import torch

from riscmoe.sharding.shard import MemberShard

_RAY_MISSING = "sharding over Ray needs Ray: pip install 'riscmoe[ray]' (or ShardedSystem(..., backend='local'))"


def start_local_ray(num_cpus: int) -> None:
    """Start a Ray cluster of this machine alone, every service listening on 127.0.0.1.

    Ray binds its services to the node's address, and turns 127.0.0.1 given as that address
    into the machine's outward one, unless clusters are off (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``,
    Ray's own switch for machines that should not be reached from outside): then the node's
    address is the loopback one. The switch is set for Ray's processes, and for this one's Ray
    if it was imported before (Ray reads it at import). ``tests/test_sharding.py`` checks the
    ports the cluster opens."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)


class ShardedSystem:
    """Serve a trained ``RiscClassifier`` from ``workers`` shards of its members.

    Member k lives on shard ``k % workers``: its score columns (the meta-model's exact test)
    and its model. For a batch, the driver (this object, in the caller's process) encodes the
    inputs and picks each input's candidate clusters (the first stage, where the bank has one:
    ``meta__candidates``); every shard scores its members on the inputs that probe them and
    returns the scores; the driver turns them into the bank's verdict (posterior odds over all
    members, novelty, borders: small per-member tables it keeps) and the controller's cascade
    sends each input to the members it runs, on the shards that hold them. The answers (labels,
    members, models run) are the classifier's own, and confidences agree to float32 rounding
    (a shard's product over its own columns sums in another order; tested to 1e-4).

    Learning stays with the classifier: after it learns (or ``prepare()``), call ``sync()`` to
    send the shards what changed (every member's columns, and the models that learned);
    answering from shards out of date is refused.

    Args:
        clf: a fitted ``RiscClassifier`` with the Gaussian bank (the shipped one).
        workers: number of shards.
        backend: ``"ray"`` (one Ray actor per shard; a local Ray cluster on 127.0.0.1 is
            started if none is connected, and stopped by ``close()``), or ``"local"``
            (shards in this process: the same protocol, for tests and for machines without Ray).
        threads_per_worker: torch threads each shard uses.

    Example::

        with ShardedSystem(clf, workers=2) as served:
            labels = served.predict(X)
    """

    def __init__(self, clf: Any, workers: int = 2, backend: str = "ray", threads_per_worker: int = 1) -> None:
        from riscmoe.creator.member import AsMember
        from riscmoe.meta.gaussian import GaussianMetaBank

        if not clf.is_fitted:
            raise ValueError("ShardedSystem serves a fitted classifier: call partial_fit or fit first")
        if not isinstance(clf.collection_.meta, GaussianMetaBank):
            raise TypeError(f"sharding needs the Gaussian bank's score columns; this classifier's bank is "
                            f"{type(clf.collection_.meta).__name__}")
        if isinstance(clf.part("creator"), AsMember):
            raise NotImplementedError("a classifier whose creator is a member (creator='as-member') cannot be sharded yet")
        if int(workers) < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if backend not in ("ray", "local"):
            raise ValueError(f"backend must be 'ray' or 'local', got {backend!r}")
        self.clf, self.workers, self.backend = clf, int(workers), backend
        self._owns_ray = False
        self._ray: Any = None
        if backend == "ray":
            try:
                import ray
            except ImportError:
                raise ImportError(_RAY_MISSING) from None
            self._ray = ray
            if not ray.is_initialized():
                start_local_ray(self.workers)
                self._owns_ray = True
            actor = ray.remote(num_cpus=1)(MemberShard)
            self._shards: list[Any] = [actor.remote(threads_per_worker) for _ in range(self.workers)]
        else:
            self._shards = [MemberShard(threads_per_worker) for _ in range(self.workers)]
        self._fingerprints: dict[int, str] = {}
        self._synced: tuple | None = None
        self._batch: tuple[int, Any] | None = None  # (id of the features, their handle) of the batch in flight
        self.view = _ShardedCollection(self)
        self.sync()

    # ------------------------------------------------------------------ plumbing
    def _call(self, i: int, method: str, *args: Any) -> Any:
        if self._ray is not None:
            return getattr(self._shards[i], method).remote(*args)
        return getattr(self._shards[i], method)(*args)

    def _get(self, pending: list[Any]) -> list[Any]:
        return self._ray.get(pending) if self._ray is not None else pending

    def _share(self, array: np.ndarray) -> Any:
        """One copy of a batch's array for every shard (Ray's object store; in process, the array)."""
        return self._ray.put(array) if self._ray is not None else array

    def _stamp(self) -> tuple:
        bank = self.clf.collection_.meta
        return (self.clf.n_seen_, len(bank), tuple(bank.work.values()))

    # ------------------------------------------------------------------ state
    def sync(self) -> dict[str, int]:
        """Send the shards the classifier's current members: every member's columns, and the
        models that changed since the last sync. Returns how many members and models went."""
        col = self.clf.collection_
        bank = col.meta
        M = len(col)
        cluster_of = bank.cluster_of()
        center = bank.center()
        pending = []
        for i in range(self.workers):
            idx = np.arange(i, M, self.workers)
            columns, bias = bank.shard_columns(torch.from_numpy(idx))
            pending.append(self._call(i, "set_members", idx, columns, bias, center,
                                      None if cluster_of is None else cluster_of[idx].numpy()))
        shipped: dict[int, dict[int, Any]] = {}
        for k, member in enumerate(col.members):
            arrays, _ = member.model.save_state()
            digest = hashlib.blake2b(digest_size=16)
            for name in sorted(arrays):
                digest.update(name.encode())
                digest.update(arrays[name].contiguous().numpy().tobytes())
            fp = digest.hexdigest()
            if self._fingerprints.get(k) != fp:
                shipped.setdefault(k % self.workers, {})[k] = member.model
                self._fingerprints[k] = fp
        for i, models in shipped.items():
            pending.append(self._call(i, "set_models", models))
        self._get(pending)
        self._synced = self._stamp()
        return {"members": M, "models": sum(len(v) for v in shipped.values())}

    def _check_synced(self) -> None:
        if self._stamp() != self._synced:
            raise RuntimeError("the classifier learned (or was prepared) since its shards were synced: call sync() first")

    # ------------------------------------------------------------------ answers
    def predict_detailed(self, X: Any) -> Any:
        """As ``RiscClassifier.predict_detailed``, answered by the shards."""
        self._check_synced()
        try:
            return self.clf._predict(X, self.view)
        finally:
            self._batch = None

    def predict(self, X: Any) -> np.ndarray:
        """As ``RiscClassifier.predict``, answered by the shards."""
        return self.predict_detailed(X).labels

    def close(self) -> None:
        """Stop the shards (and the Ray cluster this object started)."""
        if self._ray is not None:
            for actor in self._shards:
                self._ray.kill(actor)
            if self._owns_ray:
                self._ray.shutdown()
            self._ray = None
        self._shards = []

    def __enter__(self) -> "ShardedSystem":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _ShardedCollection:
    """The collection as the controller sees it when its members live on shards: the encoder
    and the per-member tables here, the products and models there."""

    def __init__(self, system: ShardedSystem) -> None:
        self.system = system

    def __len__(self) -> int:
        return len(self.system.clf.collection_)

    def encode(self, X: torch.Tensor) -> torch.Tensor:
        return self.system.clf.collection_.encode(X)

    def labels(self) -> torch.Tensor:
        return self.system.clf.collection_.labels()

    def _features(self, Z: torch.Tensor) -> Any:
        """The batch's features, shared once with every shard (a handle, reused by ``run_models``)."""
        sys = self.system
        if sys._batch is None or sys._batch[0] != id(Z):
            sys._batch = (id(Z), Z, sys._share(Z.numpy()))
        return sys._batch[2]

    def evaluate(self, Z: torch.Tensor, exact: bool = True) -> Any:
        sys = self.system
        bank = sys.clf.collection_.meta
        B, M = len(Z), len(self)
        Zc = bank.centred(Z)
        probe = bank.probe(Zc) if exact else None
        shared = self._features(Z)  # one copy per batch: the shards centre it, and their models run on it
        probe_np = None if probe is None else probe.numpy()
        parts = sys._get([sys._call(i, "scores", shared, probe_np) for i in range(sys.workers)])
        if probe is not None:
            # Each shard's candidates side by side: the verdict is built over them alone.
            s, cross, cols = (torch.cat([torch.as_tensor(np.array(part[k])) for part in parts], 1) for k in range(3))
            return bank.candidate_verdict(Zc, s, cross, cols)
        s = torch.full((B, M), float("-inf"))
        cross = torch.zeros(B, M)
        for i, (s_i, cross_i, _) in enumerate(parts):
            cols = torch.arange(i, M, sys.workers)
            s[:, cols], cross[:, cols] = torch.as_tensor(np.array(s_i)), torch.as_tensor(np.array(cross_i))
        return bank.verdict(Zc, s, cross, None, exact)

    def run_models(self, Z: torch.Tensor, rows: torch.Tensor, members: torch.Tensor, runs: torch.Tensor) -> torch.Tensor:
        sys = self.system
        handle = self._features(Z)
        shard = members % sys.workers
        out = torch.empty(len(rows))
        sent = []
        for i in torch.unique(shard).tolist():
            sel = torch.nonzero(shard == i).squeeze(1)
            sent.append((sel, sys._call(i, "run", handle, rows[sel].numpy(), members[sel].numpy())))
        for (sel, _), probs in zip(sent, sys._get([p for _, p in sent])):
            out[sel] = torch.as_tensor(np.array(probs))
        runs += torch.bincount(members, minlength=len(runs))
        return out
