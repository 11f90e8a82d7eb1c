"""The results grid: a virtualized QListView of tiles, the divider, votes on hover.

The view lays tiles out in rows (list mode, left to right, wrapping, uniform sizes:
Qt computes positions arithmetically, so 100k rows cost no per-row layout). It paints
only what is visible, and the model fetches thumbnails only for what is painted.

- The steep-drop cut-off is a line through the grid between the last strong match and
  the first weaker one (``app.state.grid.divider``), labelled, while the hits are in the
  order of their scores; weaker tiles are drawn dimmer.
- Hovering a tile of a search shows thumbs-up/down buttons; U or + and D or - vote on
  the selected tiles (on several: each gets that vote, one per photo); the library's
  listing (no query) has nothing to vote on.
- Space, Enter or a double click shows the photo in the viewer (``app.viewer``); the
  context menu opens it with the system's viewer, reveals it in its folder, copies the
  paths of the selected tiles (Ctrl+C too), uses it as the reference or finds similar ones.
- Selection is extended (Shift and Ctrl click, Ctrl+A); the selected tiles drag out
  together as file URLs.
- Ctrl+wheel and Ctrl+plus/minus ask for larger or smaller tiles (``zoom_requested``).
GUI-thread-only.
"""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QContextMenuEvent,
    QDrag,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
    QPolygonF,
    QWheelEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QListView, QMenu, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from app.state.grid import divider
from app.state.votes import TileVote

from .results_model import Role

UP_COLOR = QColor(46, 160, 67)
DOWN_COLOR = QColor(218, 54, 51)
DIVIDER_COLOR = QColor(233, 120, 20)
PAD = 6  # left and right of the image
TOP = 10  # above the image
NAME_H = 20  # the file name under the image
BOTTOM = 10  # below the name: room for the divider's tag between rows
BUTTON = 28


def tile_size(tile_px: int) -> QSize:
    return QSize(tile_px + 2 * PAD, TOP + tile_px + NAME_H + BOTTOM)


def image_rect(cell: QRect, tile_px: int) -> QRect:
    """The image's square in a cell, centred across (cells widen to fill the row)."""
    return QRect(cell.left() + (cell.width() - tile_px) // 2, cell.top() + TOP, tile_px, tile_px)


def vote_buttons(cell: QRect, tile_px: int) -> tuple[QRect, QRect]:
    """Where the thumbs-up and thumbs-down buttons of a tile sit (top right of its image)."""
    img = image_rect(cell, tile_px)
    down = QRect(img.right() - BUTTON - 3, img.top() + 4, BUTTON, BUTTON)
    up = down.translated(-BUTTON - 4, 0)
    return up, down


def _thumb(painter: QPainter, rect: QRect, up: bool, fill: QColor, fg: QColor, dashed: bool = False) -> None:
    """A round button with a triangle pointing up (a yes) or down (a no)."""
    painter.setPen(QPen(fg, 1.5, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine))
    painter.setBrush(QBrush(fill))
    painter.drawEllipse(QRectF(rect).adjusted(1, 1, -1, -1))
    c, r = QRectF(rect).center(), rect.width() * 0.22
    dy = -1 if up else 1
    tri = QPolygonF([QPointF(c.x(), c.y() + dy * r), QPointF(c.x() - r, c.y() - dy * r * 0.7),
                     QPointF(c.x() + r, c.y() - dy * r * 0.7)])
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QBrush(fg))
    painter.drawPolygon(tri)


