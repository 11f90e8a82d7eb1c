"""Progress words and throttle, and settings read from stored values."""

from __future__ import annotations

import pytest

from app.state.progress import Throttle, describe, duration
from app.state.settings import AppSettings, from_mapping, to_mapping
from engine.indexer import Progress


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (8.4, "8 s"), (59.4, "59 s"), (60, "1 min"), (89, "1 min"), (91, "2 min"),
    (3540, "59 min"), (3599, "1 h"), (3600, "1 h"), (3900, "1 h 5 min"), (-3, "0 s"),
])
def test_duration(seconds, text):
    assert duration(seconds) == text


def prog(done, total, elapsed, failed=0, phase="encode"):
    return Progress(phase=phase, total=total, done=done, encoded=done, reused=0, failed=failed, elapsed_s=elapsed)


@pytest.mark.parametrize("p, paused, percent, parts", [
    (prog(0, 0, 0, phase="scan"), False, None, ["Looking for new"]),
    (prog(0, 0, 1), False, 100, ["Nothing new"]),
    (prog(120, 300, 10), False, 40, ["120 of 300 photos", "12.0 photos/s", "about 15 s left"]),
    (prog(120, 300, 10, failed=2), False, 40, ["2 skipped"]),
    (prog(120, 300, 10), True, 40, ["paused"]),
    (prog(300, 300, 125), False, 100, ["done in 2 min"]),
    (prog(5000, 100000, 10), False, 5, ["500 photos/s", "about 3 min left", "5,000 of 100,000"]),
])
def test_describe(p, paused, percent, parts):
    t = describe(p, paused)
    assert t.percent == percent
    for part in parts:
        assert part in t.line
    if paused:
        assert "left" not in t.line


def test_throttle_passes_at_most_one_report_per_interval_and_always_the_last():
    th = Throttle(0.1)
    times = [0.0, 0.02, 0.05, 0.1, 0.11, 0.25, 0.26]
    assert [th.ready(t) for t in times] == [True, False, False, True, False, True, False]
    assert th.ready(0.261, final=True)


@pytest.mark.parametrize("stored, want", [
    ({}, AppSettings()),
    ({"results": "50", "debounce_ms": 120, "index_on_open": "false"},
     AppSettings(results=50, debounce_ms=120, index_on_open=False)),
    ({"results": "lots", "tile_px": 10_000, "debounce_ms": -5}, AppSettings(tile_px=512, debounce_ms=0)),
    ({"mode": "similar", "device": "cuda"}, AppSettings(mode="similar", device="cuda")),
    ({"mode": "telepathy", "device": "tpu", "index_on_open": "maybe"}, AppSettings()),
    ({"results": None, "unknown": 3}, AppSettings()),
])
def test_settings_from_stored_values(stored, want):
    assert from_mapping(stored) == want


def test_settings_round_trip():
    s = AppSettings(results=77, mode="text", index_on_open=False)
    assert from_mapping(to_mapping(s)) == s
    assert from_mapping({k: str(v) for k, v in to_mapping(s).items()}) == s, "QSettings may hand back strings"
