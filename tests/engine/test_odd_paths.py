"""File and folder names that are not valid UTF-8 (old Windows disks, cameras).

Python hands such names as str with surrogates (``os.fsdecode``); they must be indexed,
stored, searched, voted on and printed, and every path handed back must name the exact
same file.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from engine.cli import main
from engine.db import Database
from engine.fspath import from_db, shown, to_db
from engine.library import Library
from tests.engine.conftest import make_photos

BAD_FILE = os.fsdecode(b"bad\xff\xfename.jpg")
BAD_FOLDER = os.fsdecode(b"dossier \xe9t\xe9")  # Latin-1 "été"
BROKEN = os.fsdecode(b"broken\xff.jpg")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()  # pytest captures as strict UTF-8, as a terminal would take it
    return code, out.out, out.err


@pytest.fixture
def odd(photos: Path) -> Path:
    """``photos`` (24) plus a file with a non-UTF-8 name, a folder of 3 with one, a broken
    file with one, and a file whose valid name spells the escape of the odd one."""
    shutil.copy(make_photos(photos / "tmp", 1, seed=9)[0], photos / "a" / BAD_FILE)
    make_photos(photos / BAD_FOLDER, 3, seed=10)
    shutil.copy(make_photos(photos / "tmp", 1, seed=11)[0], photos / "a" / "bad\\xff\\xfename.jpg")
    shutil.rmtree(photos / "tmp")
    (photos / "a" / BROKEN).write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    return photos


def on_disk(root: Path) -> dict[str, bytes]:
    return {os.path.join(d, f): Path(d, f).read_bytes() for d, _, fs in os.walk(root) for f in fs
            if f != os.fsdecode(b"broken\xff.jpg")}


@pytest.mark.parametrize("path, expected", [
    ("/photos/plain.jpg", "/photos/plain.jpg"),
    ("/photos/été/ünïcode.jpg", "/photos/été/ünïcode.jpg"),
    (os.fsdecode(b"/photos/bad\xff\xfename.jpg"), "/photos/bad\\xff\\xfename.jpg"),
    ("/photos/lone\ud800.jpg", "/photos/lone\\ud800.jpg"),  # an unpaired UTF-16 half (Windows)
])
def test_paths_are_shown_with_escapes_and_stored_without_loss(path, expected):
    assert shown(path) == expected
    shown(path).encode("utf-8")  # printable anywhere
    stored = to_db(path)
    assert from_db(stored) == path
    assert isinstance(stored, str) == (path == expected)  # valid names are stored as before


def test_odd_names_are_indexed_searched_voted_and_printed(tmp_path, odd, fake_bundle, capsys):
    lib = tmp_path / "lib"
    bad = str(odd / "a" / BAD_FILE)
    code, out, err = run(capsys, "index", "--library", lib, "--bundle", fake_bundle, odd)
    assert code == 0, err
    assert "29 photos indexed" in out and "29 encoded" in out
    assert "broken\\xff.jpg: " in out  # the skipped file, escaped

    code, out, err = run(capsys, "index", "--library", lib, "--json")  # every later run used to crash
    assert code == 0, err
    summary = json.loads(out)
    assert (summary["indexed"], summary["removed"], summary["unchanged"], summary["encoded"]) == (29, 0, 30, 0)

    code, out, err = run(capsys, "search", "--library", lib, "--text", "anything", "-k", "100", "--json")
    assert code == 0, err
    hits = json.loads(out)
    files = on_disk(odd)
    assert sorted(h["path"] for h in hits) == sorted(files)  # each one names its own file
    assert all(Path(h["path"]).read_bytes() == files[h["path"]] for h in hits)

    code, out, err = run(capsys, "search", "--library", lib, "--text", "anything", "-k", "100")
    assert code == 0, err
    assert "bad\\xff\\xfename.jpg" in out and "dossier \\xe9t\\xe9" + os.sep in out

    code, out, err = run(capsys, "similar", bad, "--library", lib, "-k", "100", "--json")
    assert code == 0, err
    assert bad not in [h["path"] for h in json.loads(out)] and len(json.loads(out)) == 28  # itself left out

    code, out, err = run(capsys, "vote", bad, "--up", "--text", "anything", "-k", "100", "--library", lib, "--json")
    assert code == 0, err
    assert json.loads(out)["photo"] == bad
    folder_photo = str(odd / BAD_FOLDER / "img_10_001.jpg")
    code, out, err = run(capsys, "vote", folder_photo, "--down", "--image", bad, "--text", "x", "--library", lib)
    assert code == 0, err
    assert "thumbs down for " + shown(folder_photo) in out

    code, out, err = run(capsys, "status", "--library", lib)
    assert code == 0, err
    assert "votes     2" in out and shown(str(odd / "a" / BROKEN)) in out
    code, out, _ = run(capsys, "status", "--library", lib, "--json")
    assert json.loads(out)["skipped_files"][0]["path"] == str(odd / "a" / BROKEN)

    with Library.open(lib) as library:
        votes = library.votes()
        assert [v.photo_path for v in votes] == [bad, folder_photo] and votes[1].query.ref_path == bad
        assert library.photo_at(bad).path == bad
        assert library.photo_at(odd / "a" / "bad\\xff\\xfename.jpg").sha256 != library.photo_at(bad).sha256
        thumb = library.thumbnail(library.photo_at(bad).id)
        assert thumb.is_file()

    os.remove(bad)
    shutil.rmtree(odd / BAD_FOLDER)
    code, out, err = run(capsys, "index", "--library", lib, "--json")
    assert code == 0, err
    assert (json.loads(out)["removed"], json.loads(out)["indexed"]) == (4, 25)


def test_a_root_with_an_odd_name(tmp_path, photos, fake_bundle, capsys):
    root = tmp_path / BAD_FOLDER
    photos.rename(root)
    lib = tmp_path / "lib"
    code, out, err = run(capsys, "index", "--library", lib, "--bundle", fake_bundle, root)
    assert code == 0, err
    assert "24 photos indexed" in out
    code, out, err = run(capsys, "index", "--library", lib, "--bundle", fake_bundle, root / "a")  # inside: same root
    assert code == 0, err
    code, out, _ = run(capsys, "status", "--library", lib, "--json")
    assert json.loads(out)["roots"] == [str(root)]
    code, out, _ = run(capsys, "status", "--library", lib)
    assert f"folders   {shown(str(root))}" in out

    code, out, err = run(capsys, "remove", root, "--library", lib)
    assert code == 0, err
    code, out, _ = run(capsys, "status", "--library", lib, "--json")
    assert json.loads(out)["roots"] == [] and json.loads(out)["indexed"] == 0


def test_valid_paths_stay_text_in_the_catalog(tmp_path, odd, fake_bundle):
    """Catalogs written before keep their form: only names that are not UTF-8 are stored as bytes."""
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([odd])
    db = Database(tmp_path / "lib" / "catalog.sqlite")
    try:
        kinds = {r[0]: r[1] for r in db.query("SELECT path, typeof(path) FROM files")}
    finally:
        db.close()
    odd_names = {k for k in kinds if isinstance(k, bytes)}
    assert {kinds[k] for k in odd_names} == {"blob"} and len(odd_names) == 5
    assert {v for k, v in kinds.items() if k not in odd_names} == {"text"}
