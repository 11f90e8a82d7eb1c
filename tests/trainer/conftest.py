"""Fixtures shared by the trainer tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny batches gain nothing from 2 threads, and on a shared machine spinning OpenMP
    threads make them several times slower; restore the setting afterwards. Modules opt
    in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
