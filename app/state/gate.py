"""A shared/exclusive lock around the library.

``Library`` lets searches, votes, thumbnails and indexing run at once, but a model swap
(``use_bundle``) and ``close`` must not overlap any other call. Every call takes the gate
shared; a swap or close takes it exclusive, waiting for calls in flight to end. A waiting
exclusive holder blocks new shared ones, so a swap is not starved by a stream of
thumbnail requests.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator


class Gate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting_exclusive = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive and not self._waiting_exclusive)
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting_exclusive += 1
            try:
                self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
            finally:
                self._waiting_exclusive -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()

    @property
    def busy(self) -> bool:
        with self._cond:
            return self._exclusive or self._shared > 0
