"""Which files are photos (extensions, content), and what Pillow and libtiff say while decoding."""

from __future__ import annotations

import io
import logging
import struct
import threading
import zlib

import numpy as np
import pytest
from PIL import Image, features

from engine import codec_messages
from engine.decode import decode
from engine.errors import ImageDecodeError
from engine.formats import IMAGE_EXTENSIONS, PILLOW_EXTENSIONS, RAW_EXTENSIONS, is_raw, sniff
from engine.scanner import walk


def _photo(w=48, h=32) -> Image.Image:
    rng = np.random.default_rng(3)
    return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8))


def _psd(im: Image.Image) -> bytes:
    """A flat 8-bit RGB Photoshop file (Pillow reads PSD but cannot write it)."""
    a = np.asarray(im.convert("RGB"))  # (H, W, 3)
    h, w = a.shape[:2]
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, 3, h, w, 8, 3)
    empty = struct.pack(">I", 0)  # colour mode data, image resources, layers: none
    planes = b"".join(a[:, :, c].tobytes() for c in range(3))
    return head + empty * 3 + struct.pack(">H", 0) + planes  # compression 0: raw planes


def _save(im: Image.Image, fmt: str) -> bytes:
    if fmt == "PSD":
        return _psd(im)
    b = io.BytesIO()
    if fmt == "MPO":
        im.save(b, "MPO", save_all=True, append_images=[im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    else:
        im.save(b, fmt)
    return b.getvalue()


# extension -> the Pillow format to write it with; those this Pillow cannot write or read are skipped
WRITABLE = {
    ".jpg": "JPEG", ".jpeg": "JPEG", ".mpo": "MPO", ".png": "PNG", ".webp": "WEBP", ".gif": "GIF", ".bmp": "BMP",
    ".tif": "TIFF", ".tiff": "TIFF", ".heic": "HEIF", ".avif": "AVIF", ".jp2": "JPEG2000", ".j2k": "JPEG2000",
    ".jpx": "JPEG2000", ".psd": "PSD", ".tga": "TGA",
}


def test_the_photo_formats_this_pillow_reads_are_listed_and_others_are_not():
    assert {".mpo", ".psd", ".tga", ".jpg", ".png", ".heic", ".hif"} <= PILLOW_EXTENSIONS
    assert (".jp2" in PILLOW_EXTENSIONS) == features.check("jpg_2000")
    assert (".avif" in PILLOW_EXTENSIONS) == (features.check("avif") and ".avif" in Image.registered_extensions())
    assert (".jxl" in PILLOW_EXTENSIONS) == (".jxl" in Image.registered_extensions())
    assert {".cr2", ".cr3", ".nef", ".arw", ".dng", ".orf", ".rw2", ".raf", ".pef", ".srw", ".x3f"} <= RAW_EXTENSIONS
    assert RAW_EXTENSIONS <= IMAGE_EXTENSIONS
    assert not {".ico", ".eps", ".pdf", ".wmf", ".fits", ".mov", ".xmp"} & IMAGE_EXTENSIONS


@pytest.mark.parametrize("ext", sorted(WRITABLE))
def test_each_format_is_scanned_and_decoded(tmp_path, ext):
    if ext not in PILLOW_EXTENSIONS:
        pytest.skip(f"this Pillow cannot read {ext}")
    im = _photo()
    path = tmp_path / f"photo{ext.upper() if ext == '.jpg' else ext}"
    path.write_bytes(_save(im, WRITABLE[ext]))
    assert list(walk(tmp_path).files) == [str(path)]
    d = decode(path.read_bytes(), str(path), target=16)
    assert d.image.mode == "RGB" and (d.width, d.height) == (48, 32)
    if WRITABLE[ext] in ("PNG", "BMP", "TIFF", "PSD", "TGA"):  # lossless: the very pixels
        assert np.array_equal(np.asarray(d.image), np.asarray(im))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "JPEG2000", "AVIF", "HEIF", "PSD", "MPO"])
def test_sniff_names_the_format_from_the_first_bytes(fmt):
    if fmt in ("JPEG2000", "AVIF") and not features.check({"JPEG2000": "jpg_2000", "AVIF": "avif"}[fmt]):
        pytest.skip(f"this Pillow cannot write {fmt}")
    assert sniff(_save(_photo(), fmt)[:32]) == ("JPEG" if fmt == "MPO" else fmt)


@pytest.mark.parametrize("head", [b"", b"hello world, not a photo", b"\0" * 32, b"BM\x01\x02\x03\x04\x05\x06\x07\x08",
                                  b"RIFF\0\0\0\0WAVEfmt "])
def test_sniff_refuses_what_is_not_a_photo(head):
    assert sniff(head) is None


def test_a_png_named_jpg_decodes_by_its_content():
    im = _photo()
    d = decode(_save(im, "PNG"), "holiday.jpg")
    assert np.array_equal(np.asarray(d.image), np.asarray(im))


