"""The log-fail fixture sees real Qt warnings and lets through only the expected ones."""

from __future__ import annotations

import pytest
from PySide6.QtCore import qWarning

from tests.app.conftest import IGNORED_QT, unexpected_qt


@pytest.mark.qt_warning_expected("cirsearch test warning")
def test_a_real_qt_warning_is_seen_and_can_be_expected(qtlog, qapp):
    qWarning("cirsearch test warning 42")
    mine = [r for r in qtlog.records if "cirsearch test warning 42" in r.message]
    assert len(mine) == 1
    assert unexpected_qt(mine, IGNORED_QT) == mine, "without the marker this warning fails the test"
    assert unexpected_qt(mine, IGNORED_QT + ["cirsearch test warning"]) == []
