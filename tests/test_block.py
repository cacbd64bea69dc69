"""riscmoe.meta.block: a member's scatter as its block in a shared basis, and the basis itself."""

import numpy as np
import pytest
import torch

from riscmoe.meta.block import ShapeBlock, basis_step, carry_terms, initial_basis


def _rows(n=600, dim=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    scales = torch.linspace(8.0, 0.2, dim)
    return torch.randn(n, dim, generator=g) * scales


def _cov(dim=30, seed=1):
    R = _rows(2000, dim, seed)
    return (R.T @ R / len(R)).float()


def test_a_block_holds_the_scatter_in_the_basis_to_float16_precision():
    R = _rows()
    U = torch.linalg.qr(torch.randn(30, 8, generator=torch.Generator().manual_seed(2)))[0]
    blk = ShapeBlock(8)
    for s in range(0, len(R), 64):  # rows a batch at a time
        part = R[s : s + 64]
        blk.add(part @ U, float((part.double() ** 2).sum()))
    want = U.T @ (R.T @ R) @ U
    np.testing.assert_allclose(blk.matrix(), want, rtol=0, atol=2e-3 * float(want.abs().max()))
    assert blk.trace() == pytest.approx(float((R.double() ** 2).sum()), rel=1e-9)  # the full trace, exact
    assert blk.nbytes() == 8 * 9 // 2 * 2 + 8 * 4 + 8  # an upper triangle in float16, a scale per direction, the trace
    dense = ShapeBlock.from_dense(R.T @ R, U)
    np.testing.assert_allclose(dense.matrix(), want, rtol=0, atol=2e-3 * float(want.abs().max()))


def test_subspace_iteration_finds_the_top_directions():
    cov = _cov()
    U, lam = initial_basis(cov, 5, iterations=150)
    vals, vecs = torch.linalg.eigh(cov.double())
    top = vecs[:, -5:].float()
    # the same subspace: every column of U lies in the span of the top five eigenvectors
    np.testing.assert_allclose(torch.linalg.norm(top.T @ U, dim=0), torch.ones(5), atol=1e-3)
    np.testing.assert_allclose(lam, vals.flip(0)[:5].float(), rtol=1e-3)
    assert torch.allclose(U.T @ U, torch.eye(5), atol=1e-5)


def test_carrying_a_block_models_the_scatter_outside_the_old_basis_by_the_shared_shape():
    """B' = U'^T M U' for the member's model M = U B U^T + n P_perp cov P_perp."""
    cov = _cov()
    U, _ = initial_basis(cov, 6, iterations=1)
    R_rows = _rows(300, seed=5)
    blk = ShapeBlock(6)
    blk.add(R_rows @ U, float((R_rows.double() ** 2).sum()))
    B = blk.matrix()
    U_new, _ = basis_step(cov, U)
    R, C = carry_terms(cov, U, U_new)
    n = float(len(R_rows))
    P = torch.eye(30) - U @ U.T
    model = U @ B @ U.T + n * (P @ cov @ P)
    want = U_new.T @ model @ U_new
    np.testing.assert_allclose(R, U.T @ U_new, atol=1e-5)
    blk.carry(R, C, n)
    np.testing.assert_allclose(blk.matrix(), want, rtol=0, atol=3e-3 * float(want.abs().max()))


def test_a_block_keeps_float16_precision_in_directions_of_little_variance():
    """Variances from 1 to 1e-7 (these features' shared shape spans 18 to 4e-6 over its top 1,280
    directions): every entry is kept to float16's relative precision of its own two directions,
    where one scale for the whole block loses the small ones among float16's subnormals."""
    g = torch.Generator().manual_seed(3)
    k = 12
    sd = torch.logspace(0, -3.5, k)  # standard deviations: variances 1 .. 1e-7
    Q = torch.linalg.qr(torch.randn(k, k, generator=g))[0]
    X = (torch.randn(400, k, generator=g) @ (torch.eye(k) + 0.3 * Q)) * sd  # correlated, of variances far apart
    want = (X.T @ X).double()
    blk = ShapeBlock(k)
    blk.add(X, float((X.double() ** 2).sum()))
    d = want.diagonal().sqrt()
    err = (blk.matrix().double() - want).abs() / (d[:, None] * d[None, :])
    assert float(err.max()) < 2e-3
    # (One scale for the whole block, the first layout, misses this by orders of magnitude.)
    r, c = torch.triu_indices(k, k)
    top = float(want[r, c].abs().max())
    old = ShapeBlock.from_state((want[r, c] / top).half(), torch.tensor([top, blk.trace()], dtype=torch.float64), k=k)
    first = torch.zeros(k, k, dtype=torch.float64)
    first[r, c] = (want[r, c] / top).half().double() * top
    first[c, r] = first[r, c]
    assert float(((first - want).abs() / (d[:, None] * d[None, :])).max()) > 1e-1
    # ... and a save of that layout is read as it was written (kept per direction from then on).
    np.testing.assert_allclose(old.matrix().double(), first, rtol=2e-3, atol=1e-12)
    assert old.trace() == blk.trace()


def test_an_8_bit_block_keeps_correlations_to_a_step_of_1_over_127_and_converts_between_widths():
    R = _rows(dim=10)
    U = torch.linalg.qr(torch.randn(10, 6, generator=torch.Generator().manual_seed(4)))[0]
    want = (U.T @ (R.T @ R) @ U).double()
    d = want.diagonal().sqrt()
    b8, b16 = ShapeBlock(6, bits=8), ShapeBlock(6)
    for s in range(0, len(R), 64):
        part = R[s : s + 64]
        for blk in (b8, b16):
            blk.add(part @ U, float((part.double() ** 2).sum()))
    assert b8.packed.dtype == torch.int8 and b8.nbytes() == 21 + 6 * 4 + 8  # a byte a correlation
    err = (b8.matrix().double() - want).abs() / (d[:, None] * d[None, :])
    assert 1e-4 < float(err.max()) < 0.03  # rounded again at every batch: a few steps of 1/127 at most
    assert float(((b16.matrix().double() - want).abs() / (d[:, None] * d[None, :])).max()) < 2e-3
    as16 = ShapeBlock.from_state(*b8.state(), k=6, bits=16)  # another width: converted
    assert as16.packed.dtype == torch.float16 and as16.trace() == b8.trace()
    np.testing.assert_allclose(as16.matrix(), b8.matrix(), rtol=2e-3, atol=1e-6)
    as8 = ShapeBlock.from_state(*b16.state(), k=6, bits=8)
    assert as8.packed.dtype == torch.int8
    np.testing.assert_allclose(as8.matrix().double(), want, rtol=0, atol=0.01 * float(want.abs().max()))
    with pytest.raises(ValueError, match="16 or 8 bits"):
        ShapeBlock(6, bits=4)
    with pytest.raises(ValueError, match="not float16 or int8"):
        ShapeBlock.from_state(b8.packed.float(), b8.state()[1], k=6)


def test_state_round_trip_and_bad_states():
    blk = ShapeBlock(4)
    blk.add(torch.randn(20, 4), 3.5)
    again = ShapeBlock.from_state(*blk.state(), k=4)
    assert torch.equal(again.matrix(), blk.matrix()) and again.trace() == blk.trace()
    with pytest.raises(ValueError, match="does not fit a basis of 5"):
        ShapeBlock.from_state(*blk.state(), k=5)
    packed, info = blk.state()
    assert tuple(info.shape) == (6,) and float(info[0]) == -1.0
    with pytest.raises(ValueError, match="not finite"):
        ShapeBlock.from_state(packed, torch.tensor([float("nan"), 1.0], dtype=torch.float64), k=4)
    with pytest.raises(ValueError, match="not those of a block scaled per direction"):
        ShapeBlock.from_state(packed, torch.cat([torch.tensor([2.0]), info[1:]]), k=4)
    with pytest.raises(ValueError, match="not those of a block scaled per direction"):
        ShapeBlock.from_state(packed, torch.cat([info[:2], -info[2:]]), k=4)
    with pytest.raises(ValueError, match="k >= 1"):
        ShapeBlock(0)
