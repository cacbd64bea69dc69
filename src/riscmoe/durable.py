"""Small helpers for files that must survive a crash: fsync of files and folders, and whether a writer still runs.

Saves (``persistence``) and run folders (``cli.runfolder``) both write under temporary
names and rename into place; these make the renames durable and tell a killed writer's
leftovers from a live one's.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_file(path: str | os.PathLike) -> None:
    """Flush one file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a folder's entries (new names, renames) durable; a no-op where folders cannot be opened or synced."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(folder: str | os.PathLike) -> None:
    """Flush every file and folder under ``folder`` to disk (a power cut after a move keeps them)."""
    for root, _, files in os.walk(folder):
        for name in files:
            fsync_file(Path(root) / name)
        fsync_dir(root)


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (this process counts as alive; one of another user's too)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
