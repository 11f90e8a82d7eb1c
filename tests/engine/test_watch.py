"""Watched folders: the batching decisions on a fake clock, the event filter, the fallback
when a folder cannot be watched, and real watchdog events ending in the library a fresh
scan builds (waited for by condition, never by sleeping)."""

from __future__ import annotations

import errno
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
)

from engine.library import Library
from engine.scanner import walk
from engine.watch import Batcher, Decision, FolderWatch, WatchConfig, is_photo_change, keep_indexed, network_filesystem
from tests.engine.conftest import make_photos

REPO = Path(__file__).resolve().parents[2]
CFG = WatchConfig(settle_s=3.0, max_wait_s=60.0, rescan_every_s=3600.0, fallback_every_s=300.0)


def decisions(b: Batcher, times, notes=()) -> list[tuple[float, Decision]]:
    """Step through ``times`` (sorted); note a change at each time in ``notes``; take each decision (a run that
    starts and ends at once)."""
    notes, out = set(notes), []
    for t in times:
        if t in notes:
            b.note(t)
        d = b.decide(t)
        if d is not None:
            out.append((t, d))
            b.begin()
            b.end(t)
    return out


# -- the batching decisions ------------------------------------------------------------------


def test_a_camera_import_of_2000_photos_is_one_run():
    b = Batcher(CFG, now=0.0)
    events = [10.0 + i * 0.01 for i in range(2000)]  # 2,000 files in 20 s
    ticks = sorted(set(events) | {30.0 + i * 0.5 for i in range(40)})
    got = decisions(b, ticks, events)
    assert len(got) == 1
    t, d = got[0]
    assert d == Decision("changes", 2000) and t == pytest.approx(events[-1] + 3.0, abs=0.5)


def test_a_never_ending_trickle_is_indexed_every_max_wait():
    b = Batcher(CFG, now=0.0)
    events = [float(i) for i in range(1, 200)]  # one change a second: never settles
    got = decisions(b, events, events)
    assert [t for t, _ in got] == [61.0, 122.0, 183.0]
    assert all(d.reason == "changes" and d.events == 61 for _, d in got)


def test_changes_during_a_run_queue_exactly_one_run_after_it():
    b = Batcher(CFG, now=0.0)
    b.note(1.0)
    b.begin()  # a run started elsewhere (the app's own job): it will find the change of 1.0
    for t in (2.0, 3.0, 50.0, 200.0):
        b.note(t)
        assert b.decide(t + 10) is None and b.next_check(t + 10) is None, "nothing runs while a run goes"
    b.end(300.0)
    d = b.decide(300.0)
    assert d == Decision("changes", 4), "the changes seen while it ran: one run, at once (max wait passed)"
    b.begin()
    b.end(301.0)
    assert b.decide(400.0) is None


def test_a_run_started_elsewhere_takes_the_changes_so_far():
    b = Batcher(CFG, now=0.0)
    b.note(1.0)
    b.begin()
    b.end(2.0)
    assert b.decide(100.0) is None


def test_catch_up_at_once_then_a_rescan_every_interval():
    b = Batcher(CFG, now=0.0, catch_up=True)
    assert b.decide(0.0) == Decision("catch-up", 0)
    b.begin()
    b.end(5.0)
    assert b.decide(3604.9) is None
    assert b.decide(3605.0) == Decision("rescan", 0), "measured from the end of the last run"
    b.rescan_every_s = 300.0  # a folder is not watched: the fallback interval
    b.begin()
    b.end(4000.0)
    assert b.decide(4299.0) is None and b.decide(4300.0).reason == "rescan"
    b.rescan_every_s = 0.0
    assert b.decide(1e9) is None and b.next_check(1e9) is None


def test_a_busy_library_is_tried_again_after_max_wait():
    b = Batcher(CFG, now=0.0)
    b.note(0.0)
    assert b.decide(3.0).reason == "changes"
    b.begin()
    b.end(4.0, retry=True)
    assert b.decide(63.9) is None
    assert b.decide(64.0) == Decision("retry", 0)


