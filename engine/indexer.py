"""Indexing: scan roots, then hash, decode and encode what is new, committing as it goes.

Pipeline: a thread pool reads, hashes, decodes and preprocesses files ahead of the
encoder (up to ``ahead`` files in flight); the calling thread encodes full batches
(vision + target graphs) and commits each batch in one transaction: tokens written to
the store and flushed, then content and file rows. A file whose bytes are already known
(a rename, a move, a copy) is linked to the existing content without decoding. Stopping
(``Control.cancel()`` or a killed process) loses at most the batch in flight: finished
photos are committed and are never encoded again.

A scan never deletes what it cannot see: if a root folder cannot be opened (an unplugged
drive) its files are kept, and so are files under any folder that could not be read. So
are the files of a root that had photos and now holds no drive (:func:`_absent_drive`):
it is empty (the folder an unplugged drive leaves behind under /media or /mnt), or it was
a mount point when its photos were found and is not one now. Subfolders that vanish
while their root is there are deleted as they should be.

``on_batch`` (a :data:`BatchFn`): called with ("encode", hashes) before each batch is
encoded and ("commit", hashes) once it is committed (the kill-and-restart test logs
these; the catalog's ``encoded_at`` is taken just before the commit).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .catalog import Catalog, Encoded, Failed, PendingFile, Root
from .decode import DecodeConfig, content_hash, decode, read_file
from .errors import ImageDecodeError
from .preprocess import ImageSpec, preprocess
from .runtime import Encoders, cpu_count
from .scanner import FOLDER_KINDS, IssueKind, Listing, ScanIssue, diff, walk
from .vector_store import VectorStore


@dataclass(frozen=True)
class IndexConfig:
    batch_size: int = 16
    decode_workers: int = 0  # 0: half the cores, at least 1
    ahead: int = 0  # files decoded ahead of the encoder; 0: 4 batches
    link_commit_every: int = 256  # known files linked per commit
    save_every_s: float = 60.0  # save the FAISS index at most this often while indexing
    decode: DecodeConfig = DecodeConfig()
    # RAW+JPEG shots: "jpeg" indexes the JPEG only, "both" both files (engine.formats.RAW_PAIR_MODES);
    # None: the library's remembered choice ("jpeg" for a new one)
    raw_pairs: str | None = None


class Control:
    """Stop or pause a running index from another thread."""

    def __init__(self) -> None:
        self._cancel = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._parked = threading.Event()  # set while the indexer waits in wait_while_paused

    def cancel(self) -> None:
        self._cancel.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def parked(self) -> bool:
        """True while the indexer is stopped between photos by a pause: nothing moves until resume."""
        return self._parked.is_set()

    def wait_while_paused(self) -> None:
        if self._running.is_set():
            return
        self._parked.set()
        try:
            self._running.wait()
        finally:
            self._parked.clear()


@dataclass(frozen=True, kw_only=True)
class Progress:
    phase: str  # "scan" or "encode"
    total: int  # files to process in this run (encode phase)
    done: int
    encoded: int
    reused: int  # linked to known bytes: renamed, moved, copied, unchanged content
    failed: int
    elapsed_s: float
    current: str = ""

    @property
    def rate(self) -> float:
        """Files per second so far."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@dataclass
class IndexReport:
    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0  # files on disk as the last scan saw them (some may still wait to be encoded)
    resumed: int = 0  # files an earlier run listed but did not finish (interrupted, disk full), done now
    encoded: int = 0
    reused: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of this run
    issues: list[tuple[str, str]] = field(default_factory=list)  # folders: (path, reason)
    kept_unreachable: int = 0  # files kept because their folder could not be read
    raw_paired: int = 0  # RAW files not indexed on their own: the JPEG of the same shot is (raw_pairs="jpeg")
    repaired: int = 0  # photos whose stored tokens were damaged, encoded again (engine.integrity)
    cancelled: bool = False
    elapsed_s: float = 0.0
    encode_s: float = 0.0  # time inside the vision + target graphs
    wait_s: float = 0.0  # time the encoder waited for decoded images
    device: str = "cpu"


ProgressFn = Callable[[Progress], None]
# ("encode" | "commit", SHA-256 of each photo of the batch), from the indexing thread
BatchFn = Callable[[str, list[str]], None]


@dataclass
class _Ready:
    file: PendingFile
    sha256: str
    nbytes: int
    width: int
    height: int
    taken_at: float | None
    pixels: np.ndarray  # (3, S, S)


