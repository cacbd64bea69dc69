import numpy as np
import torch

from riscmoe.archive import Archive
from riscmoe.collection import Collection
from riscmoe.creator import Creation, FromArchive
from riscmoe.encoders import RandomReLUEncoder
from riscmoe.meta import GaussianMetaBank
from riscmoe.models import VerifierKind

MODELS = VerifierKind()


def _setup():
    enc = RandomReLUEncoder(4, dim=64, seed=0)
    col = Collection(enc, GaussianMetaBank(dim=64))
    archive = Archive(4, max_records=1000, featurizer=lambda X: enc(torch.from_numpy(X)).numpy())
    return enc, col, archive


def _inputs(centre, n, seed):
    return (np.random.default_rng(seed).normal(size=(n, 4)) * 0.3 + centre).astype(np.float32)


def test_waits_for_enough_unexplained_inputs_of_one_label():
    _, _, archive = _setup()
    creator = FromArchive()
    archive.add(_inputs(0.0, 19, 0), "unexplained", [3] * 19)
    archive.add(_inputs(2.0, 30, 1), "sample", [5] * 30, 0)
    assert creator.ready(archive, 20) == []  # 19 < 20, and samples do not count
    archive.add(_inputs(0.0, 1, 2), "unexplained", [3])
    assert creator.ready(archive, 20) == [3]


def test_new_member_learns_its_inputs_against_archived_negatives():
    enc, col, archive = _setup()
    creator = FromArchive(steps=80)
    archive.add(_inputs(2.0, 60, 1), "sample", [5] * 60, 9)
    ids = archive.add(_inputs(-2.0, 40, 0), "unexplained", [3] * 40)
    member = creator.create(3, Creation(archive, col, MODELS, 100, np.random.default_rng(0)))
    assert member.label == 3 and member.reason == "new label" and member.created_at == 100
    assert member.n_positive == 40 and member.n_negative == 60
    assert len(col) == 1 and col.meta.counts[0] == 40
    # The inputs that prompted it are now its representative sample.
    assert archive.count(kind="unexplained") == 0
    assert archive.count(kind="sample", member=member.index) == 40 and set(ids) <= set(archive.ids(kind="sample"))
    # Its model tells its own inputs from the negatives it was shown.
    own = torch.sigmoid(member.model.logits(enc(torch.from_numpy(_inputs(-2.0, 50, 7)))))
    other = torch.sigmoid(member.model.logits(enc(torch.from_numpy(_inputs(2.0, 50, 8)))))
    assert own.mean() > 0.8 and other.mean() < 0.2


def test_a_second_member_of_a_known_label_is_a_new_mode():
    _, col, archive = _setup()
    creator = FromArchive()
    archive.add(_inputs(-2.0, 10, 0), "unexplained", [3] * 10)
    creator.create(3, Creation(archive, col, MODELS, 10, np.random.default_rng(0)))
    archive.add(_inputs(4.0, 10, 1), "unexplained", [3] * 10)
    second = creator.create(3, Creation(archive, col, MODELS, 20, np.random.default_rng(0)))
    assert second.reason == "new mode of a known label" and second.index == 1