def test_next_check_is_exactly_when_the_decision_turns():
    """Against decide itself: for random histories, no decision just before next_check, one at it."""
    rng = np.random.default_rng(3)
    for _ in range(300):
        b = Batcher(CFG, now=0.0, catch_up=bool(rng.random() < 0.1))
        b.rescan_every_s = float(rng.choice([0.0, 50.0, 300.0]))
        t = 0.0
        for _ in range(int(rng.integers(0, 6))):
            t += float(rng.exponential(2.0))
            b.note(t)
        if rng.random() < 0.3:
            b.begin()
            b.end(t, retry=bool(rng.random() < 0.5))
        wait = b.next_check(t)
        if wait is None:
            assert b.decide(t + 1e6) is None
            continue
        if wait > 1e-6:
            assert b.decide(t + wait - 1e-6) is None
        assert b.decide(t + wait + 1e-9) is not None


# -- which events count ----------------------------------------------------------------------


@pytest.mark.parametrize("path, is_dir, counts", [
    ("/p/a.jpg", False, True),
    ("/p/sub/B.JPEG", False, True),
    ("/p/sub", True, True),  # a folder created, moved or deleted: its photos with it
    ("/p/notes.txt", False, False),
    ("/p/movie.mov", False, False),
    ("/p/.hidden.jpg", False, False),
    ("/p/.trash/a.jpg", False, False),
    ("/p/.git", True, False),
    ("/p/a.jpg.part", False, False),  # Firefox, copy tools
    ("/p/a.jpg.crdownload", False, False),  # Chrome
    ("/p/a.jpg~", False, False),
    ("/p/~$a.jpg", False, False),
    ("/p/a.tmp", False, False),
    ("/p/lib/thumbs/ab.jpg", False, False),  # the library's own folder inside the photos
    ("/p/lib", True, False),
    ("/elsewhere/a.jpg", False, False),
])
def test_which_paths_can_change_the_library(path, is_dir, counts):
    assert is_photo_change("/p", path, is_dir, ignore=["/p/lib"]) is counts


def test_a_hidden_root_is_still_watched():
    assert is_photo_change("/home/u/.photos", "/home/u/.photos/a.jpg", False)


def test_network_drives_are_told_apart_by_their_mount():
    mounts = ("/dev/sda1 / ext4 rw 0 0\n"
              "nas:/photos /mnt/nas nfs4 rw 0 0\n"
              "//srv/share /mnt/my\\040share cifs rw 0 0\n"
              "/dev/sdb1 /mnt/nas/local ext4 rw 0 0\n")
    assert network_filesystem("/home/u/Pictures", mounts) is None
    assert network_filesystem("/mnt/nas/2024", mounts) == "nfs4"
    assert network_filesystem("/mnt/my share/x", mounts) == "cifs"
    assert network_filesystem("/mnt/nas/local/x", mounts) is None, "the longest mount point wins"
    assert network_filesystem("/mnt/nasty", mounts) is None
    assert network_filesystem("/x", "") is None


# -- FolderWatch with a fake observer and a fake clock ----------------------------------------


class FakeObserver:
    """Stands in for watchdog's observer: schedule fails with the errno given for a folder, once."""

    def __init__(self, fail: dict[str, int] | None = None):
        self.fail = dict(fail or {})
        self.handlers: dict[str, object] = {}
        self.started = self.stopped = False

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True

    def join(self):
        pass

    def schedule(self, handler, path, *, recursive, event_filter):
        assert recursive and event_filter
        if path in self.fail:
            raise OSError(self.fail.pop(path), os.strerror(errno.ENOSPC))
        self.handlers[path] = handler
        return path

    def unschedule(self, w):
        del self.handlers[w]


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_folder_over_the_watch_limit_is_rescanned_and_watched_once_it_can_be(tmp_path):
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    obs, clock, seen = FakeObserver(fail={b: errno.ENOSPC}), Clock(), []
    w = FolderWatch(tmp_path / "lib", CFG, clock=clock, observer=lambda: obs, mounts=lambda: "",
                    on_coverage=seen.append)
    w.set_roots([a, b])
    assert w.wait(0) is None
    assert obs.started and list(obs.handlers) == [a]
    cov = seen[-1]
    assert cov.watched == (a,) and cov.roots == 2 and cov.rescan_every_s == 300.0
    assert cov.polled[0][0] == b and "max_user_watches" in cov.polled[0][1]
    clock.t = 299.0
    assert w.wait(0) is None
    clock.t = 300.0
    assert w.wait(0) == Decision("rescan", 0)
    w.finished()
    assert w.wait(0) is None  # the watches are set up again: b can be watched now
    assert seen[-1].watched == (a, b) and seen[-1].polled == () and seen[-1].rescan_every_s == 3600.0
    w.close()
    assert obs.stopped and w.wait(0) is None


