"""The shared cascade (riscmoe.controller.cascade) and the policies on both array types (riscmoe.controller.arrays)."""

import numpy as np
import pytest
import torch

from riscmoe.controller.cascade import cascade
from riscmoe.controller.arrays import NUMPY, ops
from riscmoe.controller.policies import Best, First, Mixture
from riscmoe.meta.protocol import Scores

POLICIES = [First(), First(sure=0.9), Best(), Best(close=0.0), Best(close=float("inf")), Mixture()]


def _verdict(B: int, M: int, seed: int):
    rng = np.random.default_rng(seed)
    log_post = rng.normal(0, 3, (B, M))
    conf = rng.uniform(0, 1, (B, M)).astype(np.float32)
    conf[rng.uniform(size=(B, M)) < 0.3] = 1e-6  # some refuse
    rank = np.log(conf.astype(np.float64)) + 1e-3 * log_post  # distinct
    typical = rng.uniform(0, 1, (B, M)).astype(np.float32)
    model = rng.uniform(0, 1, (B, M)).astype(np.float32)  # each (input, member) model's probability of "mine"
    return (Scores(conf, rank, log_post, typical),
            Scores(*(torch.from_numpy(a) for a in (conf, rank, log_post, typical))), model, rng.integers(0, 3, M))


@pytest.mark.parametrize("policy", POLICIES, ids=repr)
@pytest.mark.parametrize("step", [1, 2, 5])
def test_numpy_and_torch_route_alike(policy, step):
    """One policy's code on numpy arrays (the functions domain) and torch tensors (recognition): the same answers."""
    for seed in range(5):
        v_np, v_t, model, labels = _verdict(7, 6, seed)
        calls = {"np": [], "t": []}

        def run(key):
            def go(rows, members):
                calls[key].append(len(rows))
                return model[np.asarray(rows), np.asarray(members)] if key == "np" else torch.from_numpy(
                    model[rows.numpy(), members.numpy()])
            return go

        acc_np = v_np.conf >= 1e-3
        a = cascade(policy, v_np, acc_np, 4, run("np"), step=step)
        b = cascade(policy, v_t, torch.from_numpy(acc_np), 4, run("t"), step=step)
        assert isinstance(a.order, np.ndarray) and isinstance(b.order, torch.Tensor)
        assert calls["np"] == calls["t"]
        np.testing.assert_array_equal(a.order, b.order.numpy())
        np.testing.assert_array_equal(a.probs, b.probs.numpy())
        np.testing.assert_array_equal(a.n_run, b.n_run.numpy())
        for x, y in zip(policy.combine(v_np, a.order, a.probs, labels), policy.combine(v_t, b.order, b.probs, torch.from_numpy(labels))):
            np.testing.assert_allclose(np.asarray(x, dtype=np.float64), y.numpy().astype(np.float64), rtol=1e-6)


def test_rounds_change_no_answer_only_round_trips():
    """``step`` candidates per round: the same models run (a stopped input runs nothing more after its round) ..."""
    v_np, _, model, labels = _verdict(9, 8, 1)
    acc = v_np.conf >= 1e-3
    base = cascade(Best(close=float("inf")), v_np, acc, 8, lambda r, m: model[r, m], step=1)
    trips = []
    wide = cascade(Best(close=float("inf")), v_np, acc, 8, lambda r, m: trips.append(1) or model[r, m], step=1)
    np.testing.assert_array_equal(base.probs, wide.probs)
    assert len(trips) == 1  # every candidate is a close call: nothing can stop, one round trip
    trips.clear()
    cascade(Mixture(), v_np, acc, 8, lambda r, m: trips.append(1) or model[r, m])
    assert len(trips) == 1  # no stop_at: one round trip


def test_first_stops_after_the_round_with_a_sure_model():
    B, M = 1, 6
    v = Scores(np.ones((B, M), np.float32), -np.arange(M, dtype=np.float64)[None], np.zeros((B, M)), np.ones((B, M), np.float32))
    sure_at = 3  # the 4th candidate (creation order) is sure
    p = np.array([[0.0, 0.0, 0.0, 1.0, 1.0, 1.0]], np.float32)
    for step, ran in [(1, 4), (2, 4), (4, 4), (5, 5)]:
        out = cascade(First(sure=1.0), v, np.ones((B, M), bool), M, lambda r, m: p[r, m], step=step)
        assert int(out.n_run[0]) == ran, step
        label, member, _ = First(sure=1.0).combine(v, out.order, out.probs, np.arange(M))
        assert int(member[0]) == sure_at


def test_bad_cascade_arguments():
    v_np, _, model, _ = _verdict(2, 3, 0)
    with pytest.raises(ValueError, match="k >= 1"):
        cascade(First(), v_np, v_np.conf > 0, 0, lambda r, m: model[r, m])
    with pytest.raises(ValueError, match="step >= 1"):
        cascade(First(), v_np, v_np.conf > 0, 2, lambda r, m: model[r, m], step=0)


def test_ops_keep_the_array_type():
    assert ops(np.zeros(2)) is NUMPY and ops([1.0]) is NUMPY
    t = ops(torch.zeros(2))
    assert t is not NUMPY and isinstance(t.topk(torch.tensor([[1.0, 3.0, 2.0]]), 2), torch.Tensor)
    np.testing.assert_array_equal(NUMPY.topk(np.array([[1.0, 3.0, 2.0, 3.0]]), 3), [[1, 3, 2]])  # ties: lower index first
    out = NUMPY.scatter_add(np.zeros((2, 3)), np.array([[0, 0], [2, 1]]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(out, [[3, 0, 0], [0, 4, 3]])
