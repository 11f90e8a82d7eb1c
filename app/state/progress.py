"""Indexing progress in words, and a throttle for progress reports.

The indexer reports after every photo; a window needs a few updates a second.
:class:`Throttle` passes a report when ``interval_s`` has passed since the last one
passed, and always passes the final one.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.indexer import Progress


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
