"""Show a photo in the system's file manager (the plan is ``app.state.reveal``), and say so
when no program could be started for it (:func:`no_program`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QProcess, Qt, QUrl
from PySide6.QtDBus import QDBusConnection, QDBusMessage
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QMessageBox, QWidget

from app.state.reveal import reveal_plan
from engine.fspath import is_utf8, shown

FM1 = "org.freedesktop.FileManager1"


def _file_manager1(bus: QDBusConnection) -> bool:
    if not bus.isConnected():
        return False
    reply = bus.interface().isServiceRegistered(FM1)
    return bool(reply.isValid() and reply.value())


def reveal(path: str, open_url: Callable[[QUrl], object]) -> bool:
    """Select ``path`` in a file manager, or at least open its folder (``open_url``);
    False when nothing could be started (no file manager, or none registered for folders)."""
    bus = QDBusConnection.sessionBus()
    plan = reveal_plan(path, sys.platform, sys.platform.startswith("linux") and _file_manager1(bus))
    if plan.how == "run":
        started, _pid = QProcess.startDetached(plan.command[0], list(plan.command[1:]))
        return bool(started)
    if plan.how == "dbus":
        msg = QDBusMessage.createMethodCall(FM1, "/org/freedesktop/FileManager1", FM1, "ShowItems")
        msg.setArguments([[plan.target], ""])
        bus.asyncCall(msg)  # no waiting for the file manager, which the bus says is there
        return True
    return bool(open_url(file_url(plan.target)))


def file_url(path: str) -> QUrl:
    """The file URL of ``path``. A name that is not UTF-8 is percent-encoded from its bytes:
    ``QUrl.fromLocalFile`` would drop them (PySide turns the str's surrogates into nothing)."""
    if is_utf8(path) or sys.platform.startswith("win"):  # Windows: an unpaired UTF-16 half is left to Qt
        return QUrl.fromLocalFile(path)
    return QUrl.fromEncoded(Path(path).as_uri().encode("ascii"))


NO_PROGRAM = {
    "open": ("No image viewer", "No program is registered to open this photo, so it was not opened. Set a default "
             "image viewer in your desktop's settings, or open it from your file manager:"),
    "reveal": ("No file manager", "No file manager is registered to show folders, so the photo's folder was not "
               "opened. The photo is:"),
}


def no_program(parent: QWidget, what: str, path: str) -> QMessageBox:
    """Say that nothing could be started to ``what`` ("open" or "reveal") ``path``, with the
    path to select or copy. The box does not block the window."""
    title, words = NO_PROGRAM[what]
    box = QMessageBox(QMessageBox.Icon.Information, title, f"{words}\n\n{shown(path)}",
                      QMessageBox.StandardButton.Close, parent)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    copy = box.addButton("Copy path", QMessageBox.ButtonRole.ActionRole)
    copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(shown(path)))
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setModal(False)
    box.show()
    return box
