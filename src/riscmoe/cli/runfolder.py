"""A run folder appears whole or not at all, and replaces an earlier run only when asked.

``riscmoe run`` checks its ``--out`` before any work (so a refusal costs nothing), writes
the finished run into a hidden sibling (``.NAME.partial-PID-XXXX``) and moves it into
place in one rename, or, over an earlier run with ``--force``, swaps the two folders in
one atomic exchange (Linux ``renameat2``; two renames where the kernel lacks it). An
interrupted or crashed run therefore leaves either nothing or the earlier run, never a
half-made folder at ``--out``; a partial sibling left by a killed process is removed by
the next run into the same folder.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import tempfile
from pathlib import Path

from riscmoe.durable import fsync_dir, fsync_tree, process_alive

# What a run writes; a folder holding anything else is not ours to replace.
RUN_ENTRIES = frozenset({"metrics.json", "accuracy.png", "members.png", "routing.png", "system"})
_RENAME_EXCHANGE = 2  # from linux/fs.h
_AT_FDCWD = -100


class RunFolderError(ValueError):
    """--out cannot take this run (it is caught by the command line: exit status 2)."""


def _partial_prefix(out: Path) -> str:
    return f".{out.name}.partial-"


def check_target(out: Path, force: bool) -> None:
    """Refuse an ``--out`` that would lose something, before any work is done.

    Allowed: a folder that does not exist (its parent is created later), an empty one,
    and with ``force`` one that holds only what a riscmoe run writes.

    Raises:
        RunFolderError: it is a file, holds an earlier run (without ``force``), or holds
            other files (even with ``force``: they are not a run's to replace).
    """
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        # A link is refused too: replacing it would replace what it points at, or the link.
        what = "a symbolic link" if out.is_symlink() else "a file"
        raise RunFolderError(f"--out {out} is {what}, not a run folder; choose another --out")
    if not out.exists():
        return
    entries = sorted(p.name for p in out.iterdir())
    if not entries:
        return
    foreign = [e for e in entries if e not in RUN_ENTRIES]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise RunFolderError(
            f"--out {out} holds files that are not a riscmoe run ({shown}); it is left untouched: "
            "choose another --out (--force replaces only an earlier run's folder)"
        )
    if not force:
        raise RunFolderError(
            f"--out {out} already holds a run ({', '.join(entries)}); pass --force to replace it, "
            "or choose another --out"
        )


def clean_leftovers(out: Path) -> list[Path]:
    """Remove partial siblings of ``out`` left by runs that were killed; return them."""
    removed = []
    if not out.parent.is_dir():
        return removed
    prefix = _partial_prefix(out)
    for p in out.parent.iterdir():
        if not p.name.startswith(prefix):
            continue
        pid_text = p.name[len(prefix):].split("-", 1)[0]
        if pid_text.isdigit() and not process_alive(int(pid_text)):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def stage(out: Path) -> Path:
    """A new hidden folder next to ``out`` (same file system, so the final move is a rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(dir=out.parent, prefix=f"{_partial_prefix(out)}{os.getpid()}-"))
    # mkdtemp makes it private (0700); the run folder gets what a plain mkdir would give.
    mask = os.umask(0)
    os.umask(mask)
    staged.chmod(0o777 & ~mask)
    return staged


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system or kernel lacks it
        return False
    raise OSError(err, os.strerror(err), str(b))


def install(staged: Path, out: Path, force: bool) -> None:
    """Move a finished run from ``staged`` to ``out`` (replacing an earlier run if ``force``).

    Raises:
        RunFolderError: ``out`` changed since the check so that it may not be replaced;
            the finished run is then left in ``staged`` and the message says so.
    """
    try:
        check_target(out, force)
    except RunFolderError as exc:
        raise RunFolderError(f"{exc}; the finished run was kept in {staged}") from None
    fsync_tree(staged)
    if not out.exists() or not any(out.iterdir()):
        # A rename over an empty folder replaces it.
        os.rename(staged, out)
    elif _exchange(staged, out):
        shutil.rmtree(staged)  # now the earlier run
    else:
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f"{_partial_prefix(out)}{os.getpid()}-old-"))
        os.rename(out, old / "run")
        os.rename(staged, out)
        shutil.rmtree(old)
    fsync_dir(out.parent)


def discard(staged: Path | None) -> None:
    """Remove a half-written run (after an error or Ctrl-C)."""
    if staged is not None:
        shutil.rmtree(staged, ignore_errors=True)
