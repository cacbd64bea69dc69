import numpy as np
import pytest
import torch

from riscmoe.meta import GaussianMetaBank
from riscmoe.meta.gaussian import Gaussian
from riscmoe.meta.block import ShapeBlock
from riscmoe.meta.protocol import Lesson


def _blobs(n=600, d=6, seed=0, spread=6.0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g) + spread * k for k in range(3)]


def _bank(**kw):
    bank = GaussianMetaBank(dim=6, **kw)
    for Z in _blobs(seed=0):
        bank.add(Z)
    bank.prepare()
    return bank


def test_confidence_is_calibrated_per_member():
    bank = _bank(reservoir=512)
    for k, Z in enumerate(_blobs(seed=1)):
        out = bank.evaluate(Z)
        # About 10% of a member's own fresh inputs should look stranger than its 90% level.
        frac = float((out.conf[:, k] < 0.1).float().mean())
        assert 0.03 < frac < 0.2
        # Other members refuse them.
        others = [j for j in range(3) if j != k]
        assert float((out.conf[:, others] >= 1e-3).float().mean()) < 0.01
        assert (out.nearest == k).float().mean() > 0.99


def test_novelty_under_a_chosen_member():
    bank = _bank()
    Z = _blobs(seed=2)[1][:50]  # member 1's kind of input
    out = bank.evaluate(Z)
    assert out.distance.shape == (50, 3)
    # Under the nearest member it is the same p-value as the bank's own novelty.
    assert torch.allclose(bank.novelty_of(out, out.nearest), out.novelty)
    assert float(bank.novelty_of(out, torch.full((50,), 1)).median()) > 0.1
    # Under another member (6 standard deviations per axis away) it is far out.
    assert (bank.novelty_of(out, torch.full((50,), 0)) < 1e-6).all()


def test_far_inputs_are_novel_and_refused_by_all():
    bank = _bank()
    out = bank.evaluate(torch.full((5, 6), 200.0))
    assert (out.novelty < 1e-6).all()
    assert (out.conf < 1e-6).all()
    assert torch.isfinite(out.rank).all()


def test_batched_scores_equal_one_member_at_a_time():
    """The one (F, M) product gives each member's Gaussian log-likelihood up to a shared term."""
    bank = _bank(pair_margin=0.0)  # the shared shape alone
    Zq = torch.randn(50, 6) * 4
    out = bank.evaluate(Zq)
    cov = bank.scatter / (bank.n_examples - len(bank))
    n, d = bank.n_examples, bank.dim
    alpha = bank.shrinkage + (1 - bank.shrinkage) * d / (n + d) * 0.1
    cov = (1 - alpha) * cov + alpha * torch.trace(cov) / d * torch.eye(d, dtype=torch.float64)
    prec = torch.linalg.inv(cov)
    ll = torch.stack([-0.5 * (((Zq.double() - mu) @ prec) * (Zq.double() - mu)).sum(1) for mu in bank.means64], 1)
    others = ll[:, None, :].expand(-1, 3, -1).masked_fill(torch.eye(3, dtype=torch.bool), float("-inf"))
    expected = ll - torch.logsumexp(others, 2)
    np.testing.assert_allclose(out.odds.numpy(), expected.float().numpy(), rtol=1e-3, atol=1e-2)
    for k in range(3):
        rows = out.nearest == k
        # Novelty is measured from the nearest member's own distance table.
        expected = bank._calibrate(bank._distance_rows(Zq[rows], k), out.nearest[rows])
        torch.testing.assert_close(out.novelty[rows], expected, rtol=1e-3, atol=1e-12)


def test_log_odds_are_stable_far_from_the_border():
    s = torch.tensor([[500.0, 0.0, -500.0], [0.0, 0.0, 0.0]])
    odds = GaussianMetaBank._log_odds(s)
    assert torch.isfinite(odds).all()
    assert odds[0, 0] == pytest.approx(500.0, rel=1e-4) and odds[0, 1] < -400
    np.testing.assert_allclose(odds[1].numpy(), np.log(0.5), rtol=1e-5)