def test_a_network_root_is_watched_and_rescanned_often(tmp_path):
    obs = FakeObserver()
    mounts = f"nas:/p {tmp_path} nfs rw 0 0\n"
    w = FolderWatch(tmp_path / "lib", CFG, clock=Clock(), observer=lambda: obs, mounts=lambda: mounts)
    w.set_roots([tmp_path / "p"])
    w.wait(0)
    assert list(obs.handlers) == [str(tmp_path / "p")], "local changes still raise events"
    assert w.coverage.watched == () and "network drive (nfs)" in w.coverage.polled[0][1]
    assert w.coverage.rescan_every_s == 300.0


def test_events_are_filtered_counted_and_settle_into_one_decision(tmp_path):
    root, lib = tmp_path / "p", tmp_path / "p" / "lib"
    obs, clock = FakeObserver(), Clock()
    w = FolderWatch(lib, CFG, clock=clock, observer=lambda: obs, mounts=lambda: "")
    w.set_roots([root])
    w.wait(0)
    handler = obs.handlers[str(root)]
    for e in [FileCreatedEvent(f"{root}/a.jpg"), FileModifiedEvent(f"{root}/a.jpg"), FileClosedEvent(f"{root}/a.jpg"),
              FileMovedEvent(f"{root}/b.jpg.part", f"{root}/b.jpg"),  # a copy tool's final rename
              FileDeletedEvent(f"{root}/sub/c.png"), DirCreatedEvent(f"{root}/new"),
              FileDeletedEvent(f"{root}/2024"),  # Windows reports a deleted folder as a file
              # not counted:
              DirModifiedEvent(f"{root}/sub"), FileCreatedEvent(f"{root}/x.jpg.part"),
              FileCreatedEvent(f"{root}/notes.txt"), FileCreatedEvent(f"{root}/.hidden.jpg"),
              FileCreatedEvent(f"{lib}/thumbs/a.jpg"), FileModifiedEvent(f"{lib}/catalog.sqlite-wal")]:
        clock.t += 0.1
        handler.dispatch(e)
    assert w.wait(0) is None, "not settled yet"
    clock.t += 3.0
    assert w.wait(0) == Decision("changes", 7)


def test_a_root_that_goes_away_is_set_up_again(tmp_path):
    root = str(tmp_path / "p")
    obs, clock = FakeObserver(), Clock()
    w = FolderWatch(tmp_path / "lib", CFG, clock=clock, observer=lambda: obs, mounts=lambda: "")
    w.set_roots([root])
    w.wait(0)
    obs.fail[root] = errno.ENOENT  # unplugged: it cannot be watched again yet
    obs.handlers[root].dispatch(DirDeletedEvent(root))
    clock.t = 3.0
    assert w.wait(0) == Decision("changes", 1), "the drive's photos are looked at (and kept: unreachable)"
    assert w.coverage.watched == () and "not there" in w.coverage.polled[0][1]
    w.finished()


def test_stop_wakes_a_waiting_thread(tmp_path):
    w = FolderWatch(tmp_path / "lib", CFG, observer=FakeObserver, mounts=lambda: "")
    w.set_roots([tmp_path])
    got = queue.Queue()
    t = threading.Thread(target=lambda: got.put(w.wait()))
    t.start()
    w.stop()
    assert got.get(timeout=30) is None
    t.join(30)


# -- real watchdog events, a real library ------------------------------------------------------


def _listing(lib: Library) -> dict[str, tuple[int, int]]:
    out = {}
    for r in lib.catalog.roots():
        out.update(lib.catalog.listing(r.id))
    return out


def _tokens_by_path(lib: Library) -> dict[str, np.ndarray]:
    return {p: lib.photo_tokens([lib.photo_at(p).id])[0] for p in _listing(lib) if lib.photo_at(p) is not None}


