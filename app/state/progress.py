"""Indexing progress in words, a throttle for progress reports, and time spent paused.

The indexer reports after every photo; a window needs a few updates a second.
:class:`Throttle` passes a report when ``interval_s`` has passed since the last one
passed, and always passes the final one. The indexer's elapsed time runs on while it is
paused; :class:`PausedTime` takes the pauses out, so that the rate after Resume is the
rate of the time it ran. :func:`report_words` sums a finished run up, with the skipped
count the library's list shows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from engine.indexer import IndexReport, Progress


def duration(seconds: float) -> str:
    """A rough, readable duration: "8 s", "3 min", "1 h 5 min"."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    m = (s + 30) // 60 if s < 3600 else s // 60
    if m < 60:
        return f"{m} min"
    h, m = divmod(m, 60)
    return f"{h} h {m} min" if m else f"{h} h"


@dataclass(frozen=True)
class ProgressText:
    percent: int | None  # None: unknown (an indeterminate bar)
    line: str  # "120 of 300 photos · 14.2 photos/s · about 13 s left"


def describe(p: Progress, paused: bool = False) -> ProgressText:
    if p.phase == "scan":
        return ProgressText(None, "Looking for new and changed photos…")
    if p.total == 0:
        return ProgressText(100, "Nothing new to index.")
    percent = min(100, int(100 * p.done / p.total))
    parts = [f"{p.done:,} of {p.total:,} photos"]
    if paused:
        parts.append("paused")
    elif p.done >= p.total:
        parts.append(f"done in {duration(p.elapsed_s)}")
    else:
        if p.rate > 0:
            parts.append(f"{p.rate:.1f} photos/s" if p.rate < 100 else f"{p.rate:,.0f} photos/s")
        if p.eta_s is not None:
            parts.append(f"about {duration(p.eta_s)} left")
    if p.failed:
        parts.append(f"{p.failed} skipped")
    return ProgressText(percent, " · ".join(parts))


class Throttle:
    """Lets a report through at most every ``interval_s`` (by the caller's clock)."""

    def __init__(self, interval_s: float = 0.1):
        self.interval_s = interval_s
        self._last: float | None = None

    def ready(self, now: float, final: bool = False) -> bool:
        if final or self._last is None or now - self._last >= self.interval_s:
            self._last = now
            return True
        return False


class PausedTime:
    """The spans an indexing run was paused, by the clock the indexer's elapsed time
    runs on (``time.monotonic``); what a report's time owes to them is taken out."""

    def __init__(self) -> None:
        self._spans: list[tuple[float, float | None]] = []  # (paused at, resumed at; None: still paused)

    @property
    def paused(self) -> bool:
        return bool(self._spans) and self._spans[-1][1] is None

    def pause(self, now: float) -> None:
        if not self.paused:
            self._spans.append((now, None))

    def resume(self, now: float) -> None:
        if self.paused:
            self._spans[-1] = (self._spans[-1][0], now)

    def between(self, start: float, end: float) -> float:
        """Seconds paused between ``start`` and ``end``."""
        return sum(max(0.0, min(end, b if b is not None else end) - max(start, a)) for a, b in self._spans)

    def running(self, p: Progress, now: float) -> Progress:
        """``p`` (made at ``now``) with the time paused since its phase began taken out."""
        paused = self.between(now - p.elapsed_s, now)
        return dataclasses.replace(p, elapsed_s=max(0.0, p.elapsed_s - paused)) if paused else p


def report_words(r: IndexReport, skipped: int | None) -> str:
    """A finished run in a line: "Indexed: 96 new, 20 known, 3 skipped (1 this time)."
    ``skipped``: files and folders the library skips in all (its list's count), None
    while not known; then the run's own failures are counted."""
    done = "Stopped" if r.cancelled else "Indexed"
    parts = [f"{r.encoded:,} new"] + ([f"{r.reused:,} known"] if r.reused else []) + (
        [f"{r.removed:,} gone"] if r.removed else [])
    now = len(r.failed)
    if skipped is None:
        parts += [f"{now:,} skipped"] if now else []
    elif skipped:
        parts.append(f"{skipped:,} skipped" + (f" ({now:,} this time)" if now and now != skipped else ""))
    return f"{done}: " + ", ".join(parts) + "."
