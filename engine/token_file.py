"""Durable store of every photo's target tokens: one flat fp16 file, one slot per content,
and a checksum per slot.

Slot ``i`` holds the (Q, E) tokens of catalog content ``i`` at byte offset
``i * Q * E * 2``. The index (FAISS) is rebuilt from here without re-encoding, exact
re-ranking reads candidates from here, and personalization reads its targets from here.

Size: Q * E * 2 bytes per photo: 16 KiB at QuRe's 32 x 256 (1.6 GB per 100k photos,
16 GB per million), 2 KiB for the demo model (8 x 128). Reads use ``pread`` and writes
``pwrite`` on one descriptor, so any thread may read while one writes; ``flush`` makes
written slots durable (the indexer calls it before committing the catalog rows that
point at them).

Checksums: ``tokens.crc`` beside the token file holds, at byte ``4 * i``, a CRC-32
(little-endian) of slot ``i``'s id and bytes. It is written with the slot and made durable
by the same ``flush``, so a committed photo always has both. 0 means "none recorded": a
slot never written (it reads as zeros), or a library written before checksums existed (or
whose ``tokens.crc`` was lost). :meth:`TokenStore.verify` checks a stored photo's slot
against its checksum, or, where none is recorded, for what the bundle contract makes
every token (finite, of unit length) and then records one.

Every read checks the slots it returns: a slot whose bytes no longer match its checksum,
or that the file no longer reaches, is *damaged*. It is remembered (:attr:`damaged`) and
:meth:`TokenStore.read` raises :class:`DamagedStoreError` rather than hand out wrong
numbers; :meth:`read_checked` reports it instead (for building the index around it).
Writing the slot again (re-encoding the photo) clears it.
"""

from __future__ import annotations

import errno
import os
import threading
import zlib
from pathlib import Path

import numpy as np

from .errors import LibraryError

CHECK_CHUNK = 1024  # slots read at a time by verify
UNIT_NORM_TOLERANCE = 0.02  # fp16 unit vectors are within ~1e-3 of norm 1


class DamagedStoreError(LibraryError):
    """Stored tokens of some photos are damaged: searching would give wrong scores."""


def damage_message(count: int, where: str) -> str:
    photos = "1 photo's" if count == 1 else f"{count} photos'"
    return (f"{photos} stored vectors are damaged ({where}): run cirsearch check --repair "
            "(or index again) to re-encode them from their files")


