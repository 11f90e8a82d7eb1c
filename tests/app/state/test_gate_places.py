"""The library gate (shared/exclusive) and the demo helpers."""

from __future__ import annotations

import threading
import time

import pytest
from PIL import Image

from app.state.gate import Gate
from app.state.places import bundle_for, count_photos, demo_places
from app.state.preview import preview_png
from engine.errors import ImageDecodeError


def test_exclusive_waits_for_shared_holders_and_blocks_new_ones():
    g, events = Gate(), []
    in_shared, release = threading.Event(), threading.Event()

    def reader(name, hold: threading.Event | None):
        with g.shared():
            events.append(f"{name} in")
            if hold is not None:
                in_shared.set()
                hold.wait(5)
        events.append(f"{name} out")

    def writer():
        with g.exclusive():
            events.append("swap")

    r1 = threading.Thread(target=reader, args=("r1", release))
    r1.start()
    assert in_shared.wait(5)
    w = threading.Thread(target=writer)
    w.start()
    deadline = time.monotonic() + 5
    while g._waiting_exclusive == 0 and time.monotonic() < deadline:  # the writer is waiting
        time.sleep(0.001)
    r2 = threading.Thread(target=reader, args=("r2", None))
    r2.start()
    time.sleep(0.05)
    assert events == ["r1 in"], "neither the swap nor a new reader runs while r1 holds the gate"
    release.set()
    for t in (r1, w, r2):
        t.join(5)
    assert events.index("swap") > events.index("r1 out")
    assert events.index("r2 in") > events.index("swap"), "the waiting swap goes before the new reader"
    assert not g.busy


def test_shared_holders_run_together():
    g = Gate()
    both = threading.Barrier(2, timeout=5)

    def reader():
        with g.shared():
            both.wait()  # would time out (BrokenBarrierError) if readers excluded each other

    ts = [threading.Thread(target=reader) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(5)
    assert not both.broken


def test_demo_places_follow_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv("CIRSEARCH_DEMO_BUNDLE", str(tmp_path / "bundle"))
    p = demo_places(tmp_path / "demo-library")
    assert p.library == tmp_path / "demo-library"
    assert p.photos == tmp_path / "demo-library-photos"
    assert p.bundle == tmp_path / "bundle" and not p.photos_ready
    (p.photos / "x").mkdir(parents=True)
    for name in ("a.jpg", "x/b.JPG", "x/c.png"):
        (p.photos / name).write_bytes(b"")
    assert count_photos(p.photos) == 2


def test_preview_is_upright_and_small(tmp_path):
    im = Image.new("RGB", (200, 100), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: a viewer turns it 90 degrees
    path = tmp_path / "side.jpg"
    im.save(path, exif=exif.tobytes())
    import io

    out = Image.open(io.BytesIO(preview_png(path, 64)))
    assert out.format == "PNG" and out.size == (32, 64), "upright (portrait) and at most 64 px"
    pasted = Image.open(io.BytesIO(preview_png(path.read_bytes(), 50)))
    assert max(pasted.size) == 50


def test_preview_of_a_bad_file_says_why(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageDecodeError):
        preview_png(bad, 64)


def test_bundle_for(tmp_path, monkeypatch):
    monkeypatch.setenv("CIRSEARCH_DEMO_BUNDLE", str(tmp_path / "demo-bundle"))
    lib = tmp_path / "lib"
    assert bundle_for(lib, None) == tmp_path / "demo-bundle", "a new library starts with the demo model"
    assert bundle_for(lib, tmp_path / "mine") == tmp_path / "mine", "asked for: always that one"
    lib.mkdir()
    (lib / "catalog.sqlite").write_bytes(b"")
    assert bundle_for(lib, None) is None, "an existing library keeps the model it recorded"


@pytest.mark.parametrize("platform, fm1, how, detail", [
    ("darwin", False, "run", ("open", "-R", "/p/a b.jpg")),
    ("win32", False, "run", ("explorer", "/select,\\p\\a b.jpg")),
    ("linux", True, "dbus", "file:///p/a%20b.jpg"),
    ("linux", False, "open", "/p"),
    ("freebsd13", False, "open", "/p"),
])
def test_reveal_plan(platform, fm1, how, detail):
    from app.state.reveal import reveal_plan

    r = reveal_plan("/p/a b.jpg", platform, fm1)
    assert r.how == how
    assert (r.command if how == "run" else r.target) == detail
