"""Reproduces docs/viewer.png: the window's viewer on one result of the demo's first example query.

    DISPLAY=:99 QT_QPA_PLATFORM=xcb .venv/bin/python tools/viewer_screenshot.py --demo \\
        --library DIR --settings INI --screenshot OUT.png [--row 0]

Takes cirsearch-gui's options (``app.main``); ``tools/app_screenshot.sh OUT.png VIEWER.png``
runs it under Xvfb after the grid's picture, on the same demo library. Once the results
and their thumbnails are shown, the viewer opens on ``--row``; the picture is taken from
the screen when the photo and its details are in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.main import build_parser, options_from  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.screenshot import ScreenshotWhenReady, visible_rows_ready  # noqa: E402


class ViewerWhenReady(ScreenshotWhenReady):
    def __init__(self, window: MainWindow, path: Path, row: int):
        self.row = row
        super().__init__(window, path)

    def _check(self) -> None:
        w = self.window
        self._left -= 1
        if self._left <= 0:
            print("screenshot: gave up waiting for the viewer", file=sys.stderr)
            self._timer.stop()
            w.close()
            return
        if w.pages.currentWidget() is not w.viewer:
            if w.result is not None and visible_rows_ready(w):
                w.browsing.open_viewer(min(self.row, w.model.rowCount() - 1))
        elif w.viewer.original is not None and w.viewer.details is not None:
            self._timer.stop()
            QTimer.singleShot(self.settle_ms, self._take)


def main() -> int:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--row", type=int, default=0)
    mine, rest = extra.parse_known_args()
    args = build_parser().parse_args(rest)
    if args.screenshot is None:
        sys.exit("viewer_screenshot: --screenshot OUT.png is needed")
    app = QApplication(sys.argv[:1])
    app.setOrganizationName("cirsearch")
    app.setApplicationName("cirsearch")
    window = MainWindow(options_from(args))
    window.show()
    window.start()
    ViewerWhenReady(window, args.screenshot, mine.row)
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
