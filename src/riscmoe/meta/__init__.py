"""Meta-models: fast, calibrated tests of whether a member should run on an input."""

from riscmoe.meta.gaussian import GaussianMetaBank

__all__ = ["GaussianMetaBank"]
