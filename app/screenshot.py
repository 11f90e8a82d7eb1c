"""``--screenshot PNG``: picture the real window once it shows results, then quit.

Ready means: a search answered, no thumbnail still queued, and every visible tile has
its thumbnail (or is known to be broken). The picture is taken from the screen
(``QScreen.grabWindow``), so under Xvfb it is what a display would show.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QObject, QRect, QTimer
from PySide6.QtWidgets import QApplication

from .main_window import MainWindow
from .results_model import Role


def visible_rows_ready(window: MainWindow) -> bool:
    view, model = window.view, window.model
    if model.rowCount() == 0 or window.thumbs.waiting():
        return False
    area = view.viewport().rect()
    for row in range(model.rowCount()):
        i = model.index(row)
        r: QRect = view.visualRect(i)
        if r.top() > area.bottom():
            break
        if (
            r.intersects(area)
            and not model.data(i, Role.BROKEN)
            and window.thumbs.pixmap(model.data(i, Role.PHOTO_ID)) is None
        ):
            return False
    return True


class ScreenshotWhenReady(QObject):
    def __init__(self, window: MainWindow, path: Path, settle_ms: int = 800, timeout_s: float = 600):
        super().__init__(window)
        self.window, self.path, self.settle_ms = window, path, settle_ms
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._check)
        self._timer.start(200)
        self._left = int(timeout_s * 5)

    def _check(self) -> None:
        self._left -= 1
        if self._left <= 0:
            print("screenshot: gave up waiting for results", file=sys.stderr)
            self._timer.stop()
            self.window.close()
            return
        if self.window.result is not None and visible_rows_ready(self.window):
            self._timer.stop()
            QTimer.singleShot(self.settle_ms, self._take)

    def _take(self) -> None:
        w = self.window
        screen = w.screen()
        pic = screen.grabWindow(
            0, w.frameGeometry().x(), w.frameGeometry().y(), w.frameGeometry().width(), w.frameGeometry().height()
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        ok = pic.save(str(self.path))
        print(
            f"screenshot: {'saved' if ok else 'could not save'} {self.path} ({pic.width()}x{pic.height()})",
            file=sys.stderr,
        )
        w.close()
        QApplication.instance().quit()
