"""The thumbnail LRU (against a naive list oracle) and the LIFO request queue."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from app.state.thumbqueue import LRU, ThumbQueue


def test_lru_matches_a_naive_oracle():
    rng = np.random.default_rng(0)
    lru: LRU[int, str] = LRU(5)
    order: list[int] = []  # oracle: least recent first
    values: dict[int, str] = {}
    for step in range(2000):
        k = int(rng.integers(12))
        if rng.random() < 0.5:
            lru.put(k, f"v{step}")
            values[k] = f"v{step}"
            if k in order:
                order.remove(k)
            order.append(k)
            while len(order) > 5:
                values.pop(order.pop(0))
        else:
            got = lru.get(k)
            assert got == values.get(k)
            if k in order:
                order.remove(k)
                order.append(k)
        assert len(lru) == len(order) and all(x in lru for x in order)


def test_lru_needs_room():
    with pytest.raises(ValueError):
        LRU(0)


def test_queue_serves_newest_first_without_duplicates():
    q: ThumbQueue[int] = ThumbQueue(bound=10)
    for k in [1, 2, 3, 2]:
        q.push(k)
    assert q.waiting() == [2, 3, 1], "a repeated request moves to the front"
    assert q.pop(0) == 2
    assert not q.push(2), "a key being loaded is not queued again"
    assert 2 in q
    q.done(2)
    assert 2 not in q and q.push(2)


def test_queue_drops_the_oldest_past_its_bound():
    q: ThumbQueue[int] = ThumbQueue(bound=3)
    for k in range(6):
        q.push(k)
    assert q.waiting() == [5, 4, 3] and q.dropped == 3


def test_pop_times_out_and_close_wakes_waiters():
    q: ThumbQueue[int] = ThumbQueue()
    assert q.pop(timeout=0.01) is None
    got = []
    t = threading.Thread(target=lambda: got.append(q.pop()))
    t.start()
    q.close()
    t.join(5)
    assert not t.is_alive() and got == [None]
    assert not q.push(1), "a closed queue takes nothing"


def test_clear_forgets_waiting_requests_only():
    q: ThumbQueue[int] = ThumbQueue()
    q.push(1)
    q.push(2)
    assert q.pop(0) == 2
    q.clear()
    assert q.waiting() == [] and 2 in q