class Indexer:
    def __init__(self, catalog: Catalog, vectors: VectorStore, encoders: Encoders, spec: ImageSpec,
                 exclude: Sequence[Path] = (), cfg: IndexConfig = IndexConfig(), on_batch: BatchFn | None = None):
        self.catalog, self.vectors, self.encoders, self.spec, self.cfg = catalog, vectors, encoders, spec, cfg
        self.exclude = list(exclude)
        self._on_batch = on_batch

    # -- scan ----------------------------------------------------------------------------

    def scan(self, roots: Sequence[Root], report: IndexReport, control: Control,
             progress: ProgressFn | None = None) -> bool:
        """Scan each root and record the differences; False if cancelled midway.
        ``progress`` gets a "scan" :class:`Progress` as each root is done (total = roots)."""
        start = time.monotonic()
        for n, root in enumerate(roots):
            if progress is not None:
                progress(Progress(phase="scan", total=len(roots), done=n, encoded=0, reused=0, failed=0,
                                  elapsed_s=time.monotonic() - start, current=root.path))
            listing = walk(root.path, exclude=self.exclude, should_stop=lambda: control.cancelled,
                           raw_pairs=self.cfg.raw_pairs or "jpeg")
            report.raw_paired += len(listing.paired)
            if control.cancelled:
                return False
            old = self.catalog.listing(root.id)
            path = os.path.abspath(root.path)
            unreachable = any(i.path == path for i in listing.issues)
            if old and not unreachable:
                absent = _absent_drive(path, root.mount_point, listing, len(old))
                if absent is not None:  # what the folder holds now is not what was indexed
                    listing.issues, unreachable = [absent], True
            report.issues += [(i.path, i.reason) for i in listing.issues]
            if unreachable:
                self.catalog.apply_scan(root.id, diff({}, {}), {}, listing.issues)  # keep every file
                report.kept_unreachable += len(old)
                continue
            new = {p: s.key for p, s in listing.files.items()}
            d = diff(old, new)
            d, kept = _keep_unreadable(d, listing.issues)
            report.kept_unreachable += kept
            self.catalog.apply_scan(root.id, d, new, listing.issues,
                                    mount_point=is_mount_point(path) if new else None)
            report.added += len(d.added)
            report.changed += len(d.changed)
            report.removed += len(d.removed)
            report.unchanged += len(d.unchanged)
        return True

    # -- encode --------------------------------------------------------------------------

    def encode_pending(self, report: IndexReport, control: Control, progress: ProgressFn | None) -> None:
        todo = self.catalog.pending()
        # pending files this scan did not add or change were left by an earlier run
        report.resumed = max(0, len(todo) - report.added - report.changed)
        state = _RunState(total=len(todo), start=time.monotonic())
        workers = self.cfg.decode_workers or max(1, cpu_count() // 2)
        ahead = self.cfg.ahead or 4 * self.cfg.batch_size
        queue: deque[Future] = deque()
        it = iter(todo)
        with ThreadPoolExecutor(workers, thread_name_prefix="cirsearch-decode") as pool:
            try:
                self._fill(pool, queue, it, ahead)
                while queue:
                    control.wait_while_paused()
                    if control.cancelled:
                        report.cancelled = True
                        break
                    t0 = time.monotonic()
                    item = queue.popleft().result()
                    report.wait_s += time.monotonic() - t0
                    self._fill(pool, queue, it, ahead)
                    self._take(item, state, report)
                    if progress is not None:
                        progress(state.progress(_path_of(item)))
                if report.cancelled:  # the batch in flight stays pending; the rest is committed
                    state.batch, state.batch_shas, state.dups = [], set(), {}
                else:
                    self._encode_batch(state, report)
                self._commit(state, report)
            finally:
                for f in queue:
                    f.cancel()
        if progress is not None:
            progress(state.progress(""))

    def _fill(self, pool: ThreadPoolExecutor, queue: deque, it, ahead: int) -> None:
        while len(queue) < ahead:
            f = next(it, None)
            if f is None:
                return
            queue.append(pool.submit(self._prepare, f))

    def _prepare(self, f: PendingFile) -> "_Ready | _Link | _Fail":
        """Worker thread: read + hash; then link to known bytes, or decode + preprocess."""
        try:
            data = read_file(f.path, self.cfg.decode)
        except ImageDecodeError as e:
            return _Fail(f, Failed(f.id, e.reason))
        sha = content_hash(data)
        row = self.catalog.content(sha)
        if row is not None and row["state"] == "encoded":
            return _Link(f, int(row["id"]))
        if row is not None:
            return _Fail(f, Failed(f.id, row["error"], sha, len(data)))
        try:
            d = decode(data, f.path, self.spec.size, self.cfg.decode)
            pixels = preprocess(d.image, self.spec)  # (3, S, S)
        except ImageDecodeError as e:
            return _Fail(f, Failed(f.id, e.reason, sha, len(data)))
        except Exception as e:  # one file's preparation must never stop the run
            return _Fail(f, Failed(f.id, f"cannot be prepared ({type(e).__name__}: {e})", sha, len(data)))
        return _Ready(f, sha, len(data), d.width, d.height, d.taken_at, pixels)

    def _take(self, item: "_Ready | _Link | _Fail", state: "_RunState", report: IndexReport) -> None:
        if isinstance(item, _Fail):
            state.failed.append(item)
        elif isinstance(item, _Link):
            state.linked.append(item)
        elif item.sha256 in state.committed:
            state.linked.append(_Link(item.file, state.committed[item.sha256]))
        elif item.sha256 in state.batch_shas:
            state.dups.setdefault(item.sha256, []).append(item.file)
        else:
            state.batch.append(item)
            state.batch_shas.add(item.sha256)
            if len(state.batch) >= self.cfg.batch_size:
                self._encode_batch(state, report)
        state.done += 1
        if len(state.linked) + len(state.failed) >= self.cfg.link_commit_every:
            self._commit(state, report)

    def _encode_batch(self, state: "_RunState", report: IndexReport) -> None:
        if not state.batch:
            return
        self._log("encode", [r.sha256 for r in state.batch])
        t0 = time.monotonic()
        pixels = np.stack([r.pixels for r in state.batch])  # (B, 3, S, S)
        state.tokens = self.encoders.target(self.encoders.vision(pixels))  # (B, Q, E)
        report.encode_s += time.monotonic() - t0
        self._commit(state, report)

    def _commit(self, state: "_RunState", report: IndexReport) -> None:
        """One transaction for the encoded batch, the links and the failures gathered so far."""
        batch, tokens, linked, failed = state.batch, state.tokens, state.linked, state.failed
        if not (batch or linked or failed):
            return
        encoded = [Encoded(r.file.id, r.sha256, r.nbytes, r.width, r.height, r.taken_at) for r in batch]
        new_ids = self.catalog.record(
            encoded, tokens, self.vectors.store, [(x.file.id, x.content_id) for x in linked], [x.failed for x in failed]
        )
        self._log("commit", [r.sha256 for r in batch])
        if batch:
            self.vectors.add(np.asarray(new_ids, np.int64), tokens)
        if linked:
            self.vectors.add_from_store(np.asarray([x.content_id for x in linked], np.int64))
        report.encoded += len(batch)
        report.reused += len(linked)
        report.failed += [(x.file.path, x.failed.reason) for x in failed]
        state.encoded += len(batch)
        state.reused += len(linked)
        state.failed_n += len(failed)
        state.batch, state.tokens, state.batch_shas, state.linked, state.failed = [], None, set(), [], []
        for r, cid in zip(batch, new_ids):  # copies met in the same batch: linked at the next commit
            state.committed[r.sha256] = cid
            state.linked += [_Link(f, cid) for f in state.dups.pop(r.sha256, [])]
        self.vectors.save(if_older_than=self.cfg.save_every_s)

    def _log(self, what: str, shas: list[str]) -> None:
        if self._on_batch is not None and shas:
            self._on_batch(what, shas)


@dataclass(frozen=True)
class _Link:
    file: PendingFile
    content_id: int


@dataclass(frozen=True)
class _Fail:
    file: PendingFile
    failed: Failed


def _path_of(item) -> str:
    return item.file.path


@dataclass
class _RunState:
    total: int
    start: float
    done: int = 0
    encoded: int = 0
    reused: int = 0
    failed_n: int = 0
    batch: list = field(default_factory=list)
    batch_shas: set = field(default_factory=set)
    tokens: np.ndarray | None = None
    linked: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    dups: dict = field(default_factory=dict)
    committed: dict = field(default_factory=dict)

    def progress(self, current: str) -> Progress:
        return Progress(
            phase="encode", total=self.total, done=self.done, encoded=self.encoded, reused=self.reused,
            failed=self.failed_n, elapsed_s=time.monotonic() - self.start, current=current,
        )


def _keep_unreadable(d, issues: list[ScanIssue]):
    """Files under folders that could not be read are not 'removed': keep them.
    Decided on each issue's kind, never on its message."""
    bad = [i.path.rstrip(os.sep) + os.sep for i in issues if i.kind in FOLDER_KINDS]
    if not bad:
        return d, 0
    removed = tuple(p for p in d.removed if not any(p.startswith(b) for b in bad))
    kept = len(d.removed) - len(removed)
    return type(d)(d.added, d.changed, removed, d.unchanged), kept


def is_mount_point(folder: str) -> bool:
    """True when ``folder`` (through links) lies on another device than its parent: a drive
    is mounted on it. Looked up at each call, so a test can stand in for the system's mounts."""
    return os.path.ismount(os.path.realpath(folder))


def _absent_drive(path: str, was_mount_point: bool | None, listing: Listing, known: int) -> ScanIssue | None:
    """The issue of a root that had ``known`` files and whose drive is not there now, else None."""
    one = known == 1
    kept = f"kept its {known} photo{'' if one else 's'} and {'its' if one else 'their'} votes (unplugged drive?)"
    if was_mount_point and not is_mount_point(path):
        return ScanIssue(path, IssueKind.ABSENT_DRIVE, f"no drive is mounted here any more: {kept}. "
                         "If it is gone for good: cirsearch remove FOLDER, or Remove in the app")
    if not listing.files and not listing.issues and _is_empty(path):
        return ScanIssue(path, IssueKind.ABSENT_DRIVE, f"the folder is empty: {kept}. "
                         "If you emptied it on purpose: cirsearch remove FOLDER, or Remove in the app")
    return None


def _is_empty(folder: str) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is None
    except OSError:
        return False