def drag_picture(thumb: QPixmap | None, count: int, pal: QPalette, side: int = 96) -> QPixmap:
    """What follows the pointer while tiles are dragged: a thumbnail, and a count when several go."""
    pix = QPixmap(side, side)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    if thumb is not None and not thumb.isNull():
        img = thumb.scaled(side - 8, side - 8, Qt.AspectRatioMode.KeepAspectRatio,
                           Qt.TransformationMode.SmoothTransformation)
        p.drawPixmap((side - img.width()) // 2, (side - img.height()) // 2, img)
    else:
        p.setBrush(pal.color(QPalette.ColorRole.Midlight))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRoundedRect(QRectF(4, 4, side - 8, side - 8), 6, 6)
    if count > 1:
        badge = QRectF(side - 40, side - 26, 38, 24)
        p.setBrush(pal.color(QPalette.ColorRole.Highlight))
        p.setPen(Qt.PenStyle.NoPen)
        p.drawRoundedRect(badge, 12, 12)
        p.setPen(pal.color(QPalette.ColorRole.HighlightedText))
        p.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(count))
    p.end()
    return pix


def _data(index: QModelIndex, role: int):
    """``index.data(role)`` asked of the Python model directly: no QVariant round trip.

    Cheaper, and safe where a binding mishandles invalid QVariants (PySide6 6.12.0 on
    Python 3.11 loses a reference to None on each; see ``app.main.binding_problem``).
    """
    return index.model().data(index, role)


