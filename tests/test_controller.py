import pytest
import torch

from riscmoe.collection import Collection
from riscmoe.controller import Controller
from riscmoe.encoders import RandomReLUEncoder
from riscmoe.meta import GaussianMetaBank
from riscmoe.models import Verifier


def _collection():
    """Three members over 2-D blobs; member 2 has the same label as member 0."""
    enc = RandomReLUEncoder(2, dim=2)
    enc.weight, enc.bias = torch.eye(2), torch.zeros(2) + 100.0  # identity-like features (x + 100)
    col = Collection(enc, GaussianMetaBank(dim=2))
    g = torch.Generator().manual_seed(0)
    for label, centre in [(0, (0.0, 0.0)), (1, (10.0, 0.0)), (0, (0.0, 10.0))]:
        Z = enc(torch.randn(200, 2, generator=g) + torch.tensor(centre))
        col.add(label, Z, Verifier(2, hidden=4), created_at=0, reason="test")
    return col, enc


@pytest.mark.parametrize("policy", ["first", "best", "mixture"])
def test_routes_to_accepting_members(policy):
    col, enc = _collection()
    X = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [60.0, 60.0]])
    Z = enc(X)
    r = Controller(policy, threshold=1e-3, max_experts=2).route(col, Z, col.evaluate(Z))
    assert r.label.tolist() == [0, 1, 0, -1]  # far from everything: unknown
    assert r.n_run[3] == 0 and (r.n_run[:3] >= 1).all() and (r.n_run <= 2).all()


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="policy"):
        Controller("random")


def test_candidates_order():
    conf = torch.tensor([[0.5, 0.9, 0.0]])
    rank = torch.log(conf.clamp(min=1e-30))
    order, valid = Controller("best", threshold=0.1, max_experts=3).candidates(conf, rank)
    assert order[0].tolist()[:2] == [1, 0] and valid[0].tolist() == [True, True, False]
    order, _ = Controller("first", threshold=0.1, max_experts=3).candidates(conf, rank)
    assert order[0].tolist()[:2] == [0, 1]


@pytest.mark.parametrize("policy", ["first", "best", "mixture"])
def test_near_the_threshold_the_most_confident_member_answers(policy):
    col, enc = _collection()
    X = torch.tensor([[0.0, -5.0], [60.0, 60.0]])  # unusual for member 0; far from everything
    Z = enc(X)
    meta = col.evaluate(Z)
    top = float(meta.conf[0].max())
    assert top < 1e-3 and float(meta.conf[1].max()) < top / 100  # nobody accepts either
    plain = Controller(policy, threshold=1e-3).route(col, Z, meta)
    assert plain.label.tolist() == [-1, -1]
    floored = Controller(policy, threshold=1e-3, floor=top / 10).route(col, Z, meta)
    assert floored.label.tolist() == [0, -1] and floored.n_run.tolist() == [1, 0]
    assert floored.member[0] == 0 and 0 < float(floored.confidence[0]) <= top
