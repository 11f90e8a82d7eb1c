"""Smaller faults: a refused indexer, a read-only library folder, folders where the library
keeps files, and output piped into a reader that stops early."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.test_cli import REPO, run


@pytest.fixture
def indexed(tmp_path, photos, fake_bundle, capsys) -> Path:
    lib = tmp_path / "lib"
    code, _, err = run(capsys, "index", "--library", lib, "--bundle", fake_bundle, photos / "a", "--quiet")
    assert code == 0, err
    return lib


def _clean_failure(code: int, out: str, err: str, *words: str) -> None:
    assert code == 1 and out == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err


def test_a_refused_index_does_not_add_its_folder(indexed, photos, capsys):
    import fcntl

    fd = os.open(indexed / "index.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as another indexing process holds it
    try:
        _clean_failure(*run(capsys, "index", "--library", indexed, photos / "b"), "another cirsearch process")
    finally:
        os.close(fd)
    code, out, _ = run(capsys, "status", "--library", indexed, "--json")
    assert code == 0 and json.loads(out)["roots"] == [str(photos / "a")]


def _snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _read_only(monkeypatch, folder: Path) -> None:
    """``folder`` behaves as a read-only folder (``chmod a-w``) even for root: not writable,
    and no file can be made or renamed in it (its files keep their own permissions)."""
    real_access, real_open, real_replace = os.access, os.open, os.replace

    def refused(path) -> PermissionError:
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    def access(path, mode, *a, **kw):
        if Path(path) == folder and mode & os.W_OK:
            return False
        return real_access(path, mode, *a, **kw)

    def opener(path, flags, *a, **kw):
        if flags & os.O_CREAT and Path(os.fsdecode(path)).parent == folder and not os.path.exists(path):
            raise refused(path)
        return real_open(path, flags, *a, **kw)

    def replace(src, dst, *a, **kw):
        if Path(os.fsdecode(dst)).parent == folder:
            raise refused(dst)
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "access", access)
    monkeypatch.setattr(os, "open", opener)
    monkeypatch.setattr(os, "replace", replace)


def _search_commands(lib: Path, photos: Path) -> list[list]:
    ref = sorted((photos / "a").iterdir())[0]
    return [["status", "--library", lib, "--json"],
            ["search", "--library", lib, "--image", ref, "--text", "red", "--json", "-k", "3"],
            ["similar", ref, "--library", lib, "--json", "-k", "3"]]


def test_a_read_only_library_folder_can_be_searched_and_nothing_in_it_changes(indexed, photos, capsys, monkeypatch):
    before = _snapshot(indexed)
    _read_only(monkeypatch, indexed)
    for argv in _search_commands(indexed, photos):
        code, out, err = run(capsys, *argv)
        assert code == 0 and json.loads(out), err
    _clean_failure(*run(capsys, "index", "--library", indexed), "is not writable", str(indexed))
    ref = sorted((photos / "a").iterdir())[0]
    _clean_failure(*run(capsys, "vote", ref, "--up", "--text", "red", "--library", indexed), "is not writable")
    assert _snapshot(indexed) == before, "no -wal, -shm, lock or index file was made or touched"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write to any folder")
def test_a_chmod_read_only_library_folder_can_be_searched(indexed, photos, capsys):
    os.chmod(indexed, 0o555)
    try:
        for argv in _search_commands(indexed, photos):
            code, out, err = run(capsys, *argv)
            assert code == 0 and json.loads(out), err
    finally:
        os.chmod(indexed, 0o755)


@pytest.mark.parametrize("name, argv", [("index.lock", ["index"]), ("tokens.f16", ["status"]),
                                        ("tokens.f16", ["index"])])
def test_a_folder_where_the_library_keeps_a_file_is_named(indexed, capsys, name, argv):
    (indexed / name).unlink()
    (indexed / name).mkdir()
    _clean_failure(*run(capsys, *argv, "--library", indexed), f"{indexed / name} is a folder", "move or rename")


def test_a_folder_in_place_of_the_index_cache_is_worked_around_and_named(indexed, capsys, caplog):
    (indexed / "index.faiss").unlink()
    (indexed / "index.faiss").mkdir()
    code, out, err = run(capsys, "status", "--library", indexed)
    assert code == 0 and "index.faiss" in out and "Is a directory" in out, err
    code, out, err = run(capsys, "index", "--library", indexed, "--json")
    assert code == 0 and json.loads(out)["indexed"] == 12, err
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said and all(f"{indexed / 'index.faiss'} is a folder: move or rename it" in m for m in said)


# -- output into a closed pipe -------------------------------------------------------------


def _into_closed_pipe(*argv) -> subprocess.CompletedProcess:
    """Run the real command with stdout a pipe whose reader is gone (``| head`` after it
    stopped reading): every write to it fails with EPIPE."""
    r, w = os.pipe()
    os.close(r)
    try:
        return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, argv)], stdout=w,
                              stderr=subprocess.PIPE, text=True, cwd=REPO, timeout=300,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    finally:
        os.close(w)


@pytest.mark.parametrize("argv", [["status"], ["search", "--text", "red", "--json"], ["index", "--json"]])
def test_output_into_a_closed_pipe_ends_quietly(indexed, argv):
    p = _into_closed_pipe(*argv, "--library", indexed)
    assert p.returncode == 1 and p.stderr == ""
