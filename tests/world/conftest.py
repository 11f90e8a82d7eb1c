"""A small world, written once per test session (rendering is the slow part)."""

from __future__ import annotations

import pytest

from engine.world import WorldConfig, generate, read_world

SMALL = WorldConfig(seed=11, train_images=120, train_triplets=150, eval_images=90, eval_triplets=45, image_size=96)


@pytest.fixture(scope="session")
def small_world_dir(tmp_path_factory):
    return generate(SMALL, tmp_path_factory.mktemp("world") / "w")


@pytest.fixture(scope="session")
def small_world(small_world_dir):
    return read_world(small_world_dir)
