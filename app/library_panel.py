"""The library panel: folders, watching, indexing progress with pause/cancel, and skipped files.

It shows what the host and the index job report and asks for changes through signals;
the window carries them out on workers. GUI-thread-only.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.state.progress import describe
from engine.indexer import IndexReport, Progress
from engine.library import LibraryStatus


class LibraryPanel(QWidget):
    add_requested = Signal()
    remove_requested = Signal(str)
    rescan_requested = Signal()
    pause_requested = Signal(bool)  # True: pause, False: resume
    cancel_requested = Signal()
    watch_toggled = Signal(bool)  # the "Watch folders" setting

    def __init__(self, parent=None):
        super().__init__(parent)
        self.summary = QLabel("Opening…")
        self.summary.setWordWrap(True)
        self.folders = QListWidget()
        self.folders.setMaximumHeight(110)
        self.folders.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.folders.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.folders.currentRowChanged.connect(lambda _: self._sync_buttons())
        self.add_button = QPushButton("Add folder…")
        self.add_button.clicked.connect(self.add_requested)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Forget this folder (its photos leave the results; the files stay)")
        self.remove_button.clicked.connect(self._remove)
        self.rescan_button = QPushButton("Rescan")
        self.rescan_button.setToolTip("Look for new, changed and removed photos")
        self.rescan_button.clicked.connect(self.rescan_requested)
        self.watch_box = QCheckBox("Watch")
        self.watch_box.setToolTip("Index new, changed, moved and deleted photos while the app is open")
        self.watch_box.toggled.connect(self.watch_toggled)
        self.watch_line = QLabel("")
        self.watch_line.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.line = QLabel("")
        self.line.setWordWrap(True)
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.toggled.connect(self._pause)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop indexing; what is done so far is kept")
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.skipped_label = QLabel("")
        self.skipped = QTreeWidget()
        self.skipped.setHeaderLabels(["Skipped file", "Why"])
        self.skipped.setRootIsDecorated(False)
        self.skipped.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self._layout()
        self.set_indexing(False)

    def _layout(self) -> None:
        box = QVBoxLayout(self)
        box.addWidget(QLabel("<b>Library</b>"))
        box.addWidget(self.summary)
        box.addWidget(self.folders)
        row = QHBoxLayout()
        for b in (self.add_button, self.remove_button, self.rescan_button):
            row.addWidget(b)
        box.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.watch_box)
        row.addWidget(self.watch_line, 1)
        box.addLayout(row)
        box.addWidget(self.bar)
        box.addWidget(self.line)
        row = QHBoxLayout()
        row.addWidget(self.pause_button)
        row.addWidget(self.cancel_button)
        box.addLayout(row)
        box.addWidget(self.skipped_label)
        box.addWidget(self.skipped, 10)
        box.addStretch(1)

    # -- what the window tells it --------------------------------------------------------

    def show_status(self, st: LibraryStatus) -> None:
        self.summary.setText(f"{st.photos:,} photos indexed" + (f" · {st.pending:,} waiting" if st.pending else ""))
        self.summary.setToolTip(st.folder)
        current = self.folders.currentItem().text() if self.folders.currentItem() else None
        self.folders.clear()
        self.folders.addItems(list(st.roots))
        for i in range(self.folders.count()):
            self.folders.item(i).setToolTip(self.folders.item(i).text())
        for i in range(self.folders.count()):
            if self.folders.item(i).text() == current:
                self.folders.setCurrentRow(i)
        self.skipped.clear()
        self.skipped.addTopLevelItems([_skip_item(p, r) for p, r in st.skipped_files])
        self.skipped_label.setText(f"Skipped ({st.skipped})" if st.skipped else "Nothing skipped")
        self.skipped.setVisible(bool(st.skipped))
        self._sync_buttons()

    def set_watching(self, on: bool) -> None:
        """The setting's state, without asking for a change."""
        self.watch_box.blockSignals(True)
        self.watch_box.setChecked(on)
        self.watch_box.blockSignals(False)

    def show_watching(self, text: str, tooltip: str) -> None:
        self.watch_line.setText(text)
        self.watch_line.setToolTip(tooltip)

    def set_indexing(self, running: bool) -> None:
        self._indexing = running
        for w in (self.bar, self.pause_button, self.cancel_button):
            w.setVisible(running)
        if running:
            self.bar.setRange(0, 0)
            self.line.setText("Starting…")
            self.pause_button.blockSignals(True)
            self.pause_button.setChecked(False)
            self.pause_button.setText("Pause")
            self.pause_button.blockSignals(False)
        self._sync_buttons()

    def show_progress(self, p: Progress, paused: bool) -> None:
        t = describe(p, paused)
        if t.percent is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 100)
            self.bar.setValue(t.percent)
        self.line.setText(t.line)

    def show_paused(self, paused: bool, last: Progress | None) -> None:
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.blockSignals(False)
        if last is not None:
            self.show_progress(last, paused)

    def show_report(self, r: IndexReport) -> None:
        done = "Stopped" if r.cancelled else "Indexed"
        parts = [f"{r.encoded:,} new"] + ([f"{r.reused:,} known"] if r.reused else []) + (
            [f"{r.removed:,} gone"] if r.removed else []) + ([f"{len(r.failed)} skipped"] if r.failed else [])
        self.line.setText(f"{done}: " + ", ".join(parts) + ".")

    # -- internals -----------------------------------------------------------------------

    def _sync_buttons(self) -> None:
        idle = not self._indexing
        self.remove_button.setEnabled(idle and self.folders.currentItem() is not None)
        self.rescan_button.setEnabled(idle and self.folders.count() > 0)

    def _remove(self) -> None:
        item = self.folders.currentItem()
        if item is not None:
            self.remove_requested.emit(item.text())

    def _pause(self, on: bool) -> None:
        self.pause_requested.emit(on)


def _skip_item(path: str, reason: str) -> QTreeWidgetItem:
    item = QTreeWidgetItem([path, reason])
    item.setToolTip(0, path)
    item.setToolTip(1, reason)
    return item
