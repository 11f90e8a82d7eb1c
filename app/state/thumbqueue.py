"""Thumbnail bookkeeping: a memory LRU and a bounded last-in-first-out request queue.

The grid asks for a thumbnail when it paints a tile, so the newest requests are the
tiles on screen now: served first (LIFO, as calibre's cover grid does). A request
already waiting moves to the front instead of being queued twice; one being loaded is
not queued again. Past ``bound`` waiting requests the oldest are dropped: they were
scrolled past, and a tile that comes back into view asks again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A size-bounded mapping that forgets the least recently used entry. Not thread-safe."""

    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError("an LRU needs room for at least one entry")
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        v = self._items.get(key)
        if v is not None:
            self._items.move_to_end(key)
        return v

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


class ThumbQueue(Generic[K]):
    """Thread-safe LIFO of distinct keys with a bound; ``pop`` blocks until work or close."""

    def __init__(self, bound: int = 256):
        self.bound = bound
        self._waiting: OrderedDict[K, None] = OrderedDict()  # newest last
        self._loading: set[K] = set()
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0  # requests forgotten because the queue was full

    def push(self, key: K) -> bool:
        """Ask for ``key``; False if it is already being loaded or the queue is closed."""
        with self._cond:
            if self._closed or key in self._loading:
                return False
            self._waiting[key] = None
            self._waiting.move_to_end(key)
            while len(self._waiting) > self.bound:
                self._waiting.popitem(last=False)
                self.dropped += 1
            self._cond.notify()
            return True

    def pop(self, timeout: float | None = None) -> K | None:
        """The newest waiting key (now marked loading), or None when closed or timed out."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._waiting or self._closed, timeout):
                return None
            if self._closed:
                return None
            key, _ = self._waiting.popitem(last=True)
            self._loading.add(key)
            return key

    def done(self, key: K) -> None:
        with self._cond:
            self._loading.discard(key)

    def clear(self) -> None:
        """Forget every waiting request (e.g. another library was opened)."""
        with self._cond:
            self._waiting.clear()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._waiting.clear()
            self._cond.notify_all()

    def waiting(self) -> list[K]:
        """Waiting keys, next served first."""
        with self._cond:
            return list(reversed(self._waiting))

    def __contains__(self, key: object) -> bool:
        with self._cond:
            return key in self._waiting or key in self._loading
