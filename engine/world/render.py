"""Rendering one garment as a simple product photo (PIL + numpy only).

``render(garment, nuisance, size)`` is a pure function: the attributes decide what is
drawn, the :class:`Nuisance` decides how (placement, tilt, background, lighting,
pattern phase, small details). ``sample_nuisance(rng)`` draws one, so
renders with equal attributes differ in pixels but not in anything a caption names.
Drawing happens at twice the output size and is reduced at the end (anti-aliasing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter

from engine.world.attributes import LIGHTNESS, Garment
from engine.world.shapes import Part, garment_parts

RGB = tuple[int, int, int]

BASE_RGB: dict[str, RGB] = {
    "black": (34, 34, 38), "white": (244, 244, 240), "grey": (128, 131, 136),
    "red": (196, 32, 42), "pink": (238, 138, 172), "orange": (238, 128, 32),
    "yellow": (244, 206, 48), "green": (38, 138, 68), "blue": (40, 82, 188),
    "purple": (116, 48, 146),
}
LIGHT_INKS: tuple[RGB, ...] = ((248, 248, 244), (240, 234, 214), (226, 226, 226))
DARK_INKS: tuple[RGB, ...] = ((30, 30, 34), (36, 44, 80), (70, 70, 74))
SUPERSAMPLE = 2


@dataclass(frozen=True)
class Nuisance:
    """Everything about a render that is not an attribute."""

    scale: float  # garment box side / shorter canvas side
    angle: float  # degrees, counter-clockwise
    offset: tuple[float, float]  # centre shift, fraction of the canvas
    background: RGB
    vignette: float
    colour_gain: float
    colour_shift: RGB
    ink: RGB  # the pattern's second colour
    period: float  # pattern scale factor
    phase: tuple[float, float]
    vertical_stripes: bool
    light: float  # -1..1: where the light comes from
    shadow: tuple[float, float]
    detail: bool
    seed: int  # for the random parts of a pattern (where the flowers fall)


def sample_nuisance(rng: np.random.Generator, garment: Garment) -> Nuisance:
    light_colour = LIGHTNESS[garment.colour] >= 70
    inks = DARK_INKS if light_colour else LIGHT_INKS
    tint = rng.integers(-7, 8, size=3)
    level = int(rng.integers(228, 247))
    bg = tuple(int(np.clip(level + t, 210, 252)) for t in tint)
    return Nuisance(
        scale=float(rng.uniform(0.80, 0.97)),
        angle=float(rng.uniform(-7.0, 7.0)),
        offset=(float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.04, 0.04))),
        background=bg,  # type: ignore[arg-type]
        vignette=float(rng.uniform(0.0, 0.12)),
        colour_gain=float(rng.uniform(0.9, 1.06)),
        colour_shift=tuple(int(v) for v in rng.integers(-10, 11, size=3)),  # type: ignore[arg-type]
        ink=inks[int(rng.integers(len(inks)))],
        period=float(rng.uniform(0.85, 1.2)),
        phase=(float(rng.uniform(0, 1)), float(rng.uniform(0, 1))),
        vertical_stripes=bool(rng.random() < 0.3),
        light=float(rng.uniform(-1, 1)),
        shadow=(float(rng.uniform(-0.02, 0.03)), float(rng.uniform(0.01, 0.035))),
        detail=bool(rng.random() < 0.35),
        seed=int(rng.integers(2**31)),
    )


def garment_rgb(colour: str, n: Nuisance) -> RGB:
    base = np.asarray(BASE_RGB[colour], np.float32) * n.colour_gain + np.asarray(n.colour_shift, np.float32)
    return tuple(int(v) for v in np.clip(base, 0, 255))  # type: ignore[return-value]


class _Frame:
    """Maps the garment's unit box to canvas pixels: centre on the bounding box, scale, tilt, place."""

    def __init__(self, bbox: tuple[float, float, float, float], side: float, angle: float, centre: tuple[float, float]):
        x0, y0, x1, y1 = bbox
        self.ux, self.uy = (x0 + x1) / 2, (y0 + y1) / 2
        self.side = side
        self.cos, self.sin = float(np.cos(np.radians(angle))), float(np.sin(np.radians(angle)))
        self.cx, self.cy = centre

    def local(self, x: float, y: float) -> tuple[float, float]:
        """A point in pixels relative to the garment's centre (untilted) -> canvas pixels."""
        return (self.cx + x * self.cos + y * self.sin, self.cy - x * self.sin + y * self.cos)

    def __call__(self, points: tuple[tuple[float, float], ...], k: float = 1.0) -> list[tuple[float, float]]:
        """Unit-box points -> canvas pixels, times ``k`` (for a smaller canvas)."""
        out = [self.local((x - self.ux) * self.side, (y - self.uy) * self.side) for x, y in points]
        return [(x * k, y * k) for x, y in out]


