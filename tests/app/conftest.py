"""Fixtures for the app tests: fast ONNX test-double bundles, photo folders, libraries."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from engine.bundle import load_bundle, write_manifest
from tests.engine.conftest import make_photos
from tests.engine.fakebundle import write_fake_bundle


def _as_demo(root: Path) -> Path:
    m = load_bundle(root).manifest
    write_manifest(root, dataclasses.replace(m, model=dataclasses.replace(m.model, demo=True, name="demo-fake")))
    return root


@pytest.fixture(scope="session")
def app_bundle(tmp_path_factory) -> Path:
    """The engine's ONNX test double (32 px, Q=4, E=16, with a text graph), marked as a demo model."""
    return _as_demo(write_fake_bundle(tmp_path_factory.mktemp("appbundles") / "demo", seed=0))


@pytest.fixture(scope="session")
def app_bundle_no_text(tmp_path_factory) -> Path:
    return write_fake_bundle(tmp_path_factory.mktemp("appbundles") / "notext", seed=0, text=False, name="notext")


@pytest.fixture(scope="session")
def app_bundle_other(tmp_path_factory) -> Path:
    """Another target side: switching to it means re-indexing."""
    return write_fake_bundle(tmp_path_factory.mktemp("appbundles") / "other", seed=7, name="other")


@pytest.fixture
def photo_dir(tmp_path) -> Path:
    """24 small distinct JPEGs in two subfolders."""
    root = tmp_path / "photos"
    make_photos(root / "a", 12, seed=1)
    make_photos(root / "b", 12, seed=2)
    return root


@pytest.fixture
def library(tmp_path, app_bundle, photo_dir):
    """An indexed library of ``photo_dir``, closed after the test."""
    from engine.library import Library

    lib = Library.open(tmp_path / "lib", bundle=app_bundle)
    lib.index([photo_dir])
    yield lib
    lib.close()


# -- Qt: the log-fail fixture and windows ---------------------------------------------

import logging  # noqa: E402
import re  # noqa: E402

# Messages Qt prints for reasons outside this app; each says why it is harmless.
IGNORED_QT = [
    r"This plugin does not support propagateSizeHints\(\)",  # the offscreen platform cannot size windows
]


@pytest.fixture(autouse=True, scope="session")
def _release_clipboard_at_exit():
    """The app empties the offscreen clipboard when it quits (app.main.release_clipboard);
    pytest-qt never quits the application, so do it here, or the interpreter's exit
    segfaults in Qt after a test copied a path."""
    yield
    from app.main import release_clipboard

    release_clipboard()


def pytest_configure(config):
    config.addinivalue_line("markers", "qt_warning_expected(pattern): this Qt warning is part of the test")


def unexpected_qt(records, allowed) -> list:
    """Qt warnings and worse (from pytest-qt's capture) that match none of ``allowed``."""
    from PySide6.QtCore import QtMsgType

    bad = (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
    return [r for r in records if r.type in bad and not any(re.search(p, r.message) for p in allowed)]


@pytest.fixture(autouse=True)
def logfail(request, qtlog, caplog):
    """Fail a test on an unexpected Qt warning or a warning logged by app/ or engine/ (qutebrowser's logfail)."""
    yield
    allowed = IGNORED_QT + [m.args[0] for m in request.node.iter_markers("qt_warning_expected")]
    qt = unexpected_qt(qtlog.records, allowed)
    py = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.split(".")[0] in ("app", "engine")]
    if qt or py:
        lines = [f"Qt {r.type_name}: {r.message}" for r in qt] + [
            f"{r.name} {r.levelname}: {r.getMessage()}" for r in py
        ]
        pytest.fail("unexpected warnings:\n" + "\n".join(lines), pytrace=False)


class Opened:
    """Recorder for QDesktopServices.openUrl in tests."""

    def __init__(self):
        self.urls: list[str] = []

    def __call__(self, url) -> bool:
        self.urls.append(url.toLocalFile())
        return True


def _prefer(settings: Path, key: str, value: str) -> None:
    """Set ``key`` in the [prefs] section of the INI file unless the test set it already."""
    text = settings.read_text() if settings.exists() else ""
    if f"{key}=" in text:
        return
    if "[prefs]" in text:
        text = text.replace("[prefs]\n", f"[prefs]\n{key}={value}\n", 1)
    else:
        text += f"\n[prefs]\n{key}={value}\n"
    settings.write_text(text)


@pytest.fixture
def make_window(qtbot, tmp_path, app_bundle):
    """Build a main window on a library folder in tmp_path (not started: call w.start())."""
    from app.main_window import MainWindow
    from app.options import Options

    def make(library: Path | None = None, bundle: Path | None = app_bundle, size=(1100, 760), watch=False, **kw):
        kw.setdefault("settings_file", tmp_path / "settings.ini")
        kw.setdefault("index_on_open", False)
        if not watch:  # no watcher starting index runs of its own in tests about something else
            _prefer(Path(kw["settings_file"]), "watch_folders", "false")
        w = MainWindow(Options(library=library or tmp_path / "lib", bundle=bundle, **kw))
        w.open_url = Opened()
        qtbot.addWidget(w)
        if size is not None:
            w.resize(*size)
        w.show()
        return w

    return make


@pytest.fixture
def window(make_window, qtbot, photo_dir):
    """A started window whose library holds ``photo_dir``, indexed."""
    w = make_window()
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    with qtbot.waitSignal(w.index_job.finished, timeout=60000):
        w.add_folder(str(photo_dir))
    return w
