"""The bundled task sets: generated from scripts in ``taskset/`` on first use, not stored in git.

Two sets, by the name ``riscmoe functions solve`` accepts in place of a task file:

- ``bundled``: ``taskset/make_tasks.py`` writes ``tasks.jsonl``, 129 maths and list tasks;
- ``list-concepts``: ``taskset/make_list_concepts.py`` writes ``list_concepts.jsonl``, 133
  concepts from integer lists to integer lists ("append 3", "swap the first and the last");
- ``list-concepts-dev``: ``taskset/make_list_concepts_dev.py`` writes ``list_concepts_dev.jsonl``,
  144 other list concepts, the set the synthesiser's list primitives were developed against;
- ``list-concepts-heldout``: ``taskset/make_list_concepts_heldout.py`` writes
  ``list_concepts_heldout.jsonl``, 146 more, written before any failure on the development set
  was looked at and not tuned on (the measure of how far the synthesiser generalises).

Each generator holds a reference implementation of every task and draws examples and queries
with a fixed seed, so the file it writes is the same on every machine (its tests check that,
and check every answer against the references). ``task_set_path`` writes a file once, next
to its generator when the package folder is writable and otherwise in the user's cache
folder, and returns its path.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().with_name("taskset")  # where the generators are
DATA = SCRIPTS  # where the files go (and are looked for) first
BUNDLED = "bundled"  # what `riscmoe functions solve` accepts in place of a task file
LIST_CONCEPTS = "list-concepts"
LIST_CONCEPTS_DEV = "list-concepts-dev"
LIST_CONCEPTS_HELDOUT = "list-concepts-heldout"
# set name -> (generator module, file it writes)
TASK_SETS = {BUNDLED: ("make_tasks", "tasks.jsonl"), LIST_CONCEPTS: ("make_list_concepts", "list_concepts.jsonl"),
             LIST_CONCEPTS_DEV: ("make_list_concepts_dev", "list_concepts_dev.jsonl"),
             LIST_CONCEPTS_HELDOUT: ("make_list_concepts_heldout", "list_concepts_heldout.jsonl")}
GENERATOR = SCRIPTS / "make_tasks.py"
NAME = "tasks.jsonl"


def _known(name: str) -> tuple[str, str]:
    if name not in TASK_SETS:
        raise ValueError(f"no task set named {name!r}; the bundled sets are {', '.join(TASK_SETS)}")
    return TASK_SETS[name]


def generator(name: str = BUNDLED) -> ModuleType:
    """The generator module of task set ``name`` (loaded from its file; the taskset folder is not a package)."""
    module, _ = _known(name)
    path = (SCRIPTS / f"{module}.py").resolve()
    mod = sys.modules.get(module)
    if mod is not None and Path(getattr(mod, "__file__", "")).resolve() == path:
        return mod
    if not path.is_file():
        raise FileNotFoundError(f"the task set generator {path} is missing from this installation")
    spec = importlib.util.spec_from_file_location(module, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module] = mod  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[module]
        raise
    return mod


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "riscmoe"


def task_set_path(name: str) -> Path:
    """Path of the bundled task set ``name``'s file, generating it (a few seconds) if no one has yet."""
    _, filename = _known(name)
    for folder in (DATA, _cache_dir()):
        path = folder / filename
        if path.is_file():
            return path
    gen = generator(name)
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
            os.replace(tmp, folder / filename)  # atomic: a reader never sees half a file
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return folder / filename
    raise OSError(f"cannot write the task set {name!r} to {DATA} or {_cache_dir()}")


def bundled_tasks_path() -> Path:
    """Path of the bundled 129-task file (``task_set_path("bundled")``)."""
    return task_set_path(BUNDLED)


def list_concepts_path() -> Path:
    """Path of the list-concept task file (``task_set_path("list-concepts")``)."""
    return task_set_path(LIST_CONCEPTS)
