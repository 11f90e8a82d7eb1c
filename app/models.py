"""Import model…: take a bundle folder, verify it on a worker, and switch to it.

A bundle written by ``cirsearch-train import-qure`` (or ``export``) is a folder with a
manifest and ONNX graphs. Loading it checks every file's SHA-256 (``engine.bundle``);
an error names the file at fault and is shown as is. A bundle with the same target side
(e.g. a personalized one) replaces the query side at once; another target side means
every photo must be encoded again, so the user is asked first (unless the caller asked
already: "Get the QuRe model" does, and hears :attr:`ModelImport.switched` and
:attr:`ModelImport.failed`). GUI-thread-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from engine.bundle import Bundle, load_bundle
from engine.library import Library, LibraryStatus

from .host import LibraryHost, describe_error
from .indexing import IndexJob


class ModelImportUI(Protocol):
    """What :class:`ModelImport` needs from the window around it (the main window is one).

    Looked up on each use, so a test that replaces ``ask`` or ``warn`` on the window is heard.
    """

    @property
    def opening_folder(self) -> Path:
        """The library folder last opened (or being opened)."""
        ...

    def open_library(self, folder: Path, bundle: Path | None) -> None:
        """Open ``folder`` with the model bundle ``bundle``."""

    def say(self, message: str) -> None:
        """A passing word in the status bar."""

    def ask(self, title: str, text: str) -> bool:
        """A yes/no question."""
        ...

    def warn(self, title: str, text: str) -> None:
        """An error the user must read."""

    def offer_modes(self, st: LibraryStatus) -> None:
        """Offer the search modes the library's (new) model supports."""

    def search_again(self) -> None:
        """Run the query on screen again."""


class ModelImport(QObject):
    switched = Signal(object)  # LibraryStatus: the library uses the new model (re-indexing has started if needed)
    failed = Signal(str)  # load(..., interactive=False) could not switch; the words say why

    def __init__(self, ui: ModelImportUI, parent: QWidget, host: LibraryHost, index_job: IndexJob):
        super().__init__(parent)
        self.ui, self.parent_widget, self.host, self.index_job = ui, parent, host, index_job

    def choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.parent_widget,
                                                  "Choose a model bundle folder (with manifest.json)")
        if folder:
            self.load(Path(folder))

    def load(self, folder: Path, interactive: bool = True) -> None:
        """Verify the bundle in ``folder`` (a worker) and offer to switch to it. Not
        ``interactive``: the user has agreed to re-index already, failures go to ``failed``."""
        if self.host.lib is None:  # no library could be opened without a model: open it with this one
            self.ui.open_library(self.ui.opening_folder, folder)
            return
        if self.index_job.running:
            self._fail(interactive, "Indexing is running", "Cancel indexing first, then import the model.")
            return
        self.ui.say(f"Checking the model in {folder}…")

        def work(lib: Library) -> tuple[Bundle, str, int]:
            b = load_bundle(folder)
            return b, lib.bundle.target_side, lib.status().photos

        self.host.call("read", work, lambda r: self._loaded(r, interactive),
                       lambda e: self._fail(interactive, "This folder is not a usable model", describe_error(e)))

    def _fail(self, interactive: bool, title: str, text: str) -> None:
        if interactive:
            self.ui.warn(title, text)
        else:
            self.failed.emit(text)

    def _loaded(self, r: tuple[Bundle, str, int], interactive: bool) -> None:
        bundle, current_side, photos = r
        reindex = bundle.target_side != current_side
        if reindex and interactive and not self.ui.ask(
                "Re-index with this model?",
                f"{bundle.label} sees photos differently from the model that indexed this library, so all "
                f"{photos:,} photos must be encoded again (this can take a while). Your votes are kept.\n\n"
                "Switch and re-index now?"):
            self.ui.say("Kept the current model.")
            return
        self.host.use_bundle(bundle, reindex, lambda st: self._switched(st, reindex),
                             lambda e: self._fail(interactive, "The model could not be used", describe_error(e)))

    def _switched(self, st: LibraryStatus, reindex: bool) -> None:
        self.ui.say(f"Now using {st.bundle}.")
        self.ui.offer_modes(st)
        if reindex:
            self.index_job.start()
        self.ui.search_again()
        self.switched.emit(st)
