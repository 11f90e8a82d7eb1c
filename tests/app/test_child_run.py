"""ChildRun's contract: a subclass without its three hooks is refused when it is defined."""

from __future__ import annotations

import pytest

from app.child_run import ChildRun
from app.get_model import GetModel
from app.learning import LearnController


def test_the_real_subclasses_define_every_hook():
    for cls in (GetModel, LearnController):
        assert all(callable(getattr(cls, name)) for name in ChildRun.HOOKS)


def test_a_subclass_missing_a_hook_is_refused_when_defined():
    with pytest.raises(TypeError, match="_ended, _failed_to_start"):

        class Half(ChildRun):  # noqa: F841 - defining it is the test
            def _lines(self, lines: list[str]) -> None:
                pass
