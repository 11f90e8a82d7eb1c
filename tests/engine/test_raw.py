"""Camera RAW: the embedded preview or a half-size demosaic, upright; RAW+JPEG pairs; bad RAW files.

The files are DNGs written by tests/engine/dng.py (no package here ships sample RAW
files: rawpy's wheel holds none, and nothing else installed does).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from engine.cli import main
from engine.decode import DecodeConfig, decode
from engine.errors import ImageDecodeError
from engine.library import IndexConfig, Library, LibraryConfig
from engine.raw import decode_raw
from engine.scanner import walk
from engine.thumbnails import thumbnail
from tests.engine.dng import bayer, jpeg_bytes, make_dng

H, W = 64, 96  # sensor samples; a half-size demosaic is 32 x 48
BRIGHT = 3000  # the top-left quarter of the sensor is bright, the rest dim: shows which way is up


def _sensor() -> np.ndarray:
    return bayer(H, W, lambda y, x: np.where((y < H // 2) & (x < W // 2), BRIGHT, 300))


def _preview(size=(300, 200), exif_orientation: int | None = None) -> bytes:
    im = Image.new("RGB", size, (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, size[0] // 2, size[1] // 2))  # bright top-left quarter, as the sensor
    if exif_orientation is None:
        return jpeg_bytes(im)
    exif = Image.Exif()
    exif[0x0112] = exif_orientation
    data = jpeg_bytes(im, exif)
    # As a camera writes it: the Exif segment straight after the start marker (no JFIF
    # segment first; LibRaw puts an Exif segment of its own in front of a preview without one).
    assert data[2:4] == b"\xff\xe0"
    return data[:2] + data[4 + int.from_bytes(data[4:6], "big"):]


def _dng(orientation: int = 1, preview: bytes | None = None, **kw) -> bytes:
    return make_dng(_sensor(), preview, orientation=orientation, **kw)


# Where the sensor's top-left corner ends up once the photo is upright, for each EXIF orientation.
CORNER = {1: "top-left", 3: "bottom-right", 6: "top-right", 8: "bottom-left"}


def _bright_corner(im: Image.Image) -> str:
    a = np.asarray(im.convert("L"), np.float64)
    h, w = a.shape
    quarters = {"top-left": a[: h // 2, : w // 2], "top-right": a[: h // 2, w // 2 :],
                "bottom-left": a[h // 2 :, : w // 2], "bottom-right": a[h // 2 :, w // 2 :]}
    means = {k: v.mean() for k, v in quarters.items()}
    best = max(means, key=means.get)
    assert means[best] > 2 * sorted(means.values())[-2], means  # one clear bright quarter
    return best


@pytest.mark.parametrize("orientation", sorted(CORNER))
def test_a_large_preview_is_used_upright(orientation):
    got = decode_raw(_dng(orientation, _preview()), "x.dng", target=100, max_pixels=10**8, preview_min_side=200)
    assert got.source == "preview"
    turned = orientation in (6, 8)
    assert got.image.size == ((100, 150) if turned else (150, 100))  # 300 x 200 drafted to 1/2
    assert (got.width, got.height) == ((H, W) if turned else (W, H))  # the whole RAW image, upright
    assert _bright_corner(got.image) == CORNER[orientation]


@pytest.mark.parametrize("orientation", sorted(CORNER))
def test_a_small_preview_gives_way_to_a_half_size_demosaic_upright(orientation):
    got = decode_raw(_dng(orientation, _preview()), "x.dng", target=224, max_pixels=10**8, preview_min_side=448)
    assert got.source == "demosaic"
    assert got.image.mode == "RGB"
    assert got.image.size == ((H // 2, W // 2) if orientation in (6, 8) else (W // 2, H // 2))
    assert _bright_corner(got.image) == CORNER[orientation]


def test_no_preview_demosaics():
    got = decode_raw(_dng(6), "x.dng", target=16, max_pixels=10**8, preview_min_side=1)
    assert got.source == "demosaic" and _bright_corner(got.image) == "top-right"


def test_a_preview_with_its_own_orientation_is_turned_once():
    # the preview says "turn 90 degrees clockwise" itself; the RAW says the same: once, not twice
    for raw_orientation in (1, 6):
        data = _dng(raw_orientation, _preview(exif_orientation=6))
        got = decode_raw(data, "x.dng", target=100, max_pixels=10**8, preview_min_side=200)
        assert got.source == "preview" and _bright_corner(got.image) == "top-right"


def test_decode_chooses_by_the_size_asked_for_and_reads_the_capture_time():
    data = _dng(6, _preview(), datetime="2021:05:06 07:08:09")
    small, large = decode(data, "a.dng", target=100), decode(data, "a.dng", target=224)
    assert small.image.size == (100, 150)  # preview 200 px >= 2 x 100
    assert large.image.size == (32, 48)  # preview 200 px < 2 x 224: demosaic
    assert (small.width, small.height) == (large.width, large.height) == (64, 96)
    assert small.taken_at == large.taken_at == 1620284889.0  # 2021-05-06 07:08:09, read as if UTC
    assert decode(data, "a.dng", target=224, cfg=DecodeConfig(raw_preview_min=200)).image.size == (200, 300)


def test_raw_content_is_recognised_without_the_extension():
    assert decode(_dng(6, _preview()), "<pasted image>", target=100).image.size == (100, 150)


def test_too_many_pixels_is_refused_before_decoding():
    with pytest.raises(ImageDecodeError, match="too many pixels"):
        decode(_dng(), "x.dng", cfg=DecodeConfig(max_pixels=W * H - 1))


def test_a_corrupt_nef_is_refused_with_a_reason():
    noise = np.random.default_rng(0).bytes(50_000)
    with pytest.raises(ImageDecodeError, match="camera RAW file LibRaw cannot read") as e:
        decode(noise, "/photos/DSC_0001.NEF")
    assert e.value.path == "/photos/DSC_0001.NEF"


def test_a_truncated_raw_file_is_refused_with_a_reason():
    data = _dng()
    with pytest.raises(ImageDecodeError, match="cut short or damaged"):
        decode(data[: len(data) - 3000], "cut.dng")


def test_a_jpeg_named_like_a_raw_file_still_decodes():
    assert decode(_preview(), "DSC_0001.nef").image.size == (300, 200)


def test_thumbnail_of_a_raw_file(tmp_path):
    src = tmp_path / "shot.dng"
    src.write_bytes(_dng(8, _preview((600, 400))))
    out = thumbnail(src, "ab" * 32, tmp_path / "thumbs", size=128)
    with Image.open(out) as im:
        assert im.format == "JPEG" and im.size == (85, 128)  # the preview, turned upright, fitted in 128
        assert _bright_corner(im) == "bottom-left"


# -- RAW+JPEG pairs ---------------------------------------------------------------------


def _shoot(folder):
    """One RAW+JPEG shot (names of different case), a lone RAW, a lone JPEG and a sidecar."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "IMG_0001.DNG").write_bytes(_dng(1, _preview()))
    (folder / "img_0001.jpg").write_bytes(_preview((64, 48)))
    (folder / "IMG_0002.dng").write_bytes(_dng(6))
    (folder / "IMG_0003.JPG").write_bytes(_preview((48, 64)))
    (folder / "IMG_0001.xmp").write_text("<x:xmpmeta/>")
    sub = folder / "other"  # the same name in another folder is another shot
    sub.mkdir(exist_ok=True)
    (sub / "IMG_0003.dng").write_bytes(_dng(3))
    return folder


