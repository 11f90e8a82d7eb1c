"""Fixtures for the engine tests: bundles (fast ONNX doubles and the real tiny export) and photos."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.engine.fakebundle import write_fake_bundle


@pytest.fixture(scope="session")
def fake_bundle(tmp_path_factory) -> Path:
    """A small ONNX test double of a bundle (32 px, Q=4, E=16). Read-only."""
    return write_fake_bundle(tmp_path_factory.mktemp("bundles") / "fake", seed=0)


@pytest.fixture(scope="session")
def fake_bundle_other(tmp_path_factory) -> Path:
    """Another target side (different vision/target weights)."""
    return write_fake_bundle(tmp_path_factory.mktemp("bundles") / "other", seed=7, name="other")


@pytest.fixture(scope="session")
def fake_bundle_personal(tmp_path_factory) -> Path:
    """Same target side as ``fake_bundle``, another query graph (a personalized bundle)."""
    return write_fake_bundle(tmp_path_factory.mktemp("bundles") / "personal", seed=0, query_seed=1,
                             name="fake-personal", version="2")


@pytest.fixture(params=["fake", "tiny"])
def any_bundle(request) -> Path:
    """End-to-end tests run on the fast double and on the real tiny export."""
    return request.getfixturevalue("fake_bundle" if request.param == "fake" else "tiny_bundle")


def photo(rng: np.random.Generator, size=(64, 48)) -> Image.Image:
    """A random blocky colour image: distinct content, a few strong colours."""
    w, h = size
    small = (rng.random((4, 4, 3)) * 255).astype(np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.NEAREST)


def make_photos(folder: Path, n: int, seed: int = 0, size=(64, 48), fmt: str = "JPEG") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ext = {"JPEG": "jpg", "PNG": "png"}[fmt]
    out = []
    for i in range(n):
        p = folder / f"img_{seed}_{i:03d}.{ext}"
        photo(rng, size).save(p, fmt)
        out.append(p)
    return out


@pytest.fixture
def photos(tmp_path) -> Path:
    """A folder with 24 small distinct JPEGs in two subfolders."""
    root = tmp_path / "photos"
    make_photos(root / "a", 12, seed=1)
    make_photos(root / "b", 12, seed=2)
    return root


def copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
