""""Learn from my votes" on screen: the bar beside the vote controls, the run's dialog
(progress, then before/after with a plot and the choice), and the plot itself.

They show what :class:`app.learning.LearnController` reports and ask it for actions;
the words and the plot's geometry come from ``app.state.learn_report``.
GUI-thread-only.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QColor, QPainter, QPaintEvent, QPen, QPolygonF
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from app.state.learn import LearnFacts, Phase, counts_line, counts_tip
from app.state.learn_report import (
    Epoch,
    Outcome,
    accuracy_range,
    best_held,
    curve_values,
    plot_points,
    progress_words,
    progress_x_max,
    result_words,
)

from .layout import compact

CURVE = QColor(30, 110, 200)
BEFORE = QColor(150, 150, 150)
BEST = QColor(235, 120, 20)


class CurvePlot(QWidget):
    """Held-out pairwise accuracy per epoch (epoch 0: the model without your votes)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.values: list[tuple[int, float]] = []
        self.before: float | None = None
        self.x_max = 1
        self.best_epoch: int | None = None
        self.setMinimumSize(300, 150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def set_curve(self, before: float | None, epochs: list[Epoch], x_max: int, best_epoch: int | None = None) -> None:
        self.before, self.values = before, curve_values(before, epochs)
        self.x_max, self.best_epoch = max(1, x_max), best_epoch
        self.update()

    def points(self) -> list[tuple[float, float]]:
        return plot_points(self.values, self.x_max, self._range(), self._box())

    def _range(self) -> tuple[float, float]:
        return accuracy_range([y for _, y in self.values])

    def _box(self) -> tuple[float, float, float, float]:
        left, top, right, bottom = 46, 10, 12, 24
        return left, top, max(1, self.width() - left - right), max(1, self.height() - top - bottom)

    def paintEvent(self, e: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        left, top, w, h = self._box()
        p.fillRect(self.rect(), self.palette().base())
        p.setPen(QPen(self.palette().mid().color(), 1))
        p.drawRect(QRectF(left, top, w, h))
        lo, hi = self._range()
        p.setPen(self.palette().text().color())
        p.drawText(QRectF(0, top - 8, left - 6, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                   f"{100 * hi:.0f}%")
        p.drawText(QRectF(0, top + h - 8, left - 6, 16), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                   f"{100 * lo:.0f}%")
        p.drawText(QRectF(left, top + h + 4, w, 18), Qt.AlignmentFlag.AlignCenter,
                   f"epoch (0 to {self.x_max}) · held-out pairwise accuracy")
        if not self.values:
            p.drawText(QRectF(left, top, w, h), Qt.AlignmentFlag.AlignCenter, "no held-out votes to measure on"
                       if self.before is None and self.x_max > 1 else "waiting for the first epoch…")
            return
        pts = [QPointF(x, y) for x, y in self.points()]
        if self.before is not None:  # the model without your votes, as a dashed level
            p.setPen(QPen(BEFORE, 1, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(left, pts[0].y()), QPointF(left + w, pts[0].y()))
        p.setPen(QPen(CURVE, 2))
        p.drawPolyline(QPolygonF(pts))
        p.setBrush(CURVE)
        for (x, _), pt in zip(self.values, pts):
            if x == self.best_epoch:
                p.setBrush(BEST)
                p.setPen(QPen(BEST, 1))
                p.drawEllipse(pt, 5, 5)
                p.setBrush(CURVE)
                p.setPen(QPen(CURVE, 2))
            else:
                p.drawEllipse(pt, 3, 3)
        p.end()


class LearnBar(QWidget):
    """Beside the vote controls: how many votes and pairs, "Learn from my votes", "Roll back"."""

    learn_requested = Signal()
    roll_back_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.counts = QLabel("")
        self.counts.setWordWrap(True)  # two short lines rather than a squeezed results header
        self.learn_button = compact(QPushButton("Learn from my votes…"))
        self.learn_button.clicked.connect(self.learn_requested)
        self.roll_back_button = compact(QPushButton("Roll back"))
        self.roll_back_button.clicked.connect(self.roll_back_requested)
        self.roll_back_button.setVisible(False)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.counts)
        row.addWidget(self.learn_button)
        row.addWidget(self.roll_back_button)

    def show_state(self, facts: LearnFacts | None, problem: str | None, phase: Phase, swapping: bool,
                   epoch: Epoch | None) -> None:
        self.counts.setText(counts_line(facts.count) if facts is not None else "")
        self._fold_counts()
        self.counts.setToolTip(counts_tip(facts.count) if facts is not None else "")
        if phase is Phase.IDLE:
            self.learn_button.setText("Learn from my votes…")
            self.learn_button.setEnabled(problem is None)
            self.learn_button.setToolTip(
                f"Not available: {problem}" if problem else
                "Fine-tune how your questions are read, from your thumbs-up and thumbs-down "
                "(photos are not indexed again)")
        else:  # a run or its result: the button brings its window back
            self.learn_button.setText("New model ready…" if phase is Phase.READY else
                                      f"Learning… epoch {epoch.epoch}" if epoch is not None else "Learning…")
            self.learn_button.setEnabled(True)
            self.learn_button.setToolTip("Show the learning window")
        can_roll = facts is not None and facts.can_roll_back
        self.roll_back_button.setVisible(can_roll)
        self.roll_back_button.setEnabled(can_roll and not swapping)
        if can_roll:  # short: the base's name and version would squeeze the results header
            self.roll_back_button.setToolTip(f"Go back to {facts.base_label}: the model as it was before it "
                                             "learned from your votes (photos are not indexed again)")


    def _fold_counts(self) -> None:
        """In a narrow window the counts fold at their "·" ("24 votes ·" above "41 pairs"),
        not between a number and its word."""
        parts = self.counts.text().split(" · ")
        fm = self.counts.fontMetrics()
        self.counts.setMinimumWidth(max(fm.horizontalAdvance(p + (" ·" if i < len(parts) - 1 else ""))
                                        for i, p in enumerate(parts)) + 2)


class LearnDialog(QDialog):
    """A run's window: progress with Cancel, then before/after with "Use it" or "Keep".
    Closing it only hides it; the bar's button shows it again."""

    cancel_requested = Signal()
    use_requested = Signal()
    keep_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Learning from your votes")
        self.setModal(False)
        self.line = QLabel("")
        self.line.setWordWrap(True)
        self.bar = QProgressBar()
        self.numbers = QLabel("")
        self.numbers.setTextFormat(Qt.TextFormat.RichText)
        self.counts = QLabel("")
        self.counts.setWordWrap(True)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.plot = CurvePlot()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop learning; the model in use stays as it is")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.use_button = QPushButton("Use it")
        self.use_button.setToolTip("Switch to the new model now (photos are not indexed again)")
        self.use_button.clicked.connect(self.use_requested)
        self.keep_button = QPushButton("Keep the current model")
        self.keep_button.clicked.connect(self.keep_requested)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.hide)
        box = QVBoxLayout(self)
        for w in (self.line, self.bar, self.numbers, self.counts, self.verdict):
            box.addWidget(w)
        box.addWidget(self.plot, 1)
        row = QHBoxLayout()
        row.addStretch(1)
        for b in (self.cancel_button, self.keep_button, self.use_button, self.close_button):
            row.addWidget(b)
        box.addLayout(row)
        self.resize(460, 420)
        self._buttons(cancel=False, choose=False, close=True)

    def _buttons(self, cancel: bool, choose: bool, close: bool) -> None:
        self.cancel_button.setVisible(cancel)
        self.cancel_button.setEnabled(cancel)
        self.use_button.setVisible(choose)
        self.keep_button.setVisible(choose)
        self.use_button.setEnabled(choose)
        self.keep_button.setEnabled(choose)
        self.close_button.setVisible(close)

    def started(self, votes_line: str) -> None:
        self.line.setText(progress_words(None, None))
        self.counts.setText(votes_line)
        for w in (self.numbers, self.verdict):
            w.setText("")
            w.setVisible(False)
        self.bar.setVisible(True)
        self.bar.setRange(0, 0)
        self.plot.set_curve(None, [], 1)
        self._buttons(cancel=True, choose=False, close=False)

    def show_epoch(self, epochs: list[Epoch]) -> None:
        e = epochs[-1]
        self.line.setText(progress_words(e, best_held(epochs)))
        self.bar.setRange(0, e.epochs)
        self.bar.setValue(e.epoch)
        self.plot.set_curve(None, epochs, progress_x_max(e.epoch, e.epochs))

    def cancelling(self) -> None:
        self.line.setText("Stopping…")
        self.cancel_button.setEnabled(False)

    def show_outcome(self, o: Outcome) -> None:
        w = result_words(o)
        self.line.setText("Done. Pairwise accuracy on the votes set aside (questions it never trained on):")
        self.bar.setVisible(False)
        self.numbers.setText(f"<span style='font-size:16pt'>before <b>{w.before}</b> → after <b>{w.after}</b></span>")
        self.counts.setText(w.counts)
        self.verdict.setText(w.verdict)
        for lbl in (self.numbers, self.verdict):
            lbl.setVisible(True)
        self.plot.set_curve(o.before, list(o.curve), o.epochs_run, o.best_epoch)
        self._buttons(cancel=False, choose=True, close=False)

    def swapping(self) -> None:
        self.line.setText("Switching to the new model…")
        self._buttons(cancel=False, choose=False, close=False)

    def show_failure(self, message: str) -> None:
        self.line.setText(f"<b>Nothing was learned.</b> {message}")
        self.bar.setVisible(False)
        self._buttons(cancel=False, choose=False, close=True)

    def show_swap_failure(self, message: str) -> None:
        self.line.setText(message)
        self._buttons(cancel=False, choose=True, close=False)


class LearnUI(QObject):
    """Connects the controller to the bar, the dialog and the Model menu's two actions."""

    def __init__(self, controller, bar: LearnBar, dialog: LearnDialog, learn_action: QAction,
                 roll_back_action: QAction, on_switched: Callable[[], None], parent: QObject | None = None):
        super().__init__(parent)
        self.c, self.bar, self.dialog = controller, bar, dialog
        self.learn_action, self.roll_back_action, self.on_switched = learn_action, roll_back_action, on_switched
        c = controller
        bar.learn_requested.connect(self.learn)
        bar.roll_back_requested.connect(c.roll_back)
        learn_action.triggered.connect(lambda *_: self.learn())
        roll_back_action.triggered.connect(lambda *_: c.roll_back())
        dialog.cancel_requested.connect(self._cancel)
        dialog.use_requested.connect(self._use)
        dialog.keep_requested.connect(self._keep)
        c.state_changed.connect(self.sync)
        c.progress.connect(lambda _: (dialog.show_epoch(c.epochs), self.sync()))
        c.finished.connect(dialog.show_outcome)
        c.failed.connect(dialog.show_failure)
        c.cancelled.connect(dialog.hide)
        c.switched.connect(self._switched)
        c.swap_failed.connect(self._swap_failed)
        self.sync()

    def learn(self) -> None:
        """Start a run, or show the one going on (or its result)."""
        if self.c.flow.phase is Phase.IDLE:
            if not self.c.start():
                return
            self.dialog.started(f"Learning from {counts_line(self.c.facts.count)}.")
        elif self.dialog.isVisible():
            self.dialog.raise_()
        self.dialog.show()

    def _cancel(self) -> None:
        self.dialog.cancelling()
        self.c.cancel()

    def _use(self) -> None:
        self.dialog.swapping()
        self.c.use()

    def _keep(self) -> None:
        self.c.keep()
        self.dialog.hide()

    def _switched(self, words: str) -> None:
        if self.c.flow.phase is Phase.IDLE:
            self.dialog.hide()
        self.on_switched()

    def _swap_failed(self, message: str) -> None:
        if self.c.flow.phase is Phase.READY:
            self.dialog.show_swap_failure(message)

    def sync(self) -> None:
        c = self.c
        problem, facts = c.problem(), c.facts
        self.bar.show_state(facts, problem, c.flow.phase, c.flow.swapping, c.epochs[-1] if c.epochs else None)
        self.learn_action.setEnabled(self.bar.learn_button.isEnabled())
        self.learn_action.setText(self.bar.learn_button.text())
        self.learn_action.setToolTip(self.bar.learn_button.toolTip())
        can_roll = facts is not None and facts.can_roll_back
        self.roll_back_action.setVisible(can_roll)
        self.roll_back_action.setEnabled(can_roll and not c.flow.swapping)
        self.roll_back_action.setText(f"Roll back to {facts.base_label}" if can_roll else "Roll back")
        self.roll_back_action.setToolTip(self.bar.roll_back_button.toolTip() if can_roll else "")
