""""Learn from my votes": the trainer in its own process, then "Use it" or "Roll back".

The trainer (``cirsearch-train personalize``) runs as a child process through
:class:`QProcess`: PyTorch never loads into the window's process (its memory and its
threads stay out of the event loop's way), and cancelling is killing that process. It
is told to write the new model to a folder of its own and not to switch the library to
it; it reports each epoch as a JSON line on stderr and the result as JSON on stdout.

Switching models ("Use it", "Roll back to ...") goes through the host: the bundle is
loaded and verified on a worker, then ``Library.use_bundle`` swaps the query graph with
the library to itself (same target side: nothing is re-indexed). A run that is not
used (kept, cancelled, failed, or the window closed) leaves nothing behind.

What the flow decides is ``app.state.learn`` and ``app.state.learn_report``.
GUI-thread-only, except the functions the workers run.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Signal

from app.child_run import ChildRun
from app.state.learn import (
    LearnFacts,
    LearnFlow,
    LearnOptions,
    Phase,
    child_folder,
    learn_facts,
    leftovers,
    personalize_command,
    start_problem,
    trainer_problem,
)
from app.state.learn_report import Epoch, Outcome, failure_message, parse_epoch, parse_outcome
from app.state.query import Requests
from engine.bundle import Bundle, load_bundle
from engine.library import Library, LibraryStatus

from .host import LibraryHost, describe_error
from .indexing import IndexJob


class LearnController(ChildRun):
    facts_changed = Signal(object)  # LearnFacts
    state_changed = Signal()  # the phase, the swap flag or what is allowed changed
    progress = Signal(object)  # Epoch
    finished = Signal(object)  # Outcome: a new model waits for "Use it" or "Keep"
    failed = Signal(str)  # the run failed; the trainer's words
    cancelled = Signal()
    switched = Signal(str)  # a swap is done; what happened, in words
    swap_failed = Signal(str)
    message = Signal(str)  # for the status bar

    def __init__(self, host: LibraryHost, index_job: IndexJob, parent: QObject | None = None):
        super().__init__(parent)
        self.host, self.index_job = host, index_job
        self.flow = LearnFlow()
        self.facts: LearnFacts | None = None
        self.options = LearnOptions()
        self.python = sys.executable
        self.find_spec = importlib.util.find_spec  # tests put a fake here
        self.epochs: list[Epoch] = []
        self.outcome: Outcome | None = None
        self._facts_requests = Requests()
        index_job.started.connect(self.state_changed)
        index_job.finished.connect(lambda _: self.state_changed.emit())
        index_job.failed.connect(lambda _: self.state_changed.emit())

    # -- what is allowed -----------------------------------------------------------------

    def problem(self) -> str | None:
        """Why a run cannot start now, or None."""
        return start_problem(self.facts, self.index_job.running, self.flow.phase, self.flow.swapping)

    def refresh(self) -> None:
        """Read the facts again (model, votes, trainer) on a worker; the newest answer wins."""
        rid = self._facts_requests.next()
        find_spec = self.find_spec

        def work(lib: Library) -> LearnFacts:
            return learn_facts(lib, trainer_problem(find_spec))

        if self.host.call("read", work, lambda f: self._got_facts(rid, f)) is None:  # errors: the status bar
            self._got_facts(rid, None)

    def _got_facts(self, rid: int, facts: LearnFacts | None) -> None:
        if not self._facts_requests.is_current(rid):
            return
        self.facts = facts
        self.facts_changed.emit(facts)
        self.state_changed.emit()

    # -- a run ---------------------------------------------------------------------------

    def start(self) -> bool:
        problem = self.problem()
        st, facts = self.host.status, self.facts
        if problem is not None or st is None or facts is None:
            self.message.emit(f"Cannot learn from your votes now: {problem or 'no library is open'}.")
            return False
        out = child_folder(st.folder, facts.model_name, time.strftime("%Y%m%d-%H%M%S"))
        try:
            out.parent.mkdir(parents=True, exist_ok=True)  # the exporter renames its work folder into it
        except OSError as e:
            self.message.emit(f"Cannot learn from your votes: {describe_error(e)}")
            return False
        self.flow.fire("start")
        self.flow.out, self.epochs, self.outcome = out, [], None
        self._launch(personalize_command(self.python, st.folder, out, self.options))
        self.state_changed.emit()
        return True

    def cancel(self) -> None:
        if self.proc is not None and self.flow.fire("cancel"):
            self.proc.kill()  # the trainer has switched nothing (it was told not to); its folder is removed
            self.state_changed.emit()

    def _lines(self, lines: list[str]) -> None:
        for line in lines:
            e = parse_epoch(line)
            if e is not None:
                self.epochs.append(e)
                self.progress.emit(e)

    def _failed_to_start(self, reason: str) -> None:
        self._end(False, f"the trainer could not be started ({self.python}): {reason}")

    def _ended(self, code: int, status: QProcess.ExitStatus) -> None:
        stdout = bytes(self.proc.readAllStandardOutput().data()).decode("utf-8", "replace")
        if self.flow.phase is Phase.CANCELLING:
            self._end(False, None)
            return
        if status is not QProcess.ExitStatus.NormalExit or code != 0:
            self._end(False, failure_message(self._stderr.lines, code))
            return
        try:
            outcome = parse_outcome(stdout)
        except ValueError as e:
            self._end(False, str(e))
            return
        self.outcome = outcome
        self._end(True, None)

    def _end(self, ok: bool, error: str | None) -> None:
        self._release()
        cancelled = self.flow.phase is Phase.CANCELLING
        self.flow.fire("succeeded" if ok else "failed")
        if ok and not cancelled:
            self.finished.emit(self.outcome)
        else:
            self.outcome = None
            self._discard()
            if cancelled:
                self.cancelled.emit()
                self.message.emit("Learning cancelled: the model in use is unchanged.")
            else:
                self.failed.emit(error or "the trainer failed")
        self.state_changed.emit()

    # -- what to do with the new model ---------------------------------------------------

    def use(self) -> None:
        """Switch to the new model (no re-indexing); the flow ends when the swap is done."""
        if self.flow.phase is not Phase.READY or self.outcome is None or not self.flow.begin_swap():
            return
        path = self.outcome.bundle
        self.state_changed.emit()
        self._swap(path, lambda st: "Now using the model learned from your votes (nothing was re-indexed).",
                   used=True)

    def keep(self) -> None:
        if self.flow.phase is Phase.READY and not self.flow.swapping and self.flow.fire("kept"):
            self.outcome = None
            self._discard()
            self.message.emit("Kept the current model.")
            self.state_changed.emit()

    def roll_back(self) -> None:
        f = self.facts
        if f is None or not f.can_roll_back or not self.flow.begin_swap():
            return
        self.state_changed.emit()
        self._swap(f.base_path, lambda st: f"Rolled back to {st.bundle}.", used=False)

    def _swap(self, path: str, words, used: bool) -> None:
        def done(st: LibraryStatus) -> None:
            self.flow.end_swap()
            if used:
                self.flow.fire("used")
                self.outcome = None
            self.switched.emit(words(st))
            self.message.emit(words(st))
            self.refresh()
            self.state_changed.emit()

        def fail(e: BaseException) -> None:
            self.flow.end_swap()
            self.swap_failed.emit(f"The model could not be switched: {describe_error(e)}")
            self.message.emit(f"The model could not be switched: {describe_error(e)}")
            self.state_changed.emit()

        def loaded(b: Bundle) -> None:
            self.host.use_bundle(b, False, done, fail)  # same target side, or refused: never a re-index

        if self.host.call("read", lambda lib: load_bundle(path), loaded, fail) is None:
            fail(RuntimeError("no library is open"))

    # -- leaving nothing behind ----------------------------------------------------------

    def _discard(self) -> None:
        out, self.flow.out = self.flow.out, None
        if out is None:
            return
        in_use = self.host.status.bundle_path if self.host.status is not None else None
        self.host.tasks.run("write", lambda: remove_run(out, in_use), on_error=lambda e: None)

    def drop(self) -> None:
        """Another library is being opened: a run or a waiting model belongs to the old one."""
        self.cancel()
        self.keep()

    def shutdown(self) -> None:
        """Quitting: stop a run, drop a model nobody chose. Blocks briefly."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.finished.disconnect(self._ended)
            proc.kill()
            proc.waitForFinished(5000)
        if proc is not None or self.flow.phase is Phase.READY:
            self._discard()


def remove_run(out: Path, in_use: str | None) -> None:
    """A worker: delete a run's folder and the exporter's temporary ones, never the model in use."""
    if not out.parent.is_dir():
        return
    for p in leftovers(out, os.listdir(out.parent)):
        if in_use is None or Path(in_use).resolve() != p.resolve():
            shutil.rmtree(p, ignore_errors=True)
