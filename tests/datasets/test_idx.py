"""The IDX parser against arrays written as IDX bytes by hand."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from brainnet.datasets._idx import decompress, parse_idx


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """Writes ``array`` as IDX: big-endian magic, dims, then the uint8 data."""
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(
    "shape, magic", [((5, 3, 4), 2051), ((7,), 2049), ((0,), 2049)]
)
def test_round_trip(shape, magic, compress):
    array = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    data = idx_bytes(array, magic)
    if compress:
        data = gzip.compress(data)
    parsed = parse_idx(data, "f")
    assert parsed.dtype == np.uint8
    assert parsed.shape == shape
    np.testing.assert_array_equal(parsed, array)
    assert parsed.flags.writeable


def test_row_major_layout():
    # Bytes 0..5 as 1 image of 2 rows x 3 columns: row 1 is 3, 4, 5.
    data = struct.pack(">4I", 2051, 1, 2, 3) + bytes(range(6))
    np.testing.assert_array_equal(parse_idx(data, "f")[0, 1], [3, 4, 5])


def test_bad_magic_names_file_and_expected_values():
    data = struct.pack(">2I", 0x0D01, 1) + b"\x00\x00\x00\x00"  # float32 labels
    with pytest.raises(ValueError, match=r"bad\.idx: .*magic number 0x00000d01 .*2051.*2049"):
        parse_idx(data, "bad.idx")


def test_image_magic_with_label_header_is_rejected():
    # Magic 2051 needs three dims; only one is present.
    data = struct.pack(">2I", 2051, 1) + b"\x07"
    with pytest.raises(ValueError, match=r"x: IDX header truncated: 9 bytes, expected at least 16"):
        parse_idx(data, "x")


@pytest.mark.parametrize("payload, word", [(b"\x01" * 5, "5"), (b"\x01" * 7, "7")])
def test_payload_length_must_equal_product_of_dims(payload, word):
    data = struct.pack(">4I", 2051, 1, 2, 3) + payload
    expected = rf"t: IDX payload has {word} bytes, expected 6 \(1 x 2 x 3\)"
    with pytest.raises(ValueError, match=expected):
        parse_idx(data, "t")


def test_too_short_for_magic():
    with pytest.raises(ValueError, match=r"e: not an IDX file: 2 bytes"):
        parse_idx(b"\x00\x00", "e")


def test_truncated_gzip_gives_clear_value_error():
    data = gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8), 2049))
    with pytest.raises(ValueError, match=r"cut\.gz: the gzip data is truncated or damaged") as info:
        parse_idx(data[: len(data) // 2], "cut.gz")
    assert not isinstance(info.value, EOFError)


def test_damaged_gzip_gives_clear_value_error():
    data = bytearray(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8), 2049)))
    data[-5] ^= 0xFF  # inside the stored length: the stream ends inconsistently
    with pytest.raises(ValueError, match=r"d\.gz: the gzip data is truncated or damaged"):
        decompress(bytes(data), "d.gz")


def test_decompress_passes_raw_idx_through():
    data = idx_bytes(np.arange(4, dtype=np.uint8), 2049)
    assert decompress(data, "raw") is data
