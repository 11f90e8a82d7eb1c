"""``cirsearch-gui``: the desktop app.

    cirsearch-gui                 your library (platformdirs data dir, or $CIRSEARCH_LIBRARY)
    cirsearch-gui --demo          the demo library: drawn and indexed on first run, with an example query
    cirsearch-gui --library DIR   another library folder
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from app.state.places import demo_places
from engine.resources import default_library_dir

from .options import Options


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cirsearch-gui", description=__doc__.splitlines()[0])
    p.add_argument("--library", type=Path, default=None, metavar="DIR",
                   help=f"library folder (default: {default_library_dir()}; with --demo: {demo_places().library})")
    p.add_argument("--demo", action="store_true", help="open the demo library (drawn and indexed on first run)")
    p.add_argument("--bundle", type=Path, default=None, metavar="PATH",
                   help="model bundle folder (default: the library's own, else the demo model)")
    p.add_argument("--demo-photos", type=int, default=300, metavar="N", help="demo photos drawn on first run")
    p.add_argument("--example", type=int, default=0, metavar="I", help="which demo example query to show")
    p.add_argument("--settings", type=Path, default=None, metavar="FILE",
                   help="keep window state and preferences in this INI file (portable use, tests)")
    p.add_argument("--no-index", action="store_true", help="do not rescan the folders on opening")
    p.add_argument("--screenshot", type=Path, default=None, metavar="PNG",
                   help="save a picture of the window once results and thumbnails are shown, then quit")
    return p


def options_from(args: argparse.Namespace) -> Options:
    library = args.library or (demo_places().library if args.demo else default_library_dir())
    return Options(library=Path(library).expanduser().absolute(), bundle=args.bundle, demo=args.demo,
                   demo_photos=args.demo_photos, example=args.example, settings_file=args.settings,
                   screenshot=args.screenshot, index_on_open=False if args.no_index else None)


def binding_problem(pyside: str, python: tuple[int, int]) -> str | None:
    """Why this Qt binding cannot run the app, or None.

    PySide6 6.12.0 drops a reference to None on many calls (void methods, invalid
    QVariants). From Python 3.12 None is immortal and nothing happens; on 3.11 the
    interpreter aborts ("deallocating None") after a few minutes of painting.
    """
    if pyside == "6.12.0" and python < (3, 12):
        return ("PySide6 6.12.0 has a reference-counting bug on Python 3.11 that aborts the app after a few "
                "minutes. Install another version: pip install 'PySide6-Essentials!=6.12.0'")
    return None


def release_clipboard() -> None:
    """Qt's offscreen platform crashes at exit (SIGSEGV) when the clipboard still holds
    mime data the app set ("Copy path"); empty it there. On a real display the content
    is left for the desktop's clipboard manager to take over."""
    from PySide6.QtGui import QGuiApplication

    if QGuiApplication.platformName() == "offscreen":
        QGuiApplication.clipboard().clear()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import PySide6

    problem = binding_problem(PySide6.__version__, sys.version_info[:2])
    if problem:
        print(f"cirsearch-gui: {problem}", file=sys.stderr)
        return 1
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("cirsearch")
    app.setApplicationName("cirsearch")
    app.setApplicationDisplayName("cirsearch")
    app.setDesktopFileName("cirsearch")
    app.aboutToQuit.connect(release_clipboard)
    window = MainWindow(options_from(args))
    window.show()
    window.start()
    if args.screenshot is not None:
        from .screenshot import ScreenshotWhenReady

        ScreenshotWhenReady(window, args.screenshot)
    return app.exec()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
