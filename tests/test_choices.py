"""The mission's two other choices: the creator as a member of the collection, and feedback in phases."""

import copy

import numpy as np
import pytest
import torch

from riscmoe import RiscClassifier, load
from riscmoe.creator.member import AsMember, CreatorBorder
from riscmoe.feedback import Phases
from tests.conftest import class_incremental_batches


def _routing(clf, X, exact=False):
    """What the controller decides for a batch (in training: ``exact=False``): the verdict with the creator member, and the routing."""
    creator = clf.part("creator")
    Z = clf.collection_.encode(torch.from_numpy(X.reshape(len(X), -1)))
    verdict = creator.extend(clf.collection_.evaluate(Z, exact=exact), clf.creator_border_, float(clf.threshold))
    view = creator.member(clf.collection_, len(clf.labels_))
    return verdict, clf._controller(clf._parts()).route(view, Z, verdict)


# ------------------------------------------------------------------ creator as a member
def test_novel_inputs_reach_creation_through_the_creator_members_verdict(digits):
    Xtr, ytr, _, _ = digits
    clf = RiscClassifier(creator="as-member", min_examples=16, seed=0)
    for Xb, yb in class_incremental_batches(Xtr, ytr, [(0, 1)]):
        clf.partial_fit(Xb, yb)
    assert [m.label for m in clf.collection_.members] == [0, 1]
    start = clf.creator_border_.log_border
    routed, made_at = 0, None
    for Xb, yb in class_incremental_batches(Xtr, ytr, [(6,)], batch_size=16):
        M = clf.n_experts_
        verdict, routing = _routing(clf, Xb)
        assert verdict.conf.shape == (len(Xb), M + 1)  # the creator member: one more column of the same verdict
        taken = int((routing.member == M).sum())
        label = clf.labels_.index(6) if 6 in clf.labels_ else None
        before = len(clf.archive_.ids(kind="unexplained", label=label)) if label is not None else 0
        clf.partial_fit(Xb, yb)
        if made_at is None and clf.n_experts_ > M:
            made_at = clf.n_seen_  # the member was made from the inputs routed to creation
            assert routed + taken >= 16
        elif made_at is None:
            # exactly the inputs the controller routed to the creator member were archived for creation
            assert len(clf.archive_.ids(kind="unexplained", label=clf.labels_.index(6))) - before == taken
            routed += taken
    made = [h for h in clf.history_ if h["label"] == 6]
    assert made_at is not None and made[0]["reason"] == "new label" and made[0]["seen"] == made_at
    # the border was learned (moved up by the 6s the controller first sent elsewhere, then down by the
    # 6s it took once their member existed), not a constant
    assert clf.creator_border_.log_border != start and clf.creator_border_.updates > 0
    # once its member exists, a 6 goes to it, not to creation
    X6 = Xtr[ytr == 6][-32:]
    _, routing = _routing(clf, X6)
    assert float((routing.member == clf.n_experts_).float().mean()) < 0.25


def test_creator_member_border_moves_with_its_mistakes():
    creator = AsMember(border_rate=2.0)
    state = creator.start(1e-3, 100.0)
    assert state.log_border == pytest.approx(np.log(1e-5))

    class V:  # a verdict's confidences: the best other member at 0.5 for every input
        conf = torch.full((4, 2), 0.5)
        rank = torch.log(conf)

    own = torch.tensor([True, True, False, False])
    # two inputs that needed creation were routed elsewhere: up by 2 * 2 / 4 nats
    assert creator.learn_border(state, V, own, taken=torch.zeros(4, dtype=torch.bool)) == 2
    assert state.log_border == pytest.approx(np.log(1e-5) + 1.0)
    # now all four routed to creation, two of them of known labels: down by 2 * 2 / 4
    before = state.log_border
    assert creator.learn_border(state, V, own, taken=torch.ones(4, dtype=torch.bool)) == 2
    assert state.log_border == pytest.approx(before - 1.0)
    # one that needed creation went elsewhere, one of a known label went to creation: no change
    assert creator.learn_border(state, V, own, taken=torch.tensor([False, True, True, False])) == 2
    assert state.log_border == pytest.approx(before - 1.0)
    assert state.updates == 6
    assert CreatorBorder.from_info(state.to_info()) == state
    with pytest.raises(ValueError, match="out of range"):
        CreatorBorder.from_info({"log_border": 1e9, "updates": 0})


