"""The collection of small models."""

from riscmoe.collection.collection import Collection, Member

__all__ = ["Collection", "Member"]
