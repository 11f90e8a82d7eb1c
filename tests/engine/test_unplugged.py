"""An unplugged drive leaves its mount folder behind (empty, or holding what lies under
the mount): its photos and votes are kept, and nothing is encoded again when it returns.
A folder really emptied, or a subfolder deleted, still loses its photos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import engine.indexer as indexer
from engine.cli import main
from engine.library import Library
from tests.engine.conftest import make_photos


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def move_all(src: Path, dst: Path) -> None:
    dst.mkdir(exist_ok=True)
    for child in list(src.iterdir()):
        shutil.move(str(child), str(dst / child.name))


def vote_on_one(library: Path, photos: Path) -> str:
    """Vote up a photo of ``photos``; returns its content hash."""
    with Library.open(library) as lib:
        ref = sorted((photos / "a").iterdir())[0]
        res = lib.similar(ref, k=5)
        lib.vote(res, res.hits[1].photo_id, up=True)
        return res.hits[1].sha256


def kept_intact(library: Path, voted: str) -> None:
    with Library.open(library) as lib:
        st = lib.status()
        assert (st.indexed, st.votes) == (24, 1)
        assert list(lib.tokens_by_sha([voted])) == [voted]  # the voted photo still has its vectors


def test_an_emptied_mount_folder_keeps_its_photos_and_votes(tmp_path, photos, fake_bundle, capsys):
    lib = tmp_path / "lib"
    code, _, err = run(capsys, "index", "--library", lib, "--bundle", fake_bundle, photos)
    assert code == 0, err
    voted = vote_on_one(lib, photos)

    move_all(photos, tmp_path / "drive")  # unplugged: the mount folder stays, empty
    code, out, err = run(capsys, "index", "--library", lib, "--json")
    assert code == 0, err
    r = json.loads(out)
    assert (r["removed"], r["kept_unreachable"], r["indexed"]) == (0, 24, 24)
    code, out, _ = run(capsys, "index", "--library", lib)
    assert "0 removed" in out and f"  {photos}: the folder is empty: kept its 24 photos and their votes" in out
    assert "cirsearch remove" in out
    code, out, _ = run(capsys, "status", "--library", lib)
    assert "indexed   24 files" in out and "kept its 24 photos" in out
    kept_intact(lib, voted)

    move_all(tmp_path / "drive", photos)  # plugged in again
    code, out, err = run(capsys, "index", "--library", lib, "--json")
    r = json.loads(out)
    assert code == 0 and (r["unchanged"], r["encoded"], r["reused"], r["removed"], r["skipped"]) == (24, 0, 0, 0, 0)
    kept_intact(lib, voted)


def test_a_mount_point_with_no_drive_keeps_its_photos(tmp_path, photos, fake_bundle, monkeypatch):
    """The folder is not empty (something was written into it while unmounted), but it is
    no longer a mount point, as it was when its photos were indexed."""
    mounted = {str(photos): True}
    monkeypatch.setattr(indexer, "is_mount_point", lambda p: mounted.get(p, False))
    lib = tmp_path / "lib"
    with Library.open(lib, bundle=fake_bundle) as library:
        library.index([photos])
    voted = vote_on_one(lib, photos)

    move_all(photos, tmp_path / "drive")
    mounted[str(photos)] = False
    make_photos(photos, 2, seed=5)  # written to the bare mount folder
    with Library.open(lib) as library:
        r = library.index()
        assert (r.removed, r.added, r.encoded, r.kept_unreachable) == (0, 0, 0, 24)
        assert [p for p, _ in r.issues] == [str(photos)]
        assert r.issues[0][1].startswith("no drive is mounted here any more: kept its 24 photos")
    kept_intact(lib, voted)

    shutil.rmtree(photos)
    photos.mkdir()
    move_all(tmp_path / "drive", photos)
    mounted[str(photos)] = True
    with Library.open(lib) as library:
        r = library.index()
        assert (r.unchanged, r.encoded, r.removed, r.issues) == (24, 0, 0, [])
    kept_intact(lib, voted)


def test_photos_really_deleted_still_go(tmp_path, photos, fake_bundle, capsys):
    lib = tmp_path / "lib"
    with Library.open(lib, bundle=fake_bundle) as library:
        library.index([photos])
        shutil.rmtree(photos / "b")  # a subfolder gone while the root is there
        r = library.index()
        assert (r.removed, r.kept_unreachable) == (12, 0)
        for p in (photos / "a").iterdir():  # every photo deleted, something else left: not a drive
            p.unlink()
        (photos / "a" / "notes.txt").write_text("x")
        r = library.index()
        assert (r.removed, r.kept_unreachable, library.status().indexed) == (12, 0, 0)


def test_an_emptied_folder_is_removed_on_request(tmp_path, photos, fake_bundle, capsys):
    lib = tmp_path / "lib"
    with Library.open(lib, bundle=fake_bundle) as library:
        library.index([photos])
    voted = vote_on_one(lib, photos)
    shutil.rmtree(photos)
    photos.mkdir()
    code, out, err = run(capsys, "remove", photos / "nowhere", "--library", lib)
    assert code == 2 and f"is not a folder of this library; its folders: {photos}" in err
    code, out, err = run(capsys, "remove", photos, "--library", lib)
    assert code == 0 and "24 photos left the library" in out
    with Library.open(lib) as library:
        st = library.status()
        assert (st.indexed, st.roots, st.votes) == (0, (), 1)
        assert [v.photo_sha256 for v in library.votes()] == [voted]


@pytest.mark.parametrize("folder, expected", [("/", True), (".", False)])
def test_is_mount_point(tmp_path, folder, expected):
    assert indexer.is_mount_point(folder if folder != "." else str(tmp_path)) is expected