def test_creator_member_predicts_unknown_for_what_it_would_create(digits):
    Xtr, ytr, Xte, yte = digits
    clf = RiscClassifier(creator="as-member", min_examples=16, seed=0)
    for Xb, yb in class_incremental_batches(Xtr, ytr, [(0, 1), (2, 3)]):
        clf.partial_fit(Xb, yb)
    clf.prepare()
    _, routing = _routing(clf, Xte, exact=True)
    found = clf.predict_detailed(Xte)
    to_creator = (routing.member == clf.n_experts_).numpy()
    assert to_creator.any()
    assert (found.labels[to_creator] == -1).all() and (found.member[to_creator] == -1).all()
    np.testing.assert_array_equal(found.member[~to_creator], routing.member.numpy()[~to_creator])
    assert len(found.model_runs) == clf.n_experts_
    seen = np.isin(yte, [0, 1, 2, 3])
    assert np.mean(found.labels[seen] == yte[seen]) > 0.8


def test_creator_member_border_survives_a_save(digits, tmp_path):
    Xtr, ytr, Xte, _ = digits
    clf = RiscClassifier(creator="as-member", min_examples=16, seed=0)
    for Xb, yb in class_incremental_batches(Xtr[:400], ytr[:400], [(0, 1, 2)]):
        clf.partial_fit(Xb, yb)
    clf.save(tmp_path / "s")
    twin = load(tmp_path / "s")
    assert twin.creator_border_ == clf.creator_border_
    np.testing.assert_array_equal(twin.predict(Xte), clf.predict(Xte))


def test_creator_member_bad_setting_is_refused_by_name_and_changes_nothing(digits):
    Xtr, ytr, _, _ = digits
    clf = RiscClassifier(creator="as-member", min_examples=16, seed=0).partial_fit(Xtr[:64], ytr[:64])
    before = (clf.n_seen_, clf.creator_border_.log_border, clf.archive_.ids().copy())
    clf.set_params(creator__border_rate=-1.0)
    with pytest.raises(ValueError, match="creator__border_rate"):
        clf.partial_fit(Xtr[64:128], ytr[64:128])
    assert (clf.n_seen_, clf.creator_border_.log_border) == before[:2]
    np.testing.assert_array_equal(clf.archive_.ids(), before[2])


# ------------------------------------------------------------------- feedback in phases
def _even_batches(X, y, groups, size):
    """The class-incremental stream cut into batches of exactly ``size`` (tasks end mid-batch)."""
    parts = list(class_incremental_batches(X, y, groups))
    Xs, ys = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    return [(Xs[i : i + size], ys[i : i + size]) for i in range(0, len(Xs) - size + 1, size)]


def _visible(clf, X):
    p = clf.predict_detailed(X)
    return p.labels.copy(), p.confidence.copy(), clf.n_experts_


