"""A minimal PNG encoder (8-bit RGBA, no interlace) on zlib and struct alone."""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RGBA = 6  # PNG colour type: truecolour with alpha


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_rgba(width: int, height: int, pixels: bytes) -> bytes:
    """PNG bytes for `pixels`: rows top to bottom, 4 bytes (R, G, B, A) per pixel."""
    if width <= 0 or height <= 0:
        raise ValueError("a PNG needs a positive width and height")
    stride = width * 4
    if len(pixels) != stride * height:
        raise ValueError(f"expected {stride * height} bytes of RGBA, got {len(pixels)}")
    # Filter type 0 (None) on every row: icons this small compress well enough without
    # the adaptive filters, and the encoder stays obviously correct.
    raw = b"".join(b"\x00" + pixels[row * stride : (row + 1) * stride] for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, _RGBA, 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )
