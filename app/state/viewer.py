"""The photo viewer without Qt: zoom stops, moving through the results, the facts shown.

The viewer starts fitted to the window; zooming in or out goes to the next stop above
or below the scale on screen (``fit`` is wherever fitting put it), and ``fit`` again
goes back. Arrow keys move through the rows of the grid behind it.
"""

from __future__ import annotations

from engine.browse import PhotoDetails
from engine.fspath import shown

from .browse import when

ZOOMS = (0.05, 0.1, 0.25, 0.33, 0.5, 0.67, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
MOST_FIT = 4.0  # fitting enlarges a small photo at most this much (more only shows its pixels)


def zoom(scale: float, steps: int) -> float:
    """The zoom stop ``steps`` stops above (below, when negative) ``scale``."""
    if steps > 0:
        bigger = [z for z in ZOOMS if z > scale * 1.001]
        return bigger[min(steps, len(bigger)) - 1] if bigger else ZOOMS[-1]
    if steps < 0:
        smaller = [z for z in ZOOMS if z < scale * 0.999]
        return smaller[max(steps, -len(smaller))] if smaller else ZOOMS[0]
    return scale


def fit_scale(image: tuple[int, int], area: tuple[int, int]) -> float:
    """The scale that shows all of an image (w, h) as large as an area (w, h) holds it,
    enlarging a small one at most :data:`MOST_FIT` times."""
    w, h = image
    if w <= 0 or h <= 0:
        return 1.0
    return min(MOST_FIT, area[0] / w, area[1] / h)


def step(row: int, delta: int, count: int) -> int | None:
    """The row ``delta`` away from ``row`` among ``count``, or None past either end."""
    to = row + delta
    return to if 0 <= to < count else None


def size_words(width: int | None, height: int | None, nbytes: int) -> str:
    pixels = f"{width} × {height} px" if width and height else "size unknown"
    if nbytes >= 1 << 20:
        return f"{pixels} · {nbytes / (1 << 20):.1f} MB"
    return f"{pixels} · {max(1, round(nbytes / 1024))} KB"


def detail_lines(d: PhotoDetails, score: float | None = None, rank: int | None = None,
                 strong: bool | None = None) -> list[tuple[str, str]]:
    """(label, words) for the viewer's facts about a photo; ``score`` and ``rank`` when it
    was found by a search (``strong``: above the steep drop)."""
    if d.date is None:
        date = "unknown"
    else:
        date = f"{when(d.date)} ({'taken' if d.taken else 'the file’s date'})"
    lines = [("Date", date), ("Size", size_words(d.width, d.height, d.bytes)),
             ("Camera", d.camera or "not recorded")]
    if score is not None and rank is not None:
        side = "" if strong is None else (" · above the line" if strong else " · below the line")
        lines.append(("Score", f"{score:.3f} · rank {rank + 1}{side}"))
    else:
        lines.append(("Score", "— (browsing: no question asked)"))
    if len(d.paths) > 1:
        lines.append(("Copies", "\n".join(shown(p) for p in d.paths[1:])))
    return lines
