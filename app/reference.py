"""The reference well: the photo a composed or similar search starts from.

A reference arrives by a drop (files from the file manager or tiles from the grid: file
URLs; raw image data from a browser), a paste, the open dialog, or "use as reference" on
a result. It is shown as a small upright preview (made on a worker by
``app.state.preview``) with a clear button. Pasted or dropped image data becomes
PNG bytes on a worker; the engine identifies a reference by the hash of its bytes.
A file URL's path is read from its encoded bytes (:func:`local_path`): Qt's
``toLocalFile`` drops the bytes of a name that is not UTF-8. In *Text only* mode the
well is dimmed and says that the reference is not used. GUI-thread-only.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import unquote_to_bytes, urlsplit

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, Qt, QUrl, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGraphicsOpacityEffect,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
)

from app.state.preview import preview_png
from engine.scanner import IMAGE_EXTENSIONS

from .tasks import TaskRunner

IMAGE_FILTER = f"Images ({' '.join('*' + e for e in sorted(IMAGE_EXTENSIONS))});;All files (*)"
PROMPT = "Drop a photo here\nor paste one (Ctrl+V)"


NOT_USED = "Not used in Text only: the words alone are searched"


def local_path(url: QUrl) -> str | None:
    """The path a local file URL names, its bytes kept (a name that is not UTF-8 comes
    back as Python's str for those bytes); None for any other URL."""
    if not url.isLocalFile():
        return None
    parts = urlsplit(bytes(url.toEncoded().data()).decode("ascii", "replace"))
    if sys.platform.startswith("win") or parts.netloc not in ("", "localhost"):  # a share: Qt's own reading
        return url.toLocalFile()
    return os.fsdecode(unquote_to_bytes(parts.path))


def reference_from_mime(mime: QMimeData) -> str | QImage | None:
    """A local file path or image data from a drop or the clipboard; None if neither."""
    if mime.hasUrls():
        for url in mime.urls():
            path = local_path(url)
            if path is not None and os.path.isfile(path):
                return path
    if mime.hasImage():
        image = mime.imageData()
        if isinstance(image, QImage) and not image.isNull():
            return image
    if mime.hasText():
        text = mime.text().strip()
        if text.startswith("file://"):
            text = local_path(QUrl(text)) or ""
        if text and "\n" not in text and os.path.isfile(os.path.expanduser(text)):
            return os.path.expanduser(text)
    return None


def png_bytes(image: QImage) -> bytes:
    """Any thread: image data as PNG bytes (what the engine hashes and decodes)."""
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buf, "PNG")
    buf.close()
    return bytes(data.data())


class ReferenceWell(QFrame):
    chosen = Signal(object)  # str path or PNG bytes; None when cleared
    failed = Signal(str)

    def __init__(self, tasks: TaskRunner, preview_px: int = 200, parent=None):
        super().__init__(parent)
        self.tasks = tasks
        self.preview_px = preview_px
        self.reference: str | bytes | None = None
        self._serial = 0  # previews of an older reference are dropped
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("referenceWell")
        self.picture = QLabel(PROMPT)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(preview_px, preview_px)
        self.picture.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.picture.setWordWrap(True)
        self.caption = QLabel("")
        self.caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.unused = QLabel(NOT_USED)  # shown in Text only
        self.unused.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.unused.setWordWrap(True)
        self.unused.setVisible(False)
        self.dim = QGraphicsOpacityEffect(self.picture)
        self.dim.setOpacity(0.3)
        self.dim.setEnabled(False)
        self.picture.setGraphicsEffect(self.dim)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Choose a reference photo")
        self.open_button.clicked.connect(self.open_dialog)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Search without a reference photo")
        self.clear_button.clicked.connect(self.clear)
        self.clear_button.setEnabled(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.clear_button)
        title = QLabel("<b>Reference photo</b>")
        box = QVBoxLayout(self)
        box.addWidget(title)
        box.addWidget(self.picture)
        box.addWidget(self.caption)
        box.addWidget(self.unused)
        box.addLayout(buttons)

    # -- ways in -------------------------------------------------------------------------

    def dragEnterEvent(self, e: QDragEnterEvent) -> None:
        if reference_from_mime(e.mimeData()) is not None:
            e.acceptProposedAction()

    def dropEvent(self, e: QDropEvent) -> None:
        if self.take_mime(e.mimeData()):
            e.acceptProposedAction()

    def take_mime(self, mime: QMimeData) -> bool:
        """Use a drop or the clipboard's content; False if it holds no image or image file."""
        ref = reference_from_mime(mime)
        if ref is None:
            return False
        if isinstance(ref, QImage):
            image = ref.copy()  # the clipboard's image may change under us
            self.tasks.run("read", lambda: png_bytes(image), lambda data: self.set_reference(data, "pasted image"))
        else:
            self.set_reference(ref)
        return True

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a reference photo", "", IMAGE_FILTER)
        if path:
            self.set_reference(path)

    def set_reference(self, ref: str | bytes, caption: str | None = None) -> None:
        self.reference = ref
        self._serial += 1
        serial = self._serial
        self.caption.setText(caption or os.path.basename(str(ref)))
        self.caption.setToolTip(str(ref) if isinstance(ref, str) else "")
        self.picture.setText("…")
        self.clear_button.setEnabled(True)
        size = self.preview_px

        def work() -> QImage:
            return QImage.fromData(preview_png(ref, size))

        self.tasks.run("read", work, lambda im: self._show(serial, im), lambda e: self._bad(serial, e))
        self.chosen.emit(ref)

    def set_in_use(self, used: bool) -> None:
        """Whether the search uses the reference (not in Text only): else dimmed, with a note."""
        self.dim.setEnabled(not used)
        self.unused.setVisible(not used)
        self.caption.setEnabled(used)

    def clear(self) -> None:
        self.reference = None
        self._serial += 1
        self.picture.setPixmap(QPixmap())
        self.picture.setText(PROMPT)
        self.caption.setText("")
        self.clear_button.setEnabled(False)
        self.chosen.emit(None)

    def _show(self, serial: int, image: QImage) -> None:
        if serial == self._serial:
            self.picture.setPixmap(QPixmap.fromImage(image))

    def _bad(self, serial: int, e: BaseException) -> None:
        if serial == self._serial:
            self.picture.setText("This file cannot be shown.")
            self.failed.emit(str(e))
