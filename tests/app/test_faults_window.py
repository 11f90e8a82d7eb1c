"""Disk and catalog faults reach the window as messages, never as tracebacks."""

from __future__ import annotations

import sqlite3

import numpy as np

from engine.feedback import FeedbackStore
from engine.library import Library
from tests.app.test_votes_flow import show_query


def test_a_damaged_catalog_is_explained_in_the_window(make_window, qtbot, tmp_path, app_bundle, photo_dir):
    lib = tmp_path / "lib"
    with Library.open(lib, bundle=app_bundle) as library:
        library.index([photo_dir])
    with open(lib / "catalog.sqlite", "r+b") as f:  # 4 KiB of noise over the files table's first page
        c = sqlite3.connect((lib / "catalog.sqlite").as_uri() + "?mode=ro", uri=True)
        page = c.execute("SELECT rootpage FROM sqlite_master WHERE name = 'files'").fetchone()[0]
        c.close()
        f.seek((page - 1) * 4096)
        f.write(np.random.default_rng(0).bytes(4096))
    w = make_window(library=lib)
    with qtbot.waitSignal(w.host.open_failed, timeout=20000):
        w.start()
    assert "is damaged" in w.view.message and "cirsearch recover-catalog" in w.view.message


def test_a_vote_on_a_full_disk_is_reported_in_the_window(window, qtbot, photo_dir, monkeypatch):
    def full(*a, **kw):
        e = sqlite3.OperationalError("database or disk is full")
        e.sqlite_errorcode = sqlite3.SQLITE_FULL
        raise e

    monkeypatch.setattr(FeedbackStore, "add", full)
    show_query(qtbot, window, str(sorted((photo_dir / "a").iterdir())[0]))
    with qtbot.waitSignal(window.votes.message, timeout=5000) as msg:
        window.votes.vote(2, True)
    assert msg.args[0].startswith("The vote was not saved: the disk holding ")
    assert "is full: free some space" in msg.args[0]
