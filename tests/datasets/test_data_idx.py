"""Tests for riscmoe.datasets.idx: IDX round trips and rejection of corrupt files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from riscmoe.datasets import read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path: Path, dtype: type, compress: bool) -> None:
    rng = np.random.default_rng(0)
    arr = (rng.random((7, 5, 3)) * 100).astype(dtype)
    path = tmp_path / "a-idx3"
    write_idx(path, arr, compress=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype)
    assert out.dtype.isnative
    assert out.shape == (7, 5, 3)
    np.testing.assert_array_equal(out, arr)
    out[0, 0, 0] = 1  # writable, unlike a bare frombuffer view of bytes


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.uint8)
    plain_named_gz = tmp_path / "labels.gz"
    gz_named_plain = tmp_path / "labels"
    write_idx(plain_named_gz, arr, compress=False)
    write_idx(gz_named_plain, arr, compress=True)
    np.testing.assert_array_equal(read_idx(plain_named_gz), arr)
    np.testing.assert_array_equal(read_idx(gz_named_plain), arr)


def test_big_endian_values(tmp_path: Path) -> None:
    # Hand-made file: int32 (0x0C), 1 dimension of size 2, values 1 and 256 big-endian.
    path = tmp_path / "hand"
    path.write_bytes(bytes([0, 0, 0x0C, 1]) + (2).to_bytes(4, "big")
                     + (1).to_bytes(4, "big") + (256).to_bytes(4, "big"))
    np.testing.assert_array_equal(read_idx(path), [1, 256])


def test_mnist_style_header(tmp_path: Path) -> None:
    path = tmp_path / "imgs"
    write_idx(path, np.zeros((3, 28, 28), dtype=np.uint8))
    assert path.read_bytes()[:4] == bytes([0, 0, 8, 3])


def _write_raw(path: Path, data: bytes, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_bad_magic(tmp_path: Path, compress: bool) -> None:
    path = _write_raw(tmp_path / "bad-magic", b"\x12\x34\x08\x01" + b"\x00\x00\x00\x01" + b"\x05", compress)
    with pytest.raises(ValueError, match="magic") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_unsupported_dtype_code(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "bad-code", b"\x00\x00\x0a\x01" + b"\x00\x00\x00\x01" + b"\x05")
    with pytest.raises(ValueError, match=r"dtype code 0x0A") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_payload(tmp_path: Path, compress: bool) -> None:
    good = tmp_path / "good"
    write_idx(good, np.ones((4, 28, 28), dtype=np.uint8))
    path = _write_raw(tmp_path / "cut", good.read_bytes()[:-10], compress)
    with pytest.raises(ValueError, match="truncated payload") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_oversized_payload(tmp_path: Path) -> None:
    good = tmp_path / "good"
    write_idx(good, np.ones(5, dtype=np.uint8))
    path = _write_raw(tmp_path / "long", good.read_bytes() + b"\x00\x00")
    with pytest.raises(ValueError, match="oversized payload.*2 extra"):
        read_idx(path)


def test_truncated_header(tmp_path: Path) -> None:
    path = _write_raw(tmp_path / "hdr", b"\x00\x00\x08\x03" + b"\x00\x00\x00\x01")
    with pytest.raises(ValueError, match="truncated header"):
        read_idx(path)
    short = _write_raw(tmp_path / "tiny", b"\x00\x00")
    with pytest.raises(ValueError, match="too short"):
        read_idx(short)


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    good = tmp_path / "good.gz"
    write_idx(good, np.arange(1000, dtype=np.int32), compress=True)
    path = _write_raw(tmp_path / "cut.gz", good.read_bytes()[:-20])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


def test_write_rejects_unsupported_dtype(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="int64"):
        write_idx(tmp_path / "x", np.arange(3, dtype=np.int64))
