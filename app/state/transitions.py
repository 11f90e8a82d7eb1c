"""A phase machine from a ``(phase, event) -> next phase`` table: what the learn run and
"Get the QuRe model" share (each has its own phases and table). Not thread-safe: the GUI
thread owns a flow."""

from __future__ import annotations

from enum import Enum
from typing import Generic, Mapping, TypeVar

P = TypeVar("P", bound=Enum)


class Transitions(Generic[P]):
    def __init__(self, table: Mapping[tuple[P, str], P]):
        self.table = dict(table)
        self.events = tuple(sorted({e for _, e in self.table}))

    def step(self, phase: P, event: str) -> P | None:
        """The next phase, or None when ``event`` means nothing in ``phase``."""
        if event not in self.events:
            raise ValueError(f"unknown event {event!r}")
        return self.table.get((phase, event))


class Flow(Generic[P]):
    """A phase that moves only as its table allows."""

    def __init__(self, machine: Transitions[P], start: P):
        self.machine, self.phase = machine, start

    def fire(self, event: str) -> bool:
        """Move on ``event``; False (and no move) when it means nothing in this phase."""
        nxt = self.machine.step(self.phase, event)
        if nxt is None:
            return False
        self.phase = nxt
        return True