def test_a_file_without_extension_is_listed_by_its_content(tmp_path):
    (tmp_path / "IMG_0001").write_bytes(_save(_photo(), "JPEG"))  # as some transfers leave them
    (tmp_path / "notes").write_text("not a photo at all\n")
    (tmp_path / "LICENSE").write_bytes(b"")
    (tmp_path / "clip.mov").write_bytes(_save(_photo(), "JPEG"))  # other extensions are never opened
    assert list(walk(tmp_path).files) == [str(tmp_path / "IMG_0001")]
    assert decode((tmp_path / "IMG_0001").read_bytes(), str(tmp_path / "IMG_0001")).image.size == (48, 32)


def test_a_plain_tiff_is_not_taken_for_a_raw_file():
    assert not is_raw("scan", _save(_photo(), "TIFF"))
    assert is_raw("scan.dng", b"")  # the extension alone sends it to LibRaw (Pillow is the fallback)


# -- what the decoders say --------------------------------------------------------------


@pytest.fixture
def hooked():
    """The hook the engine installs on import, as it is outside pytest (which swaps it per test)."""
    codec_messages.install()


def _corrupt_exif_jpeg() -> bytes:
    # an IFD that claims 5 entries and holds a third of one
    exif = b"Exif\0\0II*\0" + struct.pack("<IH", 8, 5) + b"\x12\x01\x03\x00"
    b = io.BytesIO()
    _photo().save(b, "JPEG", exif=exif)
    return b.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _apng_with_bad_actl() -> bytes:
    png = _save(_photo(), "PNG")
    at = png.index(b"IDAT") - 4  # an acTL chunk claiming 0 frames, before the image data
    return png[:at] + _png_chunk(b"acTL", struct.pack(">II", 0, 0)) + png[at:]


@pytest.mark.filterwarnings("default")  # as outside the test suite, where warnings are not errors
@pytest.mark.parametrize("make, said", [(_corrupt_exif_jpeg, "Corrupt EXIF data"),
                                        (_apng_with_bad_actl, "Invalid APNG")])
@pytest.mark.usefixtures("hooked")
def test_pillow_warnings_go_to_the_log_not_the_terminal(caplog, capfd, make, said):
    with caplog.at_level(logging.WARNING, logger="engine.decode"):
        d = decode(make(), "/photos/odd.img", target=16)
    assert (d.width, d.height) == (48, 32) and d.image.mode == "RGB"  # the photo is still usable
    logged = [r.getMessage() for r in caplog.records if r.name == "engine.decode"]
    assert any(m.startswith("/photos/odd.img: ") and said in m for m in logged), logged
    out, err = capfd.readouterr()
    assert said not in err and said not in out


def _tiff_with(samples_per_pixel: int | None = None, corrupt_strip: bool = False) -> bytes:
    b = io.BytesIO()
    _photo(64, 64).save(b, "TIFF", compression="tiff_deflate" if corrupt_strip else None)
    data = bytearray(b.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        at = ifd + 2 + 12 * i
        tag, _typ, _count, value = struct.unpack_from("<HHII", data, at)
        if tag == 277 and samples_per_pixel is not None:  # SamplesPerPixel
            struct.pack_into("<HHII", data, at, tag, 4, 1, samples_per_pixel)
        if tag == 273 and corrupt_strip:  # StripOffsets: scramble the compressed data
            for j in range(value + 2, min(len(data), value + 200)):
                data[j] ^= 0x5A
    return bytes(data)


@pytest.mark.usefixtures("hooked")
def test_a_pillow_log_message_names_why_the_photo_is_unusable(capfd):
    with pytest.raises(ImageDecodeError) as e:
        decode(_tiff_with(samples_per_pixel=70000), "/photos/scan.tif")
    assert "More samples per pixel than can be decoded: 70000" in e.value.reason
    assert "More samples per pixel" not in capfd.readouterr().err


@pytest.mark.skipif(codec_messages._libtiff_handler is None, reason="libtiff is not a library of its own here")
def test_libtiff_errors_reach_the_reason_not_stderr(capfd):
    with pytest.raises(ImageDecodeError) as e:
        decode(_tiff_with(corrupt_strip=True), "/photos/scan.tif")
    assert "libtiff: ZIPDecode" in e.value.reason, e.value.reason
    assert "ZIPDecode" not in capfd.readouterr().err


@pytest.mark.usefixtures("hooked")
def test_each_thread_hears_its_own_photo():
    """Decoding threads run at once: each failure carries its own file's messages only."""
    files = {"spp.tif": _tiff_with(samples_per_pixel=70000), "zip.tif": _tiff_with(corrupt_strip=True)}
    reasons: dict[str, list[str]] = {name: [] for name in files}
    start = threading.Barrier(8)

    def work(name: str) -> None:
        start.wait()
        for _ in range(10):
            try:
                decode(files[name], name)
            except ImageDecodeError as e:
                reasons[name].append(e.reason)

    threads = [threading.Thread(target=work, args=(n,)) for n in list(files) * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(reasons["spp.tif"]) == len(reasons["zip.tif"]) == 40
    assert all("More samples per pixel" in r and "ZIPDecode" not in r for r in reasons["spp.tif"])
    assert not any("More samples per pixel" in r for r in reasons["zip.tif"])
    if codec_messages._libtiff_handler is not None:
        assert all("ZIPDecode" in r for r in reasons["zip.tif"])
