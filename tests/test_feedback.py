import numpy as np
import torch

from riscmoe.archive import Archive
from riscmoe.collection import Collection
from riscmoe.encoders import RandomReLUEncoder
from riscmoe.feedback import Context, Continuous
from riscmoe.meta import GaussianMetaBank
from riscmoe.models import Verifier

CENTRES = {0: (0.0, 0.0), 1: (8.0, 0.0)}


def _identity_encoder():
    enc = RandomReLUEncoder(2, dim=2)
    enc.weight, enc.bias = torch.eye(2), torch.zeros(2) + 100.0  # features x + 100, all positive
    return enc


def _blob(label, n, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=g) * scale + torch.tensor(CENTRES[label])


def _system():
    """Two members (labels 0 and 1) over 2-D blobs, and an archive holding a sample of each."""
    enc = _identity_encoder()
    col = Collection(enc, GaussianMetaBank(dim=2))
    archive = Archive(2, max_records=500, featurizer=lambda X: enc(torch.from_numpy(X)).numpy())
    for label in (0, 1):
        X = _blob(label, 300, seed=label)
        col.add(label, enc(X), Verifier(2, hidden=8, seed=label), created_at=0, reason="test")
        archive.add(X[:40].numpy(), "sample", [label] * 40, label)
    return col, enc, archive


def _learn(col, enc, archive, X, y, feedback=None, seed=0):
    fb = feedback or Continuous()
    Z = enc(X)
    meta = col.evaluate(Z, exact=True)
    context = Context(threshold=1e-3, margin=100.0, quota=50, step=1)
    return fb.learn(col, archive, X, Z, torch.as_tensor(y), meta, np.random.default_rng(seed), context)


def test_owner_learns_its_positives():
    col, enc, archive = _system()
    weights = [p.detach().clone() for p in col.members[0].model.net.parameters()]
    n0, count0 = col.members[0].n_positive, col.meta.counts[0]
    n = Continuous().min_rows  # enough rows for a step
    report = _learn(col, enc, archive, _blob(0, n, seed=5), [0] * n)
    assert report.positives == n and report.unexplained == 0
    assert col.members[0].n_positive == n0 + n and col.meta.counts[0] == count0 + n
    assert col.meta.counts[1] == 300  # the other member's meta-model is untouched
    assert any(not torch.equal(a, b) for a, b in zip(weights, col.members[0].model.net.parameters()))


def test_unknown_label_is_archived_as_unexplained_and_changes_no_member():
    col, enc, archive = _system()
    counts = list(col.meta.counts)
    report = _learn(col, enc, archive, _blob(0, 10, seed=7) + 50.0, [7] * 10)
    assert report.unexplained == 10
    assert archive.count(kind="unexplained", label=7) == 10
    assert col.meta.counts == counts


def test_wrong_members_that_accept_learn_to_refuse_and_the_input_is_a_mistake():
    col, enc, archive = _system()
    # Label-1 inputs sitting in member 0's territory: member 0 accepts them wrongly.
    X = _blob(0, 30, seed=9, scale=0.5)
    before = col.members[0].n_negative
    report = _learn(col, enc, archive, X, [1] * 30)
    assert report.mistakes > 0 and report.negatives > 0
    assert col.members[0].n_negative > before
    assert archive.count(kind="mistake", label=1) == report.mistakes
    # Each mistake names the member that erred.
    erred = archive.members()[np.isin(archive.ids(), archive.ids(kind="mistake"))]
    assert set(erred.tolist()) == {0}


def test_near_threshold_meta_models_move_their_borders():
    col, enc, archive = _system()
    # Inputs between the two members, labelled 0: member 1 is near its threshold on many.
    X = torch.randn(200, 2, generator=torch.Generator().manual_seed(3)) * 0.3 + torch.tensor([4.0, 0.0])
    meta = col.evaluate(enc(X))
    near = (meta.conf[:, 1] >= 1e-5) & (meta.conf[:, 1] < 0.1)
    assert near.sum() > 10
    before = col.meta.border.clone()
    for seed in range(20):
        report = _learn(col, enc, archive, X, [0] * 200, seed=seed)
    assert report.border_updates > 0
    assert col.meta.border_updates[1] > 0
    # Member 1 was told these are not its own: its confidence on them fell (under the fit
    # brought up to date: member 0 learned 4,000 examples, which moved the shared shape).
    col.meta.prepare()
    after = col.evaluate(enc(X)).conf[:, 1]
    assert after[near].mean() < meta.conf[near, 1].mean()
    assert not torch.equal(before[1], col.meta.border[1])


