"""Snapshots: served copies that share unchanged members answer exactly as whole deep copies do."""

import copy

import numpy as np
import pytest
import torch

import riscmoe
from riscmoe.collection.collection import Member
from riscmoe.models.verifier import Verifier
from riscmoe.serve.snapshot import Snapshots, marks


def _same_answers(a, b, X):
    pa, pb = a.predict_detailed(X), b.predict_detailed(X)
    assert np.array_equal(pa.labels, pb.labels)
    assert np.array_equal(pa.member, pb.member)
    assert np.array_equal(pa.confidence, pb.confidence)  # bit for bit: the same state, not a close one


def _whole_copy(learner):
    out = copy.deepcopy(learner)
    out.prepare()
    return out


def test_marks_see_in_place_steps_reassignments_and_nothing_else():
    m = Member(index=0, label=0, model=Verifier(8, hidden=4), created_at=0)
    first, keep = marks(m)
    assert marks(m)[0] == first  # nothing changed: equal marks
    m.model.fit_step(torch.randn(6, 8), torch.tensor([1.0, 0, 1, 0, 1, 0]))
    stepped = marks(m)[0]
    assert stepped != first  # an optimiser step writes the weights in place: torch's version counter moved
    m.n_positive += 1
    assert marks(m)[0] != stepped
    m.hold(torch.randn(2, 8), torch.randn(0, 8))  # (replaces the held tensors)
    assert marks(m)[0] != marks(copy.deepcopy(m))[0]  # another member's objects are other objects
    m.model.extra = np.zeros(3)  # a NumPy array keeps no version: always counted as changed
    assert marks(m)[0] != marks(m)[0]


def test_each_copy_equals_a_whole_deep_copy_and_shares_only_unchanged_members(saved_system):
    system, X, y = saved_system
    learner = riscmoe.load(system)
    snaps = Snapshots()
    served = snaps.take(learner)
    assert snaps.shared == 0 and snaps.copied == learner.n_experts_  # the first copy is whole
    _same_answers(served, _whole_copy(learner), X)
    history = [(served, served.predict_detailed(X))]
    for label in (3, 3, 7):  # one label at a time: its members change, the others do not
        rows = np.flatnonzero(y == label)[:12]
        learner.partial_fit(X[rows], y[rows])
        before = served
        served = snaps.take(learner)
        assert 0 < snaps.copied < learner.n_experts_ and snaps.shared + snaps.copied == learner.n_experts_
        same_means = [a is b for a, b in zip(served.collection_.meta.means64, before.collection_.meta.means64)]
        assert 0 < sum(same_means) < learner.n_experts_  # the bank's per-member tensors are shared alike
        _same_answers(served, _whole_copy(learner), X)
        for old, m in zip(served.collection_.members, learner.collection_.members):
            assert old is not m  # the learner's own members are never served
        history.append((served, served.predict_detailed(X)))
    for old, then in history:  # copies served before answer as they did: nothing learned since reached them
        now = old.predict_detailed(X)
        assert np.array_equal(now.labels, then.labels) and np.array_equal(now.confidence, then.confidence)


def test_a_schedule_in_phases_gets_whole_copies(digits_flat):
    """Its prepare() consolidates members, so no member may be shared with a copy still served."""
    X, y = digits_flat
    learner = riscmoe.RiscClassifier(seed=0, feedback="phases").set_params(feedback__phase_length=256)
    for i in range(0, 384, 64):
        learner.partial_fit(X[i: i + 64], y[i: i + 64])
    snaps = Snapshots()
    snaps.take(learner)
    learner.partial_fit(X[400:420], y[400:420])
    served = snaps.take(learner)
    assert snaps.shared == 0
    _same_answers(served, _whole_copy(learner), X[1000:])


def test_an_unfitted_learner_is_copied_whole():
    snaps = Snapshots()
    served = snaps.take(riscmoe.RiscClassifier(seed=0))
    assert not served.is_fitted and snaps.copied == 0
    with pytest.raises(Exception, match="not learned"):
        served.predict(np.zeros((1, 4), np.float32))
