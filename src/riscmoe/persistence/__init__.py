"""Saving and loading whole systems, part by part, with migrations of earlier formats."""

from riscmoe.persistence.folder import FORMAT_VERSION, SaveFormatError, SaveRefusedError, load, read_manifest, save
from riscmoe.persistence.protocol import Persistent

__all__ = ["FORMAT_VERSION", "Persistent", "SaveFormatError", "SaveRefusedError", "load", "read_manifest", "save"]
