"""Where the steep-drop divider runs through a grid of tiles that wraps into rows.

Tiles fill rows left to right, ``columns`` per row. The first ``cutoff`` tiles are the
strong matches. The divider is the border between the strong and the weak tiles: in
the row where the weak ones start it steps down, so it is a polyline of up to three
segments in cell units (x counts columns, y counts rows; (0, 0) is the grid's top left).
Segments that would border no tile on one side are left out.
"""

from __future__ import annotations

Point = tuple[int, int]


def divider(cutoff: int, count: int, columns: int) -> list[tuple[Point, Point]]:
    """Segments ((x0, y0), (x1, y1)) between tile ``cutoff - 1`` and tile ``cutoff``."""
    if columns < 1:
        raise ValueError("a grid has at least one column")
    if cutoff <= 0 or cutoff >= count:
        return []  # everything strong, or nothing: no border to draw
    row, col = divmod(cutoff, columns)
    weak_in_row = min(columns, count - row * columns)  # tiles in the row where the weak ones start
    if col == 0:  # the weak tiles start a row: one line over it (the row above is full)
        return [((0, row), (weak_in_row, row))]
    out: list[tuple[Point, Point]] = []
    if row > 0:  # strong tiles of the row above sit over the weak part of this row
        out.append(((col, row), (weak_in_row, row)))
    out.append(((col, row), (col, row + 1)))  # between the last strong and the first weak tile
    below = min(columns, count - (row + 1) * columns)  # weak tiles in the next row
    if below > 0:
        out.append(((0, row + 1), (min(col, below), row + 1)))
    return out
