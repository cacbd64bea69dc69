"""Members sharded over workers answer as the classifier in one process (riscmoe.sharding)."""

import socket

import numpy as np
import pytest

from riscmoe import RiscClassifier
from riscmoe.sharding import MemberShard, ShardedSystem
from tests.conftest import class_incremental_batches

GROUPS = [(0, 1, 2), (3, 4), (5, 6, 7, 8, 9)]


def _trained(digits, **kw):
    Xtr, ytr, _, _ = digits
    clf = RiscClassifier(seed=0, min_examples=16).set_params(**kw)
    for Xb, yb in class_incremental_batches(Xtr[:1000], ytr[:1000], GROUPS):
        clf.partial_fit(Xb, yb)
    return clf


@pytest.fixture(scope="module")
def systems(digits):
    """The same stream learned twice: the shared shape alone, and with a first stage of few candidates."""
    return {"dense": _trained(digits), "first stage": _trained(digits, meta__candidates=3)}


def _same(a, b):
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.member, b.member)
    np.testing.assert_array_equal(a.members_run, b.members_run)
    np.testing.assert_array_equal(a.model_runs, b.model_runs)
    # Confidences to float32 rounding: a shard's product over its own columns sums in another
    # order than the one product over every member (BLAS blocks by the matrix's width).
    np.testing.assert_allclose(a.confidence, b.confidence, rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", ["dense", "first stage"])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_shards_in_process_answer_as_one_process(systems, digits, name, workers):
    clf = systems[name]
    Xte = digits[2]
    with ShardedSystem(clf, workers=workers, backend="local") as served:
        _same(served.predict_detailed(Xte), clf.predict_detailed(Xte))


def test_a_first_stage_scores_few_members_on_the_shards(systems, digits):
    clf = systems["first stage"]
    assert clf.collection_.meta.cluster_of() is not None and clf.n_experts_ > 3
    with ShardedSystem(clf, workers=2, backend="local") as served:
        view = served.view
        import torch
        Z = view.encode(torch.from_numpy(digits[2][:50].reshape(50, -1)))
        verdict = view.evaluate(Z)
        assert float(verdict.scored.float().mean()) < clf.n_experts_  # not every member was scored


def test_learning_needs_a_sync_and_a_sync_sends_only_the_models_that_learned(digits):
    Xtr, ytr, Xte, _ = digits
    clf = _trained(digits)
    served = ShardedSystem(clf, workers=2, backend="local")
    clf.partial_fit(Xtr[1000:1128], ytr[1000:1128])
    with pytest.raises(RuntimeError, match="sync"):
        served.predict(Xte)
    sent = served.sync()
    assert sent["members"] == clf.n_experts_ and 0 < sent["models"] < clf.n_experts_
    _same(served.predict_detailed(Xte), clf.predict_detailed(Xte))
    assert served.sync()["models"] == 0  # nothing changed since


def test_what_cannot_be_sharded_is_refused_clearly(digits):
    with pytest.raises(ValueError, match="fitted"):
        ShardedSystem(RiscClassifier(), backend="local")
    clf = _trained(digits)
    with pytest.raises(ValueError, match="workers"):
        ShardedSystem(clf, workers=0, backend="local")
    with pytest.raises(ValueError, match="backend"):
        ShardedSystem(clf, backend="spark")
    shard = MemberShard()
    with pytest.raises(ValueError, match="columns"):
        shard.set_members(np.arange(2), np.zeros((4, 3), np.float32), np.zeros(2, np.float32), np.zeros(4, np.float32), None)
    with pytest.raises(KeyError, match="not held"):
        shard.run(np.zeros((1, 4), np.float32), np.array([0]), np.array([5]))


def _listening_ports():
    """(address, port) of every TCP socket listening on this machine (from /proc/net/tcp{,6})."""
    out = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            if state != "0A":  # LISTEN
                continue
            addr, port = local.split(":")
            out.add((addr, int(port, 16)))
    return out


def test_shards_on_a_local_ray_cluster_answer_as_one_process_and_listen_on_localhost_only(systems, digits):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'riscmoe[ray]'); its tests need it")
    if ray.is_initialized():
        ray.shutdown()
    before = _listening_ports()
    clf = systems["first stage"]
    served = ShardedSystem(clf, workers=2, backend="ray")
    try:
        assert served._owns_ray and ray.is_initialized()
        _same(served.predict_detailed(digits[2]), clf.predict_detailed(digits[2]))
        opened = _listening_ports() - before
        assert opened  # the cluster's own services
        # Every port the cluster opened listens on the loopback address only (127.0.0.1, as
        # itself or IPv4-mapped in IPv6, or ::1), as /proc/net/tcp{,6} spell them.
        loopback = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}
        assert all(addr in loopback for addr, _ in opened), sorted(opened)
    finally:
        served.close()
    assert not ray.is_initialized()
