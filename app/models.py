"""Import model…: take a bundle folder, verify it on a worker, and switch to it.

A bundle written by ``cirsearch-train import-qure`` (or ``export``) is a folder with a
manifest and ONNX graphs. Loading it checks every file's SHA-256 (``engine.bundle``);
an error names the file at fault and is shown as is. A bundle with the same target side
(e.g. a personalized one) replaces the query side at once; another target side means
every photo must be encoded again, so the user is asked first. GUI-thread-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from engine.appstate.query import mode_reasons
from engine.bundle import Bundle, load_bundle
from engine.library import Library, LibraryStatus

from .host import LibraryHost, describe_error
from .indexing import IndexJob

if TYPE_CHECKING:
    from .main_window import MainWindow


class ModelImport(QObject):
    def __init__(self, window: "MainWindow", host: LibraryHost, index_job: IndexJob):
        super().__init__(window)
        self.window, self.host, self.index_job = window, host, index_job

    def choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Choose a model bundle folder (with manifest.json)")
        if folder:
            self.load(Path(folder))

    def load(self, folder: Path) -> None:
        """Verify the bundle in ``folder`` (a worker) and offer to switch to it."""
        if self.host.lib is None:  # no library could be opened without a model: open it with this one
            self.window.open_library(self.window.opening_folder, folder)
            return
        if self.index_job.running:
            self.window.warn("Indexing is running", "Cancel indexing first, then import the model.")
            return
        self.window.say(f"Checking the model in {folder}…")

        def work(lib: Library) -> tuple[Bundle, str, int]:
            b = load_bundle(folder)
            return b, lib.bundle.target_side, lib.status().photos

        self.host.call("read", work, self._loaded,
                       lambda e: self.window.warn("This folder is not a usable model", describe_error(e)))

    def _loaded(self, r: tuple[Bundle, str, int]) -> None:
        bundle, current_side, photos = r
        reindex = bundle.target_side != current_side
        if reindex and not self.window.ask(
                "Re-index with this model?",
                f"{bundle.label} sees photos differently from the model that indexed this library, so all "
                f"{photos:,} photos must be encoded again (this can take a while). Your votes are kept.\n\n"
                "Switch and re-index now?"):
            self.window.say("Kept the current model.")
            return
        self.host.use_bundle(bundle, reindex, lambda st: self._switched(st, reindex),
                             lambda e: self.window.warn("The model could not be used", describe_error(e)))

    def _switched(self, st: LibraryStatus, reindex: bool) -> None:
        self.window.say(f"Now using {st.bundle}.")
        self.window.query_bar.set_available(mode_reasons(st.has_text_search))
        if reindex:
            self.index_job.start()
        self.window.search.submit()
