"""What the library hands back: search results and its status (plain frozen values)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .feedback import QueryInfo


@dataclass(frozen=True, kw_only=True)
class Hit:
    photo_id: int
    path: str
    score: float
    rank: int  # 0-based
    sha256: str
    paths: tuple[str, ...]  # every file with these bytes (copies), shortest first


@dataclass(frozen=True)
class SearchResult:
    query: QueryInfo
    hits: tuple[Hit, ...]
    cutoff: int  # hits[:cutoff] lie above the first steep drop in scores
    device: str
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went

    def to_json(self) -> list[dict]:
        return [
            {"path": h.path, "score": h.score, "rank": h.rank, "photo_id": h.photo_id, "sha256": h.sha256,
             "above_cutoff": h.rank < self.cutoff}
            for h in self.hits
        ]


@dataclass(frozen=True, kw_only=True)
class LibraryStatus:
    folder: str
    roots: tuple[str, ...]
    indexed: int  # files indexed
    photos: int  # distinct photos (copies count once)
    pending: int
    skipped: int
    skipped_files: tuple[tuple[str, str], ...]  # (path, reason): files and folders
    bundle: str
    bundle_path: str
    demo_model: bool
    device: str
    precision: str  # of the graphs that run: "fp32", "int8", "fp16", or e.g. "int8 (query fp32)"
    has_text_search: bool
    index_kind: str
    index_rebuilt_because: str | None
    votes: int
    schema_version: int

    def to_json(self) -> dict:
        return {
            "folder": self.folder, "roots": list(self.roots), "indexed": self.indexed, "photos": self.photos,
            "pending": self.pending, "skipped": self.skipped,
            "skipped_files": [{"path": p, "reason": r} for p, r in self.skipped_files],
            "bundle": self.bundle, "bundle_path": self.bundle_path, "demo_model": self.demo_model,
            "device": self.device, "precision": self.precision, "text_search": self.has_text_search,
            "index_kind": self.index_kind,
            "index_rebuilt_because": self.index_rebuilt_because, "votes": self.votes,
            "schema_version": self.schema_version,
        }
