"""Read and write IDX files, the binary format MNIST and Fashion-MNIST ship in.

An IDX file starts with a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``,
then ``ndim`` big-endian int32 sizes, then the values in C order, big-endian.
Files may be gzip-compressed; compression is detected from the content (the
gzip magic bytes), never from the file name.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
import numpy as np

PathLike = str | os.PathLike[str]

# IDX type codes -> big-endian numpy dtypes, as given by the IDX spec.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes | bytearray:
    """Return the decompressed content of ``path``.

    Args:
        path: file to read; gzip content is detected from its first two bytes.
    """
    with open(path, "rb") as fh:
        # A bytearray lets numpy wrap plain uint8 data writably without a copy.
        size = os.fstat(fh.fileno()).st_size
        if size > 0:
            data = bytearray(size)
            n = fh.readinto(data)
            del data[n:]
        else:
            # Pipes and some special files report size 0: fall back to read().
            data = bytearray(fh.read())
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        # A cut-off download usually shows up here as "compressed file ended
        # before the end-of-stream marker".
        raise ValueError(
            f"{path}: gzip data is corrupt or truncated ({exc}); "
            "delete the file and fetch it again"
        ) from exc


def read_idx(path: PathLike) -> np.ndarray:
    """Read one IDX file (plain or gzip) into a native-byte-order numpy array.

    Args:
        path: the file to read.

    Returns:
        A writable array with the dtype and shape the header declares
        (uint8, int8, int16, int32, float32 or float64).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the content is not a valid IDX file; the message names the
            file and what is wrong (magic, dtype code, size mismatch).
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(
            f"{path}: too short for an IDX header ({len(data)} bytes, need at least 4)"
        )
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: bad magic number 0x{data[:4].hex()}; an IDX file starts with "
            "two zero bytes (e.g. 0x00000803 for uint8 images) - is this really an IDX file?"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise ValueError(f"{path}: unsupported IDX dtype code 0x{code:02X}; valid codes are {valid}")
    if ndim == 0:
        raise ValueError(f"{path}: header declares 0 dimensions; an IDX array needs at least 1")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise ValueError(
            f"{path}: truncated header: {ndim} dimensions need {header_len} bytes, "
            f"file has {len(data)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    if any(d < 0 for d in shape):
        raise ValueError(f"{path}: negative dimension in header shape {shape}")
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_len
    if found < expected:
        raise ValueError(
            f"{path}: truncated payload: shape {shape} of {dtype.name} needs {expected} bytes, "
            f"found {found}; the file is probably cut off - fetch it again"
        )
    if found > expected:
        raise ValueError(
            f"{path}: oversized payload: shape {shape} of {dtype.name} needs {expected} bytes, "
            f"found {found} ({found - expected} extra); the header and data disagree"
        )
    flat = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header_len)
    if dtype.itemsize == 1 and isinstance(data, bytearray):
        # Single bytes have no byte order and the buffer is writable: no copy needed.
        return flat.reshape(shape)
    # astype copies, which gives native byte order and a writable array in one
    # step (frombuffer over bytes would be read-only).
    return flat.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def write_idx(path: PathLike, array: np.ndarray, compress: bool = False) -> None:
    """Write ``array`` as an IDX file (mainly for tests and small fixtures).

    Args:
        path: destination file; overwritten if present.
        array: at least 1-D array whose dtype is one the IDX spec supports
            (uint8, int8, int16, int32, float32, float64, any byte order).
        compress: gzip the output (the name is not changed; readers detect
            gzip from the content).

    Raises:
        ValueError: the dtype or number of dimensions cannot be stored as IDX.
    """
    array = np.asarray(array)
    if array.ndim < 1 or array.ndim > 255:
        raise ValueError(f"IDX needs 1 to 255 dimensions, got array of shape {array.shape}")
    native = array.dtype.newbyteorder("=")
    code = next((c for c, dt in IDX_DTYPES.items() if dt.newbyteorder("=") == native), None)
    if code is None:
        valid = ", ".join(dt.name for dt in IDX_DTYPES.values())
        raise ValueError(f"dtype {array.dtype} cannot be stored as IDX; convert to one of {valid}")
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    payload = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    blob = header + payload
    if compress:
        # mtime=0 keeps the output byte-identical across runs.
        blob = gzip.compress(blob, mtime=0)
    with open(path, "wb") as fh:
        fh.write(blob)
