"""The model creator."""

from riscmoe.creator.creator import Creator

__all__ = ["Creator"]
