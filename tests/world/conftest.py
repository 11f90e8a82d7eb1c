"""Small worlds, written once per test session (rendering is the slow part), and the
loader for the scripts in tools/demo_model that the tests here run."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from engine.world import WorldConfig, generate, read_world

SMALL = WorldConfig(seed=11, train_images=120, train_triplets=150, eval_images=90, eval_triplets=45, image_size=96)


@pytest.fixture(scope="session")
def small_world_dir(tmp_path_factory):
    return generate(SMALL, tmp_path_factory.mktemp("world") / "w")


@pytest.fixture(scope="session")
def small_world(small_world_dir):
    return read_world(small_world_dir)


TOOLS = Path(__file__).resolve().parents[2] / "tools" / "demo_model"


def demo_model_tool(name: str) -> ModuleType:
    """tools/demo_model/<name>.py as a module (the tools are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny problems gain nothing from 2 threads; the setting is restored afterwards (for the
    probe tools' test modules: ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tool_world(tmp_path_factory):
    """A world of a few dozen 96 px images for the analysis tools (every attribute drawn large
    enough to count its pixels)."""
    cfg = WorldConfig(seed=5, train_images=30, train_triplets=6, eval_images=60, eval_triplets=12,
                      train_renders=2, eval_renders=2, image_size=96)
    return generate(cfg, tmp_path_factory.mktemp("tools") / "world")
