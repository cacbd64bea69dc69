"""Save a whole system to a folder and load it back, refusing foreign or corrupt folders.

Layout of a saved folder:

- ``manifest.json``: format name and version, parameters, labels, members' metadata, the
  random states (with the models' optimiser state below, a loaded system learns on
  exactly as the saved one would have);
- ``weights.safetensors``: every array (meta-model statistics, models' weights and their
  optimiser's moments, and the new rows each model holds for its next step; saves made
  before the moments or held rows were stored load with fresh moments and none held);
- ``archive.sqlite``: the archive of important experiences.

The folder is written next to its destination under a temporary name and swapped in
with renames, so a crash mid-write leaves the previous save intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

FORMAT = "riscmoe-system"
FORMAT_VERSION = 3  # 3: the encoder is recorded (its defaults changed)


class SaveFormatError(ValueError):
    """A folder that is not a riscmoe save of a version this code reads."""


def _json_default(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    raise TypeError(f"cannot store {type(v).__name__} in a manifest")


def save(clf: Any, path: str | os.PathLike) -> None:
    """Write ``clf`` (a fitted RiscClassifier) to the folder ``path``."""
    from riscmoe import __version__

    if not clf.is_fitted:
        raise RuntimeError("nothing to save: this RiscClassifier has not learned anything yet")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    col = clf.collection_
    col.meta.refresh()
    tensors = dict(col.meta.state_dict())
    for m in col.members:
        for k, v in m.model.state_dict().items():
            tensors[f"model.{m.index}.{k}"] = v
        for k, v in m.model.optimizer_state().items():
            tensors[f"optim.{m.index}.{k}"] = v
        if len(m.held):  # rows its model has not stepped on yet (see Feedback.min_rows)
            tensors[f"held.{m.index}.features"] = m.held.contiguous()
            tensors[f"held.{m.index}.target"] = m.held_target.contiguous()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "riscmoe_version": __version__,
        "params": clf.get_params(),
        "input_shape": list(clf.input_shape_),
        "encoder": col.encoder.config(),
        "label_kind": clf.label_kind_,
        "classes": list(clf.classes_),
        "n_seen": clf.n_seen_,
        "history": clf.history_,
        "members": [
            {
                "index": m.index,
                "label": m.label,
                "created_at": m.created_at,
                "reason": m.reason,
                "n_positive": m.n_positive,
                "n_negative": m.n_negative,
                "n_answered": m.n_answered,
                "hidden": m.model.hidden,
                "n_parameters": m.model.n_parameters,
                "border": [round(float(v), 4) for v in col.meta.border[m.index].tolist()],
                "border_updates": col.meta.border_updates[m.index],
            }
            for m in col.members
        ],
        "cost_per_input": clf.cost_per_input_,
        # Random states, so that a loaded system learns on exactly as the saved one would.
        "rng": {"learner": clf._rng.bit_generator.state, "meta": col.meta._rng.bit_generator.state},
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        save_file(tensors, str(tmp / "weights.safetensors"))
        clf.archive_.save_to(tmp / "archive.sqlite")
        with open(tmp / "manifest.json", "w") as fh:
            json.dump(manifest, fh, indent=2, default=_json_default)
            fh.flush()
            os.fsync(fh.fileno())
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _with_prefix(tensors: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The arrays whose names start with ``prefix``, named without it."""
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a saved folder's manifest."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is not a folder saved by riscmoe (no such folder)")
    mf = path / "manifest.json"
    if not mf.is_file():
        raise SaveFormatError(f"{path} has no manifest.json, so it is not a riscmoe save")
    try:
        manifest = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SaveFormatError(f"{mf} is corrupt: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SaveFormatError(f"{mf} is not a riscmoe manifest (format={manifest.get('format') if isinstance(manifest, dict) else None!r})")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise SaveFormatError(
            f"{path} was saved in format version {manifest.get('format_version')}; this riscmoe reads version {FORMAT_VERSION}"
        )
    return manifest


