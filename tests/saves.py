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
    write_manifest(folder, manifest)


def write_manifest(folder, manifest):
    """Write a manifest changed by hand, with its own checksum made to match."""
    from riscmoe.persistence.folder import _manifest_digest

    manifest = dict(manifest, manifest_checksum=_manifest_digest(manifest))
    (Path(folder) / "manifest.json").write_text(json.dumps(manifest))