class TokenStore:
    def __init__(self, path: str | Path, num_tokens: int, dim: int):
        self.path = Path(path)
        self.num_tokens = num_tokens  # Q
        self.dim = dim  # E
        self.slot_bytes = num_tokens * dim * 2
        self._fd = _open(self.path)
        try:
            self._crc_fd = _open(self.path.with_suffix(".crc"))
        except FileNotFoundError:  # a read-only library from before checksums: checked for plausibility
            self._crc_fd = -1
        except OSError:
            os.close(self._fd)
            raise
        self._lock = threading.Lock()
        self._damaged: set[int] = set()

    @property
    def where(self) -> str:
        """The token file, for messages."""
        return str(self.path)

    @property
    def damaged(self) -> frozenset[int]:
        """Slots found damaged so far (by :meth:`verify` or a read) and not written since."""
        with self._lock:
            return frozenset(self._damaged)

    def write(self, ids: np.ndarray, tokens: np.ndarray) -> None:
        """Write ``tokens`` (N, Q, E) to slots ``ids`` (N,), with their checksums. Not durable until :meth:`flush`."""
        ids = np.asarray(ids, dtype=np.int64)
        t16 = np.ascontiguousarray(tokens, dtype=np.float16)  # (N, Q, E)
        if t16.shape != (len(ids), self.num_tokens, self.dim):
            raise ValueError(f"tokens of shape {t16.shape} for {len(ids)} slots of {self.num_tokens} x {self.dim}")
        with self._lock:
            for i, row in zip(ids.tolist(), t16):
                b = row.tobytes()
                os.pwrite(self._fd, b, i * self.slot_bytes)
                os.pwrite(self._crc_fd, _crc(i, b).to_bytes(4, "little"), 4 * i)
                self._damaged.discard(i)

    def flush(self) -> None:
        os.fsync(self._fd)
        if self._crc_fd >= 0:
            os.fsync(self._crc_fd)

    def read(self, ids: np.ndarray) -> np.ndarray:
        """(N,) slot ids -> (N, Q, E) float32. A slot never written reads as zeros; a
        damaged one raises :class:`DamagedStoreError`."""
        out, ok = self.read_checked(ids)
        if not ok.all():
            raise DamagedStoreError(damage_message(len(self.damaged), self.where))
        return out

    def read_checked(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N,) slot ids -> (N, Q, E) float32 tokens and (N,) bool: the slot is sound.
        A damaged slot reads as zeros and is remembered."""
        ids = np.asarray(ids, dtype=np.int64)
        slots = self._slots(ids)
        ok = self._sound(ids, slots, self._crcs(ids))
        out = np.zeros((len(ids), self.num_tokens, self.dim), np.float16)
        for j, b in enumerate(slots):
            if ok[j] and len(b) == self.slot_bytes:
                out[j] = np.frombuffer(b, np.float16).reshape(self.num_tokens, self.dim)
        return out.astype(np.float32), ok

    def verify(self, ids: np.ndarray) -> np.ndarray:
        """Check the slots of stored photos ``ids``; returns the damaged ones (ascending).
        A slot without a checksum passes if every token is finite and of unit length, and
        gets its checksum recorded; otherwise (zeros, beyond the end of the file, noise) it
        is damaged."""
        ids = np.unique(np.asarray(ids, dtype=np.int64))
        bad: list[np.ndarray] = []
        for k in range(0, len(ids), CHECK_CHUNK):
            chunk = ids[k : k + CHECK_CHUNK]
            crcs = self._crcs(chunk)
            recorded = chunk[crcs != 0]
            ok = self._sound(recorded, self._slots(recorded), crcs[crcs != 0])
            bad += [recorded[~ok], self._adopt(chunk[crcs == 0])]
        return np.sort(np.concatenate(bad)) if bad else ids[:0]

    def check_on_open(self, ids: np.ndarray, rng: np.random.Generator, sample: int) -> np.ndarray:
        """The cheap check when a library opens, over stored photos ``ids``: every slot the
        file no longer reaches, every slot without a checksum (checked once, then recorded),
        and a run of ``sample`` others from a random place (one sequential read). Returns
        the damaged ones found."""
        ids = np.asarray(ids, dtype=np.int64)
        beyond = (ids + 1) * self.slot_bytes > os.fstat(self._fd).st_size
        unrecorded = self._crcs(ids) == 0
        rest = ids[~beyond & ~unrecorded]
        start = int(rng.integers(0, len(rest) - sample + 1)) if len(rest) > sample else 0
        return self.verify(np.concatenate([ids[beyond | unrecorded], rest[start : start + sample]]))

    def release(self, ids: np.ndarray) -> None:
        """These photos left the catalog: their slots are free, whatever damage was found in them is forgotten."""
        with self._lock:
            self._damaged.difference_update(np.asarray(ids, np.int64).tolist())

    def read_range(self, start: int, stop: int) -> np.ndarray:
        """Slots [start, stop) in one read, unchecked -> (stop - start, Q, E) float32 (benchmarks)."""
        n = max(stop - start, 0)
        b = os.pread(self._fd, n * self.slot_bytes, start * self.slot_bytes)
        full = np.zeros(n * self.num_tokens * self.dim, np.float16)
        got = np.frombuffer(b, np.float16)
        full[: got.size] = got
        return full.reshape(n, self.num_tokens, self.dim).astype(np.float32)

    @property
    def capacity(self) -> int:
        return os.fstat(self._fd).st_size // self.slot_bytes

    def truncate(self) -> None:
        with self._lock:
            for fd in (self._fd, self._crc_fd):
                if fd < 0:
                    continue
                os.ftruncate(fd, 0)
                os.fsync(fd)
            self._damaged.clear()

    def close(self) -> None:
        for name in ("_fd", "_crc_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    # -- checksums -----------------------------------------------------------------------

    def _crcs(self, ids: np.ndarray) -> np.ndarray:
        """(N,) slot ids -> (N,) uint32 recorded checksums, 0 where none is."""
        if not len(ids) or self._crc_fd < 0:
            return np.zeros(len(ids), np.uint32)
        lo, hi = int(ids.min()), int(ids.max()) + 1
        if hi - lo <= 4 * len(ids) + 4096:  # one read of the span
            b = os.pread(self._crc_fd, 4 * (hi - lo), 4 * lo)
            span = np.zeros(hi - lo, np.uint32)
            span[: len(b) // 4] = np.frombuffer(b[: len(b) // 4 * 4], "<u4")
            return span[ids - lo]
        out = np.zeros(len(ids), np.uint32)
        for j, i in enumerate(ids.tolist()):
            b = os.pread(self._crc_fd, 4, 4 * i)
            out[j] = int.from_bytes(b, "little") if len(b) == 4 else 0
        return out

    def _sound(self, ids: np.ndarray, slots: list, crcs: np.ndarray) -> np.ndarray:
        """(N,) bool: the slot matches its checksum (or has none) and was not found damaged
        before. Those that fail are remembered."""
        ok = np.asarray([not c or _crc(i, b) == c for i, b, c in zip(ids.tolist(), slots, crcs.tolist())], bool)
        with self._lock:
            self._damaged.update(ids[~ok].tolist())
            if self._damaged:
                ok &= ~np.isin(ids, np.fromiter(self._damaged, np.int64, len(self._damaged)))
        return ok

    def _slots(self, ids: np.ndarray) -> list:
        """The bytes of each slot of ``ids`` (short or empty past the end of the file):
        one read when they lie close together (a check walks them in order), else one each."""
        n = self.slot_bytes
        if len(ids) > 1 and int(ids.max()) - int(ids.min()) < 2 * len(ids):
            lo = int(ids.min())
            span = memoryview(os.pread(self._fd, (int(ids.max()) + 1 - lo) * n, lo * n))
            return [span[(i - lo) * n : (i - lo + 1) * n] for i in ids.tolist()]
        return [os.pread(self._fd, n, i * n) for i in ids.tolist()]

    def _adopt(self, ids: np.ndarray) -> np.ndarray:
        """Slots of stored photos without a checksum: record one for each plausible slot;
        returns the others (damaged)."""
        slots = self._slots(ids)
        good = self._plausible(slots)
        with self._lock:
            good &= ~np.isin(ids, np.fromiter(self._damaged, np.int64, len(self._damaged)))
            self._damaged.update(ids[~good].tolist())
            try:
                for i, b, ok in zip(ids.tolist(), slots, good.tolist()):
                    if ok:
                        os.pwrite(self._crc_fd, _crc(i, b).to_bytes(4, "little"), 4 * i)
                if good.any():
                    os.fsync(self._crc_fd)
            except OSError:
                pass  # a read-only library: checked for plausibility again next time
        return ids[~good]

    def _plausible(self, slots: list) -> np.ndarray:
        """(N,) bool: the slot is what the bundle contract makes: Q finite tokens of unit length."""
        full = np.asarray([len(b) == self.slot_bytes for b in slots], bool)
        ok = full.copy()
        if full.any():
            t = np.frombuffer(b"".join(b for b, f in zip(slots, full) if f), np.float16)
            t = t.astype(np.float32).reshape(-1, self.num_tokens, self.dim)  # (n, Q, E)
            with np.errstate(invalid="ignore"):
                sq = np.einsum("nqe,nqe->nq", t, t)  # (n, Q); NaN or inf where a value is (no overflow from fp16)
                ok[full] = (np.abs(np.sqrt(sq) - 1.0) <= UNIT_NORM_TOLERANCE).all(axis=1)
        return ok


def _open(path: Path) -> int:
    """Read-write (created if missing), or read-only where the library cannot be written."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return os.open(path, os.O_RDONLY)
        raise


def _crc(slot: int, data: bytes) -> int:
    """CRC-32 of a slot's id and bytes (a slot's bytes found at another slot do not pass); never 0."""
    return zlib.crc32(data, zlib.crc32(slot.to_bytes(8, "little"))) or 1
