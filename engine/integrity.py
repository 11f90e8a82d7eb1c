"""Checking a library's stored tokens, and repairing damaged ones from the photos' files.

The token store keeps a checksum per photo (``engine.token_file``). Opening a library
checks it cheaply (slots beyond the end of the file, a sample of the rest); every read
checks what it returns. :func:`check` reads every stored photo. Repair does not patch
slots: a damaged photo's content row is forgotten, so its files become pending and the
ordinary indexing pipeline encodes them again (new content ids, the same SHA-256). Votes,
saved references and every other photo's tokens are untouched: votes name photos by
their bytes, not by content id. A photo whose file is gone or changed cannot be restored;
it leaves the catalog (its file, if it comes back, is indexed again like a new one).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .catalog import Catalog
from .token_file import DamagedStoreError, damage_message
from .vector_store import VectorStore


@dataclass(frozen=True)
class DamagedPhoto:
    photo_id: int
    sha256: str
    paths: tuple[str, ...]  # its files now; none: a photo of a folder no longer in the library


@dataclass(frozen=True)
class CheckReport:
    where: str  # the token store checked
    applicable: bool  # False: the vectors are in a database that checks its own data
    checked: int  # stored photos whose tokens were read and checked
    damaged: tuple[DamagedPhoto, ...] = ()
    repaired: int = 0  # of the damaged, encoded again from their files
    not_repaired: tuple[DamagedPhoto, ...] = ()  # files gone, changed or unreadable: left the catalog

    def to_json(self) -> dict:
        def photo(d: DamagedPhoto) -> dict:
            return {"photo_id": d.photo_id, "sha256": d.sha256, "paths": list(d.paths)}

        return {"store": self.where, "applicable": self.applicable, "checked": self.checked,
                "damaged": [photo(d) for d in self.damaged], "repaired": self.repaired,
                "not_repaired": [photo(d) for d in self.not_repaired]}


def damage(vectors: VectorStore) -> str | None:
    """What is known to be wrong with the stored tokens (found on open, where a sample is
    checked, or by a read since; :func:`check` reads all), or None."""
    n = len(vectors.store.damaged)
    return damage_message(n, vectors.store.where) if n else None


def refuse_if_damaged(vectors: VectorStore) -> None:
    """Searching with damaged tokens would rank by wrong scores: refuse instead."""
    msg = damage(vectors)
    if msg:
        raise DamagedStoreError(msg)


def check(catalog: Catalog, vectors: VectorStore) -> CheckReport:
    """Read and check every stored photo's tokens (live or not)."""
    ids = catalog.encoded_ids()
    bad = vectors.store.verify(ids)
    if bad is None:
        return CheckReport(vectors.store.where, applicable=False, checked=0)
    return CheckReport(vectors.store.where, applicable=True, checked=len(ids), damaged=_describe(catalog, bad))


def forget(catalog: Catalog, vectors: VectorStore, damaged: Sequence[DamagedPhoto]) -> None:
    """Take damaged photos out of the catalog and the index; their files become pending."""
    if not damaged:
        return
    ids = np.asarray([d.photo_id for d in damaged], np.int64)
    catalog.forget_contents(ids.tolist())
    vectors.store.release(ids)
    vectors.sync(catalog)


def unrestored(catalog: Catalog, damaged: Sequence[DamagedPhoto]) -> list[DamagedPhoto]:
    """Those of ``damaged`` (forgotten, then indexed) whose bytes were not encoded again."""
    return [d for d in damaged if catalog.photo_by_sha(d.sha256) is None]


def after_repair(report: CheckReport, catalog: Catalog) -> CheckReport:
    missing = unrestored(catalog, report.damaged)
    return replace(report, repaired=len(report.damaged) - len(missing), not_repaired=tuple(missing))


def _describe(catalog: Catalog, ids: np.ndarray) -> tuple[DamagedPhoto, ...]:
    ids = ids.tolist()
    shas = catalog.content_shas(ids)
    paths = catalog.paths(ids)
    return tuple(DamagedPhoto(i, shas[i], tuple(paths.get(i, ()))) for i in ids if i in shas)
