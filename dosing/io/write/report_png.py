"""Palette PNG images from arrays of colour indices, for report.html's timelines and heatmap.

The report's plots are grids of coloured cells (one per dose, or per patient and week), so they are
drawn as arrays and written as 8-bit palette PNGs with :mod:`zlib`: no plotting library, no fonts (the
labels and axes are HTML text beside the image), byte-identical for the same input.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(indices: np.ndarray, palette: list[str]) -> bytes:
    """An 8-bit palette PNG of ``indices`` (height x width, values index ``palette`` of ``#rrggbb``)."""
    height, width = indices.shape
    if height == 0 or width == 0:
        raise ValueError("an image needs at least one pixel")
    rgb = b"".join(bytes.fromhex(colour.removeprefix("#")) for colour in palette)
    rows = np.full((height, width + 1), 2, dtype=np.uint8)  # filter 2 (Up): each row minus the one above
    rows[:, 1:] = indices
    rows[1:, 1:] -= indices[:-1]  # mod 256; the lanes' repeated rows become zeros
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return (
        SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", rgb)
        + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))
        + _chunk(b"IEND", b"")
    )


def img_tag(indices: np.ndarray, palette: list[str], alt: str, css_class: str) -> str:
    """An ``<img>`` with the PNG embedded as a data URI, at its natural size."""
    height, width = indices.shape
    data = base64.b64encode(png(indices, palette)).decode("ascii")
    return f"<img class='{css_class}' alt='{alt}' width='{width}' height='{height}' src='data:image/png;base64,{data}'>"


def upscale(cells: np.ndarray, cell: tuple[int, int], gaps: tuple[int, int], gap: int) -> np.ndarray:
    """Each cell as a block of ``cell`` (width, height) pixels; columns and rows separated by ``gaps``
    (width, height) pixels of colour index ``gap``."""
    rows, cols = cells.shape
    padded = np.pad(cells, ((0, 1), (0, 1)), constant_values=gap)  # the last row and column are the gap
    return padded[_pixels(rows, cell[1], gaps[1])][:, _pixels(cols, cell[0], gaps[0])]


def _pixels(count: int, size: int, gap: int) -> np.ndarray:
    """For each pixel along one side, the cell it belongs to (``count`` where it is a gap)."""
    pitch = size + gap
    at = np.arange(count * pitch - gap)
    return np.where(at % pitch < size, at // pitch, count)
