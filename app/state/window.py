"""The window's size on first start, and the words of the results header.

- :func:`default_size`: a share of the screen's free area, at most 1280 x 820, so that
  the status bar stays on a 768-pixel-high laptop screen (a saved size wins over it).
- :func:`header_words`: how many strong matches, and how many photos are shown of how
  many there are, so that a list cut at the results limit does not read as everything.
"""

from __future__ import annotations


def default_size(free_w: int, free_h: int, share: float = 0.85, most: tuple[int, int] = (1280, 820)) -> tuple[int, int]:
    """The window's size when no size was saved: ``share`` of the screen's free area, at most ``most``."""
    return max(1, min(most[0], int(free_w * share))), max(1, min(most[1], int(free_h * share)))


def header_words(shown: int, cutoff: int, limit: int, total: int | None) -> str:
    """Rich text above the grid. ``shown``: photos in the list; ``cutoff``: those above the
    first steep drop; ``limit``: the most a search returns; ``total``: photos in the
    library (None: not known yet). The list is complete when it holds fewer than ``limit``."""
    cut_off = shown >= limit and total is not None and total > shown
    size = f"{shown:,} shown of {total:,}" if cut_off else None
    if cutoff < shown:
        strong = f"<b>{cutoff:,}</b> strong match{'es' if cutoff != 1 else ''} above the line"
        return f"{strong} · {size}" if size else f"{strong} · {shown - cutoff:,} more"
    return f"{size or f'{shown:,} photos'}, no clear drop in scores"
