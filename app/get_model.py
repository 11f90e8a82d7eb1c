"""Model → "Get the QuRe model…": from QuRe's checkpoint to a library that uses it.

The dialog says where the checkpoint is downloaded (its authors' page) and which of the
two to choose, and takes the file. The conversion is the trainer's
(``cirsearch-train import-qure``), run as a child process through :class:`QProcess`
exactly as "Learn from my votes" runs personalization: PyTorch never loads into the
window's process, it reports as JSON lines on stderr (the BLIP-2 weights and the
vocabulary it downloads, with resume, then each step), and cancelling is killing it.
The new bundle goes to ``LIBRARY/models/qure-<dataset>-<time>``; "Use it" switches the
library to it through :class:`app.models.ModelImport` (another target side: every photo
is encoded again, and the dialog shows it).

What the flow decides is ``app.state.get_model``. GUI-thread-only, except what the
workers run.
"""

from __future__ import annotations

import html
import importlib.util
import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.child_run import ChildRun
from app.state.get_model import (
    CALIBRATION_PHOTOS,
    CHECKPOINT_FILE,
    INSTALL_HINT,
    QURE_CHECKPOINTS,
    QURE_PAGE,
    TRAINED,
    Failure,
    GetModelFlow,
    ImportOptions,
    ImportProgress,
    Kind,
    Phase,
    Trained,
    bundle_folder,
    done_words,
    failure,
    import_command,
    parse_event,
    ready_words,
    start_problem,
    use_problem,
)
from app.state.learn import trainer_problem
from app.state.progress import describe
from engine.indexer import IndexReport, Progress
from engine.library import LibraryStatus

from .host import describe_error
from .learning import remove_run
from .models import ModelImport


