"""A damaged token store is found, reported and repaired; nothing else is lost.

Each damage is injected into ``tokens.f16`` of an indexed library: emptied, cut to half
its length, noise written over part of one photo's slot, deleted. Then: ``status`` and
``similar`` refuse (exit 1, naming the file and ``cirsearch check --repair``) instead of
answering with zero scores; ``check`` lists exactly the damaged photos; ``check --repair``
encodes exactly those again; votes and every other photo's stored bytes are untouched,
and ``similar`` ranks as it did before the damage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine import faiss_store
from engine.cli import main
from engine.library import Library
from engine.token_file import DamagedStoreError, TokenStore
from tests.engine.fakebundle import E, Q

SLOT = Q * E * 2  # bytes per photo in tokens.f16


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def _contents(lib_dir: Path) -> tuple[dict[str, int], dict[str, float], list[tuple]]:
    """sha -> content id, sha -> encoded_at, and the votes."""
    with Library.open(lib_dir) as lib:
        rows = lib.db.query("SELECT id, sha256, encoded_at FROM contents WHERE state = 'encoded'")
        votes = [(v.id, v.photo_sha256, v.up, v.query.text, v.rank) for v in lib.votes()]
    return {r[1]: r[0] for r in rows}, {r[1]: r[2] for r in rows}, votes


def _slots(lib_dir: Path, ids: dict[str, int]) -> dict[str, bytes]:
    raw = (lib_dir / "tokens.f16").read_bytes()
    return {sha: raw[i * SLOT : (i + 1) * SLOT] for sha, i in ids.items()}


@pytest.fixture
def indexed(tmp_path, photos, fake_bundle, capsys):
    """A library of 24 photos with two votes; returns (library folder, reference photo)."""
    lib = tmp_path / "lib"
    code, _, err = run(capsys, "index", "--library", lib, "--bundle", fake_bundle, photos, "--quiet")
    assert code == 0, err
    ref = sorted((photos / "a").iterdir())[6]
    for path, way in ((sorted((photos / "b").iterdir())[2], "--up"), (sorted((photos / "a").iterdir())[1], "--down")):
        code, _, err = run(capsys, "vote", path, way, "--image", ref, "--text", "same but red", "--library", lib)
        assert code == 0, err
    return lib, ref


def _similar(capsys, lib: Path, ref: Path) -> list[tuple[str, float]]:
    code, out, err = run(capsys, "similar", ref, "--library", lib, "-k", "23", "--json")
    assert code == 0, err
    return [(h["path"], h["score"]) for h in json.loads(out)]


# Each damage changes tokens.f16 and returns the SHA-256 of the photos it damaged.
def _emptied(f: Path, ids: dict[str, int], victim: str) -> set[str]:
    os.truncate(f, 0)
    return set(ids)


def _halved(f: Path, ids: dict[str, int], victim: str) -> set[str]:
    half = f.stat().st_size // 2
    os.truncate(f, half)
    return {sha for sha, i in ids.items() if (i + 1) * SLOT > half}


def _noise_in_one_slot(f: Path, ids: dict[str, int], victim: str) -> set[str]:
    with open(f, "r+b") as fh:
        fh.seek(ids[victim] * SLOT + SLOT // 4)
        old = fh.read(SLOT // 2)
        noise = np.random.default_rng(5).bytes(SLOT // 2)
        assert noise != old
        fh.seek(ids[victim] * SLOT + SLOT // 4)
        fh.write(noise)
    return {victim}


def _deleted(f: Path, ids: dict[str, int], victim: str) -> set[str]:
    f.unlink()
    return set(ids)


DAMAGES = {"emptied": _emptied, "halved": _halved, "noise": _noise_in_one_slot, "deleted": _deleted}


def _victim(lib: Library, ref: Path) -> str:
    return lib.photo_at(ref).sha256


def _assert_refused(capsys, lib: Path, ref: Path, n: int) -> None:
    for argv in (("status",), ("similar", ref), ("search", "--image", ref, "--text", "red"), ("status", "--json")):
        code, out, err = run(capsys, *argv, "--library", lib)
        assert code == 1, (argv, out, err)
        assert str(lib / "tokens.f16") in err and "cirsearch check --repair" in err, err
        assert f"{n} photo" in err, err
        if argv[0] != "status":
            assert out == ""  # no results at all, never zero scores


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damage_is_reported_then_repaired_and_nothing_else_changes(indexed, capsys, damage):
    lib, ref = indexed
    before = _similar(capsys, lib, ref)
    ids, encoded_at, votes = _contents(lib)
    slots = _slots(lib, ids)
    with Library.open(lib) as opened:
        victim = _victim(opened, ref)
    damaged = DAMAGES[damage](lib / "tokens.f16", ids, victim)
    assert 1 <= len(damaged) <= 24 and (damage != "halved" or len(damaged) < 24)

    _assert_refused(capsys, lib, ref, len(damaged))

    code, out, err = run(capsys, "check", "--library", lib, "--json")
    report = json.loads(out)
    assert code == 1 and "cirsearch check --repair" in err
    assert report["checked"] == 24 and {d["sha256"] for d in report["damaged"]} == damaged
    assert all(len(d["paths"]) == 1 for d in report["damaged"])

    code, out, err = run(capsys, "check", "--repair", "--library", lib, "--json")
    report = json.loads(out)
    assert code == 0, err
    assert report["repaired"] == len(damaged) and report["not_repaired"] == []

    ids_after, encoded_after, votes_after = _contents(lib)
    assert votes_after == votes and len(votes) == 2
    assert set(ids_after) == set(ids)
    assert {sha for sha in ids if encoded_after[sha] != encoded_at[sha]} == damaged  # encoded again: exactly those
    slots_after = _slots(lib, ids_after)
    for sha in set(ids) - damaged:
        assert ids_after[sha] == ids[sha] and slots_after[sha] == slots[sha]  # untouched, byte for byte
    for sha in damaged:
        assert slots_after[sha] == slots[sha]  # the same encoder on the same bytes: the same tokens again

    assert _similar(capsys, lib, ref) == before
    code, _, err = run(capsys, "status", "--library", lib)
    assert code == 0, err
    code, out, _ = run(capsys, "check", "--library", lib)
    assert code == 0 and "all 24 photos' stored vectors are intact" in out


def test_index_repairs_what_opening_found(indexed, capsys):
    lib, ref = indexed
    before = _similar(capsys, lib, ref)
    ids, _, votes = _contents(lib)
    with Library.open(lib) as opened:
        victim = _victim(opened, ref)
    damaged = _noise_in_one_slot(lib / "tokens.f16", ids, victim) | _halved(lib / "tokens.f16", ids, victim)
    assert 1 < len(damaged) < 24
    code, out, err = run(capsys, "index", "--library", lib, "--json")
    summary = json.loads(out)
    assert code == 0, err
    assert summary["repaired"] == summary["encoded"] == len(damaged) and summary["indexed"] == 24
    assert _contents(lib)[2] == votes
    assert _similar(capsys, lib, ref) == before


def test_a_library_without_checksums_gets_them_once(indexed, capsys):
    """A library written before checksums (no tokens.crc): opening records one per photo
    whose tokens look as the model makes them; noise is reported, not blessed."""
    lib, ref = indexed
    ids, _, _ = _contents(lib)
    crc = lib / "tokens.crc"
    assert crc.stat().st_size == 4 * (max(ids.values()) + 1)
    recorded = crc.read_bytes()
    crc.unlink()
    code, _, err = run(capsys, "status", "--library", lib)
    assert code == 0, err
    assert crc.read_bytes() == recorded

    crc.unlink()
    with Library.open(lib) as opened:
        victim = _victim(opened, ref)
    _noise_in_one_slot(lib / "tokens.f16", ids, victim)
    _assert_refused(capsys, lib, ref, 1)
    code, out, _ = run(capsys, "check", "--library", lib, "--json")
    assert code == 1 and [d["sha256"] for d in json.loads(out)["damaged"]] == [victim]


def test_damage_the_open_check_missed_is_caught_by_the_read(indexed, capsys, monkeypatch):
    """In a large library opening checks only a sample; a search that reads a damaged
    slot refuses then, and from then on every search does."""
    lib, ref = indexed
    ids, _, _ = _contents(lib)
    with Library.open(lib) as opened:
        victim = _victim(opened, ref)
    _noise_in_one_slot(lib / "tokens.f16", ids, victim)
    monkeypatch.setattr(faiss_store, "OPEN_SAMPLE", 0)
    with Library.open(lib) as opened:
        assert opened.damage() is None
        assert len(opened.search("red", image=ref, k=5).hits) == 5  # the index holds sound copies
        with pytest.raises(DamagedStoreError, match="1 photo's stored vectors are damaged"):
            opened.similar(ref)  # reads the reference's own tokens
        assert "cirsearch check --repair" in opened.damage()
        with pytest.raises(DamagedStoreError):
            opened.search("red", image=ref, k=5)
        report = opened.check(repair=True)
        assert (report.repaired, [d.sha256 for d in report.damaged]) == (1, [victim])
        assert opened.damage() is None and len(opened.similar(ref).hits) == 23


def test_an_interrupted_repair_is_finished_by_the_next_index(indexed, capsys):
    """Stopped mid-way (Ctrl-C, or a kill: the catalog commits each step), a repair leaves
    the damaged photos waiting; the next index run encodes them, and nothing else is lost."""
    lib, ref = indexed
    before = _similar(capsys, lib, ref)
    ids, _, votes = _contents(lib)
    _emptied(lib / "tokens.f16", ids, "")

    def stop_after_a_batch(p) -> None:  # batches of 16: the first is committed by then
        if p.phase == "encode" and p.done == 20:
            raise KeyboardInterrupt

    with Library.open(lib) as opened:
        with pytest.raises(KeyboardInterrupt):
            opened.check(repair=True, progress=stop_after_a_batch)
        assert opened.damage() is None and opened.status().pending == 8
    code, out, err = run(capsys, "status", "--library", lib)
    assert code == 0, err
    code, out, err = run(capsys, "index", "--library", lib, "--json")
    assert code == 0 and json.loads(out)["indexed"] == 24, err
    assert _contents(lib)[2] == votes and _similar(capsys, lib, ref) == before


def test_a_damaged_photo_without_its_file_leaves_the_catalog(indexed, capsys):
    lib, ref = indexed
    ids, _, votes = _contents(lib)
    with Library.open(lib) as opened:
        victim = _victim(opened, ref)
    _noise_in_one_slot(lib / "tokens.f16", ids, victim)
    ref.unlink()
    code, out, err = run(capsys, "check", "--repair", "--library", lib)
    assert code == 0, err
    assert "0 encoded again" in out and "not repaired (file gone, changed or unreadable" in out
    code, out, err = run(capsys, "status", "--library", lib, "--json")
    assert code == 0 and json.loads(out)["indexed"] == 23 and json.loads(out)["damage"] is None
    assert _contents(lib)[2] == votes


def test_the_checksum_names_its_slot(tmp_path):
    store = TokenStore(tmp_path / "t.f16", Q, E)
    rng = np.random.default_rng(0)
    t = rng.standard_normal((3, Q, E)).astype(np.float32)
    t /= np.linalg.norm(t, axis=-1, keepdims=True)
    store.write(np.array([1, 2, 3]), t)
    store.flush()
    with open(tmp_path / "t.f16", "r+b") as f:  # slot 1's bytes where slot 3's were: sound bytes, wrong place
        f.seek(3 * SLOT)
        f.write(t[0].astype(np.float16).tobytes())
    assert store.verify(np.arange(1, 4)).tolist() == [3]
    tokens, ok = store.read_checked(np.array([2, 3, 9]))  # 9: never written, reads as zeros
    assert ok.tolist() == [True, False, True] and not tokens[1].any() and not tokens[2].any()
    with pytest.raises(DamagedStoreError, match=r"1 photo's .*t\.f16"):
        store.read(np.array([3]))
    store.write(np.array([3]), t[2:3])  # encoded again: sound
    assert store.damaged == frozenset() and np.allclose(store.read(np.array([3]))[0], t[2], atol=1e-3)
    store.close()


def test_a_vector_database_is_not_checked_here(tmp_path, photos, fake_bundle):
    pytest.importorskip("qdrant_client")
    from engine.library import LibraryConfig, QdrantConfig

    cfg = LibraryConfig(vector_db=QdrantConfig(path=":memory:"))
    with Library.open(tmp_path / "lib", bundle=fake_bundle, cfg=cfg) as lib:
        lib.index([photos / "a"])
        report = lib.check(repair=True)
        assert not report.applicable and report.damaged == () and lib.damage() is None
