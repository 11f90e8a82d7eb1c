"""Garment silhouettes as polygons in a unit box (x right, y down), one function per category.

A shape is a list of :class:`Part` drawn in order. Fabric parts are filled with the
garment's colour and pattern; ``inside`` parts (the neck opening) show the darker inside
of the garment; ``line`` parts are seams drawn over the fabric. Nuisance details (a shirt
pocket, a dress belt, a hem band) are switched on by ``detail``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.world.attributes import Garment

Point = tuple[float, float]


@dataclass(frozen=True)
class Part:
    kind: str  # "fabric" | "inside" | "trim" | "belt" | "line" | "button"
    points: tuple[Point, ...]


def _mirror(points: list[Point]) -> list[Point]:
    return [(1.0 - x, y) for x, y in points]


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 10) -> list[Point]:
    return [
        (
            cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)),
            cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n)),
        )
        for i in range(n + 1)
    ]


def _sleeve(shoulder: Point, armpit: Point, sleeves: str) -> list[Point]:
    """The left sleeve (viewer's left) from the shoulder tip and the armpit."""
    sx, sy = shoulder
    ax, ay = armpit
    if sleeves == "short":
        return [shoulder, (sx - 0.125, sy + 0.105), (ax - 0.095, ay + 0.035), armpit]
    # long: hangs beside the body, slightly outwards
    return [shoulder, (sx - 0.16, sy + 0.50), (ax - 0.115, ay + 0.36), armpit]


def _cuff(sleeve: list[Point]) -> list[Point]:
    """A band across the end of a long sleeve."""
    (_, _), (ox, oy), (ix, iy), (_, _) = sleeve
    k = 0.09
    return [
        (ox + (sleeve[0][0] - ox) * k, oy + (sleeve[0][1] - oy) * k),
        (ox, oy),
        (ix, iy),
        (ix + (sleeve[3][0] - ix) * k, iy + (sleeve[3][1] - iy) * k),
    ]


def _neck(cx: float, top: float, half: float, neckline: str) -> list[Point]:
    """The neck opening between the back neckline and the front neckline."""
    back = _arc(cx, top, half, 0.018, 0, 180, 6)  # shallow back neckline, right to left
    if neckline == "v-neck":
        front = [(cx - half, top), (cx, top + 0.14), (cx + half, top)]
    else:
        front = _arc(cx, top, half, 0.075, 180, 0, 10)
    return back + front


def _strap_side(neck_x: float, top: float, armpit: Point, strap: float = 0.055) -> list[Point]:
    """Left side of a sleeveless bodice: a strap ``strap`` wide, then the armhole down to the armpit."""
    ax, ay = armpit
    strap = neck_x - strap
    return [(strap, top), (strap - 0.005, top + 0.06), (ax + 0.025, ay - 0.06), (ax + 0.005, ay - 0.015), armpit]


def _body(left_upper: list[Point], left_lower: list[Point]) -> list[Point]:
    """A symmetric body from its left outline (top to bottom)."""
    left = left_upper + left_lower
    return left + _mirror(left)[::-1]


def _sleeved_parts(body: list[Point], shoulder: Point, armpit: Point, sleeves: str) -> list[Part]:
    parts: list[Part] = []
    if sleeves != "sleeveless":
        left = _sleeve(shoulder, armpit, sleeves)
        for s in (left, _mirror(left)):
            parts.append(Part("fabric", tuple(s)))
            if sleeves == "long":
                parts.append(Part("trim", tuple(_cuff(s))))
    parts.append(Part("fabric", tuple(body)))
    return parts


def toptee(g: Garment, detail: bool) -> list[Part]:
    top, half = 0.20, 0.085
    shoulder, armpit = (0.29, 0.24), (0.31, 0.40)
    lower = [(0.32, 0.62), (0.305, 0.84)]
    if g.sleeves == "sleeveless":
        upper = [(0.5 - half, top)] + _strap_side(0.5 - half, top, armpit)
    else:
        upper = [(0.5 - half, top), shoulder, armpit]
    parts = _sleeved_parts(_body(upper, lower), shoulder, armpit, g.sleeves)
    parts.append(Part("inside", tuple(_neck(0.5, top, half, g.neckline or "round"))))
    if detail:
        parts.append(Part("line", ((0.305, 0.80), (0.695, 0.80))))
    return parts


def shirt(g: Garment, detail: bool) -> list[Part]:
    top, half = 0.17, 0.07
    shoulder, armpit = (0.28, 0.22), (0.29, 0.40)
    lower = [(0.29, 0.80), (0.33, 0.845), (0.42, 0.86)]
    if g.sleeves == "sleeveless":
        upper = [(0.5 - half, top)] + _strap_side(0.5 - half, top + 0.01, armpit, 0.095)
    else:
        upper = [(0.5 - half, top), shoulder, armpit]
    parts = _sleeved_parts(_body(upper, lower), shoulder, armpit, g.sleeves)
    parts.append(Part("inside", ((0.43, 0.17), (0.57, 0.17), (0.5, 0.235))))
    collar = [(0.425, 0.155), (0.505, 0.235), (0.46, 0.275), (0.395, 0.205)]
    parts += [Part("fabric", tuple(collar)), Part("fabric", tuple(_mirror(collar)))]
    parts.append(Part("line", ((0.5, 0.24), (0.5, 0.86))))
    for i in range(6):
        y = 0.30 + i * 0.095
        parts.append(Part("button", ((0.5, y),)))
    if detail:
        parts.append(Part("line", ((0.57, 0.31), (0.65, 0.31), (0.65, 0.41), (0.61, 0.43), (0.57, 0.41), (0.57, 0.31))))
    return parts


def dress(g: Garment, detail: bool) -> list[Part]:
    top, half = 0.12, 0.07
    shoulder, armpit = (0.33, 0.15), (0.35, 0.29)
    waist = (0.38, 0.45)
    hem_y = 0.96 if g.length == "long" else 0.68
    flare = 0.26 if g.length == "long" else 0.25
    skirt = [waist, (0.5 - flare, hem_y), (0.5 - flare * 0.5, hem_y + 0.018)]
    if g.sleeves == "sleeveless":
        upper = [(0.5 - half, top)] + _strap_side(0.5 - half, top, armpit)
    else:
        upper = [(0.5 - half, top), shoulder, armpit]
    parts = _sleeved_parts(_body(upper, skirt), shoulder, armpit, g.sleeves)
    parts.append(Part("inside", tuple(_neck(0.5, top, half, g.neckline or "round"))))
    if detail:
        parts.append(Part("belt", ((0.375, 0.43), (0.625, 0.43), (0.622, 0.47), (0.378, 0.47))))
    else:
        parts.append(Part("line", ((0.38, 0.45), (0.62, 0.45))))
    for x in (0.44, 0.56):  # soft folds of the skirt
        parts.append(Part("line", ((x, 0.48), (0.5 + (x - 0.5) * 2.4, hem_y - 0.02))))
    return parts


SHAPES = {"dress": dress, "shirt": shirt, "toptee": toptee}


def garment_parts(g: Garment, detail: bool = False) -> list[Part]:
    return SHAPES[g.category](g, detail)
