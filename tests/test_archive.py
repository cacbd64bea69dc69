import sqlite3

import numpy as np
import pytest

from riscmoe.archive import Archive, ArchiveFormatError


def test_budget_evicts_lowest_importance_from_largest_label():
    a = Archive(dim=3, max_records=6)
    a.add(np.zeros((4, 3), np.float32), "sample", labels=0, importance=[1.0, 1.1, 1.2, 1.3])
    a.add(np.ones((2, 3), np.float32), "mistake", labels=1, importance=2.0)
    a.add(np.full((2, 3), 2, np.float32), "unexplained", labels=2, importance=4.0)
    assert len(a) == 6
    # Label 0 held the most records: its two least important ones went.
    _, labels, _ = a.get(a.ids(label=0))
    assert a.count(label=0) == 2 and a.count(label=2) == 2
    assert a.count(kind="unexplained") == 2


def _greedy_survivors(labels, importance, capacity):
    """The eviction rule, one record at a time: the label holding the most records (the
    smallest on a tie) gives up its least important record (the earliest on a tie)."""
    alive = np.ones(len(labels), bool)
    for _ in range(len(labels) - capacity):
        values, counts = np.unique(labels[alive], return_counts=True)
        cand = np.flatnonzero(alive & (labels == values[np.argmax(counts)]))
        alive[cand[np.argmin(importance[cand])]] = False
    return np.flatnonzero(alive)


@pytest.mark.parametrize("seed", range(5))
def test_eviction_follows_the_rule_record_by_record(seed):
    rng = np.random.default_rng(seed)
    a = Archive(dim=2, max_records=40)
    labels_of, importance_of = {}, {}  # by record id
    for batch in range(6):  # several batches, most of them over budget once added
        n = 30 if batch == 0 else int(rng.integers(5, 30))
        labels = rng.integers(0, 5, n)
        importance = rng.choice([1.0, 1.5, 2.0], n) + (rng.random(n) < 0.5) * rng.random(n)  # ties too
        before = a.ids()
        new = a.add(rng.random((n, 2)).astype(np.float32), "sample", labels=labels, importance=importance)
        if batch == 0:  # under budget: every record kept, and ids are consecutive
            assert len(new) == n and np.all(np.diff(new) == 1)
            first = int(new[0])
        else:
            first = max(labels_of) + 1
        for j in range(n):
            labels_of[first + j], importance_of[first + j] = int(labels[j]), float(importance[j])
        candidates = np.concatenate([before, np.arange(first, first + n)])
        lab = np.array([labels_of[i] for i in candidates])
        imp = np.array([importance_of[i] for i in candidates])
        expected = candidates[_greedy_survivors(lab, imp, 40)] if len(candidates) > 40 else candidates
        np.testing.assert_array_equal(np.sort(a.ids()), np.sort(expected))


def test_byte_budget():
    a = Archive(dim=10, max_records=None, max_bytes=40 * 5)
    a.add(np.zeros((9, 10), np.float32), "sample", labels=np.arange(9) % 3)
    assert len(a) == 5


def test_persist_reopen_and_version_check(tmp_path):
    a = Archive(dim=2, max_records=10)
    a.add(np.array([[1, 2], [3, 4]], np.float32), "close_call", labels=[5, 6], members=[0, 1])
    a.commit()
    a.save_to(tmp_path / "a.sqlite")
    b = Archive.open(tmp_path / "a.sqlite", dim=2, max_records=10, max_bytes=None)
    X, labels, members = b.get(b.ids())
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert labels.tolist() == [5, 6] and members.tolist() == [0, 1]
    con = sqlite3.connect(tmp_path / "a.sqlite")
    con.execute("UPDATE info SET value = '7' WHERE key = 'format_version'")
    con.commit()
    con.close()
    with pytest.raises(ArchiveFormatError, match="version 7"):
        Archive.open(tmp_path / "a.sqlite", dim=2, max_records=10, max_bytes=None)
    (tmp_path / "x.sqlite").write_bytes(b"hello")
    with pytest.raises(ArchiveFormatError, match="not an SQLite"):
        Archive.open(tmp_path / "x.sqlite", dim=2, max_records=10, max_bytes=None)


