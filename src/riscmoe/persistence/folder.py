"""Save a whole system to a folder and load it back, refusing foreign or corrupt folders.

Layout of a saved folder (format version 5):

- ``manifest.json``: format name and version, parameters, and for every part (encoder,
  meta-model bank, model, routing policy, archive policy, creator, feedback schedule) its
  kind, the kind's version, its settings and the notes the part saved about itself;
  labels, members' metadata, the learner's random state (with the parts' own, and the
  models' optimiser state below, a loaded system learns on exactly as the saved one
  would have), the names of the two data files it belongs to, the SHA-256 checksum of
  each, and one of its own content;
- ``weights-GEN.safetensors``: every array, named by the part that saved it (``encoder.*``,
  ``meta.*``, ``members.I.model.*``, and ``members.I.held.*``: the new rows each model holds
  for its next step);
- ``archive-GEN.sqlite``: the archive of important experiences;
- ``.riscmoe-lock``: taken while a save writes into the folder.

What a save promises:

- It only ever replaces a riscmoe save (a folder whose ``manifest.json`` says so) or an
  empty folder. A plain file, or a folder holding anything else, is refused untouched.
- At every instant the folder loads as the previous save or the new one. A new folder
  is written under a temporary name beside it and renamed into place; an existing save
  gets data files of a new generation, then the manifest is replaced by one rename (the
  switch), then the previous generation's files are deleted. Every file is fsynced
  before the switch and the folder after it.
- Leftovers of a save that was killed (temporary folders beside it, files of an
  unfinished generation inside it) are deleted by the next save to the same path.
- ``load`` checks every file against its checksum first, so a flipped byte is refused,
  never learned on; arrays holding NaN or infinities are refused too.

Persistence walks the parts: each stateful part saves and restores itself
(``riscmoe.persistence.protocol.Persistent``); this module never reads a part's private
fields. Saves of format version 4 load through ``riscmoe.persistence.migrations`` (in
memory; the next save writes version 5). Saves of format version 3 (earlier builds: fixed
file names, no checksums) are refused by ``load`` with a message saying so; ``save`` may
replace them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from riscmoe import registry
from riscmoe.durable import fsync_dir, fsync_file, process_alive
from riscmoe.persistence import migrations

FORMAT = "riscmoe-system"
FORMAT_VERSION = migrations.CURRENT  # see migrations' history
_REPLACEABLE_VERSIONS = (3, 4, 5)  # saves whose files this code knows, so that it may replace them
_LEGACY_FILES = ("weights.safetensors", "archive.sqlite")  # version 3's fixed names
_LOCK = ".riscmoe-lock"
# Files a save writes inside its folder: only these are ever deleted there (the data
# files, the manifest's and the archive's temporary files with SQLite's journal of a
# copy that was killed, and safetensors' own
# temporary file, ``.tmpXXXXXX``, which it renames into place when it is whole).
_DATA_FILE = re.compile(r"weights-[0-9a-f]{6,}-[0-9a-f]+\.safetensors|archive-[0-9a-f]{6,}-[0-9a-f]+\.sqlite")
_OWN_FILE = re.compile(rf"{_DATA_FILE.pattern}|\.manifest-[0-9a-f]+\.json\.tmp|\.archive-.*\.sqlite(-journal|-wal|-shm)?|\.tmp[A-Za-z0-9]{{6}}")


class SaveFormatError(ValueError):
    """A folder that is not a riscmoe save of a version this code reads."""


class SaveRefusedError(FileExistsError):
    """A save would replace something that is not a riscmoe save; nothing was written."""


def _json_default(v: Any) -> Any:
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    raise TypeError(f"cannot store {type(v).__name__} in a manifest")


# ------------------------------------------------------------------------------ saving
def save(clf: Any, path: str | os.PathLike) -> None:
    """Write ``clf`` (a fitted RiscClassifier) to the folder ``path`` (see the module's promises)."""
    if not clf.is_fitted:
        raise RuntimeError("nothing to save: this RiscClassifier has not learned anything yet")
    path = Path(os.path.abspath(os.fspath(path)))
    if path.is_symlink():  # saving through a link saves where it points
        path = Path(os.path.realpath(path))
    _check_replaceable(path)  # before anything is written
    tensors, manifest = _snapshot(clf)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clean_leftovers_beside(path)
    if not path.exists() or _is_empty_dir(path):
        if _save_new(path, clf, tensors, manifest):
            return
    with _locked(path):
        _check_replaceable(path)  # again, now that no other save can change it
        _save_generation(path, clf, tensors, manifest)


def _snapshot(clf: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every array and the manifest (without its file names and checksums), in memory, part by part."""
    from riscmoe import __version__

    col = clf.collection_
    specs = clf._parts()
    specs.update(clf.kinds_)  # the built parts are what was built, whatever the parameters say now
    tensors: dict[str, Any] = {}
    parts: dict[str, Any] = {}
    for name, state_of in (("encoder", col.encoder), ("meta", col.meta), ("model", None)):
        info = None
        if state_of is not None:
            arrays, info = state_of.save_state()
            tensors.update({f"{name}.{k}": v.contiguous() for k, v in arrays.items()})
        parts[name] = _part_entry(name, specs[name], info)
    for name in ("policy", "archive", "creator", "feedback"):
        parts[name] = _part_entry(name, specs[name], None)
    if "creator_border_" in clf.__dict__:  # the learned border of a creator that is a member
        parts["creator"]["info"] = clf.creator_border_.to_info()
    members = []
    for m in col.members:
        arrays, info = m.model.save_state()
        tensors.update({f"members.{m.index}.model.{k}": v.contiguous() for k, v in arrays.items()})
        if len(m.held):  # rows its model has not stepped on yet (see the feedback's min_rows)
            tensors[f"members.{m.index}.held.features"] = m.held.contiguous()
            tensors[f"members.{m.index}.held.target"] = m.held_target.contiguous()
        members.append({"index": m.index, "label": m.label, "created_at": m.created_at, "reason": m.reason,
                        "n_positive": m.n_positive, "n_negative": m.n_negative, "n_parameters": int(m.model.n_parameters),
                        "model": info})
    params = {k: v for k, v in clf.get_params(deep=False).items() if k not in registry.PARTS}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "riscmoe_version": __version__,
        "params": params,
        "parts": parts,
        "input_shape": list(clf.input_shape_),
        "label_kind": clf.label_kind_,
        "labels": list(clf.labels_),
        "n_seen": clf.n_seen_,
        "value_scale": clf.value_scale_.counts.tolist(),
        "history": clf.history_,
        "members": members,
        "cost_per_input": clf.cost_per_input_,
        # The learner's random state (the parts keep theirs), so that a loaded system learns on exactly as the saved one.
        "rng": {"learner": clf._rng.bit_generator.state},
    }
    # The manifest must survive JSON (and the labels and history hold the user's labels).
    json.dumps(manifest, default=_json_default, allow_nan=False)
    return tensors, manifest


def _part_entry(name: str, spec: Any, info: dict[str, Any] | None) -> dict[str, Any]:
    """A part's manifest entry: its kind, the kind's version and its settings (and the notes it saved).

    A setting that JSON cannot hold (a user's module) is recorded by its class, and a part
    that is not a registered kind by its class alone: such a save loads when the object is
    given again (``load(path, encoder=net)``).
    """
    kind = registry.kind_of(spec)
    entry: dict[str, Any] = {"kind": kind[1] if kind else None, "version": kind[2] if kind else None,
                             "class": f"{type(spec).__module__}.{type(spec).__qualname__}"}
    config: dict[str, Any] = {}
    objects: list[str] = []
    if kind is not None:
        for key, value in registry.config(spec).items():
            try:
                json.dumps(value, default=_json_default, allow_nan=False)
                config[key] = value
            except (TypeError, ValueError):
                config[key] = f"<{type(value).__module__}.{type(value).__qualname__}>"
                objects.append(key)
    entry["config"] = config
    if objects or kind is None:
        entry["given"] = objects or ["*"]  # what a load must be handed again
    if info is not None:
        entry["info"] = info
    return entry


def _check_replaceable(path: Path) -> None:
    """Raise SaveRefusedError unless ``path`` is absent, an empty folder or a riscmoe save this code may replace."""
    if not path.exists():
        if path.is_symlink():
            raise SaveRefusedError(f"{path} is a broken symbolic link; refusing to save over it")
        return
    if not path.is_dir():
        raise SaveRefusedError(f"{path} exists and is a file, not a riscmoe save; refusing to replace it "
                               "(choose another path, or move the file yourself)")
    if _is_empty_dir(path):
        return
    manifest = _manifest_or_none(path)
    if manifest is None or manifest.get("format") != FORMAT:
        raise SaveRefusedError(f"{path} exists and is not a riscmoe save (no riscmoe manifest.json in it); refusing to "
                               "replace it and its files (choose another path, or empty the folder yourself)")
    if manifest.get("format_version") not in _REPLACEABLE_VERSIONS:
        raise SaveRefusedError(f"{path} is a riscmoe save of format version {manifest.get('format_version')}, which this "
                               f"riscmoe does not know the files of; refusing to replace it (delete it yourself, or save elsewhere)")


def _is_empty_dir(path: Path) -> bool:
    try:
        return path.is_dir() and not any(path.iterdir())
    except OSError:
        return False


def _manifest_or_none(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _save_new(path: Path, clf: Any, tensors: dict[str, Any], manifest: dict[str, Any]) -> bool:
    """Write a whole save under a temporary name beside ``path``, then rename it into place.

    Returns False, having written nothing at ``path``, if something appeared there meanwhile.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir()
    try:
        _write_generation(tmp, clf, tensors, manifest, generation=1)
        (tmp / _LOCK).touch()
        fsync_dir(tmp)
        try:
            os.rename(tmp, path)  # atomic; replaces only an empty folder
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                shutil.rmtree(tmp, ignore_errors=True)
                return False
            raise
        fsync_dir(path.parent)
        return True
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _save_generation(path: Path, clf: Any, tensors: dict[str, Any], manifest: dict[str, Any]) -> None:
    """Replace the save at ``path`` in place: new data files, then the manifest by one rename."""
    old = _manifest_or_none(path) or {}
    last = old.get("generation")
    generation = last + 1 if isinstance(last, int) else 1
    _clean_inside(path, keep=set(_data_files(old)))  # an earlier killed save's files
    files = _write_generation(path, clf, tensors, manifest, generation)
    _clean_inside(path, keep=set(files))
    if old.get("format_version") == 3:
        for name in _LEGACY_FILES:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path / name)
    fsync_dir(path)


def _write_generation(folder: Path, clf: Any, tensors: dict[str, Any], manifest: dict[str, Any], generation: int) -> list[str]:
    """Data files of one generation, fsynced and checksummed, then the manifest naming them (one rename).

    Returns the names of the data files now live.
    """
    tag = f"{generation:06x}-{secrets.token_hex(4)}"
    files = {"weights": f"weights-{tag}.safetensors", "archive": f"archive-{tag}.sqlite"}
    try:
        save_file(tensors, str(folder / files["weights"]))
        fsync_file(folder / files["weights"])
        clf.archive_.save_to(folder / files["archive"])
        fsync_file(folder / files["archive"])
        manifest = dict(manifest, generation=generation, files=files,
                        checksums={name: _sha256(folder / name) for name in files.values()})
        manifest["manifest_checksum"] = _manifest_digest(manifest)
        tmp = folder / f".manifest-{secrets.token_hex(4)}.json.tmp"
        with open(tmp, "w") as fh:
            json.dump(manifest, fh, indent=2, default=_json_default, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        fsync_dir(folder)  # the data files' names are durable before the manifest names them
        os.replace(tmp, folder / "manifest.json")  # the switch
    except BaseException:
        for name in files.values():
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
        raise
    return list(files.values())


def _data_files(manifest: dict[str, Any]) -> list[str]:
    files = manifest.get("files")
    if manifest.get("format_version") == 3:
        return list(_LEGACY_FILES)
    if isinstance(files, dict):
        return [v for v in files.values() if isinstance(v, str)]
    return []


def _clean_inside(folder: Path, keep: set[str]) -> None:
    """Delete files a save made in ``folder`` that ``keep`` (the live generation) does not name."""
    for entry in folder.iterdir():
        if entry.name not in keep and _OWN_FILE.fullmatch(entry.name) and entry.is_file() and not entry.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


def _clean_leftovers_beside(path: Path) -> None:
    """Delete temporary folders that killed saves to ``path`` left beside it.

    This build's are ``.NAME.tmp-PID-HEX`` (deleted once process PID is gone); earlier
    builds left ``.NAME.tmp-XXXXXXXX`` and ``.NAME.old-PID``. Only folders holding nothing
    but a save's own files are deleted.
    """
    ours = re.compile(re.escape(f".{path.name}.") + r"(tmp-(\d+)-[0-9a-f]+|tmp-[A-Za-z0-9_]{8}|old-(\d+))")
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return
    for entry in entries:
        m = ours.fullmatch(entry.name)
        if m is None or entry.is_symlink() or not entry.is_dir():
            continue
        pid = m.group(2) or m.group(3)
        if pid is not None and process_alive(int(pid)):
            continue
        names = {p.name for p in entry.iterdir()}
        known = {"manifest.json", _LOCK, *_LEGACY_FILES}
        if all(n in known or _OWN_FILE.fullmatch(n) for n in names):
            shutil.rmtree(entry, ignore_errors=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the folder's lock file (another process saving to it waits)."""
    try:
        import fcntl
    except ImportError:  # (no advisory locks on this system: one writer at a time is the caller's care)
        yield
        return
    fd = os.open(path / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _with_prefix(tensors: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The arrays whose names start with ``prefix``, named without it."""
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


def _by_member(tensors: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """The arrays named ``members.<i>.<rest>``, per member ``i``, named ``<rest>``.

    Sorted out in one pass: a search of every name for each member's prefix made loading
    2,000 members take 136 million string comparisons (30 s of a 35 s load)."""
    out: dict[int, dict[str, Any]] = {}
    for k, v in tensors.items():
        if k.startswith("members."):
            index, _, rest = k[len("members."):].partition(".")
            if index.isdigit() and rest:
                out.setdefault(int(index), {})[rest] = v
    return out


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a saved folder's manifest (format, version, and the data files it names)."""
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
    version = manifest.get("format_version")
    if version not in migrations.READABLE:
        hint = " (an earlier build's save, without checksums: train again, or load it with that build)" if version == 3 else ""
        raise SaveFormatError(f"{path} was saved in format version {version}; this riscmoe reads versions "
                              f"{', '.join(map(str, migrations.READABLE))}{hint}")
    files, sums = manifest.get("files"), manifest.get("checksums")
    if (not isinstance(files, dict) or set(files) != {"weights", "archive"} or not isinstance(sums, dict)
            or any(not isinstance(v, str) or not _DATA_FILE.fullmatch(v) or not isinstance(sums.get(v), str) for v in files.values())):
        raise SaveFormatError(f"{mf} does not name its data files and their checksums as a riscmoe save does (files={files!r})")
    if manifest.get("manifest_checksum") != _manifest_digest(manifest):
        raise SaveFormatError(f"{mf} does not match its own checksum: it was changed or damaged after it was saved")
    return manifest


def _manifest_digest(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's content (without this digest), in a canonical JSON form."""
    body = {k: v for k, v in manifest.items() if k != "manifest_checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=_json_default).encode()).hexdigest()


def _verified(path: Path, manifest: dict[str, Any], kind: str) -> Path:
    """The data file of ``kind`` ("weights" or "archive"), after checking its checksum."""
    name = manifest["files"][kind]
    try:
        digest = _sha256(path / name)
    except FileNotFoundError:
        raise SaveFormatError(f"{path}/{name} is missing (the manifest names it)") from None
    if digest != manifest["checksums"][name]:
        raise SaveFormatError(f"{path}/{name} does not match its checksum in manifest.json: it was changed or damaged "
                              "after it was saved, so it is refused rather than learned on")
    return path / name


def load(path: str | os.PathLike, **given: Any) -> Any:
    """Load a RiscClassifier saved with ``save``; predictions are identical to the saved one's.

    ``given`` hands back parts a save cannot rebuild by itself (a user's own module as the
    encoder, an object that is not a registered kind): ``load(path, encoder=net)``. A part
    given replaces the saved one's object; its saved state is loaded into it.
    """
    from riscmoe import threads

    threads.configure()
    unknown = sorted(set(given) - set(registry.PARTS))
    if unknown:
        raise TypeError(f"load() takes parts by name ({', '.join(registry.PARTS)}), not {unknown[0]!r}")
    path = Path(path)
    manifest = read_manifest(path)
    try:
        return _load(path, manifest, given)
    except SaveFormatError:
        again = read_manifest(path)
        if again.get("files") == manifest.get("files"):
            raise
        # Another process's save switched generations while this one read (its files
        # were deleted): the new manifest names a complete save.
        return _load(path, again, given)


def _spec_from(path: Path, name: str, entry: Any, given: dict[str, Any]) -> Any:
    """The part ``name`` of a save: handed back by the caller, or rebuilt from its kind and settings."""
    if not isinstance(entry, dict):
        raise SaveFormatError(f"{path}/manifest.json holds no entry for the part {name!r}")
    try:
        entry = migrations.migrate_part(name, entry)  # an earlier version of its kind, brought forward
    except migrations.MigrationError as exc:
        raise SaveFormatError(f"{path}: {exc}") from None
    needs = entry.get("given")
    if name in given:
        value = given[name]
        kind = entry.get("kind")
        if needs and kind is not None and registry.kind_of(value) is None:
            # The object a kind's setting held (a user's module): the kind again, around it.
            fields = dict(entry.get("config") or {})
            fields.update({key: value for key in needs})
            return registry.from_config(name, kind, fields)
        return value
    if needs:
        raise SaveFormatError(f"{path} was saved with your own {name} ({entry.get('class')}), which a save cannot rebuild; "
                              f"pass it again: riscmoe.load(path, {name}=...)")
    try:
        spec = registry.from_config(name, entry["kind"], dict(entry.get("config") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise SaveFormatError(f"{path}/manifest.json: the {name} cannot be rebuilt from what was saved ({exc}); a kind "
                              "registered by your own code must be registered (imported) before the load") from None
    version = registry.kind_of(spec)[2]
    if entry.get("version") != version:
        raise SaveFormatError(f"{path}: the {name} kind {entry['kind']!r} was saved as version {entry.get('version')}; "
                              f"this code has version {version} of it")
    try:
        default = type(spec)()
    except TypeError:  # (a kind whose settings have no defaults)
        default = None
    return entry["kind"] if spec == default else spec  # its defaults: by name, as it was most likely given


def _load(path: Path, manifest: dict[str, Any], given: dict[str, Any]) -> Any:
    import torch

    from riscmoe.archive.sqlite_archive import Archive
    from riscmoe.classifier import RiscClassifier, _SeededModels
    from riscmoe.collection.collection import Member
    from riscmoe.validation import ValueScale

    weights_file = _verified(path, manifest, "weights")
    archive_file = _verified(path, manifest, "archive")
    try:
        tensors = load_file(str(weights_file))
    except (SafetensorError, OSError, ValueError) as exc:
        raise SaveFormatError(f"{weights_file} is missing or corrupt: {exc}") from None
    for k, v in tensors.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise SaveFormatError(f"{weights_file}: the array {k!r} holds NaN or infinite values; a system in that state "
                                  "cannot answer (it was saved by a build that let one outlier through)")
    try:
        manifest, tensors = migrations.migrate(manifest, tensors)
    except migrations.MigrationError as exc:
        raise SaveFormatError(f"{path} (format version {manifest.get('format_version')}) cannot be read: {exc}") from None
    try:
        entries = manifest["parts"]
        parts = {name: _spec_from(path, name, entries.get(name), given) for name in registry.PARTS}
        clf = RiscClassifier(**manifest["params"], **parts)
        shape = tuple(int(s) for s in manifest["input_shape"])
        built = clf._check_params(shape)
        state = clf._new_state(shape, built)
        counts = np.asarray(manifest["value_scale"], np.int64)
        scale = ValueScale()
        if counts.shape != scale.counts.shape or (counts < 0).any():
            raise ValueError(f"value_scale holds {counts.shape} counts, expected {scale.counts.shape} non-negative ones")
        scale.counts = counts
        state.update(label_kind_=manifest["label_kind"], labels_=list(manifest["labels"]), n_seen_=int(manifest["n_seen"]),
                     history_=list(manifest["history"]), value_scale_=scale)
        members = manifest["members"]
        learner_rng = manifest["rng"]["learner"]
    except SaveFormatError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise SaveFormatError(f"{path}/manifest.json is incomplete or inconsistent: {exc}") from None
    col = state["collection_"]
    for name, part in (("encoder", col.encoder), ("meta", col.meta)):
        try:
            part.load_state(_with_prefix(tensors, f"{name}."), dict(entries[name].get("info") or {}))
        except ValueError as exc:
            raise SaveFormatError(f"{weights_file}: {exc}") from None
    if len(col.meta) != len(members):
        raise SaveFormatError(f"{path}: the meta-model bank holds {len(col.meta)} members, the manifest lists {len(members)}")
    factory = _SeededModels(built["model"], int(clf.seed))
    dim = int(col.encoder.dim)
    per_member = _by_member(tensors)
    for info in members:
        i = int(info["index"])
        model = factory.build(dim, i)
        try:
            model.load_state(_with_prefix(per_member.get(i, {}), "model."), dict(info.get("model") or {}))
        except ValueError as exc:
            raise SaveFormatError(f"{path}: the model of member {i}: {exc}") from None
        member = Member(index=i, label=int(info["label"]), model=model, created_at=int(info["created_at"]),
                        reason=str(info["reason"]), n_positive=int(info["n_positive"]), n_negative=int(info["n_negative"]))
        held = _with_prefix(per_member.get(i, {}), "held.")
        if held:
            features, target = held.get("features"), held.get("target")
            if (features is None or target is None or features.dim() != 2 or features.shape[1] != dim
                    or tuple(target.shape) != (len(features),) or not bool(((target == 0) | (target == 1)).all())):
                raise SaveFormatError(f"{weights_file}: the held rows of member {i} do not fit "
                                      f"(features {None if features is None else tuple(features.shape)}, targets "
                                      f"{None if target is None else tuple(target.shape)}; expected (n, {dim}) and (n,) of 0s and 1s)")
            member.held, member.held_target = features.float(), target.float()
        col.members.append(member)
    creator_info = entries["creator"].get("info") if isinstance(entries.get("creator"), dict) else None
    if creator_info is not None:
        from riscmoe.creator.protocol import MemberCreator

        if not isinstance(built["creator"], MemberCreator):
            raise SaveFormatError(f"{path}/manifest.json: the creator holds a learned border, but {type(built['creator']).__name__} "
                                  "is not a creator member (riscmoe.creator.protocol.MemberCreator)")
        try:
            start = built["creator"].start(float(clf.threshold), float(clf.margin))
            state["creator_border_"] = type(start).from_info(creator_info)
        except (KeyError, TypeError, ValueError) as exc:
            raise SaveFormatError(f"{path}/manifest.json: the creator member's border cannot be read: {exc}") from None
    try:
        state["_rng"].bit_generator.state = learner_rng
    except (KeyError, TypeError, ValueError) as exc:
        raise SaveFormatError(f"{path}/manifest.json holds unusable random states: {exc}") from None
    state["archive_"].close()
    clf.__dict__.update(state)
    clf.archive_ = Archive.open(archive_file, dim=int(np.prod(shape)), max_records=clf._archive_records(len(clf.collection_)),
                                max_bytes=clf.archive_bytes,
                                featurizer=clf._featurize, policy=built["archive"], reserve=int(clf.min_examples))
    return clf
