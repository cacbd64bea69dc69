"""The streams of the suite: how each is built, and the test sets it is scored on.

A spec names a data set and a scenario. ``build(spec, seed)`` returns the training stream
(batches only; the learner never sees boundaries) and the evaluation sets: one per group
of the stream, in order of first appearance, so that accuracy after each stage on each
group makes the accuracy matrix. Every system in a run gets exactly these arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from riscmoe.datasets import load_dataset
from riscmoe.datasets.streams import Stream, apply_permutation, blurred, class_incremental, permuted, recurring


@dataclass(frozen=True)
class StreamSpec:
    """One stream of the suite.

    name: short name used in tables and file names.
    dataset: ``mnist``, ``fashion-mnist`` or ``digits``.
    scenario: ``class-incremental``, ``blurred``, ``recurring`` or ``permuted``.
    groups: class groups (class-incremental, blurred, recurring) or tasks (permuted).
    batch_size: examples per batch.
    train_limit: use only the first n training examples (None: all).
    options: scenario-specific settings (``overlap`` for blurred).
    """

    name: str
    dataset: str
    scenario: str
    groups: int = 5
    batch_size: int = 64
    train_limit: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Built:
    """A stream ready to run: training stream, evaluation sets and their names."""

    spec: StreamSpec
    stream: Stream
    eval_sets: list[tuple[str, np.ndarray, np.ndarray]]  # (name, X, y) per group
    input_shape: tuple[int, ...]


def build(spec: StreamSpec, seed: int, data_dir: str | None = None) -> Built:
    """Build the stream of ``spec`` with ``seed`` (class order, example order, permutations)."""
    ds = load_dataset(spec.dataset, data_dir=data_dir)
    X_tr, y_tr = ds.X_train, ds.y_train
    if spec.train_limit:
        X_tr, y_tr = X_tr[: spec.train_limit], y_tr[: spec.train_limit]
    X_te, y_te = ds.X_test, ds.y_test
    if spec.scenario == "class-incremental":
        stream = class_incremental(X_tr, y_tr, n_groups=spec.groups, seed=seed, batch_size=spec.batch_size)
    elif spec.scenario == "blurred":
        stream = blurred(X_tr, y_tr, n_groups=spec.groups, overlap=spec.options.get("overlap", 0.2), seed=seed, batch_size=spec.batch_size)
    elif spec.scenario == "recurring":
        order = np.random.default_rng(seed).permutation(np.unique(y_tr))
        groups = [tuple(int(c) for c in g) for g in np.array_split(order, spec.groups)]
        schedule = groups + groups[: max(1, len(groups) // 2)]
        stream = recurring(X_tr, y_tr, schedule, seed=seed, batch_size=spec.batch_size)
    elif spec.scenario == "permuted":
        stream = permuted(X_tr, y_tr, n_tasks=spec.groups, seed=seed, batch_size=spec.batch_size)
        assert stream.permutations is not None
        eval_sets = [(f"task {t}", apply_permutation(X_te, p), y_te) for t, p in enumerate(stream.permutations)]
        return Built(spec, stream, eval_sets, tuple(X_tr.shape[1:]))
    else:
        raise ValueError(f"unknown scenario {spec.scenario!r}")
    eval_sets = []
    seen: set[tuple[int, ...]] = set()
    for g in stream.groups:
        if g in seen:
            continue
        seen.add(g)
        mask = np.isin(y_te, g)
        eval_sets.append(("classes " + ",".join(map(str, g)), X_te[mask], y_te[mask]))
    return Built(spec, stream, eval_sets, tuple(X_tr.shape[1:]))


def stage_eval_index(built: Built) -> list[int]:
    """For each stage (group of the stream, in order), the evaluation set it trains on."""
    if built.spec.scenario == "permuted":
        return list(range(len(built.stream.groups)))
    names = [name for name, _, _ in built.eval_sets]
    return [names.index("classes " + ",".join(map(str, g))) for g in built.stream.groups]


# riscmoe's routing policies as the suite scores them, `best` (the default) first.
RISC_POLICIES = ("best", "first", "mixture")

STANDARD = [
    StreamSpec("split-mnist", "mnist", "class-incremental"),
    StreamSpec("split-fashion", "fashion-mnist", "class-incremental"),
    # The harder streams pass over fewer images so that each runs on two seeds and the
    # whole suite stays under 30 minutes on 2 cores; every system gets the same images.
    StreamSpec("mnist-10x1", "mnist", "class-incremental", groups=10, train_limit=20_000),
    StreamSpec("mnist-blurred", "mnist", "blurred", train_limit=20_000, options={"overlap": 0.2}),
    StreamSpec("mnist-recurring", "mnist", "recurring", train_limit=20_000),
    StreamSpec("mnist-batch1", "mnist", "class-incremental", batch_size=1, train_limit=10_000),
    StreamSpec("permuted-mnist", "mnist", "permuted", groups=3, train_limit=20_000),
]
QUICK = [
    StreamSpec("split-digits", "digits", "class-incremental", batch_size=32),
    StreamSpec("permuted-digits", "digits", "permuted", groups=2, batch_size=32),
]
SUITES = {"standard": STANDARD, "quick": QUICK}
