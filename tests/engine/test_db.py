"""The catalog database: WAL, migrations from every earlier schema, refusals, threads."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from engine.db import MIGRATIONS, SCHEMA_VERSION, Database, migrate
from engine.errors import SchemaError


def _at_version(path, version: int) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    migrate(conn, to=version)
    return conn


def make_v1(path) -> None:
    """A catalog as schema version 1 wrote it: a root, an encoded photo, a failed file."""
    c = _at_version(path, 1)
    c.execute("INSERT INTO meta VALUES ('target_side', 'abc')")
    c.execute("INSERT INTO roots(id, path, added_at) VALUES (1, '/photos', 1.0)")
    c.execute("INSERT INTO contents(id, sha256, bytes, width, height, state, encoded_at) "
              "VALUES (1, 'aa', 10, 4, 3, 'encoded', 2.0)")
    c.execute(
        "INSERT INTO files(path, root_id, size, mtime_ns, content_id, state) "
        "VALUES ('/photos/a.jpg', 1, 10, 5, 1, 'ok')"
    )
    c.execute(
        "INSERT INTO files(path, root_id, size, mtime_ns, state, error) "
        "VALUES ('/photos/b.jpg', 1, 0, 5, 'failed', 'empty file (0 bytes)')"
    )
    c.close()


def make_v2(path) -> None:
    """Version 2 added votes."""
    make_v1(path)
    c = sqlite3.connect(str(path), isolation_level=None)
    migrate(c, to=2)
    c.execute(
        "INSERT INTO votes(at, mode, ref_path, ref_sha256, text, bundle_name, bundle_version, query_sha256, "
        "target_side, photo_sha256, photo_path, vote, rank, score, shown_above) VALUES "
        "(3.0, 'composed', '/r.jpg', 'rr', 'in red', 'm', '1', 'qq', 'abc', 'aa', '/photos/a.jpg', 1, 0, 0.5, '[]')"
    )
    c.close()


def make_v3(path) -> None:
    """Version 3 added scan issues, files' added_at and contents' taken_at."""
    make_v2(path)
    c = sqlite3.connect(str(path), isolation_level=None)
    migrate(c, to=3)
    c.close()


EARLIER = {1: make_v1, 2: make_v2, 3: make_v3}


def test_every_earlier_schema_has_a_fixture():
    assert sorted(EARLIER) == list(range(1, SCHEMA_VERSION))


@pytest.mark.parametrize("version", sorted(EARLIER))
def test_migrates_from_each_earlier_schema_keeping_data(tmp_path, version):
    path = tmp_path / "catalog.sqlite"
    EARLIER[version](path)
    db = Database(path)
    assert db.migrated_from == version
    c = db.conn()
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.get_meta("target_side") == "abc"
    files = {r["path"]: dict(r) for r in c.execute("SELECT * FROM files")}
    assert files["/photos/a.jpg"]["content_id"] == 1 and files["/photos/a.jpg"]["state"] == "ok"
    assert files["/photos/b.jpg"]["error"] == "empty file (0 bytes)"
    assert files["/photos/a.jpg"]["added_at"] == 0  # v3 column, filled for old rows
    assert [tuple(r) for r in c.execute("SELECT sha256, taken_at FROM contents")] == [("aa", None)]
    assert c.execute("SELECT COUNT(*) FROM scan_issues").fetchone()[0] == 0
    votes = c.execute("SELECT text, photo_sha256 FROM votes").fetchall()
    assert [tuple(v) for v in votes] == ([("in red", "aa")] if version >= 2 else [])
    assert [tuple(r) for r in c.execute("SELECT path, mount_point FROM roots")] == [("/photos", None)]  # v4: unknown
    db.close()


def _schema(path) -> list[tuple]:
    c = sqlite3.connect(str(path))
    rows = c.execute(
        "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    ).fetchall()
    cols = {t: c.execute(f"PRAGMA table_info({t})").fetchall() for _, t, _ in rows if _ == "table"}
    c.close()
    return [rows, sorted((t, [(x[1], x[2], x[3], x[5]) for x in v]) for t, v in cols.items())]


@pytest.mark.parametrize("version", sorted(EARLIER))
def test_a_migrated_schema_equals_a_fresh_one(tmp_path, version):
    EARLIER[version](tmp_path / "old.sqlite")
    Database(tmp_path / "old.sqlite").close()
    Database(tmp_path / "new.sqlite").close()
    assert _schema(tmp_path / "old.sqlite") == _schema(tmp_path / "new.sqlite")


def test_wal_mode_and_foreign_keys(tmp_path):
    db = Database(tmp_path / "c.sqlite")
    c = db.conn()
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    db.close()


def test_refuses_a_newer_catalog(tmp_path):
    path = tmp_path / "c.sqlite"
    Database(path).close()
    c = sqlite3.connect(str(path))
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.close()
    with pytest.raises(SchemaError, match="newer"):
        Database(path)
    c = sqlite3.connect(str(path))
    assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1  # untouched
    c.close()


def test_refuses_foreign_files(tmp_path):
    other = tmp_path / "other.sqlite"
    c = sqlite3.connect(str(other))
    c.execute("CREATE TABLE people(name TEXT)")
    c.commit()
    c.close()
    with pytest.raises(SchemaError, match="not a cirsearch catalog"):
        Database(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(SchemaError):
        Database(junk)


def test_a_failed_write_rolls_back(tmp_path):
    db = Database(tmp_path / "c.sqlite")
    with pytest.raises(RuntimeError):
        with db.write() as c:
            c.execute("INSERT INTO meta VALUES ('k', 'v')")
            raise RuntimeError("boom")
    assert db.get_meta("k") is None
    db.close()


def test_threads_write_concurrently_without_losing_rows(tmp_path):
    db = Database(tmp_path / "c.sqlite")
    errors = []

    def work(t: int) -> None:
        try:
            for i in range(50):
                with db.write() as c:
                    c.execute("INSERT INTO meta VALUES (?, ?)", (f"{t}-{i}", "x"))
                db.query("SELECT COUNT(*) FROM meta")
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.query("SELECT COUNT(*) FROM meta")[0][0] == 200
    db.close()


def test_migrations_are_listed_in_order():
    assert len(MIGRATIONS) == SCHEMA_VERSION


def test_connections_of_finished_threads_are_closed(tmp_path):
    db = Database(tmp_path / "c.sqlite")
    for _ in range(20):  # like a worker pool whose threads come and go
        t = threading.Thread(target=lambda: db.query("SELECT COUNT(*) FROM meta"))
        t.start()
        t.join()
    db.query("SELECT 1")
    assert db.open_connections <= 2  # this thread's, and at most the last worker's
    db.close()
    assert db.open_connections == 0
