import sys

import numpy as np
import pytest
from sklearn.datasets import load_digits

# Imported first so that it measures the machine's load over the collection's imports.
from riscmoe import threads


def pytest_collection_finish(session):
    """Choose the math threads for the tests run in this process, as riscmoe does for its users.

    Many tests call torch through riscmoe's parts (meta-models, encoders) rather than
    RiscClassifier, which would choose on first use; with torch's default of one thread per
    core the suite took 512 s instead of 75 s on a 2-core machine with one other busy
    process (issue 15, finding 12). Child processes (the command line) choose their own.
    RISCMOE_THREADS / OMP_NUM_THREADS pin it, as everywhere.
    """
    if "torch" in sys.modules:  # a run of torch-free tests (tests/functions) does not pay for it
        threads.configure()


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits as (n, 8, 8) floats in [0, 1], split 1347 / 450."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 8, 8).astype(np.float32)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(X))
    X, y = X[idx], y[idx]
    return X[:1347], y[:1347], X[1347:], y[1347:]


def class_incremental_batches(X, y, groups, batch_size=32, seed=0):
    rng = np.random.default_rng(seed)
    for g in groups:
        idx = np.flatnonzero(np.isin(y, g))
        rng.shuffle(idx)
        for s in range(0, len(idx), batch_size):
            b = idx[s : s + batch_size]
            yield X[b], y[b]


@pytest.fixture(scope="session")
def fitted(digits):
    """A system trained on a class-incremental digits stream (5 groups of 2)."""
    from riscmoe import RiscClassifier

    Xtr, ytr, _, _ = digits
    clf = RiscClassifier(seed=0, min_examples=16)
    for Xb, yb in class_incremental_batches(Xtr, ytr, [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]):
        clf.partial_fit(Xb, yb)
    return clf
