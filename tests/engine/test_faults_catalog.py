"""A damaged, empty or missing catalog: said plainly, and recovered without losing the votes
or re-encoding what need not be."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from engine.library import Library
from engine.recovery import _next_readable, read_rows
from tests.engine.test_cli import run

N_VOTES = 8


@pytest.fixture
def voted(tmp_path, photos, fake_bundle, capsys) -> Path:
    """An indexed library with votes."""
    lib = tmp_path / "lib"
    assert run(capsys, "index", "--library", lib, "--bundle", fake_bundle, photos, "--quiet")[0] == 0
    with Library.open(lib) as L:
        res = L.search("same but red", image=sorted((photos / "a").iterdir())[0], k=12)
        for h in res.hits[:N_VOTES]:
            L.vote(res, h.photo_id, up=h.rank % 2 == 0)
    return lib


def _votes(lib: Path) -> list[tuple]:
    with Library.open(lib, read_only=True) as L:
        return [(v.id, v.photo_sha256, v.up, v.rank, v.query.text, v.query.ref_sha256) for v in L.votes()]


def _search(capsys, lib: Path, photos: Path) -> list[tuple[str, float]]:
    ref = sorted((photos / "b").iterdir())[2]
    code, out, err = run(capsys, "search", "--library", lib, "--image", ref, "--text", "more blue", "--json")
    assert code == 0, err
    return [(h["path"], round(h["score"], 5)) for h in json.loads(out)]


def _damage(catalog: Path, table: str) -> None:
    """4 KiB of random bytes over the first page of ``table``."""
    c = sqlite3.connect(catalog.as_uri() + "?mode=ro", uri=True)
    page = c.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    size = c.execute("PRAGMA page_size").fetchone()[0]
    c.close()
    with open(catalog, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(np.random.default_rng(0).bytes(size))


def _refused(capsys, argv: list, *words: str) -> str:
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for w in words:
        assert w in err, err
    return err


@pytest.mark.parametrize("table, encoded", [("files", 0), ("contents", 24)])
def test_a_damaged_catalog_is_named_and_recovered_with_its_votes(voted, photos, capsys, table, encoded):
    votes, results = _votes(voted), _search(capsys, voted, photos)
    assert len(votes) == N_VOTES
    _damage(voted / "catalog.sqlite", table)
    for argv in (["status"], ["index"], ["search", "--text", "red"], ["vote", "--undo", "1"]):
        _refused(capsys, [*argv, "--library", voted], "is damaged", "cirsearch recover-catalog", str(voted))

    code, out, err = run(capsys, "recover-catalog", "--library", voted)
    assert code == 0, err
    kept = sorted(voted.glob("catalog.sqlite.damaged-*"))
    assert kept and kept[0].name.startswith("catalog.sqlite.damaged-") and (voted / "catalog.sqlite").is_file()
    lines = {x.split()[0]: x for x in out.splitlines() if x.startswith("  ")}
    assert f"{N_VOTES} saved" in lines["votes"] and "could not be read" in lines[table]
    assert (voted / "index.faiss").exists() == (table != "contents"), "lost content ids drop the index cache"

    code, out, err = run(capsys, "index", "--library", voted, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["indexed"] == 24 and report["encoded"] == encoded, \
        "photos whose entries survived keep their vectors; only lost ones are encoded again"
    assert _votes(voted) == votes
    assert _search(capsys, voted, photos) == results


def test_a_sound_catalog_is_left_alone(voted, capsys):
    before = (voted / "catalog.sqlite").read_bytes()
    code, out, _ = run(capsys, "recover-catalog", "--library", voted)
    assert code == 0 and "not damaged" in out
    assert (voted / "catalog.sqlite").read_bytes() == before and not list(voted.glob("*.damaged-*"))


def test_an_empty_or_missing_catalog_is_not_taken_for_a_new_library(voted, photos, fake_bundle, capsys):
    tokens = (voted / "tokens.f16").read_bytes()
    (voted / "catalog.sqlite").write_bytes(b"")
    for argv in (["status"], ["index"], ["search", "--text", "red"]):
        _refused(capsys, [*argv, "--library", voted], "is empty (0 bytes)", "tokens.f16", "recover-catalog")
    (voted / "catalog.sqlite").unlink()
    for argv in (["status"], ["index", photos]):
        _refused(capsys, [*argv, "--library", voted], "catalog.sqlite is missing", "tokens.f16", "backup")
    assert (voted / "tokens.f16").read_bytes() == tokens, "refusing wiped nothing"

    code, out, err = run(capsys, "recover-catalog", "--library", voted)  # start over
    assert code == 0 and "nothing could be read" in out, err
    code, out, err = run(capsys, "index", "--library", voted, "--bundle", fake_bundle, photos, "--json")
    assert code == 0 and json.loads(out)["indexed"] == 24, err


def test_an_interrupted_recovery_is_finished(voted, capsys):
    votes = _votes(voted)
    (voted / "catalog.sqlite").rename(voted / "catalog.sqlite.recovering")  # stopped before its last rename
    _refused(capsys, ["status", "--library", voted], "recovery", "was interrupted", "recover-catalog")
    code, out, err = run(capsys, "recover-catalog", "--library", voted)
    assert code == 0 and "finished the interrupted recovery" in out, err
    assert _votes(voted) == votes


def test_a_folder_in_place_of_the_catalog_is_named(tmp_path, capsys):
    lib = tmp_path / "lib"
    (lib / "catalog.sqlite").mkdir(parents=True)
    _refused(capsys, ["status", "--library", lib], f"{lib / 'catalog.sqlite'} is a folder")


def test_a_library_folder_without_a_library_says_so(tmp_path, capsys):
    (tmp_path / "lib").mkdir()
    _refused(capsys, ["status", "--library", tmp_path / "lib"], "no library in")


# -- salvage by rowid ----------------------------------------------------------------------


def test_reading_past_a_damaged_page_keeps_the_rows_around_it(tmp_path):
    path = tmp_path / "t.sqlite"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
    c.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"row {i:05d} " + "x" * 80) for i in range(1, 3001)])
    c.commit()
    pages = c.execute("PRAGMA page_count").fetchone()[0]
    c.close()
    with open(path, "r+b") as f:  # a leaf page in the middle of the table
        f.seek((pages // 2) * 4096)
        f.write(np.random.default_rng(1).bytes(4096))
    src = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True)
    rows, unreadable = read_rows(src, "t", ["id", "v"])
    src.close()
    ids = [r[0] for r in rows]
    assert unreadable and ids == sorted(ids)
    assert all(v == f"row {i:05d} " + "x" * 80 for i, v in rows), "what is returned is what was written"
    lost = sorted(set(range(1, 3001)) - set(ids))
    assert 0 < len(lost) <= 4096 // 90 and lost == list(range(lost[0], lost[-1] + 1)), \
        "exactly the damaged page's rows are lost (one run of about 43): the scan resumes right after them"


@pytest.mark.parametrize("first_ok, bad, expected", [(37, 5, 37), (6, 5, 6), (1000, 0, 1000), (None, 3, None)])
def test_next_readable_finds_the_first_rowid_past_the_damage(first_ok, bad, expected):
    seen = []

    def ok(a: int) -> bool:
        seen.append(a)
        return first_ok is not None and a >= first_ok

    assert _next_readable(ok, bad, limit=1 << 20) == expected
    assert len(seen) <= 2 * 20 + 2, "doubling then bisecting: logarithmic probes"
