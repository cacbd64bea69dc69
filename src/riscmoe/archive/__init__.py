"""The archive: a bounded, persistent store of important experiences, and the policy of what it keeps."""

from riscmoe.archive.policy import KINDS, ArchivePolicy, Balanced
from riscmoe.archive.sqlite_archive import Archive, ArchiveFormatError

__all__ = ["KINDS", "Archive", "ArchiveFormatError", "ArchivePolicy", "Balanced"]
