"""A full disk: one clear message, nothing committed lost or counted twice, and read-only
commands that work without writing.

The fault is injected where the engine meets the disk: SQLite's own ``PRAGMA
max_page_count`` (its real "database or disk is full"), ``os.pwrite`` for the token store,
``os.replace`` for the atomic writes (index.faiss, saved reference features), and an SQLite
connection that cannot make its -shm file (what a full disk does to a WAL database).
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path

import pytest

import engine.db as db_module
from tests.engine.test_cli import run


@pytest.fixture
def indexed(tmp_path, photos, fake_bundle, capsys) -> Path:
    lib = tmp_path / "lib"
    code, _, err = run(capsys, "index", "--library", lib, "--bundle", fake_bundle, photos, "--quiet")
    assert code == 0, err
    return lib


def _no_space(path: object) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def _inside(path: object, folder: Path) -> bool:
    return Path(os.fsdecode(path)).absolute().is_relative_to(folder)


def _one_clean_line(err: str) -> None:
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def _vote_argv(lib: Path, photos: Path, text: str) -> list:
    ref, target = sorted((photos / "a").iterdir())[:2]
    return ["vote", target, "--up", "--image", ref, "--text", text, "-k", "5", "--library", lib, "--json"]


def _votes(capsys, lib: Path) -> int:
    code, out, err = run(capsys, "status", "--library", lib, "--json")
    assert code == 0, err
    return json.loads(out)["votes"]


@pytest.fixture
def full_catalog(monkeypatch) -> dict:
    """New catalog connections may not grow the file while ``state["full"]``."""
    real = db_module._connect
    state = {"full": True}

    def connect(path, read_only=False):
        c = real(path, read_only)
        if state["full"]:
            pages = c.execute("PRAGMA page_count").fetchone()[0]
            c.execute(f"PRAGMA max_page_count = {pages}")
        return c

    monkeypatch.setattr(db_module, "_connect", connect)
    return state


def test_a_vote_on_a_full_catalog_fails_with_one_message_and_a_retry_counts_once(indexed, photos, capsys,
                                                                                 full_catalog):
    argv = _vote_argv(indexed, photos, "same but red " * 400)  # a row that needs new pages
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    _one_clean_line(err)
    assert "is full" in err and "free some space" in err and str(indexed / "catalog.sqlite") in err
    assert _votes(capsys, indexed) == 0, "a failed vote is not stored"

    full_catalog["full"] = False  # space was freed
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    first = json.loads(out)
    code, out, _ = run(capsys, *argv)  # the user retries: the same vote, not a second one
    assert code == 0 and json.loads(out)["id"] == first["id"]
    assert _votes(capsys, indexed) == 1


def test_a_committed_vote_is_reported_as_saved_when_the_writes_after_it_fail(indexed, photos, capsys, monkeypatch,
                                                                             caplog):
    (indexed / "index.faiss").unlink()  # the open rebuilds the index and saves it, so does the close
    real_replace = os.replace

    def replace(src, dst, *a, **kw):
        if _inside(dst, indexed):
            raise _no_space(src)
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)
    argv = _vote_argv(indexed, photos, "same but red")
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    vote = json.loads(out)
    assert not (indexed / "index.faiss").exists() and not list((indexed / "refs").rglob("*.npy")), \
        "the writes after the commit did fail"
    assert not list(indexed.rglob("*.tmp")), "a failed atomic write leaves no temporary file"
    assert any("index.faiss was not saved" in r.getMessage() for r in caplog.records)
    code, out, _ = run(capsys, *argv)
    assert code == 0 and json.loads(out)["id"] == vote["id"]
    monkeypatch.undo()
    assert _votes(capsys, indexed) == 1


def test_index_on_a_full_disk_stops_with_one_message_and_keeps_what_was_committed(tmp_path, photos, fake_bundle,
                                                                                  capsys, monkeypatch):
    clean = tmp_path / "clean"
    assert run(capsys, "index", "--library", clean, "--bundle", fake_bundle, photos, "--quiet")[0] == 0
    lib = tmp_path / "lib"
    slot = 4 * 16 * 2  # the fake bundle's Q x E fp16 tokens
    real_pwrite = os.pwrite

    def pwrite(fd, data, offset):  # the third batch of four no longer fits
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")) == "tokens.f16" and offset >= 9 * slot:
            raise _no_space("tokens.f16")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    code, out, err = run(capsys, "index", "--library", lib, "--bundle", fake_bundle, photos, "--quiet",
                         "--batch-size", "4")
    assert code == 1 and out == ""
    _one_clean_line(err)
    assert "is full" in err and "free some space" in err
    code, out, _ = run(capsys, "status", "--library", lib, "--json")
    assert code == 0 and json.loads(out)["indexed"] == 8, "the two committed batches stay"

    monkeypatch.undo()
    code, out, err = run(capsys, "index", "--library", lib, "--json", "--batch-size", "4")
    assert code == 0, err
    report = json.loads(out)
    assert report["encoded"] == 16 and report["indexed"] == 24, "only what was not committed is encoded"
    ref = sorted((photos / "b").iterdir())[3]
    answers = []
    for folder in (lib, clean):
        code, out, _ = run(capsys, "search", "--library", folder, "--image", ref, "--text", "more blue", "--json")
        answers.append([(h["path"], round(h["score"], 5)) for h in json.loads(out)])
    assert answers[0] == answers[1], "the vectors committed before the disk filled are intact"


def _shm_fails(monkeypatch) -> None:
    """Read-write connections fail as SQLite does when the disk cannot hold the -shm file."""
    real = db_module._connect

    def connect(path, read_only=False):
        if not read_only:
            e = sqlite3.OperationalError("disk I/O error")
            e.sqlite_errorcode, e.sqlite_errorname = 4874, "SQLITE_IOERR_SHMSIZE"
            raise e
        return real(path, read_only)

    monkeypatch.setattr(db_module, "_connect", connect)


def _nothing_written(monkeypatch, folder: Path) -> None:
    """Every file write in ``folder`` fails with ENOSPC."""
    real_open, real_replace = os.open, os.replace

    def opener(path, flags, *a, **kw):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and _inside(path, folder) and not os.path.exists(path):
            raise _no_space(path)
        return real_open(path, flags, *a, **kw)

    def replace(src, dst, *a, **kw):
        if _inside(dst, folder):
            raise _no_space(dst)
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "open", opener)
    monkeypatch.setattr(os, "replace", replace)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_read_only_commands_work_on_a_full_disk_and_write_nothing(indexed, photos, capsys, monkeypatch, caplog):
    (indexed / "index.faiss").unlink()  # stale: rebuilt in memory, and not saved
    before = _snapshot(indexed)
    _shm_fails(monkeypatch)
    _nothing_written(monkeypatch, indexed)
    ref = sorted((photos / "a").iterdir())[0]
    code, out, err = run(capsys, "status", "--library", indexed, "--json")
    assert code == 0, err
    assert json.loads(out)["indexed"] == 24
    code, out, err = run(capsys, "search", "--library", indexed, "--image", ref, "--text", "red", "--json", "-k", "3")
    assert code == 0 and len(json.loads(out)) == 3, err
    code, out, err = run(capsys, "similar", ref, "--library", indexed, "--json", "-k", "3")
    assert code == 0 and len(json.loads(out)) == 3, err
    code, out, err = run(capsys, *_vote_argv(indexed, photos, "red"))
    assert code == 1 and "is full" in err and "free some space" in err
    _one_clean_line(err)
    assert _snapshot(indexed) == before
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "index.faiss was not saved (No space left on device); it is rebuilt from tokens.f16 when the library "
        "is next opened"] * 3  # once per command that rebuilt it


def test_a_full_disk_under_the_api_raises_the_typed_error(indexed, photos, full_catalog):
    from engine.errors import DiskFullError
    from engine.library import Library

    with Library.open(indexed) as lib:
        res = lib.search("same but red " * 400, image=sorted((photos / "a").iterdir())[0], k=5)
        with pytest.raises(DiskFullError, match="free some space") as e:
            lib.vote(res, res.hits[0].photo_id, up=True)
        assert e.value.path == str(indexed / "catalog.sqlite")
        assert not lib.db.conn().in_transaction
        full_catalog["full"] = False
        assert lib.votes() == []
