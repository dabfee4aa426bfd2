"""Parser for the IDX format of MNIST and Fashion-MNIST.

An IDX file is a big-endian header followed by the raw array, row-major:

    magic  (4 bytes)  0x00 0x00 <type> <ndim>   type 0x08 = unsigned byte
    dims   (4 bytes each, ndim of them)
    data   (prod(dims) bytes)

MNIST uses two magics: 0x00000803 (2051) for images, dims (count, rows, cols),
and 0x00000801 (2049) for labels, dims (count,). The files are usually
gzip-compressed (``.gz``); ``decompress`` and ``parse_idx`` accept either.

    >>> import numpy as np
    >>> data = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])
    >>> parse_idx(data, "labels")
    array([7, 2, 1], dtype=uint8)
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib

import numpy as np

IMAGES_MAGIC = 0x00000803  # 2051: uint8, 3 dims (count, rows, cols)
LABELS_MAGIC = 0x00000801  # 2049: uint8, 1 dim (count,)
_NDIM = {IMAGES_MAGIC: 3, LABELS_MAGIC: 1}
_GZIP_MAGIC = b"\x1f\x8b"


def decompress(data: bytes, name: str) -> bytes:
    """Returns the IDX bytes of ``data``, gunzipping it if it is gzip.

    Args:
        data: the bytes of a ``.gz`` file or of a raw IDX file (detected by the
            gzip magic bytes ``1f 8b``; an IDX file starts with ``00 00``).
        name: the file name, used in error messages.

    Returns:
        The uncompressed bytes.

    Raises:
        ValueError: the gzip stream is truncated or damaged.
    """
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as e:
        # EOFError: truncated; BadGzipFile (an OSError): CRC or length
        # mismatch; zlib.error: corrupt deflate stream.
        raise ValueError(
            f"{name}: the gzip data is truncated or damaged "
            f"({type(e).__name__}: {e})."
        ) from e


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """Parses IDX bytes (gzip-compressed or raw) into a uint8 array.

    Args:
        data: the file's bytes.
        name: the file name, used in error messages.

    Returns:
        A writable ``np.uint8`` array of shape ``dims``: ``(count, rows, cols)``
        for images, ``(count,)`` for labels.

    Raises:
        ValueError: the gzip data is damaged, the magic number is not 2051 or
            2049, the header is short, or the payload length is not the
            product of the dimensions. The message names the file.

    Example:
        >>> parse_idx(bytes([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 9, 5]), "x").shape
        (1, 1, 2)
    """
    data = decompress(data, name)
    if len(data) < 4:
        raise ValueError(
            f"{name}: not an IDX file: {len(data)} bytes, shorter than the "
            f"4-byte magic number."
        )
    (magic,) = struct.unpack(">I", data[:4])
    if magic not in _NDIM:
        raise ValueError(
            f"{name}: not an MNIST IDX file: magic number 0x{magic:08x} ({magic}), "
            f"expected 0x{IMAGES_MAGIC:08x} ({IMAGES_MAGIC}, images) or "
            f"0x{LABELS_MAGIC:08x} ({LABELS_MAGIC}, labels)."
        )
    ndim = _NDIM[magic]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"{name}: IDX header truncated: {len(data)} bytes, expected at least "
            f"{header} for magic {magic} ({ndim} dimension(s))."
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = math.prod(dims)
    payload = len(data) - header
    if payload != expected:
        shape = " x ".join(str(d) for d in dims)
        raise ValueError(
            f"{name}: IDX payload has {payload} bytes, expected {expected} "
            f"({shape}); the file is truncated or damaged."
        )
    # frombuffer views the immutable bytes; copy so callers get a writable
    # array, as Keras returns.
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()