class GetModel(ChildRun):
    """The conversion's child process and the switch to its result."""

    state_changed = Signal()  # the phase, or what is allowed, changed
    progress = Signal(object)  # ImportProgress, after each of the converter's events
    finished = Signal(str)  # the new bundle's folder: it waits for "Use it"
    failed = Signal(object)  # Failure
    cancelled = Signal()
    done = Signal(str)  # the library uses the new model (and is indexed with it); in words
    message = Signal(str)  # for the status bar

    def __init__(self, models: ModelImport, parent: QObject | None = None):
        super().__init__(parent)
        self.models, self.host, self.index_job = models, models.host, models.index_job
        self.flow = GetModelFlow()
        self.options = ImportOptions()
        self.python = sys.executable
        self.find_spec = importlib.util.find_spec  # tests put a fake here
        self.trainer: str | None = None  # INSTALL_HINT when this Python has no trainer
        self.state = ImportProgress()
        self.model_label = ""  # the new model, once the library uses it
        self.switch_error: str | None = None  # why the last "Use it" failed
        self._last: tuple[str, Trained] | None = None  # the last run's checkpoint and choice (Try again)
        models.switched.connect(self._switched)
        models.failed.connect(self._switch_failed)
        self.host.opened.connect(self._switched)  # no library was open: the window opened it with the model
        self.host.open_failed.connect(lambda e: self._switch_failed(describe_error(e)))
        self.index_job.finished.connect(self._indexed)
        self.index_job.failed.connect(lambda e: self._indexed(None))
        self.index_job.started.connect(self.state_changed)

    def check_trainer(self) -> None:
        """Is the trainer installed for this Python? Asked on a worker; the answer enables "Convert"."""
        find_spec = self.find_spec
        self.host.tasks.run("read", lambda: trainer_problem(find_spec), self._got_trainer)

    def _got_trainer(self, problem: str | None) -> None:
        self.trainer = None if problem is None else INSTALL_HINT
        self.state_changed.emit()

    def problem(self, checkpoint: str) -> str | None:
        return start_problem(checkpoint, self.trainer, self.flow.phase)

    # -- the conversion ------------------------------------------------------------------

    def start(self, checkpoint: str, trained: Trained) -> bool:
        problem = self.problem(checkpoint)
        if problem is not None:
            self.message.emit(f"Cannot convert the model now: {problem}.")
            return False
        st = self.host.status
        library = Path(st.folder) if st is not None else self.models.ui.opening_folder
        out = bundle_folder(library, trained, time.strftime("%Y%m%d-%H%M%S"))
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.message.emit(f"Cannot convert the model: {describe_error(e)}")
            return False
        self.flow.fire("start")
        self.flow.failure, self.flow.out, self._last = None, out, (checkpoint, trained)
        self.state = ImportProgress()
        self.progress.emit(self.state)
        enough = st is not None and st.indexed >= CALIBRATION_PHOTOS  # the int8 check on the user's own photos
        argv = import_command(self.python, Path(checkpoint.strip()).expanduser(), out, trained, self.options,
                              calibrate_on=library if enough else None)
        self._launch(argv)
        self.state_changed.emit()
        return True

    @property
    def last_checkpoint(self) -> str | None:
        return self._last[0] if self._last is not None else None

    def retry(self) -> bool:
        return self._last is not None and self.start(*self._last)

    def dismiss(self) -> None:
        """The failure has been read: back to the choice."""
        if self.flow.phase is Phase.IDLE and self.flow.failure is not None:
            self.flow.failure = None
            self.state_changed.emit()

    def cancel(self) -> None:
        if self.proc is not None and self.flow.fire("cancel"):
            self.proc.kill()  # a partial download stays in the cache: the next try resumes it
            self.state_changed.emit()

    def _lines(self, lines: list[str]) -> None:
        for line in lines:
            e = parse_event(line)
            if e is not None:
                self.state.feed(e)
                self.progress.emit(self.state)

    def _failed_to_start(self, reason: str) -> None:
        self._end(Failure(Kind.ERROR, f"The converter could not be started ({self.python}): {reason}"))

    def _ended(self, code: int, status: QProcess.ExitStatus) -> None:
        if self.flow.phase is Phase.CANCELLING or (status is QProcess.ExitStatus.NormalExit and code == 0):
            self._end(None)
        else:
            self._end(failure(self._stderr.lines, code, self.state.missing, self.python))

    def _end(self, fail: Failure | None) -> None:
        self._release()
        cancelled = self.flow.phase is Phase.CANCELLING
        self.flow.fire("failed" if fail is not None else "succeeded")
        if fail is None and not cancelled:
            self.finished.emit(str(self.flow.out))
            self.message.emit("The QuRe model is ready: Model → Get the QuRe model… to use it.")
        else:
            self._discard()
            if cancelled:
                self.cancelled.emit()
                self.message.emit("Conversion cancelled: the model in use is unchanged.")
            else:
                self.flow.failure = fail
                self.failed.emit(fail)
                self.message.emit("The QuRe model could not be made: Model → Get the QuRe model… says why.")
        self.state_changed.emit()

    def _discard(self) -> None:
        out, self.flow.out = self.flow.out, None
        if out is not None:
            in_use = self.host.status.bundle_path if self.host.status is not None else None
            self.host.tasks.run("write", lambda: remove_run(out, in_use), on_error=lambda e: None)

    # -- using the new model -------------------------------------------------------------

    def use_problem(self) -> str | None:
        return use_problem(self.index_job.running, self.flow.phase)

    def use(self) -> None:
        """Switch the library to the new model; every photo is encoded again."""
        if self.use_problem() is None and self.flow.fire("use"):
            self.switch_error = None
            self.state_changed.emit()
            self.models.load(self.flow.out, interactive=False)

    def later(self) -> None:
        if self.flow.fire("later"):
            self.message.emit(f"The new model is kept in {self.flow.out}: Model → Import model… uses it.")
            self.flow.out = None
            self.state_changed.emit()

    def _switched(self, st: LibraryStatus) -> None:
        if self.flow.phase is not Phase.SWITCHING or Path(st.bundle_path) != self.flow.out:
            return
        self.model_label = st.bundle
        self.flow.fire("switched" if self.index_job.running else "switched_same")
        if self.flow.phase is Phase.DONE:
            self.flow.out = None
            self.done.emit(done_words(st.bundle, None, False))
        self.state_changed.emit()

    def _switch_failed(self, text: str) -> None:
        if self.flow.fire("switch_failed"):
            self.switch_error = f"The library could not be switched to the new model: {text}"
            self.state_changed.emit()

    def _indexed(self, report: IndexReport | None) -> None:
        if self.flow.fire("indexed"):
            self.flow.out = None
            self.done.emit(done_words(self.model_label, report.encoded if report else 0,
                                      report is None or report.cancelled))
        self.state_changed.emit()  # indexing is over: "Use it" may be allowed now

    def reset(self) -> None:
        """The dialog opens again after a finished switch: start from the choice."""
        if self.flow.fire("reset"):
            self.state_changed.emit()

    def shutdown(self) -> None:
        """Quitting: stop a conversion and remove its folder. Blocks briefly."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.finished.disconnect(self._finished)
            proc.kill()
            proc.waitForFinished(5000)
            self._discard()


def _label(text: str = "", rich: bool = False) -> QLabel:
    lbl = QLabel(text)
    lbl.setWordWrap(True)
    if rich:
        lbl.setTextFormat(Qt.TextFormat.RichText)
        lbl.setOpenExternalLinks(True)
        lbl.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    return lbl


class GetModelDialog(QDialog):
    """The steps on screen: choose, convert (progress, Cancel), what went wrong (the files
    to download by hand, or how to install the trainer), use it, re-indexing, done.
    Closing it only hides it; a conversion goes on, and the menu shows it again."""

    def __init__(self, controller: GetModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.c = c = controller
        self.setWindowTitle("Get the QuRe model")
        self.setModal(False)
        self.pages = QStackedWidget()
        self._choose_page()
        self._run_page()
        self._end_page()
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        self.buttons: dict[str, QPushButton] = {}
        for key, text, slot in (("convert", "Convert", self._convert), ("cancel", "Cancel", self._cancel),
                                ("retry", "Try again", lambda: c.retry()), ("back", "Back", c.dismiss),
                                ("later", "Later", c.later), ("use", "Use it", c.use), ("close", "Close", self.hide)):
            b = self.buttons[key] = QPushButton(text)
            b.clicked.connect(slot)
            bottom.addWidget(b)
        box = QVBoxLayout(self)
        box.addWidget(self.pages, 1)
        box.addLayout(bottom)
        self.resize(560, 480)
        c.state_changed.connect(self.sync)
        c.progress.connect(self._show_progress)
        c.done.connect(lambda words: self.outcome.setText(html.escape(words, quote=False)))
        c.index_job.progress.connect(self._show_indexing)
        self.sync()

    # -- the pages -----------------------------------------------------------------------

    def _choose_page(self) -> None:
        page = QWidget()
        box = QVBoxLayout(page)
        box.addWidget(_label(
            "QuRe is the model this app is built for: it finds your photos from a photo and a sentence. The "
            "app comes with a small demo model trained on drawn pictures only; QuRe, trained by its authors on "
            "real photos, is what makes search work on yours.", rich=True))
        self.where = _label(
            f"<b>1.</b> Download one of QuRe's two checkpoints from <a href=\"{QURE_CHECKPOINTS}\">its authors' "
            f"folder</a> (linked from their page, <a href=\"{QURE_PAGE}\">github.com/jackwaky/QuRe</a>). Each is "
            f"a file called <code>{CHECKPOINT_FILE}</code>:", rich=True)
        box.addWidget(self.where)
        self.choices = QButtonGroup(self)
        for i, t in enumerate(TRAINED):
            r = QRadioButton(f"{t.title}: {t.good_for}")
            r.setChecked(i == 0)
            self.choices.addButton(r, i)
            box.addWidget(r)
        box.addWidget(_label("<b>2.</b> Choose the file you downloaded:", rich=True))
        row = QHBoxLayout()
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText(f"…/{CHECKPOINT_FILE}")
        self.path_edit.textChanged.connect(lambda _: self.sync())
        self.browse_button = QPushButton("Choose…")
        self.browse_button.clicked.connect(self._browse)
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.browse_button)
        box.addLayout(row)
        box.addWidget(_label(
            "<b>3.</b> Convert: the app downloads the BLIP-2 weights QuRe is built on and its vocabulary "
            "(a few GB; an interrupted download resumes), makes a model for this app from them, and then offers "
            "to switch your library to it (every photo is encoded again; your votes are kept).", rich=True))
        self.trainer_hint = _label("", rich=True)
        box.addWidget(self.trainer_hint)
        box.addStretch(1)
        self.pages.addWidget(page)

    def _run_page(self) -> None:
        page = QWidget()
        box = QVBoxLayout(page)
        self.line = _label()
        self.bar = QProgressBar()
        self.steps = _label()
        for w in (self.line, self.bar, self.steps):
            box.addWidget(w)
        box.addStretch(1)
        self.pages.addWidget(page)

    def _end_page(self) -> None:
        page = QWidget()
        box = QVBoxLayout(page)
        self.outcome = _label(rich=True)
        self.outcome.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction
                                             | Qt.TextInteractionFlag.TextSelectableByKeyboard)
        box.addWidget(self.outcome)
        box.addStretch(1)
        self.pages.addWidget(page)

    # -- what the user does --------------------------------------------------------------

    def open_flow(self) -> None:
        """From the menu: show the dialog where the flow is (a finished one starts again)."""
        self.c.reset()
        self.c.check_trainer()
        self.sync()
        if self.isVisible():
            self.raise_()
        self.show()

    def trained(self) -> Trained:
        return TRAINED[max(0, self.choices.checkedId())]

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, f"Choose QuRe's checkpoint ({CHECKPOINT_FILE})", "",
                                              "PyTorch checkpoints (*.pth *.pt);;All files (*)")
        if path:
            self.path_edit.setText(path)

    def _convert(self) -> None:
        self.c.start(self.path_edit.text(), self.trained())

    def _cancel(self) -> None:
        self.line.setText("Stopping…")
        self.c.cancel()

    # -- showing -------------------------------------------------------------------------

    def _show_progress(self, p: ImportProgress) -> None:
        self.line.setText(p.line)
        if p.bar is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, p.bar[1])
            self.bar.setValue(p.bar[0])
        self.steps.setText("\n".join(f"✓ {s}" for s in p.done))

    def _show_indexing(self, p: Progress) -> None:
        if self.c.flow.phase is Phase.INDEXING:
            t = describe(p)
            self.line.setText(f"Encoding your photos with the new model: {t.line}")
            self.bar.setRange(0, 0 if t.percent is None else 100)
            self.bar.setValue(t.percent or 0)

    def sync(self) -> None:
        c, phase = self.c, self.c.flow.phase
        failed = phase is Phase.IDLE and c.flow.failure is not None
        self.trainer_hint.setText(f"<b>The trainer is not installed.</b> {c.trainer}" if c.trainer else "")
        self.trainer_hint.setVisible(c.trainer is not None)
        if phase is Phase.SWITCHING:
            self.line.setText("Switching your library to the new model…")
            self.bar.setRange(0, 0)
        elif phase is Phase.READY:
            words = ready_words(c.flow.out, c.host.status.photos if c.host.status is not None else 0)
            error = f"<br><b>{html.escape(c.switch_error, quote=False)}</b>" if c.switch_error else ""
            self.outcome.setText(html.escape(words, quote=False) + error)
        elif failed:
            self.outcome.setText(c.flow.failure.message)
        if phase in (Phase.RUNNING, Phase.CANCELLING, Phase.SWITCHING, Phase.INDEXING):
            self.pages.setCurrentIndex(1)
        else:
            self.pages.setCurrentIndex(2 if phase in (Phase.READY, Phase.DONE) or failed else 0)
        shown = {
            "convert": phase is Phase.IDLE and not failed,
            "cancel": phase in (Phase.RUNNING, Phase.CANCELLING),
            "retry": failed,
            "back": failed,
            "later": phase is Phase.READY,
            "use": phase is Phase.READY,
            "close": phase is not Phase.RUNNING,
        }
        for key, b in self.buttons.items():
            b.setVisible(shown[key])
        problem = c.problem(self.path_edit.text())
        self.buttons["convert"].setEnabled(problem is None)
        self.buttons["convert"].setToolTip(f"Not yet: {problem}" if problem else "Convert the checkpoint")
        self.buttons["cancel"].setEnabled(phase is Phase.RUNNING)
        use = c.use_problem()
        self.buttons["use"].setEnabled(use is None)
        self.buttons["use"].setToolTip(f"Not now: {use}" if use else "Switch the library to the new model")
        self.buttons["retry"].setEnabled(c.last_checkpoint is not None and c.problem(c.last_checkpoint) is None)
