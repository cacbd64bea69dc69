"""Tests for riscmoe.datasets.streams: coverage, hidden boundaries, seeding, argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from riscmoe.datasets import Stream, apply_permutation, blurred, class_incremental, permuted, recurring


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    """10 classes with unequal sizes (20..38 examples), 4x4 'images' whose pixels encode the index."""
    y = np.concatenate([np.full(20 + 2 * c, c) for c in range(10)])
    y = np.random.default_rng(123).permutation(y)
    X = (np.arange(len(y))[:, None, None] * 100 + np.arange(16).reshape(4, 4)).astype(np.float64)
    return X, y


def all_indices(stream: Stream) -> np.ndarray:
    return np.concatenate([stream.batch_indices(i) for i in range(stream.n_batches)])


def check_structure(stream: Stream, batch_size: int) -> None:
    """Batches fit batch_size, boundaries are increasing and end at the last batch."""
    assert len(stream) == stream.n_batches == stream.boundaries[-1] + 1
    assert len(stream.boundaries) == len(stream.groups)
    assert all(a < b for a, b in zip(stream.boundaries, stream.boundaries[1:]))
    sizes = [len(stream.batch_indices(i)) for i in range(stream.n_batches)]
    assert max(sizes) <= batch_size and min(sizes) >= 1
    # Only a group's last batch may be short.
    short = {i for i, s in enumerate(sizes) if s < batch_size}
    assert short <= set(stream.boundaries)


def test_class_incremental_covers_each_example_once(data) -> None:
    X, y = data
    s = class_incremental(X, y, n_groups=5, seed=0, batch_size=16)
    check_structure(s, 16)
    np.testing.assert_array_equal(np.sort(all_indices(s)), np.arange(len(y)))
    assert s.n_examples == len(y)


def test_class_incremental_groups_follow_seeded_class_order(data) -> None:
    X, y = data
    s = class_incremental(X, y, n_groups=5, seed=7)
    order = np.random.default_rng(7).permutation(np.arange(10))
    assert s.groups == [tuple(sorted(order[2 * g: 2 * g + 2].tolist())) for g in range(5)]
    assert sorted(c for g in s.groups for c in g) == list(range(10))


def test_class_incremental_batches_never_mix_groups(data) -> None:
    X, y = data
    s = class_incremental(X, y, n_groups=5, seed=1, batch_size=13)
    for i, (xb, yb) in enumerate(s):
        g = s.group_of_batch(i)
        assert set(yb.tolist()) <= set(s.groups[g])
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        idx = s.batch_indices(i)
        np.testing.assert_array_equal(xb, X[idx].astype(np.float32))
        np.testing.assert_array_equal(yb, y[idx])
    # The group changes exactly after each boundary.
    assert [s.group_of_batch(b) for b in s.boundaries] == list(range(5))
    assert [s.group_of_batch(b + 1) for b in s.boundaries[:-1]] == list(range(1, 5))


def test_iteration_reveals_only_batches(data) -> None:
    X, y = data
    items = list(class_incremental(X, y, n_groups=2, batch_size=50))
    assert all(isinstance(it, tuple) and len(it) == 2 for it in items)
    assert len(items) == len(list(class_incremental(X, y, n_groups=2, batch_size=50)))


def test_seeded_order_repeatable_and_seed_dependent(data) -> None:
    X, y = data
    a = all_indices(class_incremental(X, y, seed=3))
    b = all_indices(class_incremental(X, y, seed=3))
    c = all_indices(class_incremental(X, y, seed=4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_shuffle_within_false_keeps_data_order(data) -> None:
    X, y = data
    s = class_incremental(X, y, n_groups=2, seed=0, shuffle_within=False, batch_size=7)
    start = 0
    for end in s.boundaries:
        idx = np.concatenate([s.batch_indices(i) for i in range(start, end + 1)])
        assert np.all(np.diff(idx) > 0)
        start = end + 1


def test_class_incremental_bad_args(data) -> None:
    X, y = data
    with pytest.raises(ValueError, match="n_groups=3 does not divide the 10 classes.*1, 2, 5, 10"):
        class_incremental(X, y, n_groups=3)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        class_incremental(X, y, batch_size=0)
    with pytest.raises(ValueError, match="n_groups must be >= 1, got 0"):
        class_incremental(X, y, n_groups=0)
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        class_incremental(X, y, batch_size=2.5)
    with pytest.raises(ValueError, match=f"X has {len(y)} examples but y has {len(y) - 1}"):
        class_incremental(X, y[:-1])
    with pytest.raises(ValueError, match="integer class labels"):
        class_incremental(X, y.astype(float))


def test_recurring_visits_are_disjoint(data) -> None:
    X, y = data
    schedule = [(0, 1), (2, 3), (1, 0), (4,), 2]
    s = recurring(X, y, schedule, seed=0, batch_size=8)
    check_structure(s, 8)
    assert s.groups == [(0, 1), (2, 3), (0, 1), (4,), (2,)]
    visits = []
    start = 0
    for g, end in enumerate(s.boundaries):
        idx = np.concatenate([s.batch_indices(i) for i in range(start, end + 1)])
        assert set(y[idx].tolist()) == set(s.groups[g])
        visits.append(idx)
        start = end + 1
    everything = np.concatenate(visits)
    assert len(np.unique(everything)) == len(everything)  # no example in two visits
    # Classes 0..4 are used completely and split evenly; classes 5..9 are left out.
    np.testing.assert_array_equal(np.sort(everything), np.flatnonzero(y <= 4))
    n0 = [np.sum(y[v] == 0) for v in (visits[0], visits[2])]
    assert abs(n0[0] - n0[1]) <= 1


def test_recurring_samples_per_visit(data) -> None:
    X, y = data
    s = recurring(X, y, [(0, 1), (0, 1), (0, 1)], samples_per_visit=3, batch_size=4)
    idx = all_indices(s)
    assert len(idx) == 3 * 2 * 3 and len(np.unique(idx)) == len(idx)
    np.testing.assert_array_equal(
        all_indices(recurring(X, y, [(0, 1), (0, 1)], seed=5)),
        all_indices(recurring(X, y, [(0, 1), (0, 1)], seed=5)),
    )


def test_recurring_bad_args(data) -> None:
    X, y = data
    with pytest.raises(ValueError, match="schedule is empty"):
        recurring(X, y, [])
    with pytest.raises(ValueError, match=r"schedule\[1\] names classes \[42\]"):
        recurring(X, y, [(0,), (42,)])
    with pytest.raises(ValueError, match="lists a class twice"):
        recurring(X, y, [(0, 0)])
    with pytest.raises(ValueError, match="class 0 has 20 examples but is visited 21 times"):
        recurring(X, y, [(0,)] * 21)
    with pytest.raises(ValueError, match="samples_per_visit must be >= 1, got 0"):
        recurring(X, y, [(0,)], samples_per_visit=0)


def test_permuted(data) -> None:
    X, y = data
    s = permuted(X, y, n_tasks=3, seed=0, batch_size=32)
    check_structure(s, 32)
    assert len(s.permutations) == 3
    np.testing.assert_array_equal(s.permutations[0], np.arange(16))
    assert not np.array_equal(s.permutations[1], s.permutations[2])
    assert all(g == tuple(range(10)) for g in s.groups)
    start = 0
    for task, end in enumerate(s.boundaries):
        idx = np.concatenate([s.batch_indices(i) for i in range(start, end + 1)])
        np.testing.assert_array_equal(np.sort(idx), np.arange(len(y)))  # whole set per task
        start = end + 1
    for i, (xb, yb) in enumerate(s):
        idx = s.batch_indices(i)
        perm = s.permutations[s.group_of_batch(i)]
        np.testing.assert_array_equal(xb, apply_permutation(X[idx], perm).astype(np.float32))
        np.testing.assert_array_equal(yb, y[idx])
        if s.group_of_batch(i) == 0:
            np.testing.assert_array_equal(xb, X[idx].astype(np.float32))


def test_apply_permutation() -> None:
    X = np.arange(2 * 2 * 3).reshape(2, 2, 3)
    perm = np.array([5, 4, 3, 2, 1, 0])
    out = apply_permutation(X, perm)
    assert out.shape == X.shape
    np.testing.assert_array_equal(out[0].ravel(), [5, 4, 3, 2, 1, 0])
    with pytest.raises(ValueError, match="permutation of 0..5"):
        apply_permutation(X, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="permutation of 0..5"):
        apply_permutation(X, np.array([0, 0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match="n_tasks must be >= 1"):
        permuted(X, np.zeros(2, dtype=int), n_tasks=0)


def test_blurred(data) -> None:
    X, y = data
    s = blurred(X, y, n_groups=5, overlap=0.2, seed=2, batch_size=10)
    check_structure(s, 10)
    np.testing.assert_array_equal(np.sort(all_indices(s)), np.arange(len(y)))
    assert s.groups == class_incremental(X, y, n_groups=5, seed=2).groups
    start = 0
    foreign_total = 0
    for g, end in enumerate(s.boundaries):
        labels = y[np.concatenate([s.batch_indices(i) for i in range(start, end + 1)])]
        allowed = set(s.groups[g])
        neighbours = set()
        if g > 0:
            neighbours |= set(s.groups[g - 1])
        if g < 4:
            neighbours |= set(s.groups[g + 1])
        assert set(labels.tolist()) <= allowed | neighbours
        own = np.isin(labels, list(allowed)).sum()
        assert own > 0.7 * len(labels)  # the stretch is still dominated by its group
        foreign_total += len(labels) - own
        start = end + 1
    assert foreign_total > 0
    # overlap=0 gives the plain class-incremental membership.
    s0 = blurred(X, y, n_groups=5, overlap=0.0, seed=2, batch_size=10)
    for i in range(s0.n_batches):
        assert set(y[s0.batch_indices(i)].tolist()) <= set(s0.groups[s0.group_of_batch(i)])


def test_blurred_bad_args(data) -> None:
    X, y = data
    with pytest.raises(ValueError, match="0 <= overlap < 1, got 1.0"):
        blurred(X, y, overlap=1.0)
    with pytest.raises(ValueError, match="overlap"):
        blurred(X, y, overlap=-0.1)
    with pytest.raises(ValueError, match="batch_size"):
        blurred(X, y, batch_size=-1)
