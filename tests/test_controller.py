from types import SimpleNamespace

import pytest
import torch

from riscmoe.collection import Collection
from riscmoe.controller import Best, Controller, First
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
    with pytest.raises(TypeError, match="routing policy"):
        Controller(object())


def test_candidates_order():
    conf = torch.tensor([[0.5, 0.9, 0.0]])
    verdict = SimpleNamespace(conf=conf, rank=torch.log(conf.clamp(min=1e-30)))
    accepted = conf >= 0.1
    order, valid, forced = Best(close=0.0).candidates(verdict, accepted, 3)
    assert order[0].tolist()[:2] == [1, 0] and valid[0].tolist() == [True, True, False] and not forced.any()
    order, _, _ = First().candidates(verdict, accepted, 3)
    assert order[0].tolist()[:2] == [0, 1]


def test_close_calls_also_run_in_best():
    """A member whose log posterior is within ``close`` nats of the top one's runs whatever the cascade decided."""
    conf = torch.tensor([[0.9, 0.8, 0.7]])
    verdict = SimpleNamespace(conf=conf, rank=torch.log(conf), log_posterior=torch.log(torch.tensor([[0.5, 0.3, 0.001]])))
    accepted = conf >= 0.1
    _, _, forced = Best(close=3.0).candidates(verdict, accepted, 3)
    assert forced[0].tolist() == [True, True, False]
    _, _, forced = Best(close=0.1).candidates(verdict, accepted, 3)
    assert forced[0].tolist() == [True, False, False]


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
