"""Tiny PNG heatmaps for attribution examples, encoded by hand (zlib + the PNG chunk format)
and inlined as ``data:`` URIs, so the report needs no image library and no external file.

Reference: W3C, "Portable Network Graphics (PNG) Specification", 2003 (IHDR, IDAT, IEND).
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from collections.abc import Sequence

__all__ = ["diverging", "encode_png", "grey", "heatmap_uri"]

RGB = tuple[int, int, int]
_BLUE, _WHITE, _RED = (33, 102, 172), (247, 247, 247), (178, 24, 43)


def encode_png(pixels: Sequence[Sequence[RGB]]) -> bytes:
    """An 8-bit RGB PNG of ``pixels`` (rows of (r, g, b) tuples, all rows the same length)."""
    height, width = len(pixels), len(pixels[0]) if pixels else 0
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(raw, 9)),
            chunk(b"IEND", b""),
        ]
    )


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    t = min(1.0, max(0.0, t))
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def diverging(value: float) -> RGB:
    """Blue (−1) – white (0) – red (+1), colour-blind safe (ColorBrewer RdBu end points)."""
    if not math.isfinite(value):
        return _WHITE
    return _mix(_WHITE, _RED, value) if value >= 0 else _mix(_WHITE, _BLUE, -value)


def grey(value: float, lo: float, hi: float) -> RGB:
    """Black (lo) to white (hi)."""
    t = (value - lo) / (hi - lo) if hi > lo else 0.0
    return _mix((0, 0, 0), (255, 255, 255), t)


def heatmap_uri(grid: Sequence[Sequence[float]], *, signed: bool) -> str:
    """A ``data:image/png`` URI of a 2-D grid: diverging colours for signed attributions in
    [-1, 1], grey levels scaled to the grid's range otherwise."""
    flat = [v for row in grid for v in row if math.isfinite(v)]
    lo, hi = (min(flat), max(flat)) if flat else (0.0, 1.0)
    pixels = [[diverging(v) if signed else grey(v, lo, hi) for v in row] for row in grid]
    return "data:image/png;base64," + base64.b64encode(encode_png(pixels)).decode("ascii")
