"""Meta-models: fast, calibrated tests of whether a member should run on an input."""

# Imported on first use (PEP 562): the torch-free parts (protocols, policies, cascade) load
# without the torch-based ones, for the functions domain.
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


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