def test_rollback_restores_committed_state():
    a = Archive(dim=2, max_records=10)
    a.add(np.zeros((2, 2), np.float32), "sample", labels=0)
    a.commit()
    a.add(np.ones((3, 2), np.float32), "sample", labels=1)
    a.rollback()
    assert len(a) == 2 and a.count(label=1) == 0


def test_features_cached_and_kept_aligned():
    calls = []
    def feat(X):
        calls.append(len(X))
        return X * 2
    a = Archive(dim=2, max_records=3, featurizer=feat)
    ids = a.add(np.array([[1, 1], [2, 2]], np.float32), "sample", labels=[0, 1])
    np.testing.assert_array_equal(a.get_features(ids), [[2, 2], [4, 4]])
    a.add(np.array([[3, 3], [4, 4]], np.float32), "sample", labels=[0, 1], importance=[0.5, 3.0])
    X, _, _ = a.get(a.ids())
    np.testing.assert_array_equal(a.get_features(a.ids()), X * 2)


def test_features_of_an_empty_archive():
    a = Archive(dim=2, featurizer=lambda X: np.concatenate([X, X], 1))
    assert a.get_features(np.zeros(0, np.int64)).shape == (0, 4)
    ids = a.add(np.ones((1, 2), np.float32), "sample", labels=0)
    np.testing.assert_array_equal(a.get_features(ids), [[1, 1, 1, 1]])


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_records"):
        Archive(dim=2, max_records=0)
    a = Archive(dim=2)
    with pytest.raises(ValueError, match="kind"):
        a.add(np.zeros((1, 2), np.float32), "whatever", labels=0)
    with pytest.raises(ValueError, match="size"):
        a.add(np.zeros((1, 3), np.float32), "sample", labels=0)


def test_one_kind_per_record_and_bad_kinds_change_nothing():
    a = Archive(dim=2)
    ids = a.add(np.zeros((3, 2), np.float32), ["sample", "mistake", "sample"], labels=[1, 2, 1])
    assert a.count(kind="sample") == 2 and a.count(kind="mistake") == 1 and len(ids) == 3
    with pytest.raises(ValueError, match="kind 'oops'"):
        a.add(np.ones((2, 2), np.float32), ["sample", "oops"], labels=[1, 1])
    with pytest.raises(ValueError, match="2 kinds for 3 inputs"):
        a.add(np.ones((3, 2), np.float32), ["sample", "mistake"], labels=[1, 1, 1])
    assert len(a) == 3 and a.count(kind="sample") == 2 and a.count(kind="mistake") == 1


def test_features_given_by_the_caller_are_stored_not_recomputed():
    calls = []

    def feat(X):
        calls.append(len(X))
        return X * 2

    a = Archive(dim=2, max_records=10, featurizer=feat)
    first = a.add(np.array([[1, 1]], np.float32), "sample", labels=[0])
    np.testing.assert_array_equal(a.get_features(first), [[2, 2]])  # first use computes the cache
    n_calls = len(calls)
    # Features unlike the featurizer's show which ones were kept.
    ids = a.add(np.array([[2, 2], [3, 3]], np.float32), "sample", labels=[0, 1], features=np.array([[7, 7], [9, 9]], np.float32))
    assert len(calls) == n_calls
    np.testing.assert_array_equal(a.get_features(ids), [[7, 7], [9, 9]])
    # Features of the wrong count or width are refused before anything is stored.
    with pytest.raises(ValueError, match="features of shape"):
        a.add(np.zeros((2, 2), np.float32), "sample", labels=[0, 1], features=np.zeros((3, 2), np.float32))
    with pytest.raises(ValueError, match="features of shape"):
        a.add(np.zeros((2, 2), np.float32), "sample", labels=[0, 1], features=np.zeros((2, 5), np.float32))
    assert len(a) == 3


