"""Continual-learning streams: batches that do not reveal where tasks change.

A :class:`Stream` yields ``(X_batch, y_batch)`` pairs only. Where the groups
(experiences) begin and end is kept on the stream object (``groups``,
``boundaries``) for the evaluator; a learner that just iterates never sees it.
Streams hold index arrays into the caller's ``X``/``y``, never per-group copies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

Group = tuple[int, ...]


class Stream:
    """An iterable of ``(X_batch, y_batch)`` pairs with evaluator-only group metadata.

    Build one with :func:`class_incremental`, :func:`recurring`,
    :func:`permuted` or :func:`blurred` rather than directly.

    Args:
        X: inputs, shape (n, ...); kept by reference, not copied.
        y: int64 labels, shape (n,).
        segments: one index array into X per group, in stream order; batches
            never cross segments.
        groups: class labels of each group, one tuple per segment.
        batch_size: largest batch size; the last batch of a segment may be smaller.
        permutations: for permuted streams, the pixel permutation of each task.
        segment_perm: for permuted streams, which permutation each segment uses.

    Attributes:
        groups: list of class-label tuples, one per group, in stream order.
        boundaries: index of the last batch of each group.
        n_batches: number of batches (also ``len(stream)``).
        n_examples: number of examples over the whole stream.
        batch_size: the batch size the stream was built with.
        permutations: list of index arrays over the flattened input for
            :func:`permuted` streams (task 0 is the identity), else None.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        segments: Sequence[np.ndarray],
        groups: Sequence[Group],
        batch_size: int,
        permutations: list[np.ndarray] | None = None,
        segment_perm: Sequence[int] | None = None,
    ) -> None:
        if len(segments) != len(groups):
            raise ValueError(f"got {len(segments)} segments but {len(groups)} groups; they must match")
        if any(len(s) == 0 for s in segments):
            raise ValueError("every group needs at least one example; an empty group was requested")
        self._X = X
        self._y = y
        self.batch_size = batch_size
        self.groups: list[Group] = [tuple(g) for g in groups]
        self.permutations = permutations
        starts: list[int] = []
        batch_segment: list[int] = []
        self.boundaries: list[int] = []
        offset = 0
        for seg_id, seg in enumerate(segments):
            n = len(seg)
            seg_starts = range(offset, offset + n, batch_size)
            starts.extend(seg_starts)
            batch_segment.extend([seg_id] * len(seg_starts))
            self.boundaries.append(len(starts) - 1)
            offset += n
        # One flat index array for the whole stream keeps memory at 8 bytes per example.
        self._order = np.concatenate([np.asarray(s, dtype=np.int64) for s in segments])
        self._starts = np.asarray(starts + [offset], dtype=np.int64)
        self._batch_segment = np.asarray(batch_segment, dtype=np.int64)
        self._segment_perm = None if segment_perm is None else np.asarray(segment_perm, dtype=np.int64)
        self._ends = np.asarray(self.boundaries, dtype=np.int64)

    @property
    def n_batches(self) -> int:
        """Number of batches in the stream."""
        return len(self._starts) - 1

    @property
    def n_examples(self) -> int:
        """Number of examples over the whole stream."""
        return len(self._order)

    def __len__(self) -> int:
        return self.n_batches

    def _check_batch(self, i: int) -> int:
        """Validate a batch index and return it as int.

        Args:
            i: batch index, 0 <= i < n_batches.
        """
        if not 0 <= i < self.n_batches:
            raise IndexError(f"batch index {i} out of range; the stream has {self.n_batches} batches")
        return int(i)

    def batch_indices(self, i: int) -> np.ndarray:
        """Return the indices into the source X/y of batch ``i`` (for evaluation and tests).

        Args:
            i: batch index.
        """
        i = self._check_batch(i)
        return self._order[self._starts[i] : self._starts[i + 1]]

    def group_of_batch(self, i: int) -> int:
        """Return the index into ``groups`` of the group batch ``i`` belongs to.

        Args:
            i: batch index.
        """
        i = self._check_batch(i)
        return int(np.searchsorted(self._ends, i, side="left"))

    def _batch(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Materialise batch ``i`` as (float32 X, int64 y).

        Args:
            i: batch index.
        """
        idx = self.batch_indices(i)
        xb = np.asarray(self._X[idx], dtype=np.float32)
        if self._segment_perm is not None and self.permutations is not None:
            perm = self.permutations[self._segment_perm[self._batch_segment[i]]]
            xb = xb.reshape(len(idx), -1)[:, perm].reshape(xb.shape)
        return xb, self._y[idx]

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for i in range(self.n_batches):
            yield self._batch(i)

    def __repr__(self) -> str:
        kind = "permuted " if self.permutations is not None else ""
        return (
            f"<{kind}Stream: {self.n_examples} examples in {self.n_batches} batches "
            f"of <= {self.batch_size}, {len(self.groups)} groups>"
        )


def _check_int(name: str, value: object, minimum: int) -> int:
    """Check that ``value`` is an integer >= ``minimum`` and return it.

    Args:
        name: argument name for the message.
        value: the value given.
        minimum: smallest allowed value.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_xy(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check that X and y describe the same non-empty set of labelled examples.

    Args:
        X: inputs, shape (n, ...).
        y: integer labels, shape (n,).

    Returns:
        (X as an array, y as int64).
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim < 1:
        raise ValueError(f"X must have one row per example, got a scalar of shape {X.shape}")
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D (one label per example), got shape {y.shape}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} examples but y has {len(y)} labels; they must match")
    if len(y) == 0:
        raise ValueError("X and y are empty; a stream needs at least one example")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}; convert with y.astype(int)")
    return X, y.astype(np.int64, copy=False)


