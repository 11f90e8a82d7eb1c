"""Which files are photos: by extension, and by their first bytes where the name says nothing.

- Pillow's formats that a photo library holds, each listed only where this Pillow (and
  its plugins: pillow-heif, and pillow-jxl-plugin if someone installed it) can decode it:
  JPEG, MPO (multi-picture JPEGs from stereo and some Fujifilm cameras), PNG/APNG, WebP,
  GIF, BMP, TIFF, HEIC/HEIF/HIF, AVIF, JPEG 2000, PSD (the composite image), TGA and JPEG XL.
  Icons, vector and scientific formats Pillow also reads (ICO, EPS, WMF, FITS, ...) are
  not photos and are left out.
- Camera RAW (:data:`RAW_EXTENSIONS`) is read through LibRaw (:mod:`engine.raw`).

Content decides, not the name: every file is decoded by what its bytes are (a PNG named
``.jpg`` is read as a PNG), and a file with no extension at all is listed when its first
bytes (:func:`sniff`) are one of these formats. Files with any other extension
(``.mov``, ``.xmp``, ``.txt``) are never opened by the scanner: reading the head of every
sidecar and video at each rescan would cost a file open each, on network drives too.
"""

from __future__ import annotations

import io
import os
from typing import Iterable

from PIL import Image, TiffImagePlugin, features

try:  # HEIC/HEIF; the wheel ships libheif
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    pass

try:  # JPEG XL, only where someone installed the plugin (not a dependency)
    import pillow_jxl  # noqa: F401  (registers itself with Pillow on import)
except ImportError:
    pass

RAW_EXTENSIONS = frozenset({
    ".3fr", ".arw", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".iiq", ".kdc", ".mef", ".mos", ".mrw",
    ".nef", ".nrw", ".orf", ".pef", ".raf", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f",
})

# Developed images a camera writes next to its RAW file of the same shot (RAW+JPEG, RAW+HEIF).
DEVELOPED_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".jfif", ".heic", ".heif", ".hif"})

# Pillow format -> the extensions a photo of it carries, and the Pillow feature its codec needs.
# JPEG XL: whichever plugin registered ".jxl" (Pillow itself, one day, or pillow-jxl-plugin).
_PHOTO_FORMATS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "JPEG": ((".jpg", ".jpeg", ".jpe", ".jfif"), "jpg"),
    "MPO": ((".mpo",), "jpg"),
    "PNG": ((".png", ".apng"), "zlib"),
    "WEBP": ((".webp",), "webp"),
    "GIF": ((".gif",), None),
    "BMP": ((".bmp",), None),
    "TIFF": ((".tif", ".tiff"), None),
    "HEIF": ((".heic", ".heif", ".hif"), None),
    "AVIF": ((".avif",), "avif"),
    "JPEG2000": ((".jp2", ".j2k", ".jpx", ".jpf", ".j2c", ".jpc"), "jpg_2000"),
    "PSD": ((".psd",), None),
    "TGA": ((".tga",), None),
    "*": ((".jxl",), None),
}


def _pillow_extensions() -> frozenset[str]:
    registered = Image.registered_extensions()  # extension -> format, plugins included
    out = set()
    for fmt, (exts, feature) in _PHOTO_FORMATS.items():
        if feature is not None and not features.check(feature):
            continue
        out |= {e for e in exts if e in registered and fmt in (registered[e], "*")}
    return frozenset(out)


PILLOW_EXTENSIONS = _pillow_extensions()
IMAGE_EXTENSIONS = PILLOW_EXTENSIONS | RAW_EXTENSIONS

SNIFF_BYTES = 32  # what sniff() needs to see

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_RAW_MAGIC = (
    b"FUJIFILMCCD-RAW",  # RAF
    b"IIRO", b"IIRS", b"MMOR",  # Olympus ORF
    b"IIU\0",  # Panasonic RW2
    b"FOVb",  # Sigma X3F
    b"\0MRM",  # Minolta MRW
)


def sniff(head: bytes) -> str | None:
    """The image format the first :data:`SNIFF_BYTES` bytes of a file announce, or None.

    "RAW" for camera RAW containers that announce themselves (RAF, ORF, RW2, X3F, MRW,
    CR2, CR3); TIFF-based RAW files without such a mark (DNG, NEF, ARW, ...) sniff as
    "TIFF": :func:`is_raw_tiff` looks further into them.
    """
    if head.startswith(_RAW_MAGIC) or (head[:4] == b"II*\0" and head[8:10] == b"CR"):
        return "RAW"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"crx ":
            return "RAW"
        if brand in (b"avif", b"avis"):
            return "AVIF"
        return "HEIF" if brand in _HEIF_BRANDS else None
    for magic, fmt in (
        (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
        (b"II*\0", "TIFF"), (b"MM\0*", "TIFF"), (b"8BPS", "PSD"), (b"\0\0\0\x0cjP  \r\n\x87\n", "JPEG2000"),
        (b"\xff\x4f\xff\x51", "JPEG2000"), (b"\xff\x0a", "JXL"), (b"\0\0\0\x0cJXL \r\n\x87\n", "JXL"),
    ):
        if head.startswith(magic):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:2] == b"BM" and head[6:10] == b"\0\0\0\0":  # BMP: the reserved field is zero
        return "BMP"
    return None


def is_raw(name: str, data: bytes) -> bool:
    """Whether ``data`` (a whole file) goes to LibRaw: a RAW extension, or RAW content."""
    if _ext(name) in RAW_EXTENSIONS:
        return True
    kind = sniff(data[:SNIFF_BYTES])
    return kind == "RAW" or (kind == "TIFF" and is_raw_tiff(data))


def is_raw_tiff(data: bytes) -> bool:
    """A TIFF whose first image is a camera's: a DNG (DNGVersion tag), or a file whose first
    image is only a reduced-size preview (NEF, ARW, ...; a plain TIFF's first image is the photo)."""
    try:
        ifd0 = TiffImagePlugin.ImageFileDirectory_v2(data[:8])
        fp = io.BytesIO(data)  # shares the bytes, no copy
        fp.seek(int.from_bytes(data[4:8], "little" if data[:2] == b"II" else "big"))
        ifd0.load(fp)
    except Exception:  # a damaged header: let Pillow say what is wrong with it
        return False
    return 50706 in ifd0 or bool(int(ifd0.get(254, 0) or 0) & 1)  # DNGVersion; NewSubfileType: reduced


def _ext(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > max(name.rfind("/"), name.rfind("\\")) else ""


RAW_PAIR_MODES = ("jpeg", "both")  # index a RAW+JPEG shot once (its JPEG), or both files


def find_raw_pairs(paths: Iterable[str]) -> dict[str, str]:
    """Of the files of one folder: each RAW file that has a developed sibling (JPEG or HEIF
    of the same name but for the extension, compared case-insensitively) -> that sibling."""
    paths = list(paths)
    developed: dict[str, str] = {}
    for p in paths:
        stem, ext = os.path.splitext(p)
        if ext.lower() in DEVELOPED_EXTENSIONS:
            developed.setdefault(stem.lower(), p)
    out = {}
    for p in paths:
        stem, ext = os.path.splitext(p)
        if ext.lower() in RAW_EXTENSIONS and stem.lower() in developed:
            out[p] = developed[stem.lower()]
    return out