class _Cloth:
    """Drawing on the fabric image in the garment's own frame (so patterns tilt with it)."""

    def __init__(self, img: Image.Image, n: Nuisance, frame: _Frame):
        self.img, self.n, self.frame = img, n, frame
        self.draw = ImageDraw.Draw(img)
        self.half = frame.side * 0.62  # covers the garment box at any tilt
        self.period = 0.075 * frame.side * n.period
        self.ox, self.oy = n.phase[0] * self.period, n.phase[1] * self.period

    def rect(self, x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
        f = self.frame.local
        return [f(x0, y0), f(x1, y0), f(x1, y1), f(x0, y1)]

    def disc(self, x: float, y: float, r: float, fill: RGB) -> None:
        cx, cy = self.frame.local(x, y)
        self.draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)

    def grid(self, step: float, off: float) -> np.ndarray:
        return np.arange(-self.half - step + off, self.half + step, step)


def _stripes(c: _Cloth) -> None:
    width, h = c.period * 0.34, c.half
    for a in c.grid(c.period, c.ox):
        box = (a, -h, a + width, h) if c.n.vertical_stripes else (-h, a, h, a + width)
        c.draw.polygon(c.rect(*box), fill=c.n.ink)


def _dots(c: _Cloth) -> None:
    step, r = c.period * 1.15, c.period * 0.33
    for j, y in enumerate(c.grid(step, c.oy)):
        for x in c.grid(step, c.ox + (step / 2 if j % 2 else 0.0)):
            c.disc(x, y, r, c.n.ink)


def _checks(c: _Cloth) -> None:
    """Gingham: ink at 43 % where one band lies, 86 % where two cross."""
    step, band, h = c.period * 1.2, c.period * 0.36, c.half
    rows, cols = Image.new("L", c.img.size, 0), Image.new("L", c.img.size, 0)
    rd, cd = ImageDraw.Draw(rows), ImageDraw.Draw(cols)
    for a in c.grid(step, c.ox):
        rd.polygon(c.rect(-h, a, h, a + band), fill=110)
    for a in c.grid(step, c.oy):
        cd.polygon(c.rect(a, -h, a + band, h), fill=110)
    c.img.paste(c.n.ink, None, ImageChops.add(rows, cols))


def _flowers(c: _Cloth) -> None:
    step, r = c.period * 1.9, c.period * 0.32
    rng = np.random.default_rng(c.n.seed)
    centre = (214, 160, 40) if c.n.ink in LIGHT_INKS else (250, 236, 170)
    for y in c.grid(step, c.oy):
        for x in c.grid(step, c.ox):
            fx, fy = x + rng.uniform(-0.2, 0.2) * step, y + rng.uniform(-0.2, 0.2) * step
            turn = rng.uniform(0, 2 * np.pi)
            for p in range(5):
                t = turn + p * 2 * np.pi / 5
                c.disc(fx + np.cos(t) * r * 1.05, fy + np.sin(t) * r * 1.05, r * 0.75, c.n.ink)
            c.disc(fx, fy, r * 0.5, centre)


PATTERNS = {"plain": lambda c: None, "striped": _stripes, "dotted": _dots, "checked": _checks, "floral": _flowers}


def _pattern(pattern: str, size: tuple[int, int], base: RGB, n: Nuisance, frame: _Frame) -> Image.Image:
    """The fabric over the whole canvas: the base colour with the pattern drawn in the garment's frame."""
    img = Image.new("RGB", size, base)
    PATTERNS[pattern](_Cloth(img, n, frame))
    return img


