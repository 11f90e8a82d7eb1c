"""The first run of the demo: draw the demo photos in the background, with progress.

The demo world's renderer writes ``count`` JPEGs and then ``demo.json``; while it runs,
a timer counts the files written so far (on a worker) for the progress bar. When the
photos are there, ``ready`` is emitted; the window then opens the library, indexes the
photos and runs an example query. GUI-thread-only.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from app.state.places import DemoPlaces, count_photos
from engine.demo import ensure_demo_photos

from .host import describe_error
from .tasks import TaskRunner


class DemoSetup(QObject):
    progress = Signal(int, int)  # photos drawn, of how many
    ready = Signal(object)  # DemoPlaces
    failed = Signal(str)

    def __init__(self, tasks: TaskRunner, parent: QObject | None = None):
        super().__init__(parent)
        self.tasks = tasks
        self._timer = QTimer(self)
        self._timer.setInterval(300)
        self._places: DemoPlaces | None = None
        self._count = 0
        self._timer.timeout.connect(self._poll)

    def start(self, places: DemoPlaces, count: int = 300) -> None:
        if places.bundle is None and not (places.library / "catalog.sqlite").is_file():
            self.failed.emit("The demo model is not installed (resources/demo-bundle). "
                             "Import a model (Model → Import model…) or start with --bundle PATH.")
            return
        self._places, self._count = places, count
        if places.photos_ready:
            self.ready.emit(places)
            return
        self.progress.emit(0, count)
        self._timer.start()
        self.tasks.run("read", lambda: ensure_demo_photos(places.photos, photos=count), self._drawn,
                       lambda e: self._failed(e))

    def _poll(self) -> None:
        places = self._places
        if places is not None:
            self.tasks.run("read", lambda: count_photos(places.photos), self._counted,
                           lambda e: None)

    def _counted(self, n: int) -> None:
        if self._timer.isActive():  # a late count after the drawing ended would go backwards
            self.progress.emit(n, self._count)

    def _drawn(self, _folder) -> None:
        self._timer.stop()
        self.progress.emit(self._count, self._count)
        self.ready.emit(self._places)

    def _failed(self, e: BaseException) -> None:
        self._timer.stop()
        self.failed.emit(f"The demo photos could not be drawn: {describe_error(e)}")