def load(path: str | os.PathLike) -> Any:
    """Load a RiscClassifier saved with ``save``; predictions are identical to the saved one's."""
    import torch

    from riscmoe.archive.sqlite_archive import Archive
    from riscmoe.classifier import RiscClassifier
    from riscmoe.collection.collection import Member
    from riscmoe.models.verifier import Verifier

    path = Path(path)
    manifest = read_manifest(path)
    try:
        clf = RiscClassifier(**manifest["params"])
        clf._init_state(tuple(manifest["input_shape"]))
        clf.label_kind_ = manifest["label_kind"]
        clf.classes_ = list(manifest["classes"])
        clf.n_seen_ = int(manifest["n_seen"])
        clf.history_ = list(manifest["history"])
        members = manifest["members"]
    except (KeyError, TypeError, ValueError) as exc:
        raise SaveFormatError(f"{path}/manifest.json is incomplete or inconsistent: {exc}") from None
    try:
        tensors = load_file(str(path / "weights.safetensors"))
    except (SafetensorError, OSError, ValueError) as exc:
        raise SaveFormatError(f"{path}/weights.safetensors is missing or corrupt: {exc}") from None
    col = clf.collection_
    if manifest.get("encoder") != col.encoder.config():
        raise SaveFormatError(f"{path}/manifest.json records the encoder {manifest.get('encoder')}, "
                              f"but this riscmoe builds {col.encoder.config()} for that input shape")
    try:
        col.meta.load_state_dict(tensors, len(members))
    except ValueError as exc:
        raise SaveFormatError(f"{path}/weights.safetensors: {exc}") from None
    for info in members:
        model = Verifier(col.encoder.dim, hidden=int(info["hidden"]), lr=clf.lr)
        state = _with_prefix(tensors, f"model.{info['index']}.")
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise SaveFormatError(f"{path}: weights of member {info['index']} do not fit: {exc}") from None
        optim = _with_prefix(tensors, f"optim.{info['index']}.")
        if optim:  # (absent from saves of earlier builds: Adam restarts there)
            try:
                model.load_optimizer_state(optim)
            except ValueError as exc:
                raise SaveFormatError(f"{path}: optimiser state of member {info['index']}: {exc}") from None
        member = Member(
            index=int(info["index"]),
            label=int(info["label"]),
            model=model,
            created_at=int(info["created_at"]),
            reason=str(info["reason"]),
            n_positive=int(info["n_positive"]),
            n_negative=int(info["n_negative"]),
            n_answered=int(info["n_answered"]),
        )
        held = _with_prefix(tensors, f"held.{info['index']}.")
        if held:  # (saves of earlier builds hold none)
            features, target = held.get("features"), held.get("target")
            if (features is None or target is None or features.dim() != 2 or features.shape[1] != col.encoder.dim
                    or tuple(target.shape) != (len(features),) or not bool(((target == 0) | (target == 1)).all())):
                raise SaveFormatError(f"{path}/weights.safetensors: the held rows of member {info['index']} do not fit "
                                      f"(features {None if features is None else tuple(features.shape)}, targets "
                                      f"{None if target is None else tuple(target.shape)}; expected (n, {col.encoder.dim}) and (n,) of 0s and 1s)")
            member.held, member.held_target = features.float(), target.float()
        col.members.append(member)
    col.meta.refresh(force=True)
    rng = manifest.get("rng")  # (saves of earlier builds have none: fresh streams from the seed)
    if rng is not None:
        try:
            clf._rng.bit_generator.state = rng["learner"]
            col.meta._rng.bit_generator.state = rng["meta"]
        except (KeyError, TypeError, ValueError) as exc:
            raise SaveFormatError(f"{path}/manifest.json holds unusable random states: {exc}") from None
    clf.archive_.close()
    clf.archive_ = Archive.open(
        path / "archive.sqlite",
        dim=int(np.prod(clf.input_shape_)),
        max_records=clf.archive_size,
        max_bytes=clf.archive_bytes,
        featurizer=clf._featurize,
    )
    return clf
