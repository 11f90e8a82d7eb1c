"""The demo library: garment photos from the demo world, and its example queries.

``cirsearch demo`` (and the app's first run) call :func:`ensure_demo_photos` to render
the photos once (``engine.world.render_demo_library``), index them with the shipped demo
bundle, and run :func:`example_queries` to show what composed search does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .world import WorldError, read_demo_queries, render_demo_library


@dataclass(frozen=True)
class ExampleQuery:
    reference: Path
    text: str
    relevant: frozenset[str]  # absolute paths of every photo that satisfies the query


def ensure_demo_photos(folder: str | Path, photos: int = 300, seed: int = 0) -> Path:
    """Render the demo photos into ``folder`` unless they are already there."""
    folder = Path(folder).expanduser().absolute()
    if not (folder / "demo.json").is_file():
        render_demo_library(folder, n=photos, seed=seed)
    return folder


def example_queries(folder: str | Path) -> list[ExampleQuery]:
    folder = Path(folder).expanduser().absolute()
    out = []
    for q in read_demo_queries(folder):
        out.append(ExampleQuery(folder / q.reference, q.text, frozenset(str(folder / r) for r in q.relevant)))
    if not out:
        raise WorldError(f"the demo library in {folder} has no example queries")
    return out
