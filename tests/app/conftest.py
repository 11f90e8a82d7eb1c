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
