"""Meta-models: fast, calibrated tests of whether a member should run on an input."""

from riscmoe.meta.gaussian import GaussianMetaBank, MetaOutput

__all__ = ["GaussianMetaBank", "MetaOutput"]