def test_eviction_is_the_injected_policys_choice():
    from riscmoe.archive import Archive

    class Oldest:
        def importance(self, kinds, rng):
            return np.ones(len(kinds))

        def evict(self, labels, importance, n):
            return np.arange(n)

    a = Archive(dim=2, max_records=5, policy=Oldest())
    ids = a.add(np.zeros((8, 2), np.float32), "sample", labels=[0, 0, 0, 0, 0, 1, 1, 1])
    assert a.ids().tolist() == list(range(4, 9)) and ids.tolist() == [4, 5, 6, 7, 8]

    class Careless(Oldest):
        def evict(self, labels, importance, n):
            return np.zeros(n, np.int64)  # the same record n times

    with pytest.raises(RuntimeError, match="distinct positions"):
        Archive(dim=2, max_records=2, policy=Careless()).add(np.zeros((4, 2), np.float32), "sample", labels=[0] * 4)


def test_an_archive_pickles_with_its_records_and_opens_its_connection_lazily():
    import copy
    import pickle

    from riscmoe.archive import Archive

    a = Archive(dim=3, max_records=10)
    a.add(np.arange(12, dtype=np.float32).reshape(4, 3), "mistake", labels=[1, 1, 2, 2], members=[0, 0, 1, 1], step=7)
    a.commit()
    a.add(np.ones((1, 3), np.float32), "sample", labels=[5])  # not committed yet: a copy takes it as the archive is now
    for b in (pickle.loads(pickle.dumps(a)), copy.deepcopy(a)):
        assert b._db is None  # no connection until one is needed
        np.testing.assert_array_equal(b.ids(), a.ids())
        np.testing.assert_array_equal(b.get(b.ids())[0], a.get(a.ids())[0])
        b.add(np.zeros((1, 3), np.float32), "unexplained", labels=[9])
        b.commit()
        assert b.count(kind="unexplained") == 1 and a.count(kind="unexplained") == 0
        assert b._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 6


def test_the_reserve_keeps_each_labels_unexplained_inputs_until_nothing_else_can_go():
    """30 labels' samples fill the archive; a 31st label's unexplained inputs must still reach min_examples."""
    def fill(reserve):
        a = Archive(dim=2, max_records=300, reserve=reserve)
        for label in range(30):
            a.add(np.full((10, 2), label, np.float32), "sample", [label] * 10, label, importance=1.0)
        for batch in range(8):  # the new label arrives 5 at a time, beside more samples of the old ones
            a.add(np.zeros((5, 2), np.float32), "unexplained", [99] * 5, importance=4.0 + 0.01 * batch)
            a.add(np.ones((30, 2), np.float32), "sample", list(range(30)), list(range(30)), importance=1.0)
        return a

    assert fill(0).count(kind="unexplained", label=99) < 32  # a share per label: about 300 / 31
    kept = fill(32)
    assert kept.count(kind="unexplained", label=99) >= 32 and len(kept) == 300  # 32 reserved, the rest at par
    # The reserve is per label and kind: the samples were balanced among the old labels as before.
    counts = [kept.count(label=label) for label in range(30)]
    assert max(counts) - min(counts) <= 1


def test_a_reserve_over_the_capacity_is_evicted_by_the_policy_among_the_reserved():
    a = Archive(dim=1, max_records=10, reserve=8)
    a.add(np.zeros((8, 1), np.float32), "unexplained", [1] * 8, importance=np.arange(8) + 4.0)
    a.add(np.zeros((8, 1), np.float32), "unexplained", [2] * 8, importance=np.arange(8) + 4.0)
    assert len(a) == 10 and a.count(label=1) == 5 and a.count(label=2) == 5  # balanced among the reserved
    assert a.reserved().sum() == 10


def test_a_bad_reserve_is_refused():
    for bad in (-1, 1.5, True, "32"):
        with pytest.raises(ValueError, match="reserve must be a count"):
            Archive(dim=1, reserve=bad)