class TileDelegate(QStyledItemDelegate):
    def __init__(self, tile_px: int, parent=None):
        super().__init__(parent)
        self.tile_px = tile_px

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return tile_size(self.tile_px)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        cell = option.rect
        pal = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hover = bool(option.state & QStyle.StateFlag.State_MouseOver)
        if not _data(index, Role.STRONG):
            painter.setOpacity(0.55)
        card = QRectF(image_rect(cell, self.tile_px)).adjusted(-PAD + 2, -4, PAD - 2, NAME_H + 4)
        painter.setPen(QPen(pal.color(QPalette.ColorRole.Highlight), 2) if selected else Qt.PenStyle.NoPen)
        painter.setBrush(pal.color(QPalette.ColorRole.AlternateBase) if hover or selected else Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(card, 6, 6)
        self._paint_image(painter, cell, index, pal)
        img = image_rect(cell, self.tile_px)
        name_rect = QRect(img.left(), img.bottom() + 3, self.tile_px, NAME_H - 2)
        painter.setPen(pal.color(QPalette.ColorRole.Text))
        name = option.fontMetrics.elidedText(
            str(_data(index, Qt.ItemDataRole.DisplayRole) or ""), Qt.TextElideMode.ElideMiddle, self.tile_px
        )
        painter.drawText(name_rect, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter, name)
        painter.setOpacity(1.0)
        if _data(index, Role.VOTABLE):
            self._paint_votes(painter, cell, _data(index, Role.VOTE), hover)
        painter.restore()

    def _paint_image(self, painter: QPainter, cell: QRect, index: QModelIndex, pal: QPalette) -> None:
        img = image_rect(cell, self.tile_px)
        pix = _data(index, Qt.ItemDataRole.DecorationRole)
        if pix is not None and not pix.isNull():
            size = pix.size().scaled(img.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(QPoint(0, 0), size)
            target.moveCenter(img.center())
            painter.drawPixmap(target, pix)
            return
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(pal.color(QPalette.ColorRole.Midlight))
        painter.drawRoundedRect(QRectF(img).adjusted(8, 8, -8, -8), 4, 4)
        if _data(index, Role.BROKEN):
            painter.setPen(pal.color(QPalette.ColorRole.Text))
            painter.drawText(img, Qt.AlignmentFlag.AlignCenter, "cannot be shown")

    def _paint_votes(self, painter: QPainter, cell: QRect, vote: TileVote | None, hover: bool) -> None:
        up_r, down_r = vote_buttons(cell, self.tile_px)
        if hover:
            for rect, up, color in ((up_r, True, UP_COLOR), (down_r, False, DOWN_COLOR)):
                active = vote is not None and vote.up == up
                _thumb(
                    painter,
                    rect,
                    up,
                    color if active else QColor(0, 0, 0, 150),
                    QColor("white"),
                    dashed=active and vote.pending,
                )
        elif vote is not None:
            badge = QRect(image_rect(cell, self.tile_px).topLeft() + QPoint(4, 4), QSize(BUTTON - 4, BUTTON - 4))
            _thumb(painter, badge, vote.up, UP_COLOR if vote.up else DOWN_COLOR, QColor("white"), dashed=vote.pending)


class ResultsView(QListView):
    vote_requested = Signal(int, bool)  # row, up
    view_requested = Signal(int)  # show the photo in the viewer
    open_requested = Signal(int)  # open it with the system's viewer
    reveal_requested = Signal(int)
    copy_requested = Signal(list)  # rows whose paths to copy
    reference_requested = Signal(int)
    similar_requested = Signal(int)
    zoom_requested = Signal(int)  # steps: +1 larger tiles, -1 smaller

    def __init__(self, tile_px: int, parent=None):
        super().__init__(parent)
        self.tile_px = tile_px
        self.message = ""
        self.delegate = TileDelegate(tile_px, self)
        self.setItemDelegate(self.delegate)
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setGridSize(tile_size(tile_px))
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        # A new listing is laid out in batches (a 100,000-row result keeps the window
        # answering); rows added at the end in one pass: Qt lays a list view out again from
        # its first row on every insertion, and batches would shrink the scroll range
        # for a moment, pulling the view back from where the user scrolled to.
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)  # steady width: no relayout flicker
        self.verticalScrollBar().setSingleStep(tile_size(tile_px).height() // 3)
        self.setMouseTracking(True)
        self.viewport().setAttribute(Qt.WidgetAttribute.WA_Hover)
        self.doubleClicked.connect(lambda i: self.view_requested.emit(i.row()))

    def setModel(self, model) -> None:
        super().setModel(model)
        if model is not None:
            model.modelAboutToBeReset.connect(lambda: self.setLayoutMode(QListView.LayoutMode.Batched))
            model.rowsAboutToBeInserted.connect(lambda *_: self.setLayoutMode(QListView.LayoutMode.SinglePass))

    def keep_place(self, scrolled: int, row: int | None) -> None:
        """After a new listing of the same photos: lay it out now and scroll back to where
        the grid was, with ``row`` current again."""
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.doItemsLayout()
        if row is not None:
            self.selectionModel().setCurrentIndex(self.model().index(row, 0),
                                                  QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.verticalScrollBar().setValue(scrolled)

    def set_tile_px(self, tile_px: int) -> None:
        """Another thumbnail size: cells follow, the layout is arithmetic again."""
        if tile_px == self.tile_px:
            return
        current = self.currentIndex()
        self.tile_px = self.delegate.tile_px = tile_px
        self.verticalScrollBar().setSingleStep(tile_size(tile_px).height() // 3)
        self.fit_grid()
        if current.isValid():
            self.scrollTo(current)

    def selected_rows(self) -> list[int]:
        """The selected rows in order; the current one when none is selected."""
        rows = sorted({i.row() for i in self.selectionModel().selectedIndexes()}) if self.selectionModel() else []
        if not rows and self.currentIndex().isValid():
            rows = [self.currentIndex().row()]
        return rows

    def resizeEvent(self, e) -> None:
        super().resizeEvent(e)
        self.fit_grid()

    def fit_grid(self) -> None:
        """Widen the cells so that the columns fill the row (no ragged right margin)."""
        base = tile_size(self.tile_px)
        columns = max(1, self.viewport().width() // base.width())
        # Qt wraps at width - 1
        grid = QSize(max(base.width(), (self.viewport().width() - 1) // columns), base.height())
        if grid != self.gridSize():
            self.setGridSize(grid)

    def set_message(self, text: str) -> None:
        """Shown in the middle of the grid when it is empty."""
        self.message = text
        self.viewport().update()

    # -- painting ------------------------------------------------------------------------

    def columns(self) -> int:
        """Tiles per row, as the view laid them out (counted along the first row)."""
        m = self.model()
        n = m.rowCount() if m is not None else 0
        guess = max(1, self.viewport().width() // self.gridSize().width())
        if n == 0:
            return guess
        top = self.visualRect(m.index(0, 0)).top()
        for i in range(1, min(n, guess + 2)):
            if self.visualRect(m.index(i, 0)).top() != top:
                return i
        return guess if n > guess else max(guess, n)

    def divider_lines(self) -> list[tuple[QPoint, QPoint]]:
        """The cut-off line in viewport pixels (empty when there is nothing to divide)."""
        m = self.model()
        n = m.rowCount() if m is not None else 0
        cutoff = getattr(m, "cutoff", 0)
        if n == 0:
            return []
        origin = self.visualRect(m.index(0, 0)).topLeft()
        g = self.gridSize()
        return [
            (origin + QPoint(x0 * g.width(), y0 * g.height()), origin + QPoint(x1 * g.width(), y1 * g.height()))
            for (x0, y0), (x1, y1) in divider(cutoff, n, self.columns())
        ]

    def paintEvent(self, e: QPaintEvent) -> None:
        super().paintEvent(e)
        p = QPainter(self.viewport())
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        m = self.model()
        if m is None or m.rowCount() == 0:
            if self.message:
                p.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
                p.drawText(
                    self.viewport().rect().adjusted(24, 24, -24, -24),
                    Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                    self.message,
                )
            p.end()
            return
        lines = self.divider_lines() if getattr(m, "by_score", True) else []
        if lines:
            p.setPen(QPen(DIVIDER_COLOR, 3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
            for a, b in lines:
                p.drawLine(a, b)
            self._label(p, lines)
        p.end()

    def _label(self, p: QPainter, lines: list[tuple[QPoint, QPoint]]) -> None:
        """A small tag on the line: strong matches before it, weaker after."""
        a, b = lines[-1] if lines[-1][0].y() == lines[-1][1].y() else lines[0]
        text = "▲ strong matches · weaker ▼"
        font = p.font()
        font.setPointSizeF(font.pointSizeF() * 0.85)
        p.setFont(font)
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 14, fm.height() + 2
        left = max(a.x(), min(a.x(), b.x()) + 8)
        box = QRectF(left, a.y() - h / 2, w, h)
        path = QPainterPath()
        path.addRoundedRect(box, h / 2, h / 2)
        p.fillPath(path, DIVIDER_COLOR)
        p.setPen(QColor("white"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    # -- input ---------------------------------------------------------------------------

    def keyPressEvent(self, e: QKeyEvent) -> None:
        row = self.currentIndex().row() if self.currentIndex().isValid() else -1
        key, ctrl = e.key(), bool(e.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if e.matches(QKeySequence.StandardKey.Copy):
            if self.selected_rows():
                self.copy_requested.emit(self.selected_rows())
        elif ctrl and key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal, Qt.Key.Key_Minus):
            self.zoom_requested.emit(-1 if key == Qt.Key.Key_Minus else 1)
        elif row >= 0 and key in (Qt.Key.Key_U, Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.vote(True)
        elif row >= 0 and key in (Qt.Key.Key_D, Qt.Key.Key_Minus):
            self.vote(False)
        elif row >= 0 and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.view_requested.emit(row)
        else:
            super().keyPressEvent(e)

    def vote(self, up: bool) -> None:
        """Vote on the selected tiles. One tile: a toggle (the same thumb again takes it back);
        several: each that does not hold this vote yet gets it."""
        self.vote_rows(self.selected_rows(), up)

    def vote_rows(self, rows: list[int], up: bool) -> None:
        if len(rows) == 1:
            self.vote_requested.emit(rows[0], up)
            return
        m = self.model()
        for r in rows:
            tile = m.data(m.index(r, 0), Role.VOTE)
            if tile is None or tile.up != up:
                self.vote_requested.emit(r, up)

    def startDrag(self, actions: Qt.DropAction) -> None:
        """The selected tiles leave as file URLs (``ResultsModel.mimeData``), under a small
        picture of the one grabbed and how many go."""
        m, rows = self.model(), self.selected_rows()
        if m is None or not rows:
            return
        drag = QDrag(self)
        drag.setMimeData(m.mimeData([m.index(r, 0) for r in rows]))
        grabbed = self.currentIndex() if self.currentIndex().isValid() else m.index(rows[0], 0)
        drag.setPixmap(drag_picture(m.data(grabbed, Qt.ItemDataRole.DecorationRole), len(rows), self.palette()))
        drag.exec(Qt.DropAction.CopyAction)

    def thumb_at(self, pos: QPoint) -> tuple[int, bool] | None:
        """(row, up) of the vote button of a search's tile under ``pos``, or None."""
        index = self.indexAt(pos)
        if not index.isValid() or not _data(index, Role.VOTABLE):
            return None
        up_r, down_r = vote_buttons(self.visualRect(index), self.tile_px)
        return (index.row(), True) if up_r.contains(pos) else (index.row(), False) if down_r.contains(pos) else None

    # A click on a thumb votes: it neither selects, nor starts a drag, nor opens the tile.
    def mousePressEvent(self, e: QMouseEvent) -> None:
        if e.button() == Qt.MouseButton.LeftButton and self.thumb_at(e.position().toPoint()) is not None:
            e.accept()
            return
        super().mousePressEvent(e)

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        thumb = self.thumb_at(e.position().toPoint()) if e.button() == Qt.MouseButton.LeftButton else None
        if thumb is not None:
            self.vote_requested.emit(*thumb)
            e.accept()
            return
        super().mouseReleaseEvent(e)

    def mouseDoubleClickEvent(self, e: QMouseEvent) -> None:
        if e.button() == Qt.MouseButton.LeftButton and self.thumb_at(e.position().toPoint()) is not None:
            e.accept()
            return
        super().mouseDoubleClickEvent(e)

    def wheelEvent(self, e: QWheelEvent) -> None:
        if e.modifiers() & Qt.KeyboardModifier.ControlModifier:
            dy = e.angleDelta().y()
            if dy:
                self.zoom_requested.emit(1 if dy > 0 else -1)
            e.accept()
            return
        super().wheelEvent(e)

    def contextMenuEvent(self, e: QContextMenuEvent) -> None:
        index = self.indexAt(e.pos())
        if not index.isValid():
            return
        row = index.row()
        if not self.selectionModel().isSelected(index):
            self.setCurrentIndex(index)
        menu = self.context_menu(row)
        menu.exec(e.globalPos())

    def context_menu(self, row: int) -> QMenu:
        """The menu of a tile; with several selected (the tile among them), copying and votes take them all."""
        rows = self.selected_rows() if row in self.selected_rows() else [row]
        many = len(rows) > 1
        menu = QMenu(self)
        menu.addAction("View (Space)", lambda: self.view_requested.emit(row))
        for text, signal in (
            ("Open with system viewer", self.open_requested),
            ("Reveal in folder", self.reveal_requested),
        ):
            menu.addAction(text, lambda s=signal: s.emit(row))
        menu.addAction(f"Copy {len(rows)} paths" if many else "Copy path", lambda: self.copy_requested.emit(rows))
        menu.addSeparator()
        for text, signal in (("Use as reference", self.reference_requested), ("Find similar", self.similar_requested)):
            menu.addAction(text, lambda s=signal: s.emit(row))
        menu.addSeparator()
        m = self.model()
        votable = m is not None and bool(m.data(m.index(row, 0), Role.VOTABLE))
        for up, word in ((True, "up (U)"), (False, "down (D)")):
            text = f"Thumbs {word} on all {len(rows)}" if many else f"Thumbs {word}"
            a = menu.addAction(text, lambda u=up: self.vote_rows(rows, u))
            a.setEnabled(votable)
            if not votable:
                a.setToolTip("Votes belong to a question: search first")
        return menu
