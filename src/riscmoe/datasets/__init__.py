"""Datasets (MNIST, Fashion-MNIST, digits), IDX file I/O and continual-learning streams."""

from riscmoe.datasets.loaders import DATASET_NAMES, Dataset, class_names, data_cache_dir, load_dataset
from riscmoe.datasets.idx import read_idx, write_idx
from riscmoe.datasets.streams import (
    Stream,
    apply_permutation,
    blurred,
    class_incremental,
    permuted,
    recurring,
)

__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "Stream",
    "apply_permutation",
    "blurred",
    "class_incremental",
    "class_names",
    "data_cache_dir",
    "load_dataset",
    "permuted",
    "read_idx",
    "recurring",
    "write_idx",
]