def _indices_by_class(y: np.ndarray) -> dict[int, np.ndarray]:
    """Map each label to the (sorted) indices of its examples.

    Args:
        y: int64 labels.
    """
    order = np.argsort(y, kind="stable")
    labels, starts = np.unique(y[order], return_index=True)
    ends = list(starts[1:]) + [len(y)]
    return {int(c): order[s:e] for c, s, e in zip(labels, starts, ends)}


def _class_groups(classes: list[int], n_groups: int, rng: np.random.Generator) -> list[Group]:
    """Shuffle the classes and cut them into equal consecutive groups.

    Args:
        classes: sorted unique labels.
        n_groups: number of groups; must divide len(classes).
        rng: source of the class order.
    """
    if len(classes) % n_groups:
        divisors = [d for d in range(1, len(classes) + 1) if len(classes) % d == 0]
        raise ValueError(
            f"n_groups={n_groups} does not divide the {len(classes)} classes into equal groups; "
            f"use one of {divisors}"
        )
    order = [int(c) for c in rng.permutation(np.asarray(classes))]
    k = len(classes) // n_groups
    return [tuple(sorted(order[g * k : (g + 1) * k])) for g in range(n_groups)]


def class_incremental(
    X: np.ndarray,
    y: np.ndarray,
    n_groups: int = 5,
    seed: int = 0,
    batch_size: int = 64,
    shuffle_within: bool = True,
) -> Stream:
    """Build a class-incremental stream: disjoint class groups, one after another.

    Args:
        X: inputs, shape (n, ...).
        y: integer labels, shape (n,).
        n_groups: number of groups; must divide the number of distinct labels.
        seed: seeds the class order (a permutation of the sorted labels) and
            the shuffling within groups.
        batch_size: examples per batch; a group's last batch may be smaller.
        shuffle_within: shuffle the examples of each group; if False they keep
            their order in X.

    Returns:
        A :class:`Stream` in which each example appears exactly once and no
        batch mixes two groups.
    """
    X, y = _check_xy(X, y)
    n_groups = _check_int("n_groups", n_groups, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    rng = np.random.default_rng(seed)
    by_class = _indices_by_class(y)
    groups = _class_groups(sorted(by_class), n_groups, rng)
    segments = []
    for group in groups:
        idx = np.sort(np.concatenate([by_class[c] for c in group]))
        segments.append(rng.permutation(idx) if shuffle_within else idx)
    return Stream(X, y, segments, groups, batch_size)


def _normalise_schedule(schedule: Sequence[Sequence[int] | int], present: set[int]) -> list[Group]:
    """Turn a schedule into sorted int tuples and check it.

    Args:
        schedule: list of class groups; a bare int stands for a one-class group.
        present: labels that occur in y.
    """
    if len(schedule) == 0:
        raise ValueError("schedule is empty; give at least one class group, e.g. [(0, 1), (2, 3)]")
    groups: list[Group] = []
    for pos, raw in enumerate(schedule):
        items = [raw] if isinstance(raw, (int, np.integer)) else list(raw)
        group = tuple(sorted(int(c) for c in items))
        if not group:
            raise ValueError(f"schedule[{pos}] is empty; every visit needs at least one class")
        if len(set(group)) != len(group):
            raise ValueError(f"schedule[{pos}]={tuple(items)} lists a class twice")
        absent = [c for c in group if c not in present]
        if absent:
            raise ValueError(
                f"schedule[{pos}] names classes {absent} that do not occur in y "
                f"(labels present: {sorted(present)})"
            )
        groups.append(group)
    return groups


def recurring(
    X: np.ndarray,
    y: np.ndarray,
    schedule: Sequence[Sequence[int] | int],
    seed: int = 0,
    batch_size: int = 64,
    samples_per_visit: int | None = None,
) -> Stream:
    """Build a stream whose class groups may come back, each visit with fresh examples.

    Args:
        X: inputs, shape (n, ...).
        y: integer labels, shape (n,).
        schedule: class groups in visiting order, e.g. [(0, 1), (2, 3), (0, 1)];
            a class may appear in several visits. Classes not in the schedule
            are left out.
        seed: seeds which examples go to which visit and the order within visits.
        batch_size: examples per batch; a visit's last batch may be smaller.
        samples_per_visit: cap on examples per class per visit; by default a
            class's examples are split evenly over its visits.

    Returns:
        A :class:`Stream` with one group per visit; visits never share an example.
    """
    X, y = _check_xy(X, y)
    batch_size = _check_int("batch_size", batch_size, 1)
    if samples_per_visit is not None:
        samples_per_visit = _check_int("samples_per_visit", samples_per_visit, 1)
    by_class = _indices_by_class(y)
    groups = _normalise_schedule(schedule, set(by_class))
    visits: dict[int, int] = {}
    for group in groups:
        for c in group:
            visits[c] = visits.get(c, 0) + 1
    rng = np.random.default_rng(seed)
    shares: dict[int, list[np.ndarray]] = {}
    for c in sorted(visits):
        if len(by_class[c]) < visits[c]:
            raise ValueError(
                f"class {c} has {len(by_class[c])} examples but is visited {visits[c]} times; "
                "each visit needs at least one example - visit it less often"
            )
        # Disjoint shares: shuffle once, then cut into one piece per visit.
        parts = np.array_split(rng.permutation(by_class[c]), visits[c])
        if samples_per_visit is not None:
            parts = [p[:samples_per_visit] for p in parts]
        shares[c] = parts
    used = {c: 0 for c in visits}
    segments = []
    for group in groups:
        pieces = []
        for c in group:
            pieces.append(shares[c][used[c]])
            used[c] += 1
        segments.append(rng.permutation(np.concatenate(pieces)))
    return Stream(X, y, segments, groups, batch_size)


def apply_permutation(X: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """Apply a pixel permutation (as used by :func:`permuted`) to every example of X.

    Args:
        X: inputs, shape (n, ...); the trailing axes are flattened for permuting.
        perm: index array over the flattened input, length prod(X.shape[1:]).

    Returns:
        A new array of X's shape and dtype with ``out[i].flat[j] == X[i].flat[perm[j]]``.
    """
    X = np.asarray(X)
    perm = np.asarray(perm)
    if X.ndim < 2:
        raise ValueError(f"X must have shape (n, features...), got {X.shape}")
    n_features = int(np.prod(X.shape[1:]))
    if perm.shape != (n_features,) or not np.array_equal(np.sort(perm), np.arange(n_features)):
        raise ValueError(
            f"perm must be a permutation of 0..{n_features - 1} (one entry per input feature), "
            f"got an array of shape {perm.shape}"
        )
    return X.reshape(len(X), -1)[:, perm].reshape(X.shape)


def permuted(
    X: np.ndarray,
    y: np.ndarray,
    n_tasks: int,
    seed: int = 0,
    batch_size: int = 64,
) -> Stream:
    """Build a permuted-input stream: each task is the whole set under a new pixel permutation.

    Args:
        X: inputs, shape (n, features...), at least 2-D.
        y: integer labels, shape (n,); labels are the same in every task.
        n_tasks: number of tasks; task 0 uses the identity permutation.
        seed: seeds the permutations and the example order within each task.
        batch_size: examples per batch; a task's last batch may be smaller.

    Returns:
        A :class:`Stream` whose ``permutations`` attribute lists the
        permutation of each task; use :func:`apply_permutation` to build the
        matching test sets.
    """
    X, y = _check_xy(X, y)
    if X.ndim < 2:
        raise ValueError(f"X must have shape (n, features...) to permute features, got {X.shape}")
    n_tasks = _check_int("n_tasks", n_tasks, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    rng = np.random.default_rng(seed)
    n_features = int(np.prod(X.shape[1:]))
    perms = [np.arange(n_features)] + [rng.permutation(n_features) for _ in range(n_tasks - 1)]
    all_classes = tuple(int(c) for c in np.unique(y))
    segments = [rng.permutation(len(y)) for _ in range(n_tasks)]
    return Stream(
        X, y, segments, [all_classes] * n_tasks, batch_size,
        permutations=perms, segment_perm=list(range(n_tasks)),
    )


def blurred(
    X: np.ndarray,
    y: np.ndarray,
    n_groups: int = 5,
    overlap: float = 0.2,
    seed: int = 0,
    batch_size: int = 64,
) -> Stream:
    """Build a class-incremental stream whose neighbouring groups overlap in time.

    A fraction ``overlap`` of each group's examples is moved into the stretch
    of a neighbouring group (split between both neighbours for inner groups):
    examples moved forward appear early in the next stretch, examples moved
    back appear late in the previous one, so the change blurs around the
    boundary.

    Args:
        X: inputs, shape (n, ...).
        y: integer labels, shape (n,).
        n_groups: number of groups; must divide the number of distinct labels.
        overlap: fraction of each group moved to neighbours, 0 <= overlap < 1.
        seed: seeds the class order (same groups as :func:`class_incremental`
            with the same seed), the moved examples and the order.
        batch_size: examples per batch; batches never cross stretches.

    Returns:
        A :class:`Stream`; ``groups[g]`` are the classes that dominate stretch
        g and ``boundaries[g]`` is the stretch's last batch. Every example
        appears once.
    """
    X, y = _check_xy(X, y)
    n_groups = _check_int("n_groups", n_groups, 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    is_number = isinstance(overlap, (int, float, np.floating)) and not isinstance(overlap, bool)
    if not is_number or not 0 <= overlap < 1:
        raise ValueError(f"overlap must be a fraction with 0 <= overlap < 1, got {overlap!r}")
    rng = np.random.default_rng(seed)
    by_class = _indices_by_class(y)
    groups = _class_groups(sorted(by_class), n_groups, rng)
    own: list[np.ndarray] = []
    from_prev: list[list[np.ndarray]] = [[] for _ in groups]  # lingering examples of group g-1
    from_next: list[list[np.ndarray]] = [[] for _ in groups]  # early examples of group g+1
    for g, group in enumerate(groups):
        idx = rng.permutation(np.concatenate([by_class[c] for c in group]))
        # floor keeps at least one example in its own stretch since overlap < 1.
        k = int(np.floor(overlap * len(idx))) if n_groups > 1 else 0
        moved, own_part = idx[:k], idx[k:]
        own.append(own_part)
        if g == 0:
            back, forward = moved[:0], moved
        elif g == n_groups - 1:
            back, forward = moved, moved[:0]
        else:
            back, forward = moved[: k // 2], moved[k // 2 :]
        if len(back):
            from_next[g - 1].append(back)
        if len(forward):
            from_prev[g + 1].append(forward)
    segments = []
    for g in range(n_groups):
        parts = [own[g]] + from_prev[g] + from_next[g]
        idx = np.concatenate(parts)
        n_prev = sum(len(p) for p in from_prev[g])
        n_next = sum(len(p) for p in from_next[g])
        # Sort by a random time key: own examples anywhere, lingering ones in
        # the first half, early arrivals in the second half.
        key = np.concatenate([
            rng.random(len(own[g])),
            rng.random(n_prev) * 0.5,
            0.5 + rng.random(n_next) * 0.5,
        ])
        segments.append(idx[np.argsort(key, kind="stable")])
    return Stream(X, y, segments, groups, batch_size)
