"""Thumbnails for the grid: decoded on worker threads, kept in a memory LRU.

``pixmap(photo_id)`` answers from memory or returns None and queues a request; the
grid asks while painting, so the newest requests are the tiles on screen and they are
served first (``app.state.thumbqueue``). A worker asks the engine for the on-disk
thumbnail (``Library.thumbnail``: made once, cached under the library folder), loads it
into a ``QImage`` scaled to the tile, and posts it to the GUI thread, where it becomes
a ``QPixmap`` (pixmaps exist only on the GUI thread) and ``ready(photo_id)`` is emitted.

A photo whose thumbnail cannot be made is remembered as broken and not asked again.
Opening another library starts a new generation: answers for the old one are dropped.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPixmap

from app.state.thumbqueue import LRU, ThumbQueue
from engine.runtime import cpu_count

from .host import LibraryHost

# Leave a core to the GUI thread: one worker on a two-core machine, two from four cores.
WORKERS = max(1, min(2, cpu_count() - 1))


class Thumbnails(QObject):
    ready = Signal(int)  # photo id whose thumbnail (or its failure) is now known

    def __init__(self, host: LibraryHost, tile_px: int, memory: int, parent: QObject | None = None):
        super().__init__(parent)
        self.host = host
        self.tile_px = tile_px
        self._memory: LRU[int, QPixmap] = LRU(memory)
        self._broken: set[int] = set()
        self._queue: ThumbQueue[tuple[int, int]] = ThumbQueue(bound=max(64, memory // 4))
        self._generation = 0
        self.loaded = 0  # thumbnails decoded by the workers so far
        self._threads = [threading.Thread(target=self._work, name=f"cirsearch-thumbs-{i}", daemon=True)
                         for i in range(WORKERS)]
        for t in self._threads:
            t.start()

    def pixmap(self, photo_id: int) -> QPixmap | None:
        pix = self._memory.get(photo_id)
        if pix is None and photo_id not in self._broken:
            self._queue.push((self._generation, photo_id))
        return pix

    def broken(self, photo_id: int) -> bool:
        return photo_id in self._broken

    def reset(self) -> None:
        """Another library: forget everything and drop answers still on their way."""
        self._generation += 1
        self._queue.clear()
        self._memory.clear()
        self._broken.clear()

    def resize(self, px: int) -> None:
        """Thumbnails of another size (``app.state.browse.thumb_px``): those in memory are dropped."""
        if px != self.tile_px:
            self.tile_px = px
            self.reset()

    def close(self) -> None:
        self._queue.close()
        for t in self._threads:
            t.join(5)

    def waiting(self) -> list[int]:
        """Photo ids queued, next served first (for tests and the benchmark)."""
        return [pid for _, pid in self._queue.waiting()]

    def _work(self) -> None:  # worker threads
        while True:
            key = self._queue.pop()
            if key is None:
                return
            generation, pid = key
            px = self.tile_px
            size = QSize(px, px)
            lib = self.host.lib
            if lib is None or generation != self._generation:  # no library, or another one now
                self._queue.done(key)
                continue
            image: QImage | None = None
            try:
                with self.host.gate.shared():
                    path = lib.thumbnail(pid, px)
                image = QImage(str(path))
                if not image.isNull() and (image.width() > size.width() or image.height() > size.height()):
                    image = image.scaled(size, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation)
            except Exception:  # a missing or unreadable photo: the tile shows it is broken
                image = None
            self.host.relay.post(lambda k=key, im=image: self._arrived(k, im))

    def _arrived(self, key: tuple[int, int], image: QImage | None) -> None:
        self._queue.done(key)
        generation, pid = key
        if generation != self._generation:
            return
        if image is None or image.isNull():
            self._broken.add(pid)
        else:
            self._memory.put(pid, QPixmap.fromImage(image))
            self.loaded += 1
        self.ready.emit(pid)
