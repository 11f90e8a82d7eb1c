"""The viewer: one photo large inside the window, in place of the grid.

Space, Enter or a double click on a tile opens it; Esc (or Space, or Back) returns to
the grid with that photo selected. It starts fitted to the window; Ctrl+wheel, + and -
zoom by stops (``app.state.viewer.zoom``), 0 fits again, and a zoomed photo is dragged
to pan. Left and right (and up, down, Page Up, Page Down) go to the previous and next
photo of the grid, asking for the next page at the end of what is loaded. Beside the
photo: its path, date, size, camera and score (``Library.details`` and the grid's row),
the vote buttons (the grid's own vote path, ``app.voting``), and Open with the system's
viewer.

The picture is decoded by the engine on a worker (any format the engine reads, upright,
at most :data:`MAX_SIDE` pixels on its long side) and becomes a pixmap on the GUI thread;
the photo after it is read ahead. An answer for a photo no longer shown is kept in a
small cache, never shown. GUI-thread-only, except :func:`picture` (a worker).
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QPainter, QPixmap, QTransform, QWheelEvent
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.state.thumbqueue import LRU
from app.state.viewer import detail_lines, fit_scale, step, zoom
from engine.browse import PhotoDetails
from engine.decode import load_image
from engine.fspath import shown
from engine.library import Library

from .host import LibraryHost, describe_error
from .results_model import ResultsModel, Role

MAX_SIDE = 3000  # the long side of a picture as kept in memory
VOTE_STYLE = {True: "background: rgb(46, 160, 67); color: white;", False: "background: rgb(218, 54, 51); color: white;"}


def picture(lib: Library, photo_id: int) -> tuple[QImage, int, int]:
    """(the picture, at most MAX_SIDE on its long side; its full width and height). A worker."""
    decoded, _ = load_image(lib.photo(photo_id).path, MAX_SIDE // 2, lib.cfg.index.decode)
    im = decoded.image
    if max(im.size) > MAX_SIDE:
        im.thumbnail((MAX_SIDE, MAX_SIDE))
    w, h = im.size
    data = im.tobytes()
    return QImage(data, w, h, 3 * w, QImage.Format.Format_RGB888).copy(), decoded.width, decoded.height


class PhotoView(QGraphicsView):
    """The picture, fitted to the view or zoomed by stops; dragged to pan."""

    zoom_changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.item = QGraphicsPixmapItem()
        self.item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.item)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setBackgroundBrush(QColor(32, 32, 32))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the viewer
        self.fitted = True
        self.scale_now = 1.0

    def set_pixmap(self, pix: QPixmap | None) -> None:
        self.item.setPixmap(pix if pix is not None else QPixmap())
        self.scene().setSceneRect(self.item.boundingRect())
        if self.fitted:
            self.fit()
        else:
            self._apply(self.scale_now)

    def fit(self) -> None:
        self.fitted = True
        size = self.item.pixmap().size()
        area = self.viewport().size()
        self._apply(fit_scale((size.width(), size.height()), (area.width(), area.height())))

    def zoom_by(self, steps: int) -> None:
        self.fitted = False
        self._apply(zoom(self.scale_now, steps))

    def _apply(self, scale: float) -> None:
        self.scale_now = scale
        self.setTransform(QTransform.fromScale(scale, scale))
        if self.fitted:
            self.centerOn(self.item)
        self.zoom_changed.emit()

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        if self.fitted:
            self.fit()

    def wheelEvent(self, e: QWheelEvent) -> None:
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            dy = e.angleDelta().y()
            if dy:
                self.zoom_by(1 if dy > 0 else -1)
            e.accept()
            return
        super().wheelEvent(e)


class PhotoViewer(QWidget):
    closed = Signal(int)  # back to the grid: the row shown last
    vote_requested = Signal(int, bool)  # row, up
    open_requested = Signal(int)  # with the system's viewer

    def __init__(self, host: LibraryHost, model: ResultsModel, parent=None):
        super().__init__(parent)
        self.host, self.model = host, model
        self.row = -1
        self.photo_id: int | None = None
        self.details: PhotoDetails | None = None
        self.original: tuple[int, int] | None = None  # the picture's full size
        self._pictures: LRU[int, tuple[QPixmap, int, int]] = LRU(4)
        self._loading: set[int] = set()
        self._advance = 0  # a step waiting for the next page to arrive
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._build()
        model.modelReset.connect(self._reset)
        model.layoutChanged.connect(self._moved)
        model.dataChanged.connect(self._changed)
        model.rowsInserted.connect(self._inserted)

    def _build(self) -> None:
        self.back_button = QPushButton("← Grid (Esc)")
        self.back_button.clicked.connect(self.close_viewer)
        self.title = QLabel("")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.position = QLabel("")
        top = QHBoxLayout()
        top.addWidget(self.back_button)
        top.addWidget(self.title, 1)
        top.addWidget(self.position)
        self.photo = PhotoView()
        self.photo.zoom_changed.connect(self._show_zoom)
        self.status = QLabel("")
        self.status.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.facts = QFormLayout()
        self.up_button = QPushButton("▲ Thumbs up (U)")
        self.down_button = QPushButton("▼ Thumbs down (D)")
        self.up_button.clicked.connect(lambda: self._vote(True))
        self.down_button.clicked.connect(lambda: self._vote(False))
        zooms = QHBoxLayout()
        self.zoom_label = QLabel("")
        for text, tip, slot in (("−", "Smaller (-, Ctrl+wheel)", lambda: self.photo.zoom_by(-1)),
                                ("Fit", "Fit to the window (0)", self.photo.fit),
                                ("+", "Larger (+, Ctrl+wheel)", lambda: self.photo.zoom_by(1))):
            b = QPushButton(text)
            b.setToolTip(tip)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.clicked.connect(slot)
            zooms.addWidget(b)
        zooms.addWidget(self.zoom_label)
        self.open_button = QPushButton("Open with system viewer")
        self.open_button.clicked.connect(lambda: self.row >= 0 and self.open_requested.emit(self.row))
        side = QVBoxLayout()
        side.addLayout(self.facts)
        side.addSpacing(8)
        side.addWidget(self.up_button)
        side.addWidget(self.down_button)
        side.addSpacing(8)
        side.addLayout(zooms)
        side.addWidget(self.open_button)
        side.addStretch(1)
        panel = QWidget()
        panel.setLayout(side)
        panel.setFixedWidth(270)
        for b in (self.back_button, self.up_button, self.down_button, self.open_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys stay with the viewer
        middle = QHBoxLayout()
        stack = QVBoxLayout()
        stack.addWidget(self.photo, 1)
        stack.addWidget(self.status)
        middle.addLayout(stack, 1)
        middle.addWidget(panel)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addLayout(top)
        box.addLayout(middle, 1)

    # -- showing -------------------------------------------------------------------------

    def show_row(self, row: int) -> None:
        """Show the photo of the grid's ``row``."""
        if not 0 <= row < self.model.rowCount():
            return
        hit = self.model.hit(row)
        self.row, self.photo_id, self.details, self._advance = row, hit.photo_id, None, 0
        self.title.setText(shown(hit.path))
        self.title.setToolTip(shown(hit.path))
        self._show_position()
        self._show_facts()
        self._show_votes()
        cached = self._pictures.get(hit.photo_id)
        if cached is not None:
            self._show_picture(*cached)
        else:
            self.photo.set_pixmap(None)
            self.original = None
            self.status.setText("Loading…")
            self._load(hit.photo_id)
        pid = hit.photo_id
        self.host.call("read", lambda lib: lib.details(pid), lambda d: self._got_details(pid, d),
                       lambda e: self._details_failed(pid, e))
        self.setFocus()

    def _load(self, photo_id: int) -> None:
        if photo_id in self._loading:
            return
        self._loading.add(photo_id)
        self.host.call("read", lambda lib: picture(lib, photo_id), lambda r: self._arrived(photo_id, r),
                       lambda e: self._failed(photo_id, e))

    def _arrived(self, photo_id: int, r: tuple[QImage, int, int]) -> None:
        self._loading.discard(photo_id)
        entry = (QPixmap.fromImage(r[0]), r[1], r[2])
        self._pictures.put(photo_id, entry)
        if photo_id == self.photo_id:
            self._show_picture(*entry)
            self._read_ahead()

    def _failed(self, photo_id: int, e: BaseException) -> None:
        self._loading.discard(photo_id)
        if photo_id == self.photo_id:
            self.status.setText(f"This photo cannot be shown: {describe_error(e)}")

    def _show_picture(self, pix: QPixmap, width: int, height: int) -> None:
        self.original = (width, height)
        self.status.setText("")
        self.photo.fitted = True
        self.photo.set_pixmap(pix)

    def _read_ahead(self) -> None:
        nxt = step(self.row, 1, self.model.rowCount())
        if nxt is not None:
            pid = self.model.hit(nxt).photo_id
            if self._pictures.get(pid) is None:
                self._load(pid)

    def _got_details(self, photo_id: int, d: PhotoDetails) -> None:
        if photo_id == self.photo_id:
            self.details = d
            self._show_facts()

    def _details_failed(self, photo_id: int, e: BaseException) -> None:
        if photo_id == self.photo_id:
            self.status.setText(f"Its details cannot be read: {describe_error(e)}")

    def _show_position(self) -> None:
        n = self.model.rowCount()
        more = "+" if self.model.canFetchMore(QModelIndex()) else ""
        self.position.setText(f"{self.row + 1} of {n}{more}")

    def _show_facts(self) -> None:
        while self.facts.rowCount():
            self.facts.removeRow(0)
        if self.details is None:
            self.facts.addRow(QLabel("Reading its details…"))
            return
        i = self.model.index(self.row)
        lines = detail_lines(self.details, i.data(Role.SCORE), i.data(Role.RANK),
                             i.data(Role.STRONG) if self.model.result is not None else None)
        for label, words in lines:
            value = QLabel(words)
            value.setWordWrap(True)
            value.setTextFormat(Qt.TextFormat.PlainText)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.facts.addRow(f"{label}:", value)

    def _show_votes(self) -> None:
        i = self.model.index(self.row)
        votable = bool(i.data(Role.VOTABLE))
        tile = i.data(Role.VOTE)
        for b, up in ((self.up_button, True), (self.down_button, False)):
            b.setEnabled(votable)
            b.setToolTip("" if votable else "Votes belong to a question: search first")
            given = tile is not None and tile.up == up
            b.setStyleSheet(VOTE_STYLE[up] if given else "")
            b.setText(("▲ Thumbs up (U)" if up else "▼ Thumbs down (D)") + (" …" if given and tile.pending else ""))

    def _show_zoom(self) -> None:
        if self.photo.fitted:
            self.zoom_label.setText("fitted")
            return
        full = self.original[0] if self.original else 0
        shown_w = self.photo.item.pixmap().width()
        pct = self.photo.scale_now * shown_w / full * 100 if full else self.photo.scale_now * 100
        self.zoom_label.setText(f"{pct:.0f} %")

    # -- moving --------------------------------------------------------------------------

    def go(self, delta: int) -> None:
        """The previous (-1) or next (+1) photo of the grid; past the end of what is loaded,
        the next page is asked for and the step is taken when it comes."""
        to = step(self.row, delta, self.model.rowCount())
        if to is not None:
            self.show_row(to)
        elif delta > 0 and self.model.canFetchMore(QModelIndex()):
            self._advance = delta
            self.status.setText("Loading more…")
            self.model.fetchMore(QModelIndex())

    def close_viewer(self) -> None:
        row = self.row
        self.photo.set_pixmap(None)
        self.closed.emit(row)

    def _vote(self, up: bool) -> None:
        if self.row >= 0 and self.model.index(self.row).data(Role.VOTABLE):
            self.vote_requested.emit(self.row, up)

    # -- the model changes ------------------------------------------------------------

    def _reset(self) -> None:
        if self.isVisible():
            self.row = -1
            self.close_viewer()  # another listing: the photo is not in it any more

    def _moved(self) -> None:
        if self.photo_id is not None:
            row = self.model.row_of(self.photo_id)
            if row is not None:
                self.row = row
                self._show_position()

    def _changed(self, top: QModelIndex, bottom: QModelIndex, roles: list) -> None:
        if top.row() <= self.row <= bottom.row() and (not roles or Role.VOTE in roles):
            self._show_votes()

    def _inserted(self, *_) -> None:
        self._show_position()
        if self._advance:
            delta, self._advance = self._advance, 0
            self.go(delta)

    # -- input ---------------------------------------------------------------------------

    def keyPressEvent(self, e: QKeyEvent) -> None:
        k = e.key()
        if k in (Qt.Key.Key_Escape, Qt.Key.Key_Space, Qt.Key.Key_Backspace):
            self.close_viewer()
        elif k in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.go(1)
        elif k in (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.go(-1)
        elif k in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.photo.zoom_by(1)
        elif k == Qt.Key.Key_Minus:
            self.photo.zoom_by(-1)
        elif k == Qt.Key.Key_0:
            self.photo.fit()
        elif k == Qt.Key.Key_U:
            self._vote(True)
        elif k == Qt.Key.Key_D:
            self._vote(False)
        else:
            super().keyPressEvent(e)

    def wheelEvent(self, e: QWheelEvent) -> None:
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.photo.wheelEvent(e)
            return
        super().wheelEvent(e)