def test_files_added_renamed_and_removed_while_watching_end_as_a_fresh_scan(tmp_path, fake_bundle):
    root = tmp_path / "photos"
    make_photos(root / "a", 6, seed=1)
    make_photos(root / "b", 6, seed=2)
    lib = Library.open(tmp_path / "lib", bundle=fake_bundle)
    runs: queue.Queue = queue.Queue()
    watch = FolderWatch(lib.folder, WatchConfig(settle_s=0.2, max_wait_s=5.0), catch_up=True)
    lib.add_root(root)
    watch.set_roots(lib.roots())
    thread = threading.Thread(target=keep_indexed, args=(lib, watch, lambda d, r: runs.put((d, _listing(lib))),
                                                         lambda why: runs.put(why)), name="watch", daemon=True)
    thread.start()
    try:
        d, listing = runs.get(timeout=30)
        assert d.reason == "catch-up" and len(listing) == 12
        voted_path = str(root / "a" / "img_1_000.jpg")
        res = lib.search("same but red", image=str(root / "b" / "img_2_001.jpg"), k=12)
        vote = lib.vote(res, lib.photo_at(voted_path).id, up=True)

        make_photos(root / "c", 3, seed=9)  # a new folder of photos
        os.rename(voted_path, root / "a" / "renamed.jpg")  # the voted photo, renamed
        os.rename(root / "b" / "img_2_000.jpg", root / "c" / "moved.jpg")  # moved to another folder
        os.remove(root / "a" / "img_1_001.jpg")
        os.remove(root / "b" / "img_2_002.jpg")
        make_photos(tmp_path / "spare", 2, seed=11)
        shutil.copyfile(tmp_path / "spare" / "img_11_000.jpg", root / "a" / "img_1_003.jpg")  # changed content
        shutil.copyfile(tmp_path / "spare" / "img_11_001.jpg", root / "b" / "new.jpg.part")  # a copy tool ...
        os.rename(root / "b" / "new.jpg.part", root / "b" / "new.jpg")  # ... and its final rename
        (root / "a" / "notes.txt").write_text("not a photo")
        (root / "a" / ".hidden.jpg").write_bytes((root / "a" / "img_1_002.jpg").read_bytes())

        want = {p: s.key for p, s in walk(root, exclude=[lib.folder]).files.items()}
        assert len(want) == 14  # a: 5, b: 5, c: 4
        deadline = 30.0
        while listing != want:  # events may be split across runs: wait for the one that sees them all
            got = runs.get(timeout=deadline)
            assert not isinstance(got, str), got
            listing = got[1]
    finally:
        watch.stop()
        thread.join(30)
        watch.close()

    assert not thread.is_alive()
    fresh = Library.open(tmp_path / "fresh", bundle=fake_bundle)
    try:
        fresh.index([root])
        assert _listing(fresh) == _listing(lib) == want, "the same paths, sizes and times"
        mine, theirs = _tokens_by_path(lib), _tokens_by_path(fresh)
        assert mine.keys() == theirs.keys() and len(mine) == 14
        for p in mine:
            np.testing.assert_allclose(mine[p], theirs[p], atol=2e-3, err_msg=p)
        assert lib.votes() == [vote], "the vote is kept"
        renamed = lib.catalog.photo_by_sha(vote.photo_sha256)
        assert renamed.paths == (str(root / "a" / "renamed.jpg"),), "and follows the renamed photo"
        assert lib.status().indexed == fresh.status().indexed == 14
    finally:
        fresh.close()
        lib.close()


def test_cli_watch_indexes_changes_until_ctrl_c(tmp_path, fake_bundle):
    root = tmp_path / "photos"
    make_photos(root, 3, seed=1)
    cmd = [sys.executable, "-m", "engine.cli", "watch", "--library", str(tmp_path / "lib"), "--bundle",
           str(fake_bundle), "--settle", "0.2", str(root)]
    lines: queue.Queue = queue.Queue()
    with subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
        reader.start()
        try:
            first = lines.get(timeout=60)
            assert "caught up: 3 encoded" in first and "3 photos indexed" in first
            make_photos(root / "new", 2, seed=2)
            second = lines.get(timeout=30)
            assert "2 encoded" in second and "5 photos indexed" in second
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 130
        finally:
            if proc.poll() is None:
                proc.kill()
        reader.join(30)
        err = proc.stderr.read()
    assert "watching 1 of 1 folders" in err and "stopped" in err and "Traceback" not in err, err
    assert lines.empty(), "one line per run"
