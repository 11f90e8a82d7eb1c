"""The main window: reference and library on the left, query bar and results on the right.

It builds the parts, connects them and keeps the window's state in QSettings. All work
goes through :class:`app.host.LibraryHost` (workers); the window only shows answers.
GUI-thread-only.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from PySide6.QtCore import QMimeData, QSettings, Qt, QUrl
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.state.learn import model_words
from app.state.places import bundle_for, demo_places
from app.state.query import Mode, mode_reasons
from app.state.settings import AppSettings, from_mapping
from app.state.window import default_size, header_words
from engine.demo import example_queries
from engine.errors import BundleMismatchError
from engine.fspath import shown
from engine.library import LibraryConfig, LibraryStatus, SearchResult
from engine.runtime import RuntimeConfig

from .browse_bar import BrowseBar
from .browsing import Browsing
from .demo_setup import DemoSetup
from .get_model import GetModel, GetModelDialog
from .help import HelpMenu
from .host import LibraryHost, describe_error
from .indexing import IndexJob
from .layout import compact
from .learn_panel import LearnBar, LearnDialog, LearnUI
from .learning import LearnController
from .library_panel import LibraryPanel, files_in, remove_question
from .models import ModelImport
from .options import Options
from .query_bar import QueryBar
from .reference import ReferenceWell, local_path
from .results_model import ResultsModel
from .results_view import ResultsView
from .reveal import file_url, no_program, reveal
from .search import SearchController
from .thumbs import Thumbnails
from .viewer import PhotoViewer
from .voting import VoteController
from .watching import FolderWatcher

PREFS = "prefs"
HEADER_MIN = 140  # pixels for the results header: three or four lines in an 800-pixel window
# What the status bar's precision means (the model's graphs that run, engine.runtime).
PRECISION_TIPS = {
    "int8": "The model runs with 8-bit weights: about twice as fast on a CPU, checked against full precision "
            "when they were made",
    "fp16": "The model runs in half precision on the GPU",
    "fp32": "The model runs in full precision",
}


def make_settings(options: Options) -> QSettings:
    if options.settings_file is not None:
        return QSettings(str(options.settings_file), QSettings.Format.IniFormat)
    return QSettings()


def read_prefs(s: QSettings) -> AppSettings:
    s.beginGroup(PREFS)
    values = {k: s.value(k) for k in s.childKeys()}
    s.endGroup()
    return from_mapping(values)


class MainWindow(QMainWindow):
    def __init__(self, options: Options, settings: QSettings | None = None):
        super().__init__()
        self.options = options
        self.settings = settings if settings is not None else make_settings(options)
        self.prefs = read_prefs(self.settings)
        self.host = LibraryHost(self)
        self.index_job = IndexJob(self.host, self)
        self.watcher = FolderWatcher(self.host, self.index_job, self.prefs.watch_folders, self.prefs.rescan_minutes,
                                     self)
        self.thumbs = Thumbnails(self.host, self.prefs.tile_px, self.prefs.thumb_memory, self)
        self.model = ResultsModel(self.thumbs)
        self.votes = VoteController(self.host, self.model, self)
        self.search = SearchController(self.host, self.prefs.debounce_ms, self.prefs.results, self)
        self.demo = DemoSetup(self.host.tasks, self)
        self.models = ModelImport(ui=self, parent=self, host=self.host, index_job=self.index_job)
        self.get_model = GetModel(self.models, self)
        self.learn = LearnController(self.host, self.index_job, self)
        self.open_url = QDesktopServices.openUrl  # tests put a recorder here
        self.result: SearchResult | None = None
        self._closed = False
        self._had_query = False  # words or a reference were restored: the demo's example does not replace them
        self.no_program_box: QMessageBox | None = None  # the last "no program is registered" notice
        self._demo_to_index: Path | None = None  # demo photos to index once their library is open
        self._demo_indexing: Path | None = None  # demo photos being indexed: an example query follows
        self._opening: tuple[Path, Path | None] = (options.library, options.bundle)
        self._build()
        self._menus()
        self._connect()
        self._restore()

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        self.setWindowTitle("cirsearch")
        self.well = ReferenceWell(self.host.tasks)
        self.panel = LibraryPanel()
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.well)
        left.addWidget(self.panel)
        left.setStretchFactor(1, 1)
        self.query_bar = QueryBar()
        self.header = QLabel("")
        self.header.setWordWrap(True)
        self.header.setMinimumWidth(HEADER_MIN)  # the controls beside it give way first
        self.undo_button = compact(QPushButton("Undo vote"))
        self.undo_button.setToolTip("Take back your last vote (Ctrl+Z)")
        self.undo_button.setEnabled(False)
        self.view = ResultsView(self.prefs.tile_px)
        self.view.setModel(self.model)
        head = QHBoxLayout()
        head.addWidget(self.header, 1)
        self.learn_bar = LearnBar()
        head.addWidget(self.learn_bar)
        head.addWidget(self.undo_button)
        self.learn_dialog = LearnDialog(self)
        right = QWidget()
        box = QVBoxLayout(right)
        box.addWidget(self.query_bar)
        box.addLayout(head)
        self.browse_bar = BrowseBar(self.prefs.tile_px)  # order, folder, dates, thumbnail size
        self.viewer = PhotoViewer(self.host, self.model)
        self.pages = QStackedWidget()  # the grid, or one photo large
        self.pages.addWidget(self.view)
        self.pages.addWidget(self.viewer)
        box.addWidget(self.browse_bar)
        box.addWidget(self.pages, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([300, 900])
        self.setCentralWidget(self.splitter)
        self.model_label = QLabel("")
        self.device_label = QLabel("")
        self.device_label.setContentsMargins(12, 0, 4, 0)
        self.statusBar().addPermanentWidget(self.model_label)
        self.statusBar().addPermanentWidget(self.device_label)

    def _menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        self._action(file, "Open library folder…", self._choose_library)
        self._action(file, "Open the demo library", self.start_demo)
        file.addSeparator()
        self._action(file, "Quit", self.close, QKeySequence.StandardKey.Quit)
        edit = self.menuBar().addMenu("&Edit")
        self.undo_action = self._action(edit, "Undo vote", self.votes.undo, QKeySequence.StandardKey.Undo)
        self._action(edit, "Paste reference", self._paste, "Ctrl+Shift+V")
        self._action(edit, "Choose reference…", self.well.open_dialog, QKeySequence.StandardKey.Open)
        lib = self.menuBar().addMenu("&Library")
        self._action(lib, "Add folder…", self._add_folder)
        self._action(lib, "Rescan folders", lambda: self.index_job.start())
        model = self.menuBar().addMenu("&Model")
        self.get_model_dialog = GetModelDialog(self.get_model, self)
        self.get_model.message.connect(self.say)
        self._action(model, "Get the QuRe model…", self.get_model_dialog.open_flow)
        self._action(model, "Import model…", self.models.choose)
        model.addSeparator()
        self.learn_ui = LearnUI(self.learn, self.learn_bar, self.learn_dialog, model.addAction("Learn from my votes…"),
                                model.addAction("Roll back"), lambda: self.search.submit(), self)
        self.help = HelpMenu(self.menuBar().addMenu("&Help"), self.menuBar(), self.host, self)  # the last menu

    def _action(self, menu, text: str, slot, shortcut=None) -> QAction:
        a = menu.addAction(text)
        a.triggered.connect(lambda *_: slot())
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        return a

    def _connect(self) -> None:
        h = self.host
        h.opened.connect(self._opened)
        h.open_failed.connect(self._open_failed)
        h.status_changed.connect(self._status)
        h.error.connect(self.say)
        self.well.chosen.connect(self.search.set_reference)
        self.well.failed.connect(lambda m: self.say(f"That reference cannot be read: {m}"))
        self.query_bar.text_changed.connect(self.search.set_text)
        self.query_bar.mode_changed.connect(self.search.set_mode)
        self.query_bar.mode_changed.connect(lambda m: self.well.set_in_use(m is not Mode.TEXT))
        self.query_bar.image_pasted.connect(self.well.take_mime)
        s = self.search
        s.answered.connect(self._answered)
        s.idle.connect(self._idle)
        s.failed.connect(self._search_failed)
        s.busy_changed.connect(self.query_bar.set_busy)
        self.thumbs.ready.connect(self.model.thumbnail_ready)
        self.votes.message.connect(self.say)
        self.votes.message.connect(lambda _: self.learn.refresh())  # a vote changes what there is to learn from
        self.learn.message.connect(self.say)
        self.learn.facts_changed.connect(lambda _: self._show_model())
        self.votes.undo_available.connect(self.undo_button.setEnabled)
        self.undo_button.clicked.connect(self.votes.undo)
        v = self.view
        v.vote_requested.connect(self.votes.vote)
        v.open_requested.connect(lambda r: self.open_with_system(self.model.hit(r).path))
        v.reveal_requested.connect(lambda r: self.reveal_in_folder(self.model.hit(r).path))
        v.copy_requested.connect(self._copy_path)
        v.reference_requested.connect(lambda r: self.well.set_reference(self.model.hit(r).path))
        v.similar_requested.connect(self._similar)
        self._connect_library()
        self.browsing = Browsing(self)  # the library listed, more pages, the viewer, tile sizes

    def _connect_library(self) -> None:
        p, j = self.panel, self.index_job
        p.add_requested.connect(self._add_folder)
        p.remove_requested.connect(self._confirm_remove)
        j.status.connect(p.show_status)  # while indexing: the new folder at once, the count as it grows
        p.rescan_requested.connect(lambda: j.start())
        p.pause_requested.connect(lambda on: j.pause() if on else j.resume())
        p.cancel_requested.connect(j.cancel)
        j.started.connect(lambda: p.set_indexing(True))
        j.progress.connect(lambda pr: p.show_progress(pr, j.paused))
        j.paused_changed.connect(lambda paused: p.show_paused(paused, j.last))
        j.finished.connect(self._indexed)
        j.failed.connect(lambda e: (p.set_indexing(False), self.say(f"Indexing stopped: {describe_error(e)}")))
        p.set_watching(self.prefs.watch_folders)
        p.watch_toggled.connect(self._set_watching)
        self.watcher.words_changed.connect(p.show_watching)
        self.demo.progress.connect(self._demo_progress)
        self.demo.ready.connect(self._demo_ready)
        self.demo.failed.connect(self._fail)

    # -- starting ------------------------------------------------------------------------

    def start(self) -> None:
        """Open the library (or set up the demo) in the background."""
        if self.options.demo:
            self.start_demo()
        else:
            self.open_library(self.options.library, bundle_for(self.options.library, self.options.bundle))

    def config(self) -> LibraryConfig:
        return LibraryConfig(runtime=RuntimeConfig(device=self.prefs.device, threads=self.prefs.model_threads,
                                                   precision=self.prefs.precision),
                             thumbnail_size=self.prefs.tile_px)

    def open_library(self, folder: Path, bundle: Path | None, reindex: bool = False) -> None:
        self.index_job.cancel()  # the library in use closes once its indexing has stopped
        self.learn.drop()
        self._demo_to_index = None
        self._opening = (folder, bundle)
        self.thumbs.reset()
        self.model.set_result(None)
        self.view.set_message("Opening the library…")
        self.host.open(folder, bundle, self.config(), reindex)

    def start_demo(self) -> None:
        places = demo_places(self.options.library if self.options.demo else None)
        if self.options.bundle is not None:
            places = dataclasses.replace(places, bundle=self.options.bundle)
        self.view.set_message("Setting up the demo library…")
        self.demo.start(places, self.options.demo_photos)

    def _demo_progress(self, done: int, total: int) -> None:
        self.panel.set_indexing(True)
        self.panel.bar.setRange(0, total)
        self.panel.bar.setValue(done)
        self.panel.line.setText(f"Drawing the demo photos: {done} of {total}")
        self.view.set_message("Drawing the demo photos (first run only)…")

    def _demo_ready(self, places) -> None:
        self.panel.set_indexing(False)
        self.open_library(places.library, places.bundle, reindex=True)  # a demo library follows the demo model
        self._demo_to_index = places.photos

    def _opened(self, st: LibraryStatus) -> None:
        self._status(st)
        self.offer_modes(st)
        demo, self._demo_to_index = self._demo_to_index, None
        if demo is not None:
            self._demo_indexing = demo if self.index_job.start([demo]) else None
        elif st.roots and (self.options.index_on_open if self.options.index_on_open is not None
                           else self.prefs.index_on_open):
            self.index_job.start()
        if not st.roots and demo is None:
            self.view.set_message("This library has no folders yet.\nLibrary → Add folder… to index your photos, "
                                  "or File → Open the demo library.")
        else:
            self.search.submit()

    def offer_modes(self, st: LibraryStatus) -> None:
        """Offer the search modes the library's model supports."""
        self.query_bar.set_available(mode_reasons(st.has_text_search))

    def search_again(self) -> None:
        self.search.submit()

    @property
    def opening_folder(self) -> Path:
        """The library folder last opened (or being opened)."""
        return self._opening[0]

    def _open_failed(self, e: BaseException) -> None:
        folder, bundle = self._opening
        if isinstance(e, BundleMismatchError) and self.ask(
                "Re-index with this model?",
                f"{e}\n\nRe-index now? Every photo is encoded again; your votes are kept."):
            self.host.open(folder, bundle, self.config(), reindex=True)
            return
        self._fail(f"The library in {folder} cannot be opened: {describe_error(e)}")

    def _indexed(self, report) -> None:
        self.panel.set_indexing(False)
        self.panel.show_report(report)
        demo, self._demo_indexing = self._demo_indexing, None
        if demo is not None and not report.cancelled and not self._had_query:  # the user's own query stays
            self.host.tasks.run("read", lambda: example_queries(demo), self._example, self._no_example)
        else:
            self.search.submit()  # new photos may answer the query on screen

    def _no_example(self, e: BaseException) -> None:
        self.say(f"No example query to show: {describe_error(e)}")
        self.search.submit()

    def _example(self, queries) -> None:
        q = queries[self.options.example % len(queries)]
        self.query_bar.set_mode(Mode.COMPOSED)
        self.query_bar.edit.setText(q.text)
        self.well.set_reference(str(q.reference))  # searches at once

    # -- showing -------------------------------------------------------------------------

    def _status(self, st: LibraryStatus) -> None:
        self.panel.show_status(st)
        self._show_model()
        self.model_label.setToolTip(st.bundle_path)
        where = "GPU (CUDA)" if st.device == "cuda" else "CPU"
        self.device_label.setText(f"Running on {where}" + ("" if st.precision == "fp32" else f" ({st.precision})"))
        self.device_label.setToolTip(PRECISION_TIPS.get(st.precision.split()[0], ""))
        self.learn.refresh()

    def _show_model(self) -> None:
        st, facts = self.host.status, self.learn.facts
        if st is not None:
            personalized = facts is not None and facts.personalized and facts.model == st.bundle
            label = facts.base_label if personalized and facts.base_label else st.bundle
            self.model_label.setText(model_words(label, st.demo_model, personalized))

    def _answered(self, result: SearchResult, stored: list, note: str) -> None:
        self.result = result
        self.votes.show(result, stored)
        self.model.set_result(result, self.search.dates)
        n, cut = len(result.hits), result.cutoff
        if n == 0:
            self.header.setText(note)
            self.view.set_message("No photos to show yet: add a folder, or wait for indexing.")
            return
        st = self.host.status
        head = header_words(n, cut, self.search.query.k, st.photos if st is not None else None)
        self.header.setText(head + (f" — {note}" if note else ""))
        self.view.scrollToTop()

    def _idle(self, note: str) -> None:
        self.result = None
        self.model.set_result(None)
        self.header.setText("")
        self.view.set_message(note)

    def _search_failed(self, message: str) -> None:
        self.model.set_result(None)
        self.header.setText("")
        self.view.set_message(f"The search failed: {message}")

    def say(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def _fail(self, message: str) -> None:
        self.view.set_message(message)
        self.say(message)

    def ask(self, title: str, text: str) -> bool:
        """A yes/no question (tests replace this)."""
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def warn(self, title: str, text: str) -> None:
        """An error the user must read (tests replace this)."""
        QMessageBox.warning(self, title, text)

    # -- actions -------------------------------------------------------------------------

    def _choose_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open or create a library folder")
        if folder:
            self.open_library(Path(folder), bundle_for(folder, None))

    def _add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder of photos")
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        if not self.index_job.start([folder]):
            self.say("Indexing is running: add the folder when it is done (or cancel it).")

    def _set_watching(self, on: bool) -> None:
        self.prefs = dataclasses.replace(self.prefs, watch_folders=on)
        self.settings.setValue(f"{PREFS}/watch_folders", on)
        self.watcher.set_enabled(on)

    def _remove_folder(self, folder: str) -> None:
        self.host.call("write", lambda lib: lib.remove_root(folder),
                       lambda _: (self.host.refresh(), self.search.submit()))

    def _confirm_remove(self, folder: str) -> None:
        """Remove asks first, naming the folder and how many photos it takes out (counted on a worker)."""
        self.host.call("read", lambda lib: files_in(lib, folder), lambda n: self._ask_remove(folder, n))

    def _ask_remove(self, folder: str, files: int) -> None:
        if self.ask("Remove this folder from the library?", remove_question(folder, files)):
            self._remove_folder(folder)

    def open_with_system(self, path: str) -> None:
        """Open the photo in the system's viewer; say so, with the path, when none is registered."""
        if not self.open_url(file_url(path)):
            self._no_program("open", path)

    def reveal_in_folder(self, path: str) -> None:
        if not reveal(path, self.open_url):
            self._no_program("reveal", path)

    def _no_program(self, what: str, path: str) -> None:
        self.say(("No program is registered to open " if what == "open" else "No file manager to show ") + shown(path))
        self.no_program_box = no_program(self, what, path)

    def _copy_path(self, rows: list[int]) -> None:
        """Copy path and Ctrl+C: the paths of ``rows`` (the view's selection)."""
        if rows:
            self.copy_paths([self.model.hit(r).path for r in rows])

    def copy_paths(self, paths: list[str]) -> None:
        """Put ``paths`` on the clipboard: as text, one per line (a name that is not UTF-8 with
        escapes), and as file URLs (the exact bytes) for file managers."""
        mime = QMimeData()
        mime.setText("\n".join(shown(p) for p in paths))
        mime.setUrls([file_url(p) for p in paths])
        QGuiApplication.clipboard().setMimeData(mime)
        self.say(f"Copied {shown(paths[0])}" if len(paths) == 1 else f"Copied {len(paths)} paths, one per line")

    def _similar(self, row: int) -> None:
        self.query_bar.set_mode(Mode.SIMILAR)
        self.well.set_reference(self.model.hit(row).path)

    def _paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None or not self.well.take_mime(mime):
            self.say("The clipboard holds no image and no image file.")

    # -- state ---------------------------------------------------------------------------

    def _restore(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:  # a share of the screen: the status bar stays on a small one
            free = self.screen().availableGeometry()
            self.resize(*default_size(free.width(), free.height()))
        split = s.value("window/splitter")
        if split is not None:
            self.splitter.restoreState(split)
        try:
            self.query_bar.set_mode(Mode(s.value("search/mode", self.prefs.mode)))
        except ValueError:
            pass
        self._restore_query(str(s.value("search/text", "") or ""), str(s.value("search/reference", "") or ""))

    def _restore_query(self, text: str, reference: str) -> None:
        """The last words and reference photo (a file URL: a name that is not UTF-8 keeps its
        bytes); a reference file that is gone is left out (looked for on a worker)."""
        self._had_query = bool(text or reference)
        if text:
            self.query_bar.edit.setText(text)
        path = local_path(QUrl(reference)) if reference else None
        if path:
            self.host.tasks.run("read", lambda: os.path.isfile(path),
                                lambda there: there and self.well.reference is None and self.well.set_reference(path))

    def save_state(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/splitter", self.splitter.saveState())
        s.setValue("search/mode", self.query_bar.mode.value)
        s.setValue("search/text", self.query_bar.edit.text())
        ref = self.well.reference
        s.setValue("search/reference", bytes(file_url(ref).toEncoded().data()).decode("ascii")
                   if isinstance(ref, str) else "")  # a pasted image is not kept
        s.sync()

    def closeEvent(self, e: QCloseEvent) -> None:
        if not self._closed:
            self._closed = True
            self.save_state()
            self.hide()
            self.index_job.cancel()
            self.index_job.wait(30)
            self.watcher.shutdown()
            self.learn.shutdown()
            self.get_model.shutdown()
            self.thumbs.close()
            self.host.shutdown()
        super().closeEvent(e)
