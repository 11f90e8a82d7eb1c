"""Camera RAW files, through LibRaw (the ``rawpy`` binding): an upright RGB image of the shot.

- The embedded preview, when there is one at least ``preview_min_side`` pixels on its
  shorter side: the JPEG (or bitmap) the camera rendered itself, so colours match what
  the photographer saw, and reading it costs a fraction of a demosaic. Its own EXIF
  orientation is applied when it has one other than "normal"; otherwise the RAW file's
  (LibRaw's ``sizes.flip``), since most cameras store the preview as the sensor saw it.
- Otherwise LibRaw demosaics the sensor data at half size (each 2x2 Bayer block becomes
  one pixel) with the camera's white balance; LibRaw turns that image upright itself.

Every failure is an :class:`ImageDecodeError` with a reason, except "LibRaw does not know
this file" (a JPEG named ``.nef``), which returns None so the caller can try Pillow.
Messages LibRaw prints itself on a damaged file ("Unexpected end of file") go to the C
library's stderr: rawpy offers no way to route them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .errors import ImageDecodeError

try:
    import rawpy
except ImportError:  # pragma: no cover - rawpy is a declared dependency
    rawpy = None

EXIF_ORIENTATION = 0x0112

# LibRaw's flip -> the EXIF orientation that means the same turn (dcraw's table, inverted).
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 3: 3, 2: 4, 4: 5, 6: 6, 7: 7, 5: 8}
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass
class RawPhoto:
    image: Image.Image  # RGB, upright
    width: int  # of the whole upright RAW image, not of the preview or half-size image
    height: int
    exif: Image.Exif | None  # the camera's tags (for the capture time), when they could be read
    source: str  # "preview" or "demosaic"


def decode_raw(data: bytes, name: str, target: int | None, max_pixels: int,
               preview_min_side: int) -> RawPhoto | None:
    """A RAW file's bytes -> :class:`RawPhoto`; None if LibRaw does not recognise them.
    ``target``: the smallest side the caller needs (a JPEG preview is decoded at reduced size)."""
    if rawpy is None:  # pragma: no cover - a declared dependency
        raise ImageDecodeError(name, "camera RAW files need the rawpy package: pip install rawpy")
    try:
        raw = rawpy.RawPy()
        raw.open_buffer(io.BytesIO(data))
    except rawpy.LibRawFileUnsupportedError:
        return None
    except rawpy.LibRawError as e:
        raise ImageDecodeError(name, f"camera RAW file cannot be read ({_libraw_message(e)})") from None
    with raw:
        s = raw.sizes
        if s.width * s.height > max_pixels:
            raise ImageDecodeError(name, f"too many pixels ({s.width} x {s.height} = "
                                         f"{s.width * s.height / 1e6:.0f} MP, the limit is {max_pixels / 1e6:.0f} MP)")
        orientation = _FLIP_TO_ORIENTATION.get(s.flip, 1)
        w, h = (s.height, s.width) if orientation in (5, 6, 7, 8) else (s.width, s.height)
        exif = _tiff_exif(data)
        preview = _preview(raw, target, preview_min_side, orientation)
        if preview is not None:
            image, preview_exif = preview
            return RawPhoto(image, w, h, exif if exif is not None else preview_exif, "preview")
        try:
            rgb = raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)  # (H, W, 3), upright
        except rawpy.LibRawError as e:
            raise ImageDecodeError(name, f"camera RAW data cannot be decoded ({_libraw_message(e)})") from None
        return RawPhoto(Image.fromarray(np.ascontiguousarray(rgb)).convert("RGB"), w, h, exif, "demosaic")


def _preview(raw, target: int | None, min_side: int, orientation: int) -> tuple[Image.Image, Image.Exif | None] | None:
    """The embedded preview, upright, if it is there, readable and large enough; else None."""
    try:
        thumb = raw.extract_thumb()
    except rawpy.LibRawError:  # none, an unsupported kind, or damaged: demosaic instead
        return None
    if thumb.format == rawpy.ThumbFormat.BITMAP:
        a = np.asarray(thumb.data)  # (H, W, 3) or (H, W)
        if min(a.shape[:2]) < min_side:
            return None
        return _turn(Image.fromarray(np.ascontiguousarray(a)).convert("RGB"), orientation), None
    try:
        im = Image.open(io.BytesIO(thumb.data))
        if min(im.size) < min_side:
            return None
        exif = im.getexif()
        own = exif.get(EXIF_ORIENTATION, 1)
        if target and im.format == "JPEG":
            im.draft("RGB", (target, target))
        im = im.convert("RGB")
    except Exception:  # a damaged preview (Pillow raises many types): the sensor data may still be fine
        return None
    return _turn(im, own if own in _TRANSPOSE else orientation), exif


def _turn(im: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return im.transpose(method) if method is not None else im


def _tiff_exif(data: bytes) -> Image.Exif | None:
    """The tags of a TIFF-based RAW file (DNG, NEF, CR2, ARW, ...); None for other containers."""
    if data[:4] not in (b"II*\0", b"MM\0*"):
        return None
    try:
        exif = Image.Exif()
        exif.load(data)
        return exif
    except Exception:  # a damaged header: no capture time, the image may still be fine
        return None


def _libraw_message(e: Exception) -> str:
    if isinstance(e, rawpy.LibRawIOError):
        return "the file is cut short or damaged"
    msg = e.args[0] if e.args else ""
    text = msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)
    return text or type(e).__name__