def test_streaming_update_matches_one_shot():
    Z = torch.randn(300, 4, dtype=torch.float64).float()
    a, b = GaussianMetaBank(dim=4), GaussianMetaBank(dim=4)
    a.add(Z)
    b.add(Z[:100])
    b.update(0, Z[100:250])
    b.refresh()  # merges part of the stream, the rest stays pending
    b.update(0, Z[250:])
    a.refresh()
    b.refresh()
    centred = Z.double() - Z.double().mean(0)
    torch.testing.assert_close(a.scatter, centred.T @ centred, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(a.scatter, b.scatter, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(a.means64[0], b.means64[0])


def test_border_moves_towards_its_feedback():
    """Negatives near the threshold push a member's border in; positives push it out."""
    bank = GaussianMetaBank(dim=6)
    for Z in _blobs(seed=0, spread=1.0):  # overlapping members
        bank.add(Z)
    # Inputs between members 0 and 1: near both borders.
    Z = torch.randn(200, 6, generator=torch.Generator().manual_seed(2)) * 0.5 + 0.5
    out = bank.evaluate(Z)
    before = out.conf[:, 1].clone()
    assert 0.01 < before.mean() < 0.9
    # Member 1 learns that these inputs are not its own.
    member = torch.ones(len(Z), dtype=torch.long)
    for _ in range(50):
        bank.learn_border(member, out.odds[:, 1], torch.zeros(len(Z)))
    after = bank.evaluate(Z).conf[:, 1]
    assert after.mean() < 0.5 * before.mean()
    assert bank.border_updates[1] == 50 * len(Z) and bank.border_updates[0] == 0
    # Members without feedback keep their border.
    torch.testing.assert_close(bank.border[0], torch.tensor([1.0, 0.0]))
    bank.learn_border(member, out.odds[:, 1], torch.ones(len(Z)), steps=200)
    assert bank.evaluate(Z).conf[:, 1].mean() > after.mean()


def test_border_rate_scales_the_step():
    banks = []
    for rate in (1.0, 0.25):
        bank = GaussianMetaBank(dim=6)
        for Z in _blobs(seed=0, spread=1.0):
            bank.add(Z)
        out = bank.evaluate(torch.full((20, 6), 0.5))
        bank.learn_border(torch.ones(20, dtype=torch.long), out.odds[:, 1], torch.zeros(20), steps=1, rate=rate)
        banks.append(bank)
    moved_full = banks[0].border[1] - torch.tensor([1.0, 0.0])
    moved_quarter = banks[1].border[1] - torch.tensor([1.0, 0.0])
    assert float(moved_full.abs().sum()) > 0
    torch.testing.assert_close(moved_quarter, 0.25 * moved_full)


def test_state_round_trip_gives_identical_verdicts():
    bank = _bank()
    bank.learn_border(torch.tensor([0, 2]), torch.tensor([1.0, -2.0]), torch.tensor([0.0, 1.0]))
    other = GaussianMetaBank(dim=6)
    other.load_state_dict(bank.state_dict(), 3)
    Zq = torch.randn(40, 6) * 5
    a, b = bank.evaluate(Zq), other.evaluate(Zq)
    torch.testing.assert_close(a.conf, b.conf)
    torch.testing.assert_close(a.rank, b.rank)
    with pytest.raises(ValueError, match="borders"):
        GaussianMetaBank(dim=6).load_state_dict(bank.state_dict(), 2)


def test_bank_costs_a_small_fraction_of_a_model():
    from riscmoe.models import Verifier

    bank = GaussianMetaBank(dim=1152)
    model = Verifier(1152, hidden=128)
    # Per member, the meta-model costs under two percent of its model.
    assert bank.macs_per_input(10) < 0.2 * model.macs_per_input
    assert bank.macs_per_input(100) - bank.macs_per_input(99) < 0.02 * model.macs_per_input


def test_gram_builds_the_full_symmetric_product_from_its_lower_blocks():
    from riscmoe.meta.gaussian import _gram

    for dim in (7, 700, 1000):  # one block, several, a ragged last block
        C = torch.randn(50, dim)
        torch.testing.assert_close(_gram(C), C.T @ C, atol=1e-4, rtol=1e-5)


def test_cholesky_matches_torch_and_refuses_a_matrix_that_is_not_positive_definite():
    from riscmoe.meta.gaussian import _cholesky

    g = torch.Generator().manual_seed(0)
    for dim in (1, 5, 300):
        A = torch.randn(dim, dim + 10, generator=g, dtype=torch.float64)
        cov = A @ A.T + 0.1 * torch.eye(dim, dtype=torch.float64)
        L = _cholesky(cov.clone())
        assert L.is_contiguous() and torch.equal(L, L.tril())
        torch.testing.assert_close(L, torch.linalg.cholesky(cov), atol=1e-10, rtol=1e-10)
    bad = torch.eye(4, dtype=torch.float64)
    bad[2, 2] = -1.0
    with pytest.raises(torch.linalg.LinAlgError, match="order 3"):
        _cholesky(bad)


def _look_alikes(n, seed, d=6):
    """Two members that differ along axis 0 and spread along axis 1 (a pooled shape's
    common direction), and a third whose large spread along axis 0 dominates the pooled
    shape: under the collection's shape, the first two look closer than they are."""
    g = torch.Generator().manual_seed(seed)
    scale_ab = torch.tensor([0.3, 3.0] + [1.0] * (d - 2))
    scale_c = torch.tensor([6.0, 0.3] + [1.0] * (d - 2))
    a = torch.randn(n, d, generator=g) * scale_ab
    b = torch.randn(n, d, generator=g) * scale_ab + torch.tensor([1.0] + [0.0] * (d - 1))
    c = torch.randn(n, d, generator=g) * scale_c + torch.tensor([0.0, 0.0, 12.0] + [0.0] * (d - 3))
    return a, b, c


def test_close_calls_are_settled_by_the_pair_s_own_shape():
    train = _look_alikes(2000, seed=0)
    test = _look_alikes(500, seed=1)
    accuracy = {}
    for margin in (0.0, 10.0):
        bank = GaussianMetaBank(dim=6, pair_margin=margin)
        for Z in train:
            bank.add(Z)
        bank.prepare()
        out = bank.evaluate(torch.cat(test[:2]))
        truth = torch.cat([torch.zeros(500), torch.ones(500)]).long()
        accuracy[margin] = float((out.nearest == truth).float().mean())
    # Under the pooled shape, axis 1 (noise for a and b) weighs as much as axis 0; the
    # pair's own shape knows axis 0 alone tells a from b.
    assert accuracy[10.0] > accuracy[0.0] + 0.05, accuracy


def test_pair_gap_is_the_log_likelihood_ratio_under_the_pair_covariance():
    bank = GaussianMetaBank(dim=6)
    for Z in _look_alikes(1000, seed=0):
        bank.add(Z)
    Zq = _look_alikes(50, seed=3)[0]
    shared = GaussianMetaBank(dim=6, pair_margin=0.0)
    for Z in _look_alikes(1000, seed=0):
        shared.add(Z)
    bank.prepare()
    shared.prepare()
    out, ref = bank.evaluate(Zq), shared.evaluate(Zq)
    # The pair's gap, computed directly in float64.
    n = bank.counts[0] + bank.counts[1]
    cov = bank._shrunk((bank.scatters[0] + bank.scatters[1]).double(), n, 2)
    mu_a, mu_b = bank.means64[0], bank.means64[1]
    w = torch.linalg.solve(cov, mu_a - mu_b)
    llr = Zq.double() @ w - (w * (mu_a + mu_b)).sum() / 2
    close = (out.nearest < 2) & (ref.odds[:, 2] < -20)  # a and b are the top two
    gap = torch.log(torch.sigmoid(out.odds[:, 0])) - torch.log(torch.sigmoid(out.odds[:, 1]))
    assert close.sum() > 40
    np.testing.assert_allclose(gap[close].numpy(), llr[close].float().numpy(), rtol=1e-3, atol=1e-3)
    # The third member stays far out of it.
    assert (out.odds[close, 2] < -20).all()


def test_members_scatters_add_up_to_the_pooled_one_and_pairs_are_cached():
    bank = GaussianMetaBank(dim=6, pair_min=10)
    for Z in _blobs(seed=0):
        bank.add(Z[:300])
    for k, Z in enumerate(_blobs(seed=0)):
        bank.update(k, Z[300:])  # merged lazily, in pieces
    bank.refresh()
    torch.testing.assert_close(sum(S.double() for S in bank.scatters), bank.scatter, rtol=1e-5, atol=1e-3)
    for k, Z in enumerate(_blobs(seed=0)):
        centred = Z.double() - Z.double().mean(0)
        torch.testing.assert_close(bank.scatters[k].double(), centred.T @ centred, rtol=1e-4, atol=1e-2)
    first = bank._pairs_ready([(0, 1)])[(0, 1)]
    assert bank._pairs_ready([(0, 1)])[(0, 1)][0] is first[0]  # cached
    bank.update(0, _blobs(n=20, seed=5)[0])
    bank.refresh()
    assert bank._pairs_ready([(0, 1)])[(0, 1)][0] is not first[0]  # a member learned more: solved again
    small = GaussianMetaBank(dim=6)  # pair_min 256: too few examples for a pair shape
    for Z in _blobs(n=100, seed=0):
        small.add(Z)
    small.refresh()
    assert small._pairs_ready([(0, 1)]) == {}


def test_queries_do_no_work_and_prepare_answers_as_a_bank_fitted_afresh(monkeypatch):
    """Learning keeps a fit queries only read (no refit, no pair solve, however much was
    learned since); prepare() brings it up to date, to the answers of a bank loaded from
    the same statistics (which fits everything from scratch)."""
    bank = GaussianMetaBank(dim=6, pair_min=10)
    for Z in _blobs(seed=0):
        bank.add(Z[:300])
    bank.prepare()
    bank.learn(Lesson(positives=[(k, Z[300:450]) for k, Z in enumerate(_blobs(seed=0))]))
    assert bank._changed_since_fit > 0 and bank._likely  # learned since the last refit; pair tests exist
    query = torch.cat([Z[:50] for Z in _blobs(seed=3)]) * 0.5 + 3.0  # between the blobs: close calls
    work = dict(bank.work)
    monkeypatch.setattr(bank, "_solve_pairs", lambda pairs: pytest.fail("a query solved pairs"))
    stale = bank.evaluate(query)
    bank.evaluate(query, exact=False)
    assert bank.work == work
    monkeypatch.undo()
    bank.prepare()
    assert bank._changed_since_fit == 0 and len(bank._pairs) == 3 and bank.work["shape_refits"] == work["shape_refits"] + 1
    fresh = GaussianMetaBank(dim=6, pair_min=10)
    fresh.load_state_dict(bank.state_dict(), 3)
    ahead = bank.evaluate(query)
    torch.testing.assert_close(ahead.odds, fresh.evaluate(query).odds)
    torch.testing.assert_close(ahead.conf, fresh.evaluate(query).conf)
    assert not torch.allclose(stale.odds, ahead.odds)  # (the stale fit did answer differently)
    work = dict(bank.work)
    bank.prepare()  # nothing changed: nothing to do
    assert bank.work == work
    GaussianMetaBank(dim=6).prepare()  # an empty bank: nothing to do


def test_pair_solves_converge_to_the_exact_solve_and_do_not_depend_on_their_company():
    g = torch.Generator().manual_seed(0)
    d = 40
    shapes = [torch.randn(d, d, generator=g) * 0.3 + torch.eye(d) * s for s in (0.5, 1.0, 2.0, 1.5)]
    def make(iterations):
        bank = GaussianMetaBank(dim=d, pair_min=10, pair_iterations=iterations)
        for k, A in enumerate(shapes):
            bank.add(torch.randn(400, d, generator=torch.Generator().manual_seed(k)) @ A + k)
        bank.refresh()
        return bank
    bank = make(60)
    w = bank._solve_pairs([(0, 1), (1, 2), (0, 3)])
    for j, (a, b) in enumerate([(0, 1), (1, 2), (0, 3)]):
        n = bank.counts[a] + bank.counts[b]
        cov = bank._shrunk((bank.scatters[a] + bank.scatters[b]).double(), n, 2)
        exact = torch.linalg.solve(cov, bank.means64[a] - bank.means64[b]).float()
        assert float((w[j] - exact).norm() / exact.norm()) < 1e-3
    # A pair's few-step solve is the same whichever other pairs are solved with it.
    few = make(3)
    together = few._solve_pairs([(0, 1), (1, 2), (0, 3)])
    torch.testing.assert_close(together[1], few._solve_pairs([(1, 2)])[0], rtol=1e-4, atol=1e-6)


def test_pair_shapes_survive_a_round_trip_and_old_saves_load_without_them():
    bank = GaussianMetaBank(dim=6)
    for Z in _look_alikes(1000, seed=0):
        bank.add(Z)
    state = bank.state_dict()
    twin = GaussianMetaBank(dim=6)
    twin.load_state_dict(state, 3)  # (a loaded bank is prepared)
    Zq = torch.cat(_look_alikes(100, seed=4))
    bank.prepare()
    torch.testing.assert_close(twin.evaluate(Zq).odds, bank.evaluate(Zq).odds)
    old = {k: v for k, v in state.items() if not k.endswith("scatter_tril")}
    legacy = GaussianMetaBank(dim=6)
    legacy.load_state_dict(old, 3)
    shared = GaussianMetaBank(dim=6, pair_margin=0.0)
    shared.load_state_dict(old, 3)
    torch.testing.assert_close(legacy.evaluate(Zq).odds, shared.evaluate(Zq).odds)
    bad = dict(state)
    bad["meta.1.scatter_tril"] = torch.zeros(5)
    with pytest.raises(ValueError, match="scatter of meta-model 1"):
        GaussianMetaBank(dim=6).load_state_dict(bad, 3)


def test_a_sketched_scatter_of_full_rank_answers_as_the_full_one_and_layouts_load_into_either():
    """dim 6 and shape_rank 6: the frequent-directions sketch is exact, so pair shapes are the same."""
    full, sketched = GaussianMetaBank(dim=6), GaussianMetaBank(dim=6, shape_rank=6)
    for Z in _look_alikes(1000, seed=0):
        full.add(Z)
        sketched.add(Z)
    full.prepare()
    sketched.prepare()
    Zq = torch.cat(_look_alikes(100, seed=4))
    np.testing.assert_allclose(sketched.evaluate(Zq).odds, full.evaluate(Zq).odds, rtol=1e-4, atol=1e-3)
    state = sketched.state_dict()
    assert "meta.0.shape_rows" in state and not any(k.endswith("scatter_tril") for k in state)
    twin = GaussianMetaBank(dim=6, shape_rank=6)
    twin.load_state_dict(state, 3)
    torch.testing.assert_close(twin.evaluate(Zq).odds, sketched.evaluate(Zq).odds)  # a round trip changes nothing
    as_full = GaussianMetaBank(dim=6)
    as_full.load_state_dict(state, 3)  # a sketch made dense
    np.testing.assert_allclose(as_full.evaluate(Zq).odds, full.evaluate(Zq).odds, rtol=1e-4, atol=1e-3)
    as_sketch = GaussianMetaBank(dim=6, shape_rank=6)
    as_sketch.load_state_dict(full.state_dict(), 3)  # a full scatter sketched by its top directions
    np.testing.assert_allclose(as_sketch.evaluate(Zq).odds, full.evaluate(Zq).odds, rtol=1e-4, atol=1e-3)
    bad = dict(state)
    bad["meta.1.shape_diag"] = torch.zeros(5, dtype=torch.float64)
    with pytest.raises(ValueError, match="shape sketch of meta-model 1"):
        GaussianMetaBank(dim=6, shape_rank=6).load_state_dict(bad, 3)


def test_a_low_rank_sketch_is_what_the_pair_sees_and_holds_its_memory():
    """At rank 1 of 6 the pair's shape is the sketch's: the gap is the log likelihood ratio under it."""
    bank = GaussianMetaBank(dim=6, shape_rank=1)
    for Z in _look_alikes(1000, seed=0):
        bank.add(Z)
    assert all(len(s.rows) <= 2 for s in bank.scatters)
    bank.prepare()
    Zq = _look_alikes(50, seed=3)[0]
    out = bank.evaluate(Zq)
    n = bank.counts[0] + bank.counts[1]
    cov = bank._shrunk((bank.scatters[0].dense() + bank.scatters[1].dense()).double(), n, 2)
    w = torch.linalg.solve(cov, bank.means64[0] - bank.means64[1])
    llr = Zq.double() @ w - (w * (bank.means64[0] + bank.means64[1])).sum() / 2
    close = out.nearest < 2
    gap = torch.log(torch.sigmoid(out.odds[:, 0])) - torch.log(torch.sigmoid(out.odds[:, 1]))
    pair = close & (out.odds[:, :2].abs() < 12).all(1)
    assert pair.sum() > 10
    np.testing.assert_allclose(gap[pair].numpy(), llr[pair].float().numpy(), rtol=1e-2, atol=5e-2)


def _families(members=200, dim=16, n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    fam = torch.randn((members + 9) // 10, dim, generator=g) * 8.0
    centres = fam.repeat_interleave(10, 0)[:members] + torch.randn(members, dim, generator=g) * 3.0
    return centres, [c + torch.randn(n, dim, generator=g) for c in centres]


def test_a_first_stage_scores_few_members_and_finds_the_best_one():
    centres, data = _families()
    full, staged = GaussianMetaBank(dim=16, pair_margin=0.0), GaussianMetaBank(dim=16, pair_margin=0.0, candidates=24)
    for Z in data:
        full.add(Z)
        staged.add(Z)
    full.prepare()
    staged.prepare()
    g = torch.Generator().manual_seed(5)
    drew = torch.randint(0, 200, (1000,), generator=g)
    Zq = centres[drew] + torch.randn(1000, 16, generator=g)
    a, b = full.evaluate(Zq), staged.evaluate(Zq)
    assert (a.scored == 200).all() and float(b.scored.float().mean()) < 80  # about 24 candidates, from whole clusters
    assert float((b.nearest == a.nearest).float().mean()) > 0.99
    for name in ("conf", "rank", "odds", "distance"):
        assert torch.isfinite(getattr(b, name)).all(), name
    unscored = b.distance >= 1e29
    assert (unscored.sum(1) == 200 - b.scored).all() and (b.conf[unscored] == 0).all()
    hit = b.nearest == a.nearest
    np.testing.assert_allclose(b.conf.max(1).values[hit], a.conf.max(1).values[hit], atol=1e-3)  # the same answer where it agrees
    # Training's own queries (exact=False) score every member.
    assert (staged.evaluate(Zq[:10], exact=False).scored == 200).all()
    # The clusters are the same however often they are made.
    groups = [g.tolist() for g in staged._clusters[0]]
    staged.refresh(force=True)
    assert [g.tolist() for g in staged._clusters[0]] == groups


def test_a_first_stage_verdict_over_its_candidates_equals_the_dense_one():
    """The verdict a query gets from its candidates alone is the one the dense (B, M) verdict
    gives on the same scores with every other member at -inf: pair tests included."""
    centres, data = _families(members=120, n=80)
    bank = GaussianMetaBank(dim=16, candidates=16, pair_min=50, pair_margin=10.0)
    for Z in data:
        bank.add(Z)
    bank.prepare()
    assert bank._clusters is not None and bank._likely
    g = torch.Generator().manual_seed(2)
    i = torch.randint(0, 119, (400,), generator=g)
    Zq = (centres[i] + centres[i + 1]) / 2 + torch.randn(400, 16, generator=g)  # between neighbours: close calls
    sparse = bank.evaluate(Zq)
    Zc = bank.centred(Zq)
    s_k, cross_k, cols = bank._candidate_products(Zc)
    assert int(cols.shape[1]) < 120 and ((cols >= 0).sum(1) == sparse.scored).all()
    valid = cols >= 0
    rows = torch.arange(len(Zq))[:, None].expand_as(cols)[valid]
    s = torch.full((len(Zq), 120), float("-inf"))
    cross = torch.zeros(len(Zq), 120)
    scored = torch.zeros(len(Zq), 120, dtype=torch.bool)
    s[rows, cols[valid]], cross[rows, cols[valid]], scored[rows, cols[valid]] = s_k[valid], cross_k[valid], True
    dense = bank.verdict(Zc, s, cross, scored)
    top2 = s.topk(2, dim=1).values
    assert int((top2[:, 0] - top2[:, 1] < bank.pair_margin).sum()) > 20  # close calls took place
    torch.testing.assert_close(sparse.nearest, dense.nearest)
    for name in ("conf", "rank", "odds", "distance", "novelty"):
        torch.testing.assert_close(getattr(sparse, name), getattr(dense, name), rtol=1e-5, atol=1e-5, msg=name)
    torch.testing.assert_close(sparse.scored, scored.sum(1))


def test_members_added_one_by_one_are_written_in_place_and_join_the_first_stage():
    """Adding a member copies no other member's columns (buffers with room) and does not make
    the clusters again until the members have grown by a quarter; a member added meanwhile
    joins its nearest cluster and is found by queries near it."""
    from riscmoe.meta import gaussian

    centres, data = _families(members=200, n=40)
    bank = GaussianMetaBank(dim=16, pair_margin=0.0, candidates=24, refresh_every=10**9)
    for Z in data[:150]:
        bank.add(Z)
    made, buffer = bank._clustered_at, bank._prod_buf.data_ptr()
    assert 150 / gaussian._RECLUSTER < made <= 150 and bank._cap >= 160  # room for a half more
    for Z in data[150:160]:
        bank.add(Z)
    assert bank._clustered_at == made or bank._clustered_at >= gaussian._RECLUSTER * made
    # The columns held are each member's own solve under the last shape.
    rel = torch.stack(bank.means64) - bank._c_ref
    w = torch.cholesky_solve(rel.T, bank._chol)
    torch.testing.assert_close(bank._score_cols, w.float(), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(bank._cross_cols, (rel / bank._var).float().T, rtol=1e-5, atol=1e-5)
    joined = [k for k in range(150, 160) if k >= bank._clustered_at]
    assert bank._prod_buf.data_ptr() == buffer  # written in place: nothing was copied
    assert joined  # (members 155-159 joined clusters made from 155)
    g = torch.Generator().manual_seed(3)
    for k in joined:
        out = bank.evaluate(centres[k] + 0.3 * torch.randn(20, 16, generator=g))
        assert float((out.nearest == k).float().mean()) > 0.9


def test_a_first_stage_with_room_for_every_member_is_no_stage():
    _, data = _families(members=20)
    bank, ref = GaussianMetaBank(dim=16, candidates=64), GaussianMetaBank(dim=16)
    for Z in data:
        bank.add(Z)
        ref.add(Z)
    Zq = torch.cat([Z[:5] for Z in data])
    torch.testing.assert_close(bank.evaluate(Zq).conf, ref.evaluate(Zq).conf)
    assert bank._clusters is None and (bank.evaluate(Zq).scored == 20).all()


def test_prepare_solves_each_members_nearest_pairs_only_and_answers_as_with_every_pair():
    _, data = _families(members=30, n=300)
    few, every = GaussianMetaBank(dim=16, pair_min=50, pair_neighbours=3), GaussianMetaBank(dim=16, pair_min=50, pair_neighbours=29)
    for Z in data:
        few.add(Z)
        every.add(Z)
    few.prepare()
    every.prepare()
    assert len(every._likely) == 30 * 29 // 2
    near = few._likely_pairs()
    assert 30 * 3 // 2 <= len(near) <= 30 * 3  # each member with its 3 nearest
    for bank in (few, every):  # every pair tested is solved, and current
        assert all(not bank._pair_due(p, None) for p in bank._likely)
    Zq = torch.cat([Z[:20] for Z in data])
    torch.testing.assert_close(few.evaluate(Zq).odds, every.evaluate(Zq).odds)  # a pair's solve is the same either way
    # A close call between members that are not near neighbours is the shared shape's: the
    # query solves nothing, and answers as a bank without pair tests would for it.
    far = next((a, b) for a in range(30) for b in range(a + 1, 30) if (a, b) not in near)
    work = dict(few.work)
    s = torch.zeros(1, 30)
    s[0, far[0]], s[0, far[1]] = 1.0, 0.5
    torch.testing.assert_close(few._settle_pairs(s, Zq[:1]), s)
    assert few.work == work


def test_a_young_member_keeps_no_scatter_until_it_could_use_one():
    """A member's own scatter is made from its reservoir (which holds every example it has
    learned) when it reaches pair_min examples, or when its reservoir would start to replace:
    until then it costs no F x F matrix, and once made the scatter is its examples' exact one."""
    bank = GaussianMetaBank(dim=6, pair_min=100, reservoir=256)
    data = _blobs(n=300, seed=0)
    for Z in data:
        bank.add(Z[:60])
    bank.refresh()
    assert bank.deferred == {0, 1, 2} and all(S is None for S in bank.scatters)
    for k, Z in enumerate(data):
        bank.update(k, Z[60:90])  # 90 examples: still deferred
    assert bank.deferred == {0, 1, 2}
    bank.update(0, data[0][90:300])  # past pair_min: made, then this batch merged into it
    bank.refresh()
    assert bank.deferred == {1, 2} and bank.scatters[0] is not None
    centred = data[0].double() - data[0].double().mean(0)
    torch.testing.assert_close(bank.scatters[0].double(), centred.T @ centred, rtol=1e-4, atol=1e-2)
    # A reservoir smaller than pair_min: made before the reservoir replaces its first row.
    small = GaussianMetaBank(dim=6, pair_min=256, reservoir=50)
    small.add(data[1][:40])
    small.refresh()
    assert small.deferred == {0}
    small.update(0, data[1][40:300])
    small.refresh()
    assert small.deferred == set()
    centred = data[1].double() - data[1].double().mean(0)
    torch.testing.assert_close(small.scatters[0].double(), centred.T @ centred, rtol=1e-4, atol=1e-2)


def test_deferred_scatters_answer_as_scatters_kept_from_the_start():
    """Pair shapes made from a deferred member's reservoir are the ones a scatter kept from its
    first example gives (up to float32 summation order)."""
    train = _look_alikes(1000, seed=0)
    test = torch.cat(_look_alikes(300, seed=2))
    banks = []
    for eager in (False, True):
        bank = GaussianMetaBank(dim=6, pair_min=300)
        for Z in train:
            bank.add(Z[:200])
            if eager:
                bank._make_own_scatter(len(bank) - 1)
        for k, Z in enumerate(train):
            bank.update(k, Z[200:])
        bank.prepare()
        banks.append(bank)
    lazy, eager = (b.evaluate(test) for b in banks)
    assert banks[0].deferred == set()
    torch.testing.assert_close(lazy.odds, eager.odds, rtol=1e-4, atol=1e-3)
    assert torch.equal(lazy.nearest, eager.nearest)


def test_deferred_members_survive_a_round_trip_and_a_wrong_claim_is_refused():
    bank = GaussianMetaBank(dim=6, pair_min=300)
    data = _look_alikes(400, seed=0)
    for Z in data:
        bank.add(Z[:100])
    bank.update(0, data[0][100:400])  # member 0's scatter is made; 1 and 2 stay deferred
    state = bank.state_dict()
    assert state["meta.deferred"].tolist() == [1, 2] and "meta.1.scatter_tril" not in state
    twin = GaussianMetaBank(dim=6, pair_min=300)
    twin.load_state_dict(state, 3)
    assert twin.deferred == {1, 2}
    for b in (bank, twin):
        b.update(1, data[1][100:400])  # learning on makes member 1's from the loaded reservoir
    assert bank.deferred == twin.deferred == {2}
    torch.testing.assert_close(twin.scatters[1], bank.scatters[1])
    Zq = torch.cat(_look_alikes(100, seed=4))
    twin.prepare()
    bank.prepare()
    torch.testing.assert_close(twin.evaluate(Zq).odds, bank.evaluate(Zq).odds)
    for bad_deferred, match in (([0], "deferred"), ([7], "deferred"), ([[1, 2]], "not a list"), ([1.0], "not a list")):
        bad = dict(state, **{"meta.deferred": torch.tensor(bad_deferred)})
        with pytest.raises(ValueError, match=match):
            GaussianMetaBank(dim=6, pair_min=300).load_state_dict(bad, 3)
    bad = dict(state, **{"meta.2.reservoir": state["meta.2.reservoir"][:50]})  # it must hold every example
    with pytest.raises(ValueError, match="reservoir does not hold"):
        GaussianMetaBank(dim=6, pair_min=300).load_state_dict(bad, 3)
    # A save of kind version 2 (no meta.deferred) loads as it was: every member's scatter or none.
    old = {k: v for k, v in state.items() if k != "meta.deferred"}
    legacy = GaussianMetaBank(dim=6, pair_min=300)
    legacy.load_state_dict(old, 3)
    assert legacy.deferred == set() and legacy.scatters[1] is None


def test_a_new_member_is_solved_and_calibrated_alone_and_the_fit_is_what_a_full_one_gives():
    """Between refits of the shared shape, _refit(shape=False) solves and calibrates only the
    members that are new or learned since; what it derives equals a fit that redoes every member."""
    data = _blobs(n=200, d=6, seed=0) + _blobs(n=200, d=6, seed=1, spread=-5.0)
    bank = GaussianMetaBank(dim=6, refresh_every=10**6)
    for Z in data[:5]:
        bank.add(Z)
    bank.refresh()
    before = list(bank._solved)
    bank.update(1, data[1][:60])  # member 1 learned a quarter more (its columns are due again)
    bank.add(data[5][:50])  # a new member: the shared shape stays, its column and table are made (and 1's again)
    assert bank._chol is not None and bank._changed_since_fit > 0  # no shape refit happened
    assert len(bank._solved) == 6 and bank._solved[0] == before[0] and bank._solved[1] == bank.counts[1]
    derived = [t.clone() for t in (bank._product, bank._bias, bank._knots, bank._tails)]
    bank._solved, bank._calibrated = [-1.0] * 6, [-1.0] * 6  # forget: every member again, under the same shape
    bank._dirty = set(range(6))
    bank._refit(shape=False)
    for a, b in zip(derived, (bank._product, bank._bias, bank._knots, bank._tails)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_blocks_of_the_whole_space_answer_as_full_scatters_and_saves_load_across_layouts():
    """pair_block = dim: a member's block is its whole scatter (in float16), so pair shapes are the full ones."""
    full, blocked = GaussianMetaBank(dim=6), GaussianMetaBank(dim=6, pair_block=6)
    for Z in _look_alikes(1000, seed=0):
        full.add(Z)
        blocked.add(Z)
    full.prepare()
    blocked.prepare()
    assert all(isinstance(s, ShapeBlock) for s in blocked.scatters)
    Zq = torch.cat(_look_alikes(100, seed=4))
    np.testing.assert_allclose(blocked.evaluate(Zq).odds, full.evaluate(Zq).odds, rtol=1e-3, atol=1e-2)
    state = blocked.state_dict()
    assert "meta.basis" in state and "meta.0.block" in state and not any(k.endswith("scatter_tril") for k in state)
    twin = GaussianMetaBank(dim=6, pair_block=6)
    twin.load_state_dict(state, 3)
    torch.testing.assert_close(twin.evaluate(Zq).odds, blocked.evaluate(Zq).odds)  # a round trip changes nothing
    as_blocks = GaussianMetaBank(dim=6, pair_block=6)
    as_blocks.load_state_dict(full.state_dict(), 3)  # full scatters projected onto a basis of the saved shape
    np.testing.assert_allclose(as_blocks.evaluate(Zq).odds, full.evaluate(Zq).odds, rtol=1e-3, atol=1e-2)
    for other in (GaussianMetaBank(dim=6), GaussianMetaBank(dim=6, pair_block=4)):
        before = other.state_dict()
        with pytest.raises(ValueError, match="blocks in a basis of 6 directions.*load it with pair_block=6"):
            other.load_state_dict(state, 3)
        assert other.state_dict().keys() == before.keys()  # refused before anything changed
    bad = dict(state)
    bad["meta.basis"] = torch.full((6, 6), float("nan"))
    with pytest.raises(ValueError, match="not usable"):
        GaussianMetaBank(dim=6, pair_block=6).load_state_dict(bad, 3)
    with pytest.raises(ValueError, match="choose one"):
        GaussianMetaBank(dim=6, pair_block=3, shape_rank=2)
    with pytest.raises(ValueError, match="at most the 6 features"):
        GaussianMetaBank(dim=6, pair_block=7)
    # 8-bit blocks: the same answers to within their rounding, and saves load across widths.
    b8 = GaussianMetaBank(dim=6, pair_block=6, block_bits=8)
    for Z in _look_alikes(1000, seed=0):
        b8.add(Z)
    b8.prepare()
    assert all(s.packed.dtype == torch.int8 for s in b8.scatters)
    np.testing.assert_allclose(b8.evaluate(Zq).odds, full.evaluate(Zq).odds, rtol=2e-2, atol=5e-2)
    wide = GaussianMetaBank(dim=6, pair_block=6)
    wide.load_state_dict(b8.state_dict(), 3)
    assert all(s.packed.dtype == torch.float16 for s in wide.scatters)
    np.testing.assert_allclose(wide.evaluate(Zq).odds, b8.evaluate(Zq).odds, rtol=2e-3, atol=1e-2)
    with pytest.raises(ValueError, match="block_bits must be 8 or 16"):
        GaussianMetaBank(dim=6, pair_block=6, block_bits=12)


def test_a_pair_of_blocks_compares_under_its_block_and_the_shared_shape_outside_it():
    """pair_block = 3 of 6: the gap of a close call is the log likelihood ratio under
    U C_ab U^T + P_perp Sigma P_perp, and a member holds its block, not an F x F scatter."""
    bank = GaussianMetaBank(dim=6, pair_block=3, pair_iterations=30)
    for Z in _look_alikes(1000, seed=0):
        bank.add(Z)
    bank.prepare()
    assert bank.work["rebases"] >= 1  # the basis followed the shape as the examples grew
    Zq = _look_alikes(50, seed=3)[0]
    out = bank.evaluate(Zq)
    a, b = bank.scatters[0], bank.scatters[1]
    U, Sigma = bank._basis.double(), bank._cov32.double()
    n = bank.counts[0] + bank.counts[1]
    on_scatter, on_identity = bank._shrink_terms(a.trace() + b.trace(), n, 2)
    Cu = (a.matrix() + b.matrix()).double() * on_scatter + torch.eye(3, dtype=torch.float64) * on_identity
    P = torch.eye(6, dtype=torch.float64) - U @ U.T
    cov = U @ Cu @ U.T + P @ Sigma @ P
    w = torch.linalg.solve(cov, bank.means64[0] - bank.means64[1])
    llr = Zq.double() @ w - (w * (bank.means64[0] + bank.means64[1])).sum() / 2
    close = out.nearest < 2
    gap = torch.log(torch.sigmoid(out.odds[:, 0])) - torch.log(torch.sigmoid(out.odds[:, 1]))
    pair = close & (out.odds[:, :2].abs() < 12).all(1)
    assert pair.sum() > 10
    np.testing.assert_allclose(gap[pair].numpy(), llr[pair].float().numpy(), rtol=1e-2, atol=5e-2)
    sizes = bank.member_nbytes()
    full = GaussianMetaBank(dim=6)
    for Z in _look_alikes(1000, seed=0):
        full.add(Z)
    assert sizes[0] < full.member_nbytes()[0]  # 3 x 3 float16 instead of 6 x 6 float32


def test_a_half_reservoir_halves_its_bytes_and_calibrates_as_the_full_one():
    full, half = GaussianMetaBank(dim=6), GaussianMetaBank(dim=6, half_reservoir=True)
    for Z in _look_alikes(400, seed=0):
        full.add(Z)
        half.add(Z)
    full.prepare()
    half.prepare()
    assert all(r.dtype == torch.float16 for r in half.reservoirs)
    assert half.member_nbytes()[0] < full.member_nbytes()[0]
    Zq = torch.cat(_look_alikes(100, seed=4))
    out_f, out_h = full.evaluate(Zq), half.evaluate(Zq)
    np.testing.assert_allclose(out_h.conf, out_f.conf, atol=2e-2)
    twin = GaussianMetaBank(dim=6, half_reservoir=True)
    twin.load_state_dict(half.state_dict(), 3)
    assert all(r.dtype == torch.float16 for r in twin.reservoirs)
    torch.testing.assert_close(twin.evaluate(Zq).conf, out_h.conf)


def test_flush_helpers_give_the_same_numbers_as_the_plain_expressions():
    """The flush's mean a block of columns at a time equals the float64 copy's mean, and the
    shrunk covariance written into a given buffer equals a fresh one (bit for bit)."""
    from riscmoe.meta.gaussian import _mean64

    g = torch.Generator().manual_seed(3)
    for n in (1, 63, 600):
        P = torch.rand(n, 700, generator=g) * 3
        assert torch.equal(_mean64(P), P.to(torch.float64).mean(0))
    bank = GaussianMetaBank(700)
    S = torch.rand(700, 700, generator=g, dtype=torch.float64)
    S = S @ S.T
    buf = torch.empty(700, 700, dtype=torch.float64)
    out = bank._shrunk(S, 900.0, 3, out=buf)
    assert out.data_ptr() == buf.data_ptr()
    assert torch.equal(out, bank._shrunk(S, 900.0, 3))


# ------------------------------------------------------------------ a budget per member (member_kb, full_mb)
def _pairs_of_lookalikes(members, n, d=64, seed=0):
    """Members in pairs of look-alikes (means 0.8 apart), each pair far from the others, and
    each member with its own spread along a few directions: close calls that need pair shapes."""
    centres = torch.randn(members // 2 + 1, d, generator=torch.Generator().manual_seed(99)) * 6.0  # the same in every sample
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(members):
        scale = torch.ones(d)
        scale[torch.randperm(d, generator=torch.Generator().manual_seed(100 + k))[:4]] = 3.0
        shift = torch.zeros(d)
        shift[k % d] = 0.8 * (k % 2)
        out.append(torch.randn(n, d, generator=g) * scale + centres[k // 2] + shift)
    return out


def test_member_layout_keeps_full_scatters_where_they_fit_and_chooses_the_largest_block_within_the_budget():
    from riscmoe.meta.gaussian import member_layout

    small = member_layout(64)
    assert (small["pair_block"], small["reservoir"], small["half_reservoir"]) == (0, 256, False) and small["nbytes"] <= 1_000_000
    wide = member_layout(2304)
    assert wide["pair_block"] == 1135 and wide["reservoir"] == 60 and wide["half_reservoir"] and wide["block_bits"] == 8
    assert 990_000 < wide["nbytes"] <= 1_000_000  # the largest block that fits: one more direction does not
    assert member_layout(2304, 1000, pair_block=1136, reservoir=60, half_reservoir=True, block_bits=8)["nbytes"] > 1_000_000
    assert member_layout(500)["pair_block"] == 500  # the whole space fits as a block, not as a full scatter
    assert member_layout(2304, 0)["pair_block"] == 0  # no budget: full scatters, as before the budget
    mine = member_layout(2304, pair_block=512, reservoir=100)  # explicit settings are kept
    assert (mine["pair_block"], mine["reservoir"], mine["half_reservoir"], mine["block_bits"]) == (512, 100, True, 8)
    assert member_layout(2304, shape_rank=16)["pair_block"] == 0
    huge = member_layout(100_000)
    assert huge["over"] and huge["pair_block"] == 64
    with pytest.warns(UserWarning, match="member_kb=5 is too small for members on 64 features"):
        Gaussian(member_kb=5).build(64, 0)


def test_past_full_mb_a_bank_compacts_its_members_into_the_budget_and_answers_as_well():
    train, test = _pairs_of_lookalikes(14, 400, d=128, seed=0), _pairs_of_lookalikes(14, 100, d=128, seed=1)
    spec = Gaussian(member_kb=25, full_mb=1)
    lay, whole = spec.layout(128), Gaussian(member_kb=0).layout(128)
    assert 0 < lay["pair_block"] < 128 and lay["nbytes"] <= 25_000
    in_full = 1_000_000 // whole["nbytes"]  # members kept in full (201 KB each at F = 128) before 1 MB is passed
    bank, full = spec.build(128, 0), Gaussian(member_kb=0).build(128, 0)
    assert bank.layout()["pair_block"] == 0 and bank._compact_to is not None
    for k, Z in enumerate(train):
        bank.add(Z[:300])
        full.add(Z[:300])
        assert bank.work["compactions"] == (k >= in_full)
    for k, Z in enumerate(train):
        bank.update(k, Z[300:])
        full.update(k, Z[300:])
    bank.prepare()
    full.prepare()
    assert bank.layout() == {k: lay[k] for k in ("pair_block", "reservoir", "half_reservoir", "block_bits")}
    assert all(isinstance(s, ShapeBlock) for s in bank.scatters) and not bank.deferred
    assert all(len(r) <= lay["reservoir"] and r.dtype == torch.float16 for r in bank.reservoirs)
    assert max(bank.member_nbytes()) <= 25_000 < min(full.member_nbytes())
    Zq, yq = torch.cat(test), torch.arange(14).repeat_interleave(100)
    right = [float((b.evaluate(Zq).odds.argmax(1) == yq).float().mean()) for b in (bank, full)]
    shared = Gaussian(member_kb=0, pair_margin=0.0).build(128, 0)  # no pair shapes at all
    for k, Z in enumerate(train):
        shared.add(Z)
    shared.prepare()
    alone = float((shared.evaluate(Zq).odds.argmax(1) == yq).float().mean())
    assert right[0] >= right[1] - 0.01 and right[1] > alone + 0.01, (right, alone)  # the blocks keep the pair shapes' gain


def test_compaction_gives_deferred_members_blocks_from_their_reservoir_and_keeps_the_young_deferred():
    train = _pairs_of_lookalikes(13, 400, d=128, seed=0)
    bank = Gaussian(member_kb=25, full_mb=1).build(128, 0)
    for Z in train[:12]:
        bank.add(Z[:100])  # deferred (fewer than pair_min), reservoirs of 100 rows: 12 x 55 KB, no compaction
    assert bank.work["compactions"] == 0 and bank.deferred == set(range(12))
    for k in range(11):
        bank.update(k, train[k][100:400])  # full scatters of 64 KB each: past 1 MB in all
    assert bank.work["compactions"] == 0  # (update only counts; the bank compacts when it next keeps its fit)
    bank.add(train[12][:40])  # a young member: its 40 examples fit the new reservoir of 60
    assert bank.work["compactions"] == 1 and bank.deferred == {12}
    assert isinstance(bank.scatters[11], ShapeBlock)  # deferred with 100 examples: its block from its reservoir
    assert all(isinstance(bank.scatters[i], ShapeBlock) for i in range(12))
    bank.update(12, train[12][40:100])  # past 60: its block from every example it learned
    assert 12 not in bank.deferred and isinstance(bank.scatters[12], ShapeBlock)


def test_a_compacting_bank_survives_a_round_trip_before_and_after_compaction_and_refuses_bad_layout_notes():
    train, Zq = _pairs_of_lookalikes(14, 300, d=128, seed=0), torch.cat(_pairs_of_lookalikes(14, 50, d=128, seed=1))
    spec = Gaussian(member_kb=25, full_mb=1)
    bank = spec.build(128, 0)
    for Z in train[:4]:
        bank.add(Z)
    arrays, info = bank.save_state()  # before compaction
    twin = spec.build(128, 0)
    twin.load_state(arrays, info)
    for b in (bank, twin):
        for Z in train[4:]:
            b.add(Z)
        b.prepare()
    assert bank.work["compactions"] == twin.work["compactions"] == 1
    torch.testing.assert_close(twin.evaluate(Zq).odds, bank.evaluate(Zq).odds)
    arrays, info = bank.save_state()  # after
    assert info["layout"]["pair_block"] > 0 and info["compact_to"] is None
    again = spec.build(128, 0)
    again.load_state(arrays, info)
    assert again.layout() == bank.layout() and again._compact_to is None
    torch.testing.assert_close(again.evaluate(Zq).odds, bank.evaluate(Zq).odds)
    for bad in ({"pair_block": 999}, {"reservoir": 1}, {"block_bits": 12}, {"pair_block": "7"}):
        other = spec.build(128, 0)
        notes = dict(info, layout=dict(info["layout"], **bad))
        with pytest.raises(ValueError, match="layout notes are not usable"):
            other.load_state(arrays, notes)
        assert other.layout()["pair_block"] == 0 and other._compact_to is not None and len(other) == 0  # nothing changed
    with pytest.raises(ValueError, match="compacts them into blocks"):
        GaussianMetaBank(dim=128, pair_block=8, compact_to={"pair_block": 8, "reservoir": 60, "half_reservoir": True, "block_bits": 8})
