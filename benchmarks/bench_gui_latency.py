"""The desktop app's event loop while it indexes, searches as you type, scrolls and browses.

    .venv/bin/python benchmarks/bench_gui_latency.py [--photos 300] [--browse 10000]
        [--phases index,type,scroll,browse] [--bundle PATH] [--json]

A 5 ms timer ticks on the GUI thread throughout; the longest gap between two ticks is
how long the window could not answer the user (goal: under 100 ms). Four phases, each
on the real window (offscreen unless QT_QPA_PLATFORM says otherwise):

- index: a folder of demo photos is added and indexed (workers decode and encode);
- type: a reference is set, then sentences are typed one key every 70 ms (searches run
  as the debounce lets them), with thumbnails filling in;
- scroll: the grid scrolls through every result while thumbnails are made (the disk
  thumbnail cache is emptied first);
- browse: a library of ``--browse`` photos (drawn into 40 dated folders and indexed once,
  before the window measures anything, then kept in the cache folder) is opened with no
  query and its listing scrolled from the first photo to the last, half a row every 30 ms:
  pages come from the engine as the grid reaches its end, thumbnails are made as tiles
  show (the disk thumbnail cache is emptied first).

The model is ``--bundle``, else the installed demo bundle, else the tiny QuRe
architecture with random weights exported once into the cache folder (needs torch).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

CACHE = Path(os.environ.get("CIRSEARCH_BENCH_CACHE", "/tmp/cirsearch-bench-gui"))
SENTENCES = ["make it red with short sleeves", "same but striped", "darker and without sleeves",
             "is blue with polka dots"]  # typed in the "type" phase


def tiny_bundle(out: Path) -> Path:
    """The tiny QuRe architecture with random weights (tools/tiny_bundle.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tiny_bundle", Path(__file__).parents[1] / "tools" / "tiny_bundle.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.tiny_random_bundle(out)


def pick_bundle(arg: Path | None) -> Path:
    from engine.resources import demo_bundle_dir

    return arg or demo_bundle_dir() or tiny_bundle(CACHE / "tiny-bundle")


def demo_photos(n: int) -> Path:
    from engine.demo import ensure_demo_photos

    return ensure_demo_photos(CACHE / f"photos-{n}", photos=n)


def browse_library(n: int, bundle: Path) -> Path:
    """A library of ``n`` small photos in 40 folders, EXIF-dated over ten years, indexed
    with ``bundle``; made once (outside any measurement) and kept in the cache folder."""
    import numpy as np
    from PIL import Image

    from engine.library import Library

    root = CACHE / f"browse-{n}"
    photos, lib = root / "photos", root / "library"
    if (root / "done").is_file():
        return lib
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = photos / f"{2015 + i % 10}-{1 + i % 40 // 10 * 3:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        blocks = rng.integers(0, 255, (3, 4, 3), np.uint8).repeat(48, 0).repeat(48, 1)  # 144 x 192
        exif = Image.Exif()
        exif[0x0132] = f"{2015 + i % 10}:{1 + i % 12:02d}:{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00"
        Image.fromarray(blocks).save(folder / f"p{i:05d}.jpg", "JPEG", quality=85, exif=exif.tobytes())
    t0 = time.monotonic()
    with Library.open(lib, bundle=bundle) as library:
        report = library.index([photos])
    print(f"browse library: {report.encoded} photos indexed in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    (root / "done").write_text("ok")
    return lib


def browse(app, w, probe: Probe, n: int, bundle: Path) -> dict:
    """Open the ``n``-photo library with no query and scroll its listing to the last photo."""
    lib = browse_library(n, bundle)
    shutil.rmtree(lib / "thumbs", ignore_errors=True)
    w.query_bar.edit.clear()
    w.well.clear()
    pages: list[int] = []
    w.search.extended.connect(lambda *a: pages.append(w.model.rowCount()))
    w.open_library(lib, bundle)
    run_until(app, lambda: w.model.listing is not None and w.model.rowCount() > 0, 120)
    t0, loaded0 = time.perf_counter(), w.thumbs.loaded
    probe.start()
    bar, scroller = scroll_down(w)
    run_until(app, lambda: bar.value() >= bar.maximum() and not w.model.canFetchMore()
              and not w.search.paging.asking and not w.thumbs.waiting(), 1800)
    scroller.stop()
    return {**probe.stop(), "photos": w.model.listing.total, "listed": w.model.rowCount(), "pages": len(pages) + 1,
            "columns": w.view.columns(), "scrolled_px": bar.maximum(), "thumbnails": w.thumbs.loaded - loaded0,
            "seconds": round(time.perf_counter() - t0, 1)}


class Probe:
    """Ticks every 5 ms on the GUI thread and records the gaps between ticks."""

    def __init__(self):
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self.gaps: list[float] = []
        self._last = 0.0

    def start(self) -> None:
        self.gaps, self._last = [], time.perf_counter()
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        g = sorted(self.gaps) or [0.0]
        return {"ticks": len(self.gaps), "max_ms": round(g[-1] * 1000, 1),
                "p99_ms": round(g[int(0.99 * (len(g) - 1))] * 1000, 1),
                "over_50ms": sum(x > 0.05 for x in g), "over_100ms": sum(x > 0.1 for x in g)}

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now


def scroll_down(w):
    """Scroll the grid down half a row every 30 ms, as a person reading down the results;
    returns the scroll bar and the timer (stop it when done)."""
    from PySide6.QtCore import QTimer

    bar = w.view.verticalScrollBar()
    step = max(1, w.view.gridSize().height() // 2)
    scroller = QTimer()
    scroller.timeout.connect(lambda: bar.setValue(bar.value() + step))
    scroller.start(30)
    return bar, scroller


def run_until(app, pred, timeout_s: float) -> None:
    """Run the event loop (normally: no busy waiting) until ``pred()`` holds."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop, deadline = QEventLoop(), time.monotonic() + timeout_s
    check = QTimer()
    check.timeout.connect(lambda: (pred() or time.monotonic() > deadline) and loop.quit())
    check.start(20)
    loop.exec()
    check.stop()
    if not pred():
        sys.exit(f"timed out after {timeout_s:.0f} s")


def type_sentences(app, w) -> None:
    """Type each sentence one key every 70 ms, resting 350 ms after each word (so the
    debounced search runs while the next word is typed); wait for the last answer."""
    from PySide6.QtCore import QTimer

    keys: list[str | None] = []
    for s in SENTENCES:
        keys.append(None)  # None: clear the field
        for word in s.split():
            keys += list(word + " ") + [""] * 5  # "": a 70 ms tick with no key
    state = {"i": 0}

    def press() -> None:
        k = keys[state["i"]]
        edit = w.query_bar.edit
        if k is None:
            edit.clear()
        elif k:
            edit.insert(k)
        state["i"] += 1
        if state["i"] == len(keys):
            timer.stop()

    timer = QTimer()
    timer.timeout.connect(press)
    timer.start(70)
    run_until(app, lambda: state["i"] == len(keys) and w.model.result is not None
              and w.model.result.query.text == SENTENCES[-1].strip(), 120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--bundle", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=0, help="model threads (prefs/model_threads; 0: all cores)")
    ap.add_argument("--browse", type=int, default=10_000, help="photos in the library the browse phase scrolls")
    ap.add_argument("--phases", default="index,type,scroll,browse", help="which phases to run, in this order")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    phases = set(args.phases.split(","))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.options import Options

    bundle = pick_bundle(args.bundle)
    photos = demo_photos(args.photos) if phases & {"index", "type", "scroll"} else None
    work = CACHE / "run"
    shutil.rmtree(work, ignore_errors=True)
    app = QApplication.instance() or QApplication([])
    work.mkdir(parents=True)
    (work / "settings.ini").write_text(f"[prefs]\nmodel_threads={args.threads}\n")
    w = MainWindow(Options(library=work / "library", bundle=bundle, settings_file=work / "settings.ini",
                           index_on_open=False))
    w.resize(1280, 820)
    w.show()
    w.start()
    run_until(app, lambda: w.host.lib is not None, 120)
    probe, out = Probe(), {}
    if photos is not None:
        search_phases(app, w, probe, photos, out)
    if "browse" in phases:
        out["browse"] = browse(app, w, probe, args.browse, bundle)
    w.close()
    report(args, bundle, w, out)
    return 0


def search_phases(app, w, probe: Probe, photos: Path, out: dict) -> None:
    """The index, type and scroll phases on the demo photos."""
    from engine.demo import example_queries

    reports = []
    w.index_job.finished.connect(reports.append)
    probe.start()
    w.add_folder(str(photos))
    run_until(app, lambda: bool(reports), 3600)
    r = reports[0]
    out["index"] = {**probe.stop(), "photos": r.encoded, "photos_per_s": round(r.encoded / r.elapsed_s, 1)}

    q = example_queries(photos)[0]
    sent: dict[int, float] = {}
    latency: list[float] = []
    submit = w.search.submit

    def timed_submit() -> None:
        submit()
        sent[w.search.requests.latest] = time.perf_counter()

    w.search.submit = timed_submit
    w.search._timer.timeout.disconnect()
    w.search._timer.timeout.connect(timed_submit)
    w.search.answered.connect(lambda *a: latency.append(time.perf_counter() - sent[w.search.requests.latest]))
    probe.start()
    w.well.set_reference(str(q.reference))
    type_sentences(app, w)
    lat = sorted(latency)
    out["type"] = {**probe.stop(), "searches": w.search.sent, "stale_dropped": w.search.dropped,
                   "answer_ms_median": round(lat[len(lat) // 2] * 1000), "answer_ms_max": round(lat[-1] * 1000)}

    shutil.rmtree(w.host.lib.folder / "thumbs", ignore_errors=True)
    w.thumbs.reset()
    w.model.set_result(w.model.result)
    probe.start()
    bar, scroller = scroll_down(w)
    run_until(app, lambda: bar.value() >= bar.maximum() and not w.thumbs.waiting(), 600)
    scroller.stop()
    out["scroll"] = {**probe.stop(), "results": w.model.rowCount(), "thumbnails": w.thumbs.loaded}


def report(args, bundle: Path, w, out: dict) -> None:
    meta = {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}",
        "model_threads": args.threads,
        "device": w.host.status.device if w.host.status else "?",
        "bundle": str(bundle),
        "qt_platform": os.environ["QT_QPA_PLATFORM"],
    }
    if args.json:
        print(json.dumps({**meta, **out}))
    else:
        print(
            f"machine: {meta['machine']}, model: {bundle.name}, model threads: {args.threads or 'all'}, "
            f"Qt platform: {meta['qt_platform']}"
        )
        for phase, r in out.items():
            extra = {k: v for k, v in r.items() if k not in ("ticks", "max_ms", "p99_ms", "over_50ms", "over_100ms")}
            print(
                f"{phase:7s} longest gap {r['max_ms']:6.1f} ms · p99 {r['p99_ms']:5.1f} ms · "
                f"{r['over_100ms']} gaps over 100 ms, {r['over_50ms']} over 50 ms of {r['ticks']} ticks · {extra}"
            )


if __name__ == "__main__":
    sys.exit(main())
