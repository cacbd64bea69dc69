"""riscmoe.meta.sketch: a member's scatter as frequent directions plus its exact diagonal."""

import numpy as np
import pytest
import torch

from riscmoe.meta.sketch import ShapeSketch


def _rows(n=700, dim=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(6, dim, generator=g)
    weights = torch.randn(n, 6, generator=g) * torch.tensor([9.0, 7, 5, 3, 2, 1])
    return weights @ basis + 0.3 * torch.randn(n, dim, generator=g)


@pytest.mark.parametrize("rank", [2, 5, 8, 16])
def test_the_sketch_keeps_frequent_directions_guarantees(rank):
    R = _rows()
    S = (R.double().T @ R.double())
    sk = ShapeSketch(R.shape[1], rank)
    for s in range(0, len(R), 37):  # rows arriving a batch at a time
        sk.add(R[s : s + 37])
    assert len(sk.rows) <= 2 * rank
    low = sk.rows.double().T @ sk.rows.double()
    gap = torch.linalg.eigvalsh(S - low)
    assert gap.min() > -1e-6 * S.diagonal().max()  # B^T B never exceeds S
    vals = torch.linalg.eigvalsh(S).flip(0)
    err = gap.max()
    for k in range(rank + 1):  # ||S - B^T B||_2 <= (eigenvalues beyond the k-th) / (rank + 1 - k)
        assert err <= vals[k:].sum() / (rank + 1 - k) * (1 + 1e-6)
    assert sk.trace() == pytest.approx(float(S.trace()), rel=1e-9)  # the trace is exact
    assert (sk.resid >= 0).all()
    np.testing.assert_allclose(torch.diagonal(sk.dense()).double(), S.diagonal(), rtol=1e-4)  # so is the diagonal
    X = torch.randn(5, R.shape[1])
    want = X @ sk.dense()
    np.testing.assert_allclose(sk.times(X), want, atol=1e-5 * float(want.abs().max()))  # float32 sums


def test_few_rows_are_kept_exactly_and_a_dense_scatter_sketches_by_its_top_directions():
    R = _rows(n=20)
    S = R.T @ R
    sk = ShapeSketch(R.shape[1], 16)
    sk.add(R)  # 20 rows <= 2 * 16: nothing shrunk
    np.testing.assert_allclose(sk.dense(), S, rtol=1e-4, atol=1e-2)
    dense = ShapeSketch.from_dense(S, 6)
    vals = torch.linalg.eigvalsh(S.double())
    assert len(dense.rows) == 6 and torch.linalg.norm(dense.rows.double().T @ dense.rows.double() - S.double(), 2) <= vals[-7] * 1.001


def test_state_round_trip_and_bad_states():
    sk = ShapeSketch(40, 4)
    sk.add(_rows())
    again = ShapeSketch.from_state(*sk.state(), rank=4)
    X = torch.randn(3, 40)
    assert torch.equal(again.times(X), sk.times(X)) and again.trace() == sk.trace()
    with pytest.raises(ValueError, match="does not fit rank"):
        ShapeSketch.from_state(torch.zeros(9, 40), torch.zeros(40), rank=4)
    with pytest.raises(ValueError, match="does not fit"):
        ShapeSketch.from_state(torch.zeros(3, 40), torch.zeros(39), rank=4)
    with pytest.raises(ValueError, match="rank >= 1"):
        ShapeSketch(40, 0)
    assert sk.nbytes() <= (2 * 4 * 40) * 4 + 40 * 8
