"""Show a photo in the system's file manager (the plan is ``app.state.reveal``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtDBus import QDBusConnection, QDBusMessage

from app.state.reveal import reveal_plan
from engine.fspath import is_utf8

FM1 = "org.freedesktop.FileManager1"


def _file_manager1(bus: QDBusConnection) -> bool:
    if not bus.isConnected():
        return False
    reply = bus.interface().isServiceRegistered(FM1)
    return bool(reply.isValid() and reply.value())


def reveal(path: str, open_url: Callable[[QUrl], object]) -> None:
    """Select ``path`` in a file manager, or at least open its folder (``open_url``)."""
    bus = QDBusConnection.sessionBus()
    plan = reveal_plan(path, sys.platform, sys.platform.startswith("linux") and _file_manager1(bus))
    if plan.how == "run":
        QProcess.startDetached(plan.command[0], list(plan.command[1:]))
    elif plan.how == "dbus":
        msg = QDBusMessage.createMethodCall(FM1, "/org/freedesktop/FileManager1", FM1, "ShowItems")
        msg.setArguments([[plan.target], ""])
        bus.asyncCall(msg)  # no waiting for the file manager
    else:
        open_url(file_url(plan.target))


def file_url(path: str) -> QUrl:
    """The file URL of ``path``. A name that is not UTF-8 is percent-encoded from its bytes:
    ``QUrl.fromLocalFile`` would drop them (PySide turns the str's surrogates into nothing)."""
    if is_utf8(path) or sys.platform.startswith("win"):  # Windows: an unpaired UTF-16 half is left to Qt
        return QUrl.fromLocalFile(path)
    return QUrl.fromEncoded(Path(path).as_uri().encode("ascii"))
