"""The bundled task set: generated from ``taskset/make_tasks.py`` on first use, not stored in git.

``make_tasks.py`` holds a reference implementation of every task and draws examples and
queries with a fixed seed, so the file it writes is the same on every machine (its tests
check that, and check every answer against the references). ``bundled_tasks_path`` writes
the file once, next to the generator when the package folder is writable and otherwise in
the user's cache folder, and returns its path.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

DATA = Path(__file__).resolve().with_name("taskset")
GENERATOR = DATA / "make_tasks.py"
NAME = "tasks.jsonl"
BUNDLED = "bundled"  # what `riscmoe functions solve` accepts in place of a task file


def generator() -> ModuleType:
    """The ``make_tasks`` module (loaded from its file; the taskset folder is not a package)."""
    mod = sys.modules.get("make_tasks")
    if mod is not None and Path(getattr(mod, "__file__", "")).resolve() == GENERATOR:
        return mod
    if not GENERATOR.is_file():
        raise FileNotFoundError(f"the task set generator {GENERATOR} is missing from this installation")
    spec = importlib.util.spec_from_file_location("make_tasks", GENERATOR)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["make_tasks"] = mod  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules["make_tasks"]
        raise
    return mod


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "riscmoe"


def bundled_tasks_path() -> Path:
    """Path of the bundled task file, generating it (about 3 s) if no one has yet."""
    for folder in (DATA, _cache_dir()):
        path = folder / NAME
        if path.is_file():
            return path
    gen = generator()
    text = gen.dumps(gen.build())
    for folder in (DATA, _cache_dir()):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tasks-", suffix=".jsonl", dir=folder)
        except OSError:
            continue  # not writable: try the next folder
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, folder / NAME)  # atomic: a reader never sees half a file
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return folder / NAME
    raise OSError(f"cannot write the bundled task set to {DATA} or {_cache_dir()}")
