"""Saving and loading whole systems."""

from riscmoe.persistence.folder import FORMAT_VERSION, SaveFormatError, SaveRefusedError, load, read_manifest, save

__all__ = ["FORMAT_VERSION", "SaveFormatError", "SaveRefusedError", "load", "read_manifest", "save"]
