"""Writing a benchmark's table into a Markdown file between its markers."""

from __future__ import annotations

from pathlib import Path


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
