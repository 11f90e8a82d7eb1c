"""Reading photo files: bytes and content hash, then a decoded, upright RGB image.

Every way a file can fail becomes an :class:`ImageDecodeError` with a short reason a
person can act on ("truncated or corrupt image data", "not an image", "too many pixels
(...)"); nothing else escapes.

- EXIF orientation is applied (HEIC/HEIF rotations are applied by pillow-heif itself).
- JPEGs (and MPOs) are decoded at reduced size with ``draft`` when a target size is given: the
  DCT scales by 1/2, 1/4 or 1/8 as long as both sides stay at least ``target``.
- A pixel cap (``DecodeConfig.max_pixels``) is checked from the header before any
  pixel is decoded. Pillow's own global bomb check is switched off in favour of it (it
  warns, through the process-wide ``warnings`` filters, which worker threads cannot
  scope).
- Transparent images are composited on white; 16-bit greyscale is scaled to 8 bits;
  CMYK and other modes go to RGB; animations give their first frame.
- The bytes decide the format, not the name (a PNG named ``.jpg`` is read as a PNG);
  camera RAW files (a RAW extension, or RAW content: :func:`engine.formats.is_raw`) go
  to LibRaw (:mod:`engine.raw`), and back to Pillow if LibRaw does not know them.
- What Pillow and libtiff say while decoding (warnings, log records, libtiff errors)
  goes to the log instead of stderr, and into the reason when the photo is unusable
  (:mod:`engine.codec_messages`).
"""

from __future__ import annotations

import calendar
import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from . import formats  # registers Pillow's format plugins (HEIF, ...)
from .codec_messages import capture
from .errors import ImageDecodeError
from .raw import decode_raw

Image.MAX_IMAGE_PIXELS = None  # the engine checks DecodeConfig.max_pixels itself, see above

EXIF_ORIENTATION = 0x0112
EXIF_IFD = 0x8769
EXIF_DATETIME_ORIGINAL = 0x9003
EXIF_DATETIME = 0x0132


@dataclass(frozen=True)
class DecodeConfig:
    max_pixels: int = 150_000_000  # width x height; a 4000 x 3000 photo is 12 M
    max_file_bytes: int = 1 << 30
    draft: bool = True  # reduced-size JPEG decoding when a target size is known
    # A RAW file's embedded preview is used when its shorter side has at least this many
    # pixels; 0: twice the size asked for (448 for a 224-pixel model), or 1024 without one.
    raw_preview_min: int = 0


@dataclass
class Decoded:
    image: Image.Image  # RGB, upright
    width: int  # of the upright original, before any draft reduction
    height: int
    taken_at: float | None  # EXIF DateTimeOriginal as naive wall time (seconds, read as if UTC)
    frames: int


def read_file(path: str | Path, cfg: DecodeConfig = DecodeConfig()) -> bytes:
    """The whole file, or an :class:`ImageDecodeError` saying why not."""
    p = str(path)
    try:
        with open(p, "rb") as f:
            data = f.read(cfg.max_file_bytes + 1)
    except FileNotFoundError:
        raise ImageDecodeError(p, "file disappeared before it could be read") from None
    except PermissionError:
        raise ImageDecodeError(p, "permission denied") from None
    except IsADirectoryError:
        raise ImageDecodeError(p, "is a folder") from None
    except OSError as e:
        raise ImageDecodeError(p, f"cannot be read: {e.strerror or e}") from None
    if not data:
        raise ImageDecodeError(p, "empty file (0 bytes)")
    if len(data) > cfg.max_file_bytes:
        raise ImageDecodeError(p, f"file larger than {cfg.max_file_bytes >> 20} MB")
    return data


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode(data: bytes, name: str = "<image>", target: int | None = None,
           cfg: DecodeConfig = DecodeConfig()) -> Decoded:
    """Bytes -> upright RGB image. ``target``: the smallest side the caller needs (enables draft).

    Raises only :class:`ImageDecodeError`: Pillow's format plugins can raise almost any
    exception type on crafted files, and one bad file must never stop an indexing run.
    """
    with capture(name) as heard:
        try:
            return _decode(data, name, target, cfg)
        except ImageDecodeError as e:
            raise ImageDecodeError(name, _with_heard(e.reason, heard)) from None
        except Exception as e:  # the boundary to Pillow and its plugins, see above
            reason = f"cannot be decoded ({type(e).__name__}: {_short(e)})"
            raise ImageDecodeError(name, _with_heard(reason, heard)) from None


