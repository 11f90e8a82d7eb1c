"""Search modes, what a query will run, and request ids that make old answers stale.

A :class:`Query` is the frozen value the window builds from its widgets (mode, text,
reference). :func:`plan` says which engine call answers it, or why nothing can run yet,
in words the window shows as is. :func:`run` makes that call.

:class:`Requests` numbers requests; an answer carrying any number but the latest is
stale and is dropped (the napari slicer's rule: the newest request wins).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum

from engine.errors import QueryError
from engine.library import Library, PhotoFilter, SearchResult
from engine.references import ImageRef


class Mode(str, Enum):
    COMPOSED = "composed"  # reference photo + how the wanted one differs
    TEXT = "text"  # words only (needs the bundle's text graph)
    SIMILAR = "similar"  # photos that look like the reference


LABELS = {Mode.COMPOSED: "Photo + change", Mode.TEXT: "Text only", Mode.SIMILAR: "Similar"}


@dataclass(frozen=True)
class Query:
    mode: Mode = Mode.COMPOSED
    text: str = ""
    reference: ImageRef | None = None  # a path, image bytes or a library photo id
    k: int = 300


@dataclass(frozen=True)
class Plan:
    call: str  # "composed", "text", "similar", or "" when nothing can run
    note: str  # what the user should know: why nothing runs, or how the query is read

    @property
    def runs(self) -> bool:
        return bool(self.call)


def mode_reasons(has_text: bool) -> dict[Mode, str | None]:
    """For each mode, None if it can be used, else why not (shown on the disabled button)."""
    return {
        Mode.COMPOSED: None,
        Mode.TEXT: None if has_text else "this model has no text-only search (no text graph in its bundle)",
        Mode.SIMILAR: None,
    }


def plan(q: Query, has_text: bool) -> Plan:
    text = q.text.strip()
    has_ref = q.reference is not None
    if q.mode is Mode.SIMILAR:
        return Plan("similar", "") if has_ref else Plan("", "Drop a photo to find the ones that look like it.")
    if q.mode is Mode.TEXT:
        if not has_text:
            return Plan("", "This model cannot search by text alone: give a reference photo.")
        return Plan("text", "") if text else Plan("", "Type what you are looking for.")
    if has_ref:
        return Plan("composed", "" if text else "No change typed: showing photos close to the reference as it is.")
    if text and has_text:
        return Plan("text", "No reference photo: searching by the words alone.")
    if text:
        return Plan("", "Drop a reference photo: this model needs one.")
    return Plan("", "Drop a photo, then type how the one you want differs.")


def run(lib: Library, q: Query, where: PhotoFilter | None = None) -> SearchResult:
    """Answer ``q`` with the call :func:`plan` chose (raises QueryError if none can run);
    ``where``: only photos in that folder and date range."""
    p = plan(q, lib.encoders.has_text)
    if p.call == "composed":
        return lib.search(text=q.text.strip(), image=q.reference, k=q.k, where=where)
    if p.call == "text":
        return lib.search(text=q.text.strip(), k=q.k, where=where)
    if p.call == "similar":
        return lib.similar(q.reference, k=q.k, where=where)  # type: ignore[arg-type]  # plan checked it
    raise QueryError(p.note)


class Requests:
    """Monotonic request ids; only the latest is current. Thread-safe."""

    def __init__(self) -> None:
        self._latest = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._latest += 1
            return self._latest

    def invalidate(self) -> None:
        """Make every request issued so far stale (e.g. the query was cleared)."""
        self.next()

    def is_current(self, request_id: int) -> bool:
        with self._lock:
            return request_id == self._latest

    @property
    def latest(self) -> int:
        with self._lock:
            return self._latest
