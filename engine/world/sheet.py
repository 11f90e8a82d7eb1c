"""A contact sheet of renders with their attributes written under each (for docs and eyeballing)."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.world.attributes import CATEGORIES, Garment, all_garments
from engine.world.render import render_seeded


def _label(g: Garment) -> tuple[str, str]:
    first = f"{g.category}: {g.colour} {g.pattern}"
    rest = [f"{g.sleeves} sleeves" if g.sleeves != "sleeveless" else "sleeveless"]
    rest += [x for x in (g.neckline, g.length and f"{g.length} length") if x]
    return first, ", ".join(rest)


def contact_sheet(seed: int = 0, columns: int = 6, rows: int = 4, size: int = 192) -> Image.Image:
    """``columns`` x ``rows`` renders of random garments, categories taking turns down each column."""
    rng = np.random.default_rng([seed, 5])
    pools = {c: list(all_garments(c)) for c in CATEGORIES}
    font = ImageFont.load_default(size=max(9, size // 15))
    line = int(size * 0.09)
    sheet = Image.new("RGB", (columns * size, rows * (size + 2 * line)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i in range(columns * rows):
        r, c = divmod(i, columns)
        pool = pools[CATEGORIES[(r + c) % len(CATEGORIES)]]
        g = pool[int(rng.integers(len(pool)))]
        x, y = c * size, r * (size + 2 * line)
        sheet.paste(render_seeded(g, (seed, 5, i), (size, size)), (x, y))
        for k, text in enumerate(_label(g)):
            draw.text((x + 4, y + size + k * line), text, fill=(40, 40, 40), font=font)
    return sheet
