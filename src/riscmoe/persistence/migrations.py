"""Every change of the saved format, in one place: earlier saves brought up to today's layout in memory.

A save is read as it was written (its checksums are checked against the files first),
then each step here turns one format version's manifest and arrays into the next one's,
until they are today's. The files themselves are never rewritten by a load; the next
``save`` writes today's format.

Format history:

- 3: fixed file names, no checksums (refused: there is nothing to check it against).
- 4: generation-named data files with checksums; the inputs' value scale. Parameters flat
  (``policy``, ``hidden``, ``lr`` among them), the encoder's settings at the top level,
  arrays named ``meta.*``, ``model.I.*``, ``optim.I.*``, ``held.I.*``.
- 5: every part saves itself under its kind and version: ``parts.NAME`` holds ``kind``,
  ``version``, ``config`` and the part's own ``info``; arrays are ``encoder.*``, ``meta.*``,
  ``members.I.model.*`` and ``members.I.held.*``; labels are ``labels``.

A kind's own saved layout has a version too (``parts.NAME.version``); its steps are here as
well (``KIND_STEPS``), applied to a part's manifest entry before the part is rebuilt:

- ``meta`` ``gaussian`` 1 -> 2: members' own scatters may be sketches (``shape_rank``); a
  save of version 1 holds full ones and loads with ``shape_rank=0``, as it learned.
- ``meta`` ``gaussian`` 2 -> 3: nothing to change; version 3 saves may name members whose own
  scatter is still to be made from their reservoir (``meta.deferred``), which version 2 never had.
- ``meta`` ``gaussian`` 3 -> 4: nothing to change; version 4 saves may keep members' own scatters as
  blocks in a shared basis (``meta.basis``, ``meta.N.block``), which version 3 never had.
- ``meta`` ``gaussian`` 4 -> 5: nothing to change; version 5 blocks are scaled per direction
  (``meta.N.block_info`` holds -1, the trace and a scale per direction) and may be int8
  (``block_bits``); a version 4 block (one scale) is read as it was written.
- ``meta`` ``gaussian`` 5 -> 6: ``member_kb`` 0 (no budget): version 6 chooses the layout of the
  settings left None to fit a budget per member, and a version 5 save names every setting as it
  learned (full scatters and 256 calibration examples unless it set others).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

CURRENT = 5
# Versions a load can bring up to ``CURRENT``.
READABLE = (4, 5)

Arrays = dict[str, torch.Tensor]
Step = Callable[[dict[str, Any], Arrays], tuple[dict[str, Any], Arrays]]


class MigrationError(ValueError):
    """An earlier save that cannot be brought to today's format (it says why)."""


def _v4_to_v5(manifest: dict[str, Any], arrays: Arrays) -> tuple[dict[str, Any], Arrays]:
    """Format 4 -> 5: parameters and settings split by part, arrays renamed under their part."""
    params = dict(manifest["params"])
    members = manifest["members"]
    hidden, lr = int(params.pop("hidden")), float(params.pop("lr"))
    widths = sorted({int(m.get("hidden", hidden)) for m in members})
    if widths and widths != [hidden]:
        raise MigrationError(f"its members' models have widths {widths}, but format 5 keeps one model setting for all "
                             f"(hidden={hidden}); load it with the build that saved it")
    policy = params.pop("policy")
    parts = {
        "encoder": {"kind": "auto", "version": 1, "config": {}, "info": {"built": manifest["encoder"]}},
        "meta": {"kind": "gaussian", "version": 1, "config": {},
                 "info": {"members": len(members), "rng": manifest["rng"]["meta"],
                          "per_member": [{"border": m["border"], "border_updates": m["border_updates"]} for m in members]}},
        "model": {"kind": "verifier", "version": 1, "config": {"hidden": hidden, "lr": lr}},
        "policy": {"kind": policy, "version": 1, "config": {}},
        "archive": {"kind": "balanced", "version": 1, "config": {}},
        "creator": {"kind": "from-archive", "version": 1, "config": {}},
        "feedback": {"kind": "continuous", "version": 1, "config": {}},
    }
    new_members = [
        {"index": m["index"], "label": m["label"], "created_at": m["created_at"], "reason": m["reason"],
         "n_positive": m["n_positive"], "n_negative": m["n_negative"], "n_parameters": m["n_parameters"],
         "model": {"in_dim": manifest["encoder"]["dim"], "hidden": hidden}}
        for m in members
    ]
    out = {k: v for k, v in manifest.items() if k not in ("params", "encoder", "classes", "members", "rng")}
    out.update(format_version=5, params=params, parts=parts, labels=manifest["classes"], members=new_members,
               rng={"learner": manifest["rng"]["learner"]})
    renamed: Arrays = {}
    for key, value in arrays.items():
        head, _, rest = key.partition(".")
        if head == "meta":
            renamed[key] = value
        elif head in ("model", "optim", "held"):
            index, _, name = rest.partition(".")
            where = {"model": "model.net", "optim": "model.optim", "held": "held"}[head]
            renamed[f"members.{index}.{where}.{name}"] = value
        else:
            raise MigrationError(f"its weights file holds the array {key!r}, which format 4 does not have")
    return out, renamed


