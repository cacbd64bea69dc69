"""Helpers for tests that look inside saved folders."""

import hashlib
import json
from pathlib import Path


def data_file(folder, kind):
    """The live data file of ``kind`` ("weights" or "archive") of a save, as its manifest names it."""
    folder = Path(folder)
    return folder / json.loads((folder / "manifest.json").read_text())["files"][kind]


def restamp(folder):
    """Record the data files' present checksums in the manifest, as if a (buggy) writer had made them.

    Tests of the structural checks that come after the checksums use it: a file changed by
    hand is otherwise refused for its checksum alone.
    """
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for name in manifest["files"].values():
        manifest["checksums"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
