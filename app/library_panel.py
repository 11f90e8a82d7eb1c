"""The library panel: folders, watching, indexing progress with pause/cancel, and skipped files.

It shows what the host and the index job report and asks for changes through signals;
the window carries them out on workers. Folders and skipped files are shown with
``engine.fspath.shown`` (a name that is not UTF-8 with escapes); Remove names the
folder as the library holds it, never as the list shows it. GUI-thread-only, except
:func:`files_in` (a worker).
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

from app.state.progress import describe, report_words
from engine.fspath import shown
from engine.indexer import IndexReport, Progress
from engine.library import Library, LibraryStatus

from .layout import compact


def files_in(lib: Library, root: str) -> int:
    """A worker: how many files the library holds under its folder ``root``."""
    for r in lib.catalog.roots():
        if r.path == root:
            return len(lib.catalog.listing(r.id))
    return 0


def remove_question(root: str, files: int) -> str:
    """What Remove asks before it takes a folder out of the library."""
    what = f"its {files:,} photo{'s' if files != 1 else ''}" if files else "it"
    return (f"Remove {shown(root)} from the library?\n\n{what[0].upper() + what[1:]} will no longer be searched. "
            "The files stay where they are, and your votes are kept: add the folder again to bring "
            f"{'them' if files else 'it'} back.")


class LibraryPanel(QWidget):
    add_requested = Signal()
    remove_requested = Signal(object)  # the folder's path: a str signal would drop the bytes of a non-UTF-8 name
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
        self.roots: tuple[str, ...] = ()  # the folders as the library holds them, in the list's order
        self._report: IndexReport | None = None  # the last run's, summed up with the library's skipped count
        self._skipped_files: tuple[tuple[str, str], ...] = ()  # as listed
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
            row.addWidget(compact(b))
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
        row = self.folders.currentRow()
        current = self.roots[row] if 0 <= row < len(self.roots) else None
        self.roots = tuple(st.roots)
        self.folders.clear()
        self.folders.addItems([shown(r) for r in self.roots])
        for i in range(self.folders.count()):
            self.folders.item(i).setToolTip(self.folders.item(i).text())
        if current in self.roots:
            self.folders.setCurrentRow(self.roots.index(current))
        if st.skipped_files != self._skipped_files:  # read again each second while indexing: rebuilt on change only
            self._skipped_files = st.skipped_files
            self.skipped.clear()
            self.skipped.addTopLevelItems([_skip_item(p, r) for p, r in st.skipped_files])
        self.skipped_label.setText(f"Skipped ({st.skipped})" if st.skipped else "Nothing skipped")
        self.skipped.setVisible(bool(st.skipped))
        if self._report is not None and not self._indexing:  # the run's summary counts what the list shows
            self.line.setText(report_words(self._report, st.skipped))
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
        if running:
            self._report = None
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
        """The run's summary; its skipped count follows once the library's status comes."""
        self._report = r
        self.line.setText(report_words(r, None))

    # -- internals -----------------------------------------------------------------------

    def _sync_buttons(self) -> None:
        idle = not self._indexing
        self.remove_button.setEnabled(idle and self.folders.currentItem() is not None)
        self.rescan_button.setEnabled(idle and self.folders.count() > 0)

    def _remove(self) -> None:
        row = self.folders.currentRow()
        if 0 <= row < len(self.roots):
            self.remove_requested.emit(self.roots[row])

    def _pause(self, on: bool) -> None:
        self.pause_requested.emit(on)


def _skip_item(path: str, reason: str) -> QTreeWidgetItem:
    item = QTreeWidgetItem([shown(path), reason])
    item.setToolTip(0, shown(path))
    item.setToolTip(1, reason)
    return item