# version -> the step that turns it into the next one.
STEPS: dict[int, Step] = {4: _v4_to_v5}


def _gaussian_1_to_2(entry: dict[str, Any]) -> dict[str, Any]:
    """The gaussian bank 1 -> 2: ``shape_rank`` 0 (full scatters, which version 1 kept)."""
    config = dict(entry.get("config") or {})
    if "shape_rank" in config:
        raise MigrationError("its gaussian bank of version 1 has a shape_rank setting, which version 1 did not have")
    return dict(entry, version=2, config=dict(config, shape_rank=0))


# (part, kind, version) -> the step that turns the part's manifest entry into the next version's.
def _gaussian_2_to_3(entry: dict[str, Any]) -> dict[str, Any]:
    """The gaussian bank 2 -> 3: nothing to change (version 3 may save members whose own scatter
    is still to be made from their reservoir; a version 2 save holds every one it has)."""
    return dict(entry, version=3)


def _gaussian_3_to_4(entry: dict[str, Any]) -> dict[str, Any]:
    """The gaussian bank 3 -> 4: nothing to change (version 4 may keep members' own scatters as
    blocks in a shared basis, ``pair_block``, which version 3 never had)."""
    return dict(entry, version=4)


def _gaussian_4_to_5(entry: dict[str, Any]) -> dict[str, Any]:
    """The gaussian bank 4 -> 5: nothing to change (``ShapeBlock.from_state`` reads a version 4
    block, of one scale, as it was written; version 5 scales blocks per direction)."""
    return dict(entry, version=5)


def _gaussian_5_to_6(entry: dict[str, Any]) -> dict[str, Any]:
    """The gaussian bank 5 -> 6: ``member_kb`` 0, and the layout settings version 5 had by default
    written out (a save names them all; this only guards a hand-written config that left one out)."""
    config = dict(entry.get("config") or {})
    if "member_kb" in config:
        raise MigrationError("its gaussian bank of version 5 has a member_kb setting, which version 5 did not have")
    defaults = {"member_kb": 0, "pair_block": 0, "reservoir": 256, "half_reservoir": False, "block_bits": 16}
    return dict(entry, version=6, config=dict(defaults, **config))


KIND_STEPS: dict[tuple[str, str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {
    ("meta", "gaussian", 1): _gaussian_1_to_2,
    ("meta", "gaussian", 2): _gaussian_2_to_3,
    ("meta", "gaussian", 3): _gaussian_3_to_4,
    ("meta", "gaussian", 4): _gaussian_4_to_5,
    ("meta", "gaussian", 5): _gaussian_5_to_6,
}


def migrate_part(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    """A part's manifest entry brought to its kind's latest version (unchanged if there is no step for it)."""
    while isinstance(entry, dict) and (name, entry.get("kind"), entry.get("version")) in KIND_STEPS:
        entry = KIND_STEPS[(name, entry["kind"], entry["version"])](entry)
    return entry


def migrate(manifest: dict[str, Any], arrays: Arrays) -> tuple[dict[str, Any], Arrays]:
    """Today's manifest and arrays for a save of any readable version (unchanged if it is today's)."""
    version = manifest.get("format_version")
    if version not in READABLE:
        raise MigrationError(f"format version {version} cannot be read; this riscmoe reads versions {', '.join(map(str, READABLE))}")
    while version != CURRENT:
        try:
            manifest, arrays = STEPS[version](manifest, arrays)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, MigrationError):
                raise
            raise MigrationError(f"its format {version} manifest is incomplete: {exc!r}") from None
        version = manifest["format_version"]
    return manifest, arrays
