"""The model creator."""

from riscmoe.creator.creator import FromArchive
from riscmoe.creator.protocol import Creator

__all__ = ["Creator", "FromArchive"]
