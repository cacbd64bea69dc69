import numpy as np
import torch

from riscmoe.meta import GaussianMetaBank


def _blobs(n=600, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g) + 6.0 * k for k in range(3)]


def test_confidence_is_calibrated_per_member():
    bank = GaussianMetaBank(dim=6, reservoir=512)
    train = _blobs(seed=0)
    for Z in train:
        bank.add(Z)
    test = _blobs(seed=1)
    for k, Z in enumerate(test):
        conf, _ = bank.evaluate(Z)
        # About 10% of a member's own fresh inputs should look stranger than its 90% level.
        frac = float((conf[:, k] < 0.1).float().mean())
        assert 0.03 < frac < 0.2
        # Other members refuse them.
        others = [j for j in range(3) if j != k]
        assert float((conf[:, others] >= 1e-3).float().mean()) < 0.01


def test_batched_evaluation_equals_one_member_at_a_time():
    bank = GaussianMetaBank(dim=6)
    for Z in _blobs():
        bank.add(Z)
    Zq = torch.randn(50, 6) * 4
    _, dist = bank.evaluate(Zq)
    for k in range(3):
        np.testing.assert_allclose(dist[:, k].numpy(), bank._distance_rows(Zq, k).numpy(), rtol=1e-3, atol=1e-2)


def test_streaming_update_matches_one_shot():
    Z = torch.randn(300, 4, dtype=torch.float64).float()
    a, b = GaussianMetaBank(dim=4), GaussianMetaBank(dim=4)
    a.add(Z)
    b.add(Z[:100])
    b.update(0, Z[100:250])
    b.update(0, Z[250:])
    torch.testing.assert_close(a.scatter, b.scatter)
    torch.testing.assert_close(a.means64[0], b.means64[0])
