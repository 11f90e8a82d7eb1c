"""The query bar: the search mode and the words, with paste-as-reference.

Modes are three checkable buttons; a mode the model cannot serve is disabled and says
why in its tooltip. The text field searches as you type (the controller debounces); it
keeps room to read what is typed in a narrow window (the buttons shrink to their words
first).
Ctrl+V in the field pastes words as usual, but an image or an image file on the
clipboard becomes the reference instead. GUI-thread-only.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

from app.state.query import LABELS, Mode

from .layout import compact
from .reference import reference_from_mime

PLACEHOLDER = {
    Mode.COMPOSED: "How should it differ from the reference? e.g. “same dress, but red and sleeveless”",
    Mode.TEXT: "What are you looking for? e.g. “a striped shirt with long sleeves”",
    Mode.SIMILAR: "Similar looks at the reference photo only",
}
BUSY = "searching…"
EDIT_MIN = 180  # pixels: the words stay readable in an 800-pixel window


class QueryEdit(QLineEdit):
    image_pasted = Signal(object)  # the clipboard's QMimeData

    def keyPressEvent(self, e: QKeyEvent) -> None:
        if e.matches(QKeySequence.StandardKey.Paste):
            mime = QGuiApplication.clipboard().mimeData()
            if mime is not None and reference_from_mime(mime) is not None:
                self.image_pasted.emit(mime)
                return
        super().keyPressEvent(e)


class QueryBar(QWidget):
    text_changed = Signal(str)
    mode_changed = Signal(object)  # Mode
    image_pasted = Signal(object)  # QMimeData

    def __init__(self, parent=None):
        super().__init__(parent)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[Mode, QPushButton] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for mode in Mode:
            b = compact(QPushButton(LABELS[mode]))
            b.setCheckable(True)
            b.setObjectName(f"mode-{mode.value}")
            self.group.addButton(b)
            self.buttons[mode] = b
            row.addWidget(b)
            b.toggled.connect(lambda on, m=mode: on and self._mode(m))
        self.edit = QueryEdit()
        self.edit.setClearButtonEnabled(True)
        self.edit.setMinimumWidth(EDIT_MIN)
        self.edit.textChanged.connect(self.text_changed)
        self.edit.image_pasted.connect(self.image_pasted)
        row.addWidget(self.edit, 1)
        self.busy = QLabel("")
        self.busy.setFixedWidth(self.busy.fontMetrics().horizontalAdvance(BUSY) + 4)  # no jumping field
        row.addWidget(self.busy)
        self.buttons[Mode.COMPOSED].setChecked(True)
        self.edit.setPlaceholderText(PLACEHOLDER[Mode.COMPOSED])

    @property
    def mode(self) -> Mode:
        return next(m for m, b in self.buttons.items() if b.isChecked())

    def set_mode(self, mode: Mode) -> None:
        if self.buttons[mode].isEnabled():
            self.buttons[mode].setChecked(True)

    def set_available(self, reasons: dict[Mode, str | None]) -> None:
        """Enable the modes the model serves; a disabled one says why."""
        for mode, why in reasons.items():
            b = self.buttons[mode]
            b.setEnabled(why is None)
            b.setToolTip(f"{LABELS[mode]}: not available: {why}" if why else "")
        if not self.buttons[self.mode].isEnabled():
            self.buttons[Mode.COMPOSED].setChecked(True)

    def set_busy(self, busy: bool) -> None:
        self.busy.setText(BUSY if busy else "")

    def _mode(self, mode: Mode) -> None:
        self.edit.setPlaceholderText(PLACEHOLDER[mode])
        self.edit.setEnabled(mode is not Mode.SIMILAR)
        self.mode_changed.emit(mode)