def test_far_input_of_a_mature_member_is_a_new_mode():
    col, enc, archive = _system()
    fb = Continuous(mature=100)
    X = _blob(0, 10, seed=11) + torch.tensor([0.0, 60.0])  # label 0, far from everything known
    report = _learn(col, enc, archive, X, [0] * 10, feedback=fb)
    assert report.unexplained == 10 and archive.count(kind="unexplained", label=0) == 10
    # An immature member would have taken them as its own instead.
    col, enc, archive = _system()
    report = _learn(col, enc, archive, X, [0] * 10, feedback=Continuous(mature=10_000))
    assert report.unexplained == 0 and report.positives == 10


def test_input_near_another_label_but_far_from_its_own_member_is_a_new_mode():
    # Inputs labelled 0 that sit in the middle of member 1's blob: typical of *a* member
    # (the nearest, of another label), but far from everything label 0's member knows.
    col, enc, archive = _system()
    X = _blob(1, 10, seed=12)
    before = col.members[0].n_positive
    report = _learn(col, enc, archive, X, [0] * 10, feedback=Continuous(mature=100))
    assert report.unexplained == 10 and archive.count(kind="unexplained", label=0) == 10
    assert col.members[0].n_positive == before  # label 0's member did not stretch to them


def test_rehearsal_replays_own_and_other_labels():
    col, enc, archive = _system()
    fb = Continuous(rehearse_positives=16, rehearse_negatives=24)
    own, other = fb._rehearsal(archive, 0, 0, np.random.default_rng(0), 2)
    assert own.shape == (16, 2) and other.shape == (24, 2)
    # Features come back encoded (x + 100): member 0's own sit near (100, 100).
    assert np.abs(own.mean(0) - 100.0).max() < 1.0
    assert other[:, 0].mean() > 104.0


def test_replay_scales_with_the_new_inputs_a_member_learns_from(monkeypatch):
    col, enc, archive = _system()
    fb = Continuous(rehearse_positives=16, rehearse_negatives=24)
    own, other = fb._rehearsal(archive, 0, 0, np.random.default_rng(0), 2, share=0.25)
    assert own.shape == (4, 2) and other.shape == (6, 2)

    # A batch of one example trains its owner on far fewer replayed rows than a full batch.
    seen = []
    fit_step = Verifier.fit_step

    def recording(self, X, target, steps=1):
        seen.append(len(X))
        return fit_step(self, X, target, steps)

    monkeypatch.setattr(Verifier, "fit_step", recording)
    # (min_rows=1: every batch steps at once; the archive holds 40 of label 1)
    fb = Continuous(rehearse_positives=16, rehearse_negatives=32, min_rows=1)
    _learn(col, enc, archive, _blob(0, 1, seed=5), [0], feedback=fb)
    _learn(col, enc, archive, _blob(0, 32, seed=6), [0] * 32, feedback=fb)
    assert seen == [1 + 2 + 4, 32 + 16 + 32]


def test_models_gather_new_rows_before_a_step(monkeypatch):
    col, enc, archive = _system()
    seen = []
    fit_step = Verifier.fit_step

    def recording(self, X, target, steps=1):
        seen.append((len(X), int(target.sum())))
        return fit_step(self, X, target, steps)

    monkeypatch.setattr(Verifier, "fit_step", recording)
    fb = Continuous(rehearse_positives=16, rehearse_negatives=32, min_rows=8)
    member = col.members[0]
    weights = member.model.net[0].weight.clone()
    count0 = col.meta.counts[0]
    for i in range(2):
        _learn(col, enc, archive, _blob(0, 3, seed=20 + i), [0] * 3, feedback=fb)
    # Six new rows are held: the meta-model has learned them, the model not yet.
    assert seen == [] and len(member.held) == 6 and member.held_target.tolist() == [1.0] * 6
    assert col.meta.counts[0] == count0 + 6 and torch.equal(member.model.net[0].weight, weights)
    report = _learn(col, enc, archive, _blob(0, 3, seed=22), [0] * 3, feedback=fb)
    # Nine rows reach min_rows: one step on all of them, with replay for nine new rows.
    n_pos, n_neg = round(16 * 9 / 32), round(32 * 9 / 32)
    assert report.members_trained == 1
    assert seen == [(9 + n_pos + n_neg, 9 + n_pos)]
    assert len(member.held) == 0 and not torch.equal(member.model.net[0].weight, weights)


def test_held_rows_keep_look_alikes_as_negatives():
    col, enc, archive = _system()
    fb = Continuous(min_rows=10_000)  # nothing steps: every new row stays held
    _learn(col, enc, archive, _blob(0, 30, seed=9, scale=0.5), [1] * 30, feedback=fb)  # label 1 in member 0's place
    member = col.members[0]
    assert len(member.held) == member.n_negative > 0
    assert member.held_target.sum() == 0  # all look-alikes it accepted
    np.testing.assert_allclose(member.held[:, 0].mean().item(), 100.0, atol=1.0)
