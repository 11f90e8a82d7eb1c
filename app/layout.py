"""Layout helpers shared by the window's parts. GUI-thread-only."""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtWidgets import QAbstractButton

B = TypeVar("B", bound=QAbstractButton)


def compact(button: B) -> B:
    """Let ``button`` shrink to its words when the window is narrow: a push button's style
    asks for at least 80 pixels, which, added up along a row, forces the window wider."""
    button.setMinimumWidth(button.fontMetrics().horizontalAdvance(button.text()) + 16)
    return button
