"""A benchmark's outputs: its results folder, its results.json, and its table in a Markdown file between markers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def check_out(out: Path) -> None:
    """Refuse a results folder that cannot be one, before any work starts (ValueError naming it)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder: give a folder for the results")


def check_args(parser: Any, args: Any, positive: tuple[str, ...]) -> None:
    """Refuse, before any work starts, a count below 1 among ``positive`` (argument names) and an
    ``--out`` that cannot be a results folder: ``parser.error`` names the argument."""
    for name in positive:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    try:
        check_out(args.out)
    except ValueError as exc:
        parser.error(str(exc))


def write_results(out: Path, results: Any) -> None:
    """``out/results.json`` (the folder made if need be), written to a temporary file and renamed."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".results.json.tmp"
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(out / "results.json")


def write_section(path: Path, text: str, begin: str, end: str, heading: str) -> None:
    """Put ``text`` between ``begin`` and ``end`` in ``path``; append it under ``heading`` if the markers are missing.

    Written to a temporary file beside ``path`` and renamed over it, so a crash leaves the old file or the new one.
    """
    old = path.read_text() if path.exists() else ""
    block = f"{begin}\n{text}\n{end}"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = old.rstrip("\n") + f"\n\n## {heading}\n\n" + block + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new)
    tmp.replace(path)