def _lighting(size: tuple[int, int], n: Nuisance, frame: _Frame) -> Image.Image:
    """Soft studio light as an RGB multiplier image: darker towards the garment's sides."""
    w, h = size
    sw, sh = max(1, w // 8), max(1, h // 8)
    xx = (np.arange(sw, dtype=np.float32) * 8 - frame.cx) / (frame.side / 2)  # (w/8,)
    yy = np.arange(sh, dtype=np.float32) * 8 / h  # (h/8,)
    profile = 1.0 - 0.16 * (xx - 0.35 * n.light) ** 2 + 0.05 * n.light * xx  # (w/8,)
    gain = (1.0 - 0.06 * yy)[:, None] * profile[None, :]  # (h/8, w/8)
    small = Image.fromarray((np.clip(gain, 0.5, 1.0) * 255).astype(np.uint8))
    return small.resize(size, Image.Resampling.BILINEAR).convert("RGB")


def _darker(rgb: RGB, k: float) -> RGB:
    return tuple(int(v * k) for v in rgb)  # type: ignore[return-value]


def _bbox(parts: list[Part]) -> tuple[float, float, float, float]:
    pts = [p for part in parts if part.kind in ("fabric", "trim") for p in part.points]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return min(xs), min(ys), max(xs), max(ys)


def _extent(parts: list[Part], frame: _Frame, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The canvas rectangle (x0, y0, x1, y1) that holds the garment, clipped to the canvas."""
    pts = [p for part in parts if part.kind in ("fabric", "trim") for p in frame(part.points)]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, y0 = max(0, int(min(xs)) - 4), max(0, int(min(ys)) - 4)
    x1, y1 = min(size[0], int(max(xs)) + 5), min(size[1], int(max(ys)) + 5)
    return x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)


def _background(size: tuple[int, int], n: Nuisance, parts: list[Part], frame: _Frame) -> Image.Image:
    """Backdrop with a vignette and the garment's soft shadow, built at 1/4 size (it is smooth)."""
    w, h = size
    sw, sh = max(1, w // 4), max(1, h // 4)
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)  # (h/4, w/4)
    r2 = ((xx - sw / 2) / (sw / 2)) ** 2 + ((yy - sh / 2) / (sh / 2)) ** 2
    gain = 1.0 - n.vignette * r2 * 0.5 - 0.04 * yy / sh  # (h/4, w/4)
    shadow = Image.new("L", (sw, sh), 0)
    sd = ImageDraw.Draw(shadow)
    dx, dy = n.shadow[0] * sw, n.shadow[1] * sh
    for part in parts:
        if part.kind in ("fabric", "trim"):
            sd.polygon([(x + dx, y + dy) for x, y in frame(part.points, 0.25)], fill=255)
    shade = np.asarray(shadow.filter(ImageFilter.GaussianBlur(3)), np.float32) / 255.0  # (h/4, w/4)
    gain = gain * (1.0 - 0.22 * shade)
    bg = np.asarray(n.background, np.float32)[None, None, :] * gain[:, :, None]  # (h/4, w/4, 3)
    small = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8))
    return small.resize(size, Image.Resampling.BILINEAR)


def render(garment: Garment, nuisance: Nuisance, size: tuple[int, int] = (256, 256)) -> Image.Image:
    """One product photo of ``garment``, ``size`` = (width, height), RGB."""
    n = nuisance
    big = (size[0] * SUPERSAMPLE, size[1] * SUPERSAMPLE)
    w, h = big
    parts = garment_parts(garment, n.detail)
    centre = (w / 2 + n.offset[0] * w, h / 2 + n.offset[1] * h)
    frame = _Frame(_bbox(parts), min(w, h) * n.scale, n.angle, centre)

    # The cloth is drawn only over the garment's bounding rectangle (``crop``), in its own frame.
    x0, y0, x1, y1 = _extent(parts, frame, big)
    crop = (x1 - x0, y1 - y0)
    local = _Frame(_bbox(parts), frame.side, n.angle, (centre[0] - x0, centre[1] - y0))
    base = garment_rgb(garment.colour, n)
    fills = {"inside": _darker(base, 0.55), "trim": _darker(base, 0.85), "belt": n.ink}
    cloth = _pattern(garment.pattern, crop, base, n, local)  # fabric, then solid parts over it
    silhouette = Image.new("L", crop, 0)
    outline = ImageDraw.Draw(silhouette)
    for part in parts:
        if part.kind in fills or part.kind == "fabric":
            pts = local(part.points)
            outline.polygon(pts, fill=255)
            if part.kind in fills:
                mask = Image.new("L", crop, 0)
                ImageDraw.Draw(mask).polygon(pts, fill=255)
                cloth.paste(fills[part.kind], None, mask)
    canvas = _background(big, n, parts, frame)
    canvas.paste(ImageChops.multiply(cloth, _lighting(crop, n, local)), (x0, y0), silhouette)

    edge = _darker(base, 0.5) if LIGHTNESS[garment.colour] > 25 else (90, 90, 96)
    width = max(1, int(frame.side) // 160)
    draw = ImageDraw.Draw(canvas)
    for part in parts:
        pts = frame(part.points)
        if part.kind == "line":
            draw.line(pts, fill=edge, width=width)
        elif part.kind == "button":
            (bx, by), r = pts[0], frame.side * 0.009
            draw.ellipse((bx - r, by - r, bx + r, by + r), fill=n.ink, outline=edge)
        else:
            draw.polygon(pts, outline=edge, width=width)
    return canvas.reduce(SUPERSAMPLE)


def render_seeded(garment: Garment, seed: int | tuple[int, ...], size: tuple[int, int] = (256, 256)) -> Image.Image:
    """Render with nuisance drawn from ``np.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return render(garment, sample_nuisance(rng, garment), size)
