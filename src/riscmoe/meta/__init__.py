"""Meta-models: fast, calibrated tests of whether a member should run on an input."""

# Imported on first use (PEP 562): the torch-free parts (protocols, policies, cascade) load
# without the torch-based ones, for the functions domain.
from riscmoe.lazy import lazy_names

_LAZY = {
    "Gaussian": "riscmoe.meta.gaussian",
    "GaussianMetaBank": "riscmoe.meta.gaussian",
    "MetaOutput": "riscmoe.meta.gaussian",
    "Lesson": "riscmoe.meta.protocol",
    "MetaBank": "riscmoe.meta.protocol",
    "MetaBankKind": "riscmoe.meta.protocol",
    "Verdict": "riscmoe.meta.protocol",
    "Scores": "riscmoe.meta.protocol",
}

__all__ = ['Gaussian', 'GaussianMetaBank', 'Lesson', 'MetaBank', 'MetaBankKind', 'MetaOutput', 'Scores', 'Verdict']


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
