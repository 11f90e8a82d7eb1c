import json

import numpy as np
import pytest
from PIL import Image, ImageOps

from engine.world import Garment, WorldError, read_demo_queries, render_demo_library, render_seeded
from engine.world.demo import ORIENTATION, PHOTO_SIZE


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return render_demo_library(tmp_path_factory.mktemp("demo") / "lib", n=60, seed=2, queries=6)


def test_photos_are_jpegs_in_subfolders(library):
    folders = {p.path.split("/")[0] for p in library.photos}
    assert folders == {"dresses", "shirts", "tops"}
    assert len(library.photos) == 60
    for p in library.photos[:10]:
        with Image.open(library.root / p.path) as im:
            assert im.format == "JPEG"
            exif = im.getexif()
            assert exif[ORIENTATION] == p.orientation
            assert exif[0x010F] == "cirsearch"
            assert exif.get_ifd(0x8769)[0x9003]  # DateTimeOriginal


def test_some_photos_are_stored_turned_and_exif_turns_them_back(library):
    turned = [p for p in library.photos if p.orientation != 1]
    assert {p.orientation for p in library.photos} >= {1, 6}
    assert len(turned) >= 5
    for p in turned:
        k = library.photos.index(p)
        upright = np.asarray(render_seeded(p.garment, (2, 7, k), PHOTO_SIZE), np.int16)
        with Image.open(library.root / p.path) as im:
            stored = np.asarray(im.convert("RGB"), np.int16)
            fixed = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), np.int16)
        assert fixed.shape == upright.shape
        assert np.abs(fixed - upright).mean() < 4  # JPEG only
        if stored.shape == upright.shape:  # upside down: same size, different pixels
            assert np.abs(stored - upright).mean() > 4 * np.abs(fixed - upright).mean()
        else:
            assert stored.shape[:2] == upright.shape[1::-1]


def test_example_queries_point_at_satisfying_photos(library):
    assert len(library.queries) == 6
    by_path = {p.path: p.garment for p in library.photos}
    for q in library.queries:
        assert q.text and q.reference in by_path
        targets = {by_path[r] for r in q.relevant}
        assert len(targets) == 1 and len(q.relevant) >= 3
        (target,) = targets
        assert q.reference not in q.relevant
        assert by_path[q.reference].category == target.category
        assert 1 <= len(by_path[q.reference].differences(target)) <= 2
    assert read_demo_queries(library.root) == list(library.queries)
    meta = json.loads((library.root / "demo.json").read_text())
    assert Garment.from_json({k: v for k, v in meta["photos"][library.photos[0].path].items()
                              if k != "exif_orientation"}) == library.photos[0].garment


def test_refuses_to_write_over_a_library_or_to_be_tiny(library, tmp_path):
    with pytest.raises(WorldError, match="already"):
        render_demo_library(library.root, n=60)
    with pytest.raises(WorldError, match="at least"):
        render_demo_library(tmp_path / "x", n=5)
    with pytest.raises(WorldError, match="missing"):
        read_demo_queries(tmp_path)


def test_never_overwrites_someone_elses_photo_but_resumes_its_own(tmp_path):
    root = tmp_path / "lib"
    for folder in ("dresses", "shirts", "tops"):  # IMG_0001.jpg lands in one of them
        (root / folder).mkdir(parents=True)
        Image.new("RGB", (8, 8), "red").save(root / folder / "IMG_0001.jpg")
    mine = root / "dresses" / "IMG_0001.jpg"
    before = mine.read_bytes()
    with pytest.raises(WorldError, match="not a demo photo"):
        render_demo_library(root, n=30, seed=1)
    assert mine.read_bytes() == before and not (root / "demo.json").exists()

    other = tmp_path / "resume"
    render_demo_library(other, n=30, seed=1)
    (other / "demo.json").unlink()  # as if interrupted before the end
    again = render_demo_library(other, n=30, seed=1)
    assert len(again.photos) == 30