def _with_heard(reason: str, heard: list[str]) -> str:
    """The reason, with what the decoders said on the way when it adds something."""
    extra = [_short(m) for m in heard if m not in reason][:2]
    return f"{reason} [{'; '.join(extra)}]" if extra else reason


def _decode(data: bytes, name: str, target: int | None, cfg: DecodeConfig) -> Decoded:
    raw = formats.is_raw(name, data)
    if raw:
        need = cfg.raw_preview_min or (2 * target if target else 1024)
        got = decode_raw(data, name, target, cfg.max_pixels, need)
        if got is not None:
            return Decoded(got.image, got.width, got.height, _taken_at(got.exif), 1)
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if raw:
            raise ImageDecodeError(name, "a camera RAW file LibRaw cannot read (damaged, or a camera it does "
                                         "not know yet)") from None
        raise ImageDecodeError(name, "not an image, or a format this app cannot read") from None
    except Image.DecompressionBombError as e:  # only if someone re-enabled Pillow's check
        raise ImageDecodeError(name, f"too many pixels: {e}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise ImageDecodeError(name, f"unreadable image header: {e}") from None
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ImageDecodeError(name, f"image has no pixels ({w} x {h})")
    if w * h > cfg.max_pixels:
        raise ImageDecodeError(
            name, f"too many pixels ({w} x {h} = {w * h / 1e6:.0f} MP, the limit is {cfg.max_pixels / 1e6:.0f} MP)"
        )
    frames = int(getattr(im, "n_frames", 1) or 1)
    exif = _exif(im)
    if target and cfg.draft and im.format in ("JPEG", "MPO"):  # an MPO's first picture is a JPEG
        im.draft(im.mode, (target, target))
    try:
        im.load()
        im = _upright(im, exif)
        rgb = to_rgb(im)
    except ImageDecodeError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, MemoryError, Image.DecompressionBombError) as e:
        raise ImageDecodeError(name, f"truncated or corrupt image data ({_short(e)})") from None
    orientation = exif.get(EXIF_ORIENTATION, 1) if exif is not None else 1
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return Decoded(rgb, w, h, _taken_at(exif), frames)


def _exif(im: Image.Image) -> Image.Exif | None:
    try:
        return im.getexif()
    except Exception:  # a malformed EXIF block must not cost the photo; Pillow raises many types here
        return None


def _upright(im: Image.Image, exif: Image.Exif | None) -> Image.Image:
    if exif is None or exif.get(EXIF_ORIENTATION, 1) in (1, None):
        return im
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # a bad orientation value: keep the pixels as stored
        return im


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB; transparency over white, 16-bit greyscale scaled to 8 bits."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im).astype(np.float64)  # (H, W)
        top = 65535.0 if mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
        a8 = np.clip(np.round(a * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(a8).convert("RGB")
    if mode == "F":
        a8 = np.clip(np.round(np.asarray(im, dtype=np.float64)), 0, 255).astype(np.uint8)
        return Image.fromarray(a8).convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _taken_at(exif: Image.Exif | None) -> float | None:
    if exif is None:
        return None
    try:
        raw = exif.get_ifd(EXIF_IFD).get(EXIF_DATETIME_ORIGINAL) or exif.get(EXIF_DATETIME)
    except Exception:  # malformed sub-IFD
        return None
    if not isinstance(raw, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")))
    except ValueError:
        return None


def _short(e: BaseException) -> str:
    s = str(e) or type(e).__name__
    return s if len(s) <= 120 else s[:117] + "..."


def load_image(path: str | Path, target: int | None = None, cfg: DecodeConfig = DecodeConfig()) -> tuple[Decoded, str]:
    """Read and decode one file: (decoded image, sha256 of its bytes)."""
    data = read_file(path, cfg)
    return decode(data, str(path), target, cfg), content_hash(data)
