"""Decoding: every awkward file either decodes upright in RGB or fails with a clear reason."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from engine.decode import DecodeConfig, decode, load_image, read_file
from engine.errors import ImageDecodeError
from engine.preprocess import ImageSpec, preprocess


def _bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def _jpeg(w=64, h=48, **kw) -> bytes:
    rng = np.random.default_rng(0)
    return _bytes(Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)), "JPEG", **kw)


def _fails(data: bytes, cfg: DecodeConfig = DecodeConfig()) -> str:
    with pytest.raises(ImageDecodeError) as e:
        decode(data, "x.jpg", cfg=cfg)
    return e.value.reason


def test_truncated_jpeg():
    data = _jpeg(256, 256)
    assert "truncated or corrupt" in _fails(data[: len(data) // 2])


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageDecodeError, match="empty file"):
        read_file(p)


def test_text_named_jpg():
    assert "not an image" in _fails(b"this is not a photo\n" * 10)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_the_header():
    data = _png_header_only(60000, 60000)  # 3.6 gigapixels claimed by a ~100-byte file
    assert len(data) < 200
    reason = _fails(data)
    assert "too many pixels" in reason and "60000 x 60000" in reason


def test_pixel_cap_is_configurable():
    assert "too many pixels" in _fails(_jpeg(64, 48), DecodeConfig(max_pixels=1000))
    assert decode(_jpeg(64, 48), cfg=DecodeConfig(max_pixels=64 * 48)).image.size == (64, 48)


def test_cmyk_jpeg_becomes_rgb():
    im = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # red in CMYK
    d = decode(_bytes(im, "JPEG", quality=95))
    assert d.image.mode == "RGB"
    r, g, b = np.asarray(d.image).reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60


def test_16_bit_greyscale_is_scaled_not_clipped():
    a = np.zeros((8, 8), np.uint16)
    a[:, 4:] = 65535
    a[0, 0] = 32768
    im = Image.fromarray(a)
    assert im.mode.startswith("I;16")
    d = decode(_bytes(im, "PNG"))
    rgb = np.asarray(d.image)
    assert d.image.mode == "RGB"
    assert rgb[1, 1, 0] == 0 and rgb[1, 6, 0] == 255 and 126 <= rgb[0, 0, 0] <= 129


def test_palette_with_transparency_goes_on_white():
    im = Image.new("P", (8, 8), 0)
    im.putpalette([0, 0, 255] + [255, 0, 0] * 255)  # index 0 blue, the rest red
    im.paste(1, (0, 0, 4, 8))
    im.info["transparency"] = 0  # blue is transparent
    d = decode(_bytes(im, "PNG", transparency=0))
    rgb = np.asarray(d.image)
    assert tuple(rgb[0, 0]) == (255, 0, 0) and tuple(rgb[0, 7]) == (255, 255, 255)


def test_rgba_goes_on_white():
    im = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert tuple(np.asarray(decode(_bytes(im, "PNG")).image)[0, 0]) == (255, 255, 255)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
def test_animation_gives_its_first_frame(fmt):
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    data = _bytes(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    d = decode(data)
    assert d.frames == 3
    r, g, b = np.asarray(d.image).reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60


def _upright_test_image() -> np.ndarray:
    """40 x 24 with distinct quadrant colours, so every flip and rotation is visible."""
    a = np.zeros((24, 40, 3), np.uint8)
    a[:12, :20] = (255, 0, 0)
    a[:12, 20:] = (0, 255, 0)
    a[12:, :20] = (0, 0, 255)
    a[12:, 20:] = (255, 255, 0)
    return a


# How each EXIF orientation maps the stored pixels to the upright view (from the EXIF
# spec's row/column wording, independent of Pillow), and the inverse to make a file.
_SHOW = {
    1: lambda s: s, 2: np.fliplr, 3: lambda s: np.rot90(s, 2), 4: np.flipud,
    5: lambda s: s.transpose(1, 0, 2), 6: lambda s: np.rot90(s, -1),
    7: lambda s: np.rot90(s.transpose(1, 0, 2), 2), 8: lambda s: np.rot90(s, 1),
}
_STORE = {**_SHOW, 6: lambda u: np.rot90(u, 1), 8: lambda u: np.rot90(u, -1)}


def _quadrants(a: np.ndarray) -> list[tuple[int, ...]]:
    h, w = a.shape[:2]
    qs = [a[: h // 2, : w // 2], a[: h // 2, w // 2 :], a[h // 2 :, : w // 2], a[h // 2 :, w // 2 :]]
    return [tuple(int(round(v / 255)) for v in q.reshape(-1, 3).mean(0)) for q in qs]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation(orientation):
    upright = _upright_test_image()
    stored = np.ascontiguousarray(_STORE[orientation](upright))
    assert np.array_equal(_SHOW[orientation](stored), upright)  # the oracle is self-consistent
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _bytes(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())
    d = decode(data)
    got = np.asarray(d.image)
    assert got.shape == upright.shape
    assert _quadrants(got) == _quadrants(upright)
    assert (d.width, d.height) == (40, 24)


def test_heic_decodes_upright():
    pytest.importorskip("pillow_heif")
    upright = _upright_test_image()
    exif = Image.Exif()
    exif[0x0112] = 6  # pillow-heif turns this into an HEIF rotation when encoding
    data = _bytes(Image.fromarray(np.ascontiguousarray(np.rot90(upright, 1))), "HEIF", quality=95, exif=exif.tobytes())
    d = decode(data, "x.heic")
    assert d.image.mode == "RGB" and d.image.size == (40, 24)
    assert _quadrants(np.asarray(d.image)) == _quadrants(upright)


def test_exif_date_taken_is_read():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2021:06:15 13:45:30"
    d = decode(_bytes(Image.new("RGB", (8, 8)), "JPEG", exif=exif.tobytes()))
    assert d.taken_at == 1623764730.0  # read as naive wall time
    assert decode(_jpeg()).taken_at is None


def test_jpeg_draft_decodes_small_but_reports_full_size():
    data = _jpeg(2000, 1500, quality=90)
    fast = decode(data, target=96)
    full = decode(data, target=None)
    assert full.image.size == (2000, 1500)
    assert fast.image.size[1] >= 96 and fast.image.size[0] < 2000 // 2
    assert (fast.width, fast.height) == (2000, 1500)
    spec = ImageSpec(size=96)
    diff = np.abs(preprocess(fast.image, spec) - preprocess(full.image, spec)).mean()
    assert diff < 0.15  # the same picture (normalized units; random noise is the worst case)


def test_read_file_reasons(tmp_path):
    with pytest.raises(ImageDecodeError, match="disappeared"):
        read_file(tmp_path / "gone.jpg")
    with pytest.raises(ImageDecodeError, match="folder"):
        read_file(tmp_path)
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\0" * 2000)
    with pytest.raises(ImageDecodeError, match="larger than"):
        read_file(big, DecodeConfig(max_file_bytes=1000))


def test_load_image_hashes_the_bytes(tmp_path):
    p = tmp_path / "a.jpg"
    p.write_bytes(_jpeg())
    import hashlib

    d, sha = load_image(p)
    assert sha == hashlib.sha256(p.read_bytes()).hexdigest() and d.image.size == (64, 48)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_damaged_files_only_ever_raise_image_decode_error(fmt):
    """Random byte damage anywhere in a file: it decodes, or fails with a reason; nothing else."""
    rng = np.random.default_rng(hash(fmt) % 2**32)
    base = _bytes(Image.fromarray((rng.random((24, 32, 3)) * 255).astype(np.uint8)), fmt)
    outcomes = set()
    for _ in range(150):
        data = bytearray(base)
        for _ in range(int(rng.integers(1, 6))):
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        cut = len(data) if rng.random() < 0.7 else int(rng.integers(1, len(data)))
        try:
            d = decode(bytes(data[:cut]), target=16)
            assert d.image.mode == "RGB"
            outcomes.add("ok")
        except ImageDecodeError as e:
            assert e.reason
            outcomes.add("error")
    assert "error" in outcomes
