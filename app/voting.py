"""Votes from the grid: a click or a key becomes engine calls on the write worker.

The tile shows the vote as pending at once and as given only when the engine has
committed it (``Library.vote`` returns after the transaction). Ctrl+Z takes back the
most recent vote of this session. The book of what each tile shows is
``app.state.votes.VoteBook``. GUI-thread-only.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.state.votes import VoteBook, VotePlan
from engine.feedback import Vote
from engine.library import Library, SearchResult

from .host import LibraryHost, describe_error
from .results_model import ResultsModel


class VoteController(QObject):
    message = Signal(str)  # what happened, for the status bar
    undo_available = Signal(bool)

    def __init__(self, host: LibraryHost, model: ResultsModel, parent: QObject | None = None):
        super().__init__(parent)
        self.host = host
        self.model = model
        self.book = VoteBook()
        model.votes = self.book
        self._undoing = False

    def show(self, result: SearchResult, stored: list[Vote]) -> None:
        """A new result is on screen, with the votes stored so far."""
        self.book.show(result.query, stored)

    def vote(self, row: int, up: bool) -> None:
        result = self.model.result
        if result is None or not 0 <= row < self.model.rowCount():
            return
        hit = self.model.hit(row)
        plan = self.book.plan(hit.sha256, up)
        if plan is None:
            return  # a change to this tile is still on its way
        self.book.sending(hit.sha256, plan)
        self.model.vote_changed(hit.sha256)

        def work(lib: Library) -> tuple[Vote | None, Vote | None]:
            undone = lib.undo_vote(plan.undo) if plan.undo is not None else None
            added = lib.vote(result, hit.photo_id, plan.add) if plan.add is not None else None
            return undone, added

        self.host.call("write", work, lambda r: self._done(hit.sha256, plan, *r),
                       lambda e: self._failed(hit.sha256, e))

    def _done(self, sha256: str, plan: VotePlan, undone: Vote | None, added: Vote | None) -> None:
        if added is not None:
            self.book.confirmed(added, undone)
            self.message.emit(f"Saved: thumbs {'up' if added.up else 'down'}.")
        elif undone is not None:
            self.book.undone(undone)
            self.message.emit("Vote taken back.")
        self.model.vote_changed(sha256)
        self.undo_available.emit(self.book.last() is not None)

    def _failed(self, sha256: str, e: BaseException) -> None:
        self.book.failed(sha256)
        self.model.vote_changed(sha256)
        self.message.emit(f"The vote was not saved: {describe_error(e)}")

    def undo(self) -> None:
        last = self.book.last()
        if last is None or self._undoing:
            if last is None:
                self.message.emit("No vote to undo.")
            return
        self._undoing = True

        def done(v: Vote) -> None:
            self._undoing = False
            self.book.undone(last)
            self.model.vote_changed(last.photo_sha256)
            self.undo_available.emit(self.book.last() is not None)
            self.message.emit("Vote undone.")

        def failed(e: BaseException) -> None:
            self._undoing = False
            self.message.emit(f"Undo failed: {describe_error(e)}")

        self.host.call("write", lambda lib: lib.undo_vote(last.id), done, failed)
