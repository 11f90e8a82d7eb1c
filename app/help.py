"""The Help menu: keyboard shortcuts, the model in use (its card), and About.

The shortcuts are the menus' own (read from their actions, so a new one is listed as
it is added) and the grid's keys. The card comes from the model's manifest, read on a
worker (``app.state.model_card`` puts it into words). Each opens a small window that
does not block the main one; its text can be selected and copied. GUI-thread-only,
except :func:`card_of` (a worker).
"""

from __future__ import annotations

import html
import platform
from importlib import metadata

import PySide6
from PySide6.QtCore import QObject, qVersion
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QMenu, QMenuBar, QTextBrowser, QVBoxLayout, QWidget

from app.state.model_card import Card, model_card
from engine import __version__
from engine.bundle import find_base
from engine.library import Library

from .host import LibraryHost, describe_error

# Keys the results grid and the text field take (the menus' shortcuts are read from them).
GRID_KEYS = (
    ("U or +", "Thumbs up on the selected photo (the same again takes it back); on several, each gets it"),
    ("D or −", "Thumbs down on the selected photo; on several, each gets it"),
    ("Space, Enter, double-click", "View the photo large; in the viewer: ← → the previous and next, + − and "
                                   "Ctrl+wheel zoom, 0 fits, U and D vote, Esc or Space back to the grid"),
    ("Shift-click, Ctrl-click, Ctrl+A", "Select several photos (they drag out together as files)"),
    ("Ctrl+wheel, Ctrl++ and Ctrl+−", "Larger and smaller thumbnails"),
    ("Ctrl+C", "Copy the selected photos' paths (one per line)"),
    ("Ctrl+V in the text field", "An image or an image file on the clipboard becomes the reference; words are "
                                 "pasted as words"),
    ("Ctrl+Z in the text field", "Undo typing (outside it, Ctrl+Z takes back your last vote)"),
)
ABOUT = ("Composed image retrieval on your own photos: give a photo and say how the one you want differs, and "
         "your photos come back ranked. Everything runs on this computer.")


def menu_shortcuts(bar: QMenuBar) -> list[tuple[str, str]]:
    """(keys, "Menu → Action") of every menu action that has a shortcut, in menu order."""
    rows = []
    for top in bar.actions():
        menu = top.menu()
        if not isinstance(menu, QMenu):
            continue
        for a in menu.actions():
            if not a.shortcut().isEmpty():
                where = f"{top.text()} → {a.text()}".replace("&", "")
                rows.append((a.shortcut().toString(QKeySequence.SequenceFormat.NativeText), where))
    return rows


def card_of(lib: Library) -> Card:
    """A worker: the card of the model the library uses."""
    b = lib.bundle
    base = find_base(b) if b.manifest.parent else None
    return model_card(b.manifest, str(b.root), base.manifest if base is not None else None)


def _table(rows) -> str:
    cells = "".join(f"<tr><td style='padding:2px 12px 2px 0'><b>{html.escape(k)}</b></td>"
                    f"<td style='padding:2px 0'>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{cells}</table>"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


class InfoWindow(QDialog):
    """A small window of selectable text with a Close button; it does not block the main window."""

    def __init__(self, title: str, parent: QWidget):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        self.text = QTextBrowser()
        self.text.setOpenExternalLinks(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.hide)
        box = QVBoxLayout(self)
        box.addWidget(self.text)
        box.addWidget(buttons)
        self.resize(560, 420)

    def show_html(self, body: str) -> None:
        self.text.setHtml(body)
        self.show()  # a child window: it stays above the main one


class HelpMenu(QObject):
    def __init__(self, menu: QMenu, bar: QMenuBar, host: LibraryHost, window: QWidget):
        super().__init__(window)
        self.host, self.bar = host, bar
        self.keys_window = InfoWindow("Keyboard shortcuts", window)
        self.model_window = InfoWindow("The model in use", window)
        self.about_window = InfoWindow("About cirsearch", window)
        self._card_request = 0  # an older answer is dropped
        keys = menu.addAction("Keyboard shortcuts")
        keys.setShortcut(QKeySequence(QKeySequence.StandardKey.HelpContents))
        keys.triggered.connect(lambda *_: self.show_keys())
        menu.addAction("The model in use…").triggered.connect(lambda *_: self.show_model())
        menu.addSeparator()
        menu.addAction("About cirsearch").triggered.connect(lambda *_: self.show_about())

    def show_keys(self) -> None:
        self.keys_window.show_html("<h3>In the menus</h3>" + _table(menu_shortcuts(self.bar))
                                   + "<h3>In the results and the text field</h3>" + _table(GRID_KEYS))

    def show_model(self) -> None:
        self._card_request += 1
        request = self._card_request
        if self.host.call("read", card_of, lambda card: self._card(request, card),
                          lambda e: self._card(request, None, describe_error(e))) is None:
            self.model_window.show_html("<p>No library is open, so no model is in use.</p>")
            return
        self.model_window.show_html("<p>Reading the model's manifest…</p>")

    def _card(self, request: int, card: Card | None, error: str = "") -> None:
        if request != self._card_request:
            return
        if card is None:
            self.model_window.show_html(f"<p>The model's manifest cannot be read: {html.escape(error)}</p>")
        else:
            self.model_window.show_html(f"<h3>{html.escape(card.title)}</h3>" + _table(card.rows))

    def show_about(self) -> None:
        st = self.host.status
        rows = [("Version", f"cirsearch {__version__}"),
                ("License", "BSD-3-Clause"),
                ("Runs on", f"Python {platform.python_version()}, Qt {qVersion()} (PySide6 {PySide6.__version__}), "
                            f"ONNX Runtime {_version('onnxruntime')}")]
        if st is not None:
            rows.append(("Library", st.folder))
        self.about_window.show_html(f"<h3>cirsearch {html.escape(__version__)}</h3><p>{html.escape(ABOUT)}</p>"
                                    + _table(rows))
