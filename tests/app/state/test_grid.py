"""The divider through a wrapped grid, against a brute-force oracle over cell borders."""

from __future__ import annotations

import pytest

from app.state.grid import divider


def unit_edges(segments) -> set:
    """Break segments into unit-length edges: ("h", x, y) spans x..x+1 at y; ("v", x, y) spans y..y+1 at x."""
    out = set()
    for (x0, y0), (x1, y1) in segments:
        assert x0 == x1 or y0 == y1, "segments are axis-aligned"
        if y0 == y1:
            out |= {("h", x, y0) for x in range(min(x0, x1), max(x0, x1))}
        else:
            out |= {("v", x0, y) for y in range(min(y0, y1), max(y0, y1))}
    return out


def oracle(cutoff: int, count: int, columns: int) -> set:
    """Every border between a strong cell (index < cutoff) and a weak one, cell by cell."""
    cell = {(i % columns, i // columns): i < cutoff for i in range(count)}
    out = set()
    for (x, y), strong in cell.items():
        right, below = cell.get((x + 1, y)), cell.get((x, y + 1))
        if right is not None and right != strong:
            out.add(("v", x + 1, y))
        if below is not None and below != strong:
            out.add(("h", x, y + 1))
    return out


@pytest.mark.parametrize("columns", [1, 2, 3, 5, 7])
@pytest.mark.parametrize("count", [1, 2, 5, 6, 11, 23])
def test_divider_borders_exactly_the_strong_tiles(columns, count):
    for cutoff in range(0, count + 1):
        assert unit_edges(divider(cutoff, count, columns)) == oracle(cutoff, count, columns), (cutoff, count, columns)


@pytest.mark.parametrize("cutoff, count, columns, want", [
    (0, 10, 4, []),  # nothing strong
    (10, 10, 4, []),  # everything strong
    (4, 10, 4, [((0, 1), (4, 1))]),  # weak tiles start a row
    (2, 10, 4, [((2, 0), (2, 1)), ((0, 1), (2, 1))]),  # step in the first row
    (6, 10, 4, [((2, 1), (4, 1)), ((2, 1), (2, 2)), ((0, 2), (2, 2))]),  # full staircase
    (9, 10, 4, [((1, 2), (2, 2)), ((1, 2), (1, 3))]),  # last row, nothing below
])
def test_divider_segments(cutoff, count, columns, want):
    assert divider(cutoff, count, columns) == want


def test_divider_needs_a_column():
    with pytest.raises(ValueError):
        divider(1, 3, 0)
