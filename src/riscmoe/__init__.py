"""riscmoe: a growing collection of small models, each behind a fast meta-model."""

from riscmoe.classifier import RiscClassifier
from riscmoe.persistence.folder import SaveFormatError, load

__version__ = "0.1.0"

__all__ = ["RiscClassifier", "SaveFormatError", "load", "__version__"]
