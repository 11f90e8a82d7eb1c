"""Scanning: the listing diff (table-driven) and the walk's behaviour on awkward trees."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.scanner import IssueKind, diff, walk


@pytest.mark.parametrize(
    "old, new, added, changed, removed, unchanged",
    [
        ({}, {}, [], [], [], []),
        ({}, {"a": (1, 1)}, ["a"], [], [], []),
        ({"a": (1, 1)}, {}, [], [], ["a"], []),
        ({"a": (1, 1)}, {"a": (1, 1)}, [], [], [], ["a"]),
        ({"a": (1, 1)}, {"a": (2, 1)}, [], ["a"], [], []),  # size changed
        ({"a": (1, 1)}, {"a": (1, 2)}, [], ["a"], [], []),  # mtime changed
        ({"a": (1, 1)}, {"b": (1, 1)}, ["b"], [], ["a"], []),  # a rename is remove + add (hash links it)
        (
            {"x": (1, 1), "y": (2, 2), "z": (3, 3)},
            {"y": (2, 2), "z": (3, 4), "w": (5, 5), "v": (0, 0)},
            ["v", "w"], ["z"], ["x"], ["y"],
        ),
    ],
)
def test_diff_table(old, new, added, changed, removed, unchanged):
    d = diff(old, new)
    assert (list(d.added), list(d.changed), list(d.removed), list(d.unchanged)) == (added, changed, removed, unchanged)


def _touch(p: Path, data: bytes = b"x") -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def test_walk_lists_images_recursively_and_skips_the_rest(tmp_path):
    _touch(tmp_path / "a.jpg")
    _touch(tmp_path / "B.JPEG")
    _touch(tmp_path / "sub" / "deep" / "c.png")
    _touch(tmp_path / "notes.txt")
    _touch(tmp_path / ".hidden" / "d.jpg")
    _touch(tmp_path / ".e.jpg")
    _touch(tmp_path / "lib" / "thumb.jpg")
    listing = walk(tmp_path, exclude=[tmp_path / "lib"])
    names = sorted(Path(p).relative_to(tmp_path).as_posix() for p in listing.files)
    assert names == ["B.JPEG", "a.jpg", "sub/deep/c.png"]
    assert listing.issues == []
    st = listing.files[str(tmp_path / "a.jpg")]
    assert st.size == 1 and st.mtime_ns == os.stat(tmp_path / "a.jpg").st_mtime_ns


def test_walk_survives_symlink_loops_and_broken_links(tmp_path):
    _touch(tmp_path / "a" / "x.jpg")
    os.symlink(tmp_path, tmp_path / "a" / "up")  # a loop back to the root
    os.symlink(tmp_path / "a" / "self", tmp_path / "a" / "self")  # a link to itself
    os.symlink(tmp_path / "gone.jpg", tmp_path / "a" / "broken.jpg")
    os.symlink(tmp_path / "a", tmp_path / "alias")  # a second name for a folder: scanned once
    listing = walk(tmp_path)
    assert sorted(listing.files) == [str(tmp_path / "a" / "x.jpg")]
    reasons = {Path(i.path).name: i.reason for i in listing.issues}
    assert "loop" in reasons["up"]
    assert "loop" in reasons["self"] or "many levels" in reasons["self"]
    assert reasons["broken.jpg"] == "broken symbolic link"
    kinds = {Path(i.path).name: i.kind for i in listing.issues}
    assert kinds == {"up": IssueKind.FOLDER_SEEN, "alias": IssueKind.FOLDER_SEEN, "self": IssueKind.LINK_LOOP,
                     "broken.jpg": IssueKind.BROKEN_LINK}


def test_walk_follows_a_symlinked_folder_once(tmp_path):
    real = tmp_path / "real"
    _touch(real / "p.jpg")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(real, root / "link")
    assert sorted(walk(root).files) == [str(root / "link" / "p.jpg")]


def test_walk_records_unreadable_folder_and_goes_on(tmp_path):
    """The OSError is injected at the os.scandir boundary (tests run as root, where chmod
    000 does not stop reads); the real-permission case runs in test_unreadable_folder_as_nobody."""
    _touch(tmp_path / "ok" / "a.jpg")
    _touch(tmp_path / "locked" / "b.jpg")
    _touch(tmp_path / "z.jpg")

    def scandir(path):
        if path.endswith("locked"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        with os.scandir(path) as it:
            yield from it

    listing = walk(tmp_path, scandir=scandir)
    assert sorted(Path(p).name for p in listing.files) == ["a.jpg", "z.jpg"]
    assert [(Path(i.path).name, i.reason) for i in listing.issues] == [
        ("locked", "cannot read folder: Permission denied")
    ]
    assert listing.issues[0].kind is IssueKind.UNREADABLE_FOLDER


def test_walk_skips_a_file_that_vanishes_mid_scan(tmp_path):
    _touch(tmp_path / "a.jpg")
    _touch(tmp_path / "b.jpg")

    def scandir(path):
        with os.scandir(path) as it:
            entries = list(it)
        os.unlink(tmp_path / "b.jpg")  # listed, then gone before stat
        yield from entries

    listing = walk(tmp_path, scandir=scandir)
    assert sorted(Path(p).name for p in listing.files) == ["a.jpg"]
    assert listing.issues == []


def test_walk_of_a_missing_root_is_an_issue(tmp_path):
    listing = walk(tmp_path / "nope")
    assert listing.files == {} and "cannot open folder" in listing.issues[0].reason
    assert listing.issues[0].kind is IssueKind.UNREADABLE_FOLDER


def test_walk_of_a_file_as_root_is_an_issue(tmp_path):
    listing = walk(_touch(tmp_path / "a.jpg"))
    assert listing.files == {} and [i.kind for i in listing.issues] == [IssueKind.NOT_A_FOLDER]


def test_walk_stops_when_asked(tmp_path):
    for i in range(5):
        _touch(tmp_path / f"d{i}" / "a.jpg")
    assert walk(tmp_path, should_stop=lambda: True).files == {}


@pytest.mark.skipif(not hasattr(os, "setuid"), reason="needs POSIX uids")
def test_unreadable_folder_as_nobody():
    """A real permission error: the walk runs in a child process that drops to uid 'nobody'
    when the tests run as root (root ignores mode 000), or as the current user otherwise.
    The tree lives in a world-traversable temp folder; the child imports before dropping."""
    import json
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="cirsearch-perm-"))
    try:
        os.chmod(base, 0o755)
        root = base / "tree"
        _touch(root / "open" / "a.jpg")
        _touch(root / "locked" / "b.jpg")
        for p in (root, root / "open", root / "locked"):
            os.chmod(p, 0o755)
        os.chmod(root / "open" / "a.jpg", 0o644)
        os.chmod(root / "locked", 0)
        code = (
            "import os, json\n"
            "from engine.scanner import walk\n"
            "if os.getuid() == 0:\n"
            "    import pwd; nobody = pwd.getpwnam('nobody'); os.setgid(nobody.pw_gid); os.setuid(nobody.pw_uid)\n"
            f"l = walk({str(root)!r})\n"
            "print(json.dumps({'uid': os.getuid(), 'files': sorted(l.files), "
            "'issues': [[i.path, i.reason] for i in l.issues]}))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        assert got["uid"] != 0
        assert got["files"] == [str(root / "open" / "a.jpg")]
        assert got["issues"] == [[str(root / "locked"), "cannot read folder: Permission denied"]]
    finally:
        os.chmod(base / "tree" / "locked", 0o755)
        shutil.rmtree(base)
