"""The bar over the grid: order, folder, dates, and the thumbnail size.

The order applies to what is listed, and each kind keeps its own: a search's hits
are best first or re-ordered by date or name where they are shown; the library (no
query) is newest first, oldest first or by name, and "Best match" is not offered for it.
The folder and the dates narrow a search and the library alike. The folders offered
are the library's (``Library.folders``, read on a worker by the window), each with the
photos in it and below. The slider sets the thumbnail size (also Ctrl+wheel and
Ctrl+plus/minus over the grid). GUI-thread-only.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QDate, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSlider,
    QToolButton,
    QWidget,
    QWidgetAction,
)

from app.state.browse import SORT_LABELS, TILE_STEPS, FolderChoice, Sort, filter_words, make_filter
from engine.browse import PhotoFilter


def _date_edit(d: dt.date) -> QDateEdit:
    e = QDateEdit(QDate(d.year, d.month, d.day))
    e.setCalendarPopup(True)
    e.setDisplayFormat("yyyy-MM-dd")
    e.setEnabled(False)
    return e


class BrowseBar(QWidget):
    sort_changed = Signal(object, bool)  # Sort, for a search (else for the library's listing)
    filter_changed = Signal(object)  # PhotoFilter
    tile_changed = Signal(int)  # thumbnail edge in pixels

    def __init__(self, tile_px: int, parent=None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.searching = False
        self.sorts = {True: Sort.BEST, False: Sort.NEWEST}  # the order of a search, of the library
        self.sort = QComboBox()
        for s in Sort:
            self.sort.addItem(SORT_LABELS[s], s)
        self.sort.setToolTip("The order of the photos: a search's results best first or by date or name; "
                             "the library (no query) by date or name")
        self.sort.setCurrentIndex(self.sort.findData(Sort.NEWEST))
        self._offer_best(False)
        self.sort.currentIndexChanged.connect(lambda _: self._sorted())
        self.folder = QComboBox()
        self.folder.setMinimumContentsLength(10)
        self.folder.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.folder.setToolTip("Only photos in this folder (and the folders in it)")
        self.folder.addItem("All folders", None)
        self.folder.currentIndexChanged.connect(lambda _: self._changed())
        self.dates = QToolButton()  # the days, in a small popup: the bar stays narrow
        self.dates.setText("Any date")
        self.dates.setToolTip("Only photos taken in these days (the file's date where the photo does not say)")
        self.dates.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.dated = QCheckBox("Only photos taken from")
        today = dt.date.today()
        self.date_from = _date_edit(today.replace(year=today.year - 1))
        self.date_to = _date_edit(today)
        popup = QWidget()
        inside = QHBoxLayout(popup)
        for w in (self.dated, self.date_from, QLabel("to"), self.date_to):
            inside.addWidget(w)
        menu = QMenu(self.dates)
        action = QWidgetAction(menu)
        action.setDefaultWidget(popup)
        menu.addAction(action)
        self.dates.setMenu(menu)
        self.dated.toggled.connect(self._dates_toggled)
        self.date_from.dateChanged.connect(lambda _: self.dated.isChecked() and self._changed())
        self.date_to.dateChanged.connect(lambda _: self.dated.isChecked() and self._changed())
        self.size = QSlider(Qt.Orientation.Horizontal)
        self.size.setRange(TILE_STEPS[0], TILE_STEPS[-1])
        self.size.setSingleStep(16)
        self.size.setPageStep(64)
        self.size.setFixedWidth(90)
        self.size.setValue(tile_px)
        self.size.setToolTip("Thumbnail size (Ctrl+wheel, Ctrl+plus, Ctrl+minus)")
        self.size.valueChanged.connect(self.tile_changed)
        row.addWidget(self.sort)
        row.addWidget(self.folder, 1)
        row.addWidget(self.dates)
        row.addStretch(0)
        row.addWidget(self.size)

    def photo_filter(self) -> PhotoFilter:
        on = self.dated.isChecked()
        return make_filter(self.folder.currentData(), self.date_from.date().toPython() if on else None,
                           self.date_to.date().toPython() if on else None)

    def set_folders(self, choices: list[FolderChoice]) -> None:
        """Offer these folders; the one chosen stays chosen while it is among them."""
        chosen = self.folder.currentData()
        self.folder.blockSignals(True)
        self.folder.clear()
        for c in choices:
            self.folder.addItem(f"{c.label} ({c.count})", c.path)
        at = self.folder.findData(chosen)
        self.folder.setCurrentIndex(max(0, at))
        self.folder.blockSignals(False)
        if at < 0 and chosen is not None:
            self._changed()  # that folder is gone: every folder again

    def set_searching(self, searching: bool) -> None:
        """A search's hits are listed (or the library): show that kind's order."""
        if searching == self.searching:
            return
        self.searching = searching
        self.sort.blockSignals(True)
        self._offer_best(searching)
        self.sort.setCurrentIndex(self.sort.findData(self.sorts[searching]))
        self.sort.blockSignals(False)

    def _offer_best(self, on: bool) -> None:
        item = self.sort.model().item(self.sort.findData(Sort.BEST))
        item.setEnabled(on)
        item.setToolTip("" if on else "Best match orders a search's results: there is no question now")

    def _sorted(self) -> None:
        s = Sort(self.sort.currentData())  # Qt hands the str back
        self.sorts[self.searching] = s
        self.sort_changed.emit(s, self.searching)

    def set_tile(self, px: int) -> None:
        self.size.blockSignals(True)
        self.size.setValue(px)
        self.size.blockSignals(False)

    def _dates_toggled(self, on: bool) -> None:
        self.date_from.setEnabled(on)
        self.date_to.setEnabled(on)
        self._changed()

    def _changed(self) -> None:
        f = self.photo_filter()
        days = filter_words(PhotoFilter(date_from=f.date_from, date_to=f.date_to))
        self.dates.setText(days or "Any date")
        self.filter_changed.emit(f)