def test_walk_pairs_raw_and_jpeg_of_the_same_shot(tmp_path):
    f = _shoot(tmp_path / "card")
    jpeg = walk(f)
    assert sorted(jpeg.files) == sorted(str(f / n) for n in ("img_0001.jpg", "IMG_0002.dng", "IMG_0003.JPG",
                                                                "other/IMG_0003.dng"))
    assert jpeg.paired == {str(f / "IMG_0001.DNG"): str(f / "img_0001.jpg")}
    both = walk(f, raw_pairs="both")
    assert set(both.files) == set(jpeg.files) | {str(f / "IMG_0001.DNG")} and not both.paired


def test_library_counts_pairs_and_remembers_the_choice(tmp_path, fake_bundle):
    f = _shoot(tmp_path / "card")
    lib_dir = tmp_path / "lib"
    with Library.open(lib_dir, fake_bundle) as lib:
        r = lib.index([f])
        assert (r.encoded, r.raw_paired, r.failed) == (4, 1, [])
        assert lib.photo_at(f / "IMG_0001.DNG") is None and lib.photo_at(f / "img_0001.jpg") is not None
    with Library.open(lib_dir, cfg=LibraryConfig(index=IndexConfig(raw_pairs="both"))) as lib:
        r = lib.index()
        assert (r.encoded, r.raw_paired) == (1, 0)
        assert lib.photo_at(f / "IMG_0001.DNG") is not None
    with Library.open(lib_dir) as lib:  # remembered: both
        assert lib.raw_pairs() == "both"
        r = lib.index()
        assert (r.added, r.removed, r.raw_paired) == (0, 0, 0)
    with Library.open(lib_dir, cfg=LibraryConfig(index=IndexConfig(raw_pairs="jpeg"))) as lib:
        r = lib.index()
        assert (r.removed, r.raw_paired) == (1, 1)
        assert lib.photo_at(f / "IMG_0001.DNG") is None


def test_a_bad_raw_file_is_skipped_and_the_run_goes_on(tmp_path, fake_bundle):
    f = tmp_path / "card"
    f.mkdir()
    (f / "DSC_0001.NEF").write_bytes(np.random.default_rng(1).bytes(20_000))
    (f / "DSC_0002.dng").write_bytes(_dng(6, _preview()))
    with Library.open(tmp_path / "lib", fake_bundle) as lib:
        r = lib.index([f])
        assert r.encoded == 1
        assert r.failed == [(str(f / "DSC_0001.NEF"), r.failed[0][1])]
        assert "camera RAW file LibRaw cannot read" in r.failed[0][1]
        assert lib.photo_at(f / "DSC_0002.dng") is not None


def test_cli_raw_pairs_flag(tmp_path, fake_bundle, capsys):
    f = _shoot(tmp_path / "card")
    lib = tmp_path / "lib"
    assert main(["index", "--library", str(lib), "--bundle", str(fake_bundle), str(f), "--quiet"]) == 0
    assert "1 RAW files paired with a JPEG" in capsys.readouterr().out
    assert main(["index", "--library", str(lib), "--raw-pairs", "both", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["raw_paired"], summary["encoded"], summary["indexed"]) == (0, 1, 5)
    with pytest.raises(SystemExit) as e:
        main(["index", "--library", str(lib), "--raw-pairs", "tiff"])
    assert e.value.code == 2
