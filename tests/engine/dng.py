"""Tiny but valid DNG files for the RAW tests, written by hand (no DNG writer is installed).

A little-endian TIFF: IFD0 is the raw image (16-bit RGGB Bayer samples, uncompressed,
with DNGVersion, a colour matrix, white level, neutral white balance and an
Orientation tag); an optional SubIFD holds a JPEG preview, as cameras and converters
write one. The IFDs come first and the image data last, so cutting the file short
damages the samples, not the structure.
"""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

BYTE, ASCII, SHORT, LONG, RATIONAL, SRATIONAL = 1, 2, 3, 4, 5, 10
_PACK = {BYTE: "B", ASCII: "B", SHORT: "H", LONG: "I", RATIONAL: "I", SRATIONAL: "i"}
_PER_VALUE = {RATIONAL: 2, SRATIONAL: 2}  # numbers per value


def _ifd(entries: list[tuple[int, int, object]], at: int) -> bytes:
    """One IFD at file offset ``at``, followed by the values that do not fit in its entries."""
    entries = sorted(entries, key=lambda e: e[0])
    head = 2 + 12 * len(entries) + 4
    table, extra = bytearray(struct.pack("<H", len(entries))), bytearray()
    for tag, typ, values in entries:
        if typ == ASCII:
            raw, count = str(values).encode() + b"\0", len(str(values)) + 1
        else:
            nums = [int(x) for v in values for x in (v if isinstance(v, tuple) else (v,))]
            raw, count = struct.pack("<" + _PACK[typ] * len(nums), *nums), len(nums) // _PER_VALUE.get(typ, 1)
        if len(raw) <= 4:
            table += struct.pack("<HHI", tag, typ, count) + raw.ljust(4, b"\0")
        else:
            table += struct.pack("<HHII", tag, typ, count, at + head + len(extra))
            extra += raw + b"\0" * (len(raw) % 2)
    return bytes(table + struct.pack("<I", 0) + extra)


def bayer(h: int, w: int, value=lambda y, x: 2000) -> np.ndarray:
    """(h, w) uint16 RGGB samples: ``value(y, x)`` (arrays of row and column indices) in every channel."""
    y, x = np.mgrid[0:h, 0:w]
    return np.broadcast_to(np.asarray(value(y, x), np.uint16), (h, w)).copy()


def jpeg_bytes(im: Image.Image, exif: Image.Exif | None = None) -> bytes:
    b = io.BytesIO()
    im.save(b, "JPEG", quality=92, **({"exif": exif} if exif is not None else {}))
    return b.getvalue()


def make_dng(cfa: np.ndarray, preview: bytes | None = None, orientation: int = 1, white: int = 4095,
             datetime: str | None = None) -> bytes:
    """A DNG holding ``cfa`` ((H, W) uint16 RGGB samples) and, if given, a JPEG preview."""
    h, w = cfa.shape
    strip = cfa.astype("<u2").tobytes()

    def raw_ifd(strip_at: int, sub_at: int) -> list:
        e = [(254, LONG, [0]), (256, LONG, [w]), (257, LONG, [h]), (258, SHORT, [16]), (259, SHORT, [1]),
             (262, SHORT, [32803]), (271, ASCII, "Cirsearch"), (272, ASCII, "Test DNG"), (273, LONG, [strip_at]),
             (274, SHORT, [orientation]), (277, SHORT, [1]), (278, LONG, [h]), (279, LONG, [len(strip)]),
             (284, SHORT, [1]), (33421, SHORT, [2, 2]), (33422, BYTE, [0, 1, 1, 2]),
             (50706, BYTE, [1, 4, 0, 0]), (50707, BYTE, [1, 1, 0, 0]), (50708, ASCII, "Cirsearch Test DNG"),
             (50717, LONG, [white]), (50721, SRATIONAL, [(1, 1), (0, 1), (0, 1), (0, 1), (1, 1), (0, 1), (0, 1),
                                                        (0, 1), (1, 1)]),
             (50728, RATIONAL, [(1, 1), (1, 1), (1, 1)]), (50778, SHORT, [21])]
        if datetime is not None:
            e.append((306, ASCII, datetime))
        if preview is not None:
            e.append((330, LONG, [sub_at]))
        return e

    def preview_ifd(jpeg_at: int) -> list:
        pw, ph = Image.open(io.BytesIO(preview)).size
        return [(254, LONG, [1]), (256, LONG, [pw]), (257, LONG, [ph]), (258, SHORT, [8, 8, 8]), (259, SHORT, [7]),
                (262, SHORT, [6]), (273, LONG, [jpeg_at]), (277, SHORT, [3]), (278, LONG, [ph]),
                (279, LONG, [len(preview)])]

    # The sizes of the IFDs do not depend on the offsets in them: lay out once, then fill in.
    ifd0_len = len(_ifd(raw_ifd(0, 0), 8))
    sub_at = 8 + ifd0_len
    sub = _ifd(preview_ifd(0), sub_at) if preview is not None else b""
    strip_at = sub_at + len(sub)
    jpeg_at = strip_at + len(strip)
    out = b"II*\0" + struct.pack("<I", 8) + _ifd(raw_ifd(strip_at, sub_at), 8)
    if preview is not None:
        out += _ifd(preview_ifd(jpeg_at), sub_at)
    return out + strip + (preview or b"")
