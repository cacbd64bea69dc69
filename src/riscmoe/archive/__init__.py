"""The archive: a bounded, persistent store of important experiences."""

from riscmoe.archive.sqlite_archive import KINDS, Archive, ArchiveFormatError

__all__ = ["KINDS", "Archive", "ArchiveFormatError"]
