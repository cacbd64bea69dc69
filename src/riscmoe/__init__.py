"""riscmoe: a growing collection of small models, each behind a fast meta-model."""

# The names below are imported on first use (PEP 562), so that a command that needs none of
# them (``riscmoe functions ...``) does not pay for importing torch.
__version__ = "0.1.0"

__all__ = ["RiscClassifier", "SaveFormatError", "SaveRefusedError", "load", "__version__"]

# Imported now (it is cheap: no torch) so that it starts measuring the machine's load while
# the rest loads; the names that run riscmoe's math choose the thread count on first use.
from riscmoe import threads  # noqa: E402

# Names whose first use sets the thread count (riscmoe.threads.configure).
_MATH = {"RiscClassifier", "load"}

_LAZY = {
    "RiscClassifier": ("riscmoe.classifier", "RiscClassifier"),
    "Prediction": ("riscmoe.classifier", "Prediction"),
    "SaveFormatError": ("riscmoe.persistence.folder", "SaveFormatError"),
    "SaveRefusedError": ("riscmoe.persistence.folder", "SaveRefusedError"),
    "load": ("riscmoe.persistence.folder", "load"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        if name in _MATH:
            # After the import, so that torch and the BLAS libraries it loads are there to be
            # set, and the import's seconds serve as the load measurement's window.
            threads.configure()
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'riscmoe' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
