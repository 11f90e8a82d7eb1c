"""A trainer command run as a child process, as "Learn from my votes" and "Get the QuRe
model" both do: QProcess, its stderr read as lines while it runs, its end and a failure
to start handed to the subclass. The subclass says what a line means (``_lines``), what an
exit means (``_ended``, which calls :meth:`ChildRun._drain` first) and what to say when
the program cannot start (``_failed_to_start``)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, QProcess

from app.state.learn_report import LineBuffer


class ChildRun(QObject):
    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.proc: QProcess | None = None
        self.last_exit: tuple[int, QProcess.ExitStatus] | None = None  # of the last run's process
        self._stderr = LineBuffer()

    def _launch(self, argv: list[str]) -> None:
        self._stderr = LineBuffer()
        proc = self.proc = QProcess(self)
        proc.setProgram(argv[0])
        proc.setArguments(argv[1:])
        proc.readyReadStandardError.connect(self._read_stderr)
        proc.finished.connect(self._finished)
        proc.errorOccurred.connect(self._process_error)
        proc.start()

    def _read_stderr(self) -> None:
        if self.proc is not None:
            self._lines(self._stderr.feed(bytes(self.proc.readAllStandardError().data())))

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self.last_exit = (code, status)
        self._read_stderr()
        self._lines(self._stderr.close())  # a last line without its newline
        self._ended(code, status)

    def _process_error(self, error: QProcess.ProcessError) -> None:
        if error is QProcess.ProcessError.FailedToStart:  # no finished() follows
            self._failed_to_start(self.proc.errorString())

    def _release(self) -> QProcess | None:
        """The process object, no longer this run's (deleted later by Qt), or None."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.deleteLater()
        return proc

    # -- the subclass's part -------------------------------------------------------------
    # Every subclass defines these three (checked when the subclass is created, so a missing
    # one fails at import, not when a child process first ends).
    _lines: Callable[[list[str]], None]  # stderr lines as they arrive
    _ended: Callable[[int, QProcess.ExitStatus], None]  # the process exited (stderr drained)
    _failed_to_start: Callable[[str], None]  # the program could not start (why)

    HOOKS = ("_lines", "_ended", "_failed_to_start")

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        missing = [name for name in ChildRun.HOOKS if not callable(getattr(cls, name, None))]
        if missing:
            raise TypeError(f"{cls.__name__} must define {', '.join(missing)} (see ChildRun)")
