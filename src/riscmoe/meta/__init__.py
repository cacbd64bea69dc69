"""Meta-models: fast, calibrated tests of whether a member should run on an input."""

from riscmoe.meta.gaussian import Gaussian, GaussianMetaBank, MetaOutput
from riscmoe.meta.protocol import Lesson, MetaBank, MetaBankKind, Verdict

__all__ = ["Gaussian", "GaussianMetaBank", "Lesson", "MetaBank", "MetaBankKind", "MetaOutput", "Verdict"]