def test_a_phase_changes_nothing_visible_until_it_ends(digits):
    Xtr, ytr, Xte, _ = digits
    clf = RiscClassifier(feedback=Phases(phase_length=256), min_examples=16, seed=0)
    batches = _even_batches(Xtr, ytr, [(0, 1, 2), (3, 4, 5)], 32)
    for Xb, yb in batches[:8]:  # 256 examples: the first phase ends with the 8th batch
        clf.partial_fit(Xb, yb)
    assert clf.n_seen_ == 256 and clf.n_experts_ >= 3
    assert all(len(m.held) == 0 for m in clf.collection_.members)  # consolidated
    seen = [h["seen"] for h in clf.history_]
    assert seen and all(s == 256 for s in seen)  # members are made at phase ends only
    visible = _visible(clf, Xte)
    n_archived = len(clf.archive_.ids())
    bank = copy.deepcopy(clf.collection_.meta.save_state())
    mid = None
    for i, (Xb, yb) in enumerate(batches[8:15]):  # 224 more: still within the second phase
        clf.partial_fit(Xb, yb)
        for x, z in zip(visible, _visible(clf, Xte)):
            np.testing.assert_array_equal(x, z)
        if i == 3:
            mid = copy.deepcopy(clf)
    assert clf.n_seen_ == 480
    # fast state did change: the archive and the rows held for the members' models
    assert len(clf.archive_.ids()) != n_archived or sum(len(m.held) for m in clf.collection_.members) > 0
    assert sum(len(m.held) for m in clf.collection_.members) > 0
    for key, value in bank[0].items():
        torch.testing.assert_close(clf.collection_.meta.save_state()[0][key], value, rtol=0, atol=0)
    # the phase ends within the next batch (512 examples): everything held is learned, members are made
    Xb, yb = batches[15]
    clf.partial_fit(Xb, yb)
    assert clf.n_seen_ == 512
    assert all(len(m.held) == 0 for m in clf.collection_.members)
    assert clf.n_experts_ > visible[2]  # the 3, 4 and 5 gathered in the archive became members
    assert any(h["seen"] == 512 for h in clf.history_)
    assert not np.array_equal(_visible(clf, Xte)[1], visible[1])
    # prepare() ends a phase at once
    assert mid is not None and sum(len(m.held) for m in mid.collection_.members) > 0
    before = _visible(mid, Xte)
    mid.prepare()
    assert all(len(m.held) == 0 for m in mid.collection_.members)
    assert not np.array_equal(_visible(mid, Xte)[1], before[1])


def test_phases_are_counted_in_examples_not_tasks(digits):
    phases = Phases(phase_length=100)
    assert not phases.phase_ends(0, 99) and phases.phase_ends(0, 100) and phases.phase_ends(99, 2)
    assert not phases.phase_ends(100, 99) and phases.phase_ends(150, 64)
    # Two streams with their tasks in other places consolidate at the same example counts.
    Xtr, ytr, _, _ = digits
    made = []
    for groups in ([(0, 1), (2, 3, 4)], [(0, 1, 2, 3), (4,)]):
        clf = RiscClassifier(feedback=phases, min_examples=16, seed=0)
        for Xb, yb in _even_batches(Xtr[:700], ytr[:700], groups, 25):
            clf.partial_fit(Xb, yb)
        made.append({h["seen"] for h in clf.history_})
    assert all(s % 100 == 0 for m in made for s in m) and made[0] | made[1]


def test_phases_match_continuous_figures_roughly(digits):
    Xtr, ytr, Xte, yte = digits
    groups = [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    scores = {}
    for name, feedback in (("continuous", "continuous"), ("phases", Phases(phase_length=128))):
        clf = RiscClassifier(feedback=feedback, min_examples=16, seed=0)
        for Xb, yb in class_incremental_batches(Xtr, ytr, groups):
            clf.partial_fit(Xb, yb)
        clf.prepare()
        scores[name] = clf.score(Xte, yte)
    assert scores["phases"] > 0.9 and scores["continuous"] > 0.9


def test_fit_with_phases_learns_its_last_phase(digits):
    Xtr, ytr, Xte, yte = digits
    clf = RiscClassifier(feedback=Phases(phase_length=1000), min_examples=16, seed=0).fit(Xtr[:600], ytr[:600])
    assert clf.n_experts_ == 10 and all(len(m.held) == 0 for m in clf.collection_.members)
    assert clf.score(Xte, yte) > 0.8


def test_phases_bad_setting_is_refused_by_name_and_changes_nothing(digits):
    Xtr, ytr, _, _ = digits
    clf = RiscClassifier(feedback=Phases(phase_length=64), min_examples=16, seed=0).partial_fit(Xtr[:32], ytr[:32])
    held = [len(m.held) for m in clf.collection_.members]
    clf.set_params(feedback__phase_length=0)
    with pytest.raises(ValueError, match="feedback__phase_length"):
        clf.partial_fit(Xtr[32:64], ytr[32:64])
    with pytest.raises(ValueError, match="feedback__phase_length"):
        clf.prepare()
    assert clf.n_seen_ == 32 and [len(m.held) for m in clf.collection_.members] == held
