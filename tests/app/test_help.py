"""The Help menu (issue 13, item 6): keyboard shortcuts, the model's card from its
manifest (read on a worker), and About."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

import app.help
from app.state.model_card import model_card
from engine import __version__
from engine.bundle import load_bundle

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo-bundle"


@pytest.fixture(scope="module")
def demo_manifest():
    return load_bundle(DEMO, verify=False).manifest


def rows(card) -> dict[str, str]:
    return dict(card.rows)


def test_the_demo_models_card(demo_manifest):
    card = model_card(demo_manifest, str(DEMO))
    r = rows(card)
    assert card.title == f"cirsearch-demo {demo_manifest.model.version}"
    assert "Get the QuRe model" in r["Demo model"] and "generated garment images" in r["Description"]
    assert r["Trained on"].startswith("Generated images"), "not the data set's name: it never saw FashionIQ"
    assert r["Came from"].startswith("Exported from a cirsearch-train run (method contrastive")
    measured = r["Measured on its val split"]  # the run's best epoch on validation, not its test split
    assert "R@10 95.8" in measured and "average 97.9" in measured and "P@5 88.9" in measured
    assert r["Exported graphs against PyTorch"] == "largest difference in any output 1.2e-06"
    assert "96 px" in r["Architecture"] and r["Folder"] == str(DEMO)


def test_a_personalized_models_card(demo_manifest):
    base = dataclasses.replace(
        demo_manifest, model=dataclasses.replace(demo_manifest.model, demo=False, name="shop"),
        extra={"run": {"method": "contrastive", "dataset": "cirr", "metrics": {"R@1": 41.25, "R@5": 71.5}}})
    child = dataclasses.replace(
        base, parent={"name": "shop", "version": "1", "path": "/models/shop"}, parity={}, int8_check={},
        extra={"personalization": {"votes": 32, "pairs_train": 28, "pairs_held_out": 10, "before": 0.583,
                                   "after": 0.667}})
    r = rows(model_card(child, "/models/shop-personal", base))
    assert r["Came from"] == "Personalized from shop 1 (in /models/shop) by learning from your votes."
    assert r["Trained on"] == "CIRR (everyday photos)", "its base's data"
    assert r["Learned from your votes"] == ("32 votes, 28 pairs trained on; on 10 pairs set aside, pairwise "
                                            "accuracy 58.3% before → 66.7% after")
    # a bundle exported before the split was recorded: training measures on validation
    assert r["Measured on its validation split (of the model it was personalized from)"] == "R@1 41.2 · R@5 71.5"
    assert "Demo model" not in r
    gone = rows(model_card(child, "/models/shop-personal", None))
    assert "folder is gone" in gone["Came from"] and gone["Trained on"] == "Not recorded in the manifest."


def test_an_imported_models_card_says_what_is_not_recorded(demo_manifest):
    imported = dataclasses.replace(
        demo_manifest, model=dataclasses.replace(demo_manifest.model, demo=False, description=""),
        parity={}, int8_check={}, extra={"import": {"sources": {"qure": 120}}})
    r = rows(model_card(imported, "/m"))
    assert r["Came from"].startswith("Converted from QuRe's published checkpoint")
    assert r["Measured"] == "No figures recorded in the manifest." and "Description" not in r
    eight = dataclasses.replace(imported, int8_check={"figures": {"cosine": 0.99912, "top10": 0.95}})
    assert rows(model_card(eight, "/m"))["8-bit graphs against full precision"] == "cosine 0.9991 · top10 0.9500"


def test_the_help_menu(window, qtbot, monkeypatch):
    w = window
    menus = [a.text() for a in w.menuBar().actions()]
    assert menus[-1] == "&Help"
    help_menu = w.menuBar().actions()[-1].menu()
    assert [a.text() for a in help_menu.actions() if a.text()] == ["Keyboard shortcuts", "The model in use…",
                                                                   "About cirsearch"]
    w.help.show_keys()
    keys = w.help.keys_window.text.toPlainText()
    assert w.help.keys_window.isVisible() and not w.help.keys_window.isModal()
    assert "Ctrl+Shift+V" in keys and "Edit → Paste reference" in keys and "Thumbs up" in keys

    threads = []
    real = app.help.card_of
    monkeypatch.setattr(app.help, "card_of",
                        lambda lib: threads.append(threading.current_thread() is threading.main_thread())
                        or real(lib))
    w.help.show_model()
    qtbot.waitUntil(lambda: "demo-fake" in w.help.model_window.text.toPlainText(), timeout=10000)
    assert threads == [False], "the manifest is read on a worker"
    card = w.help.model_window.text.toPlainText()
    assert "Demo model" in card and "Trained on" in card and w.host.status.bundle_path in card

    w.help.show_about()
    about = w.help.about_window.text.toPlainText()
    assert f"cirsearch {__version__}" in about and "ONNX Runtime" in about and w.host.status.folder in about


def test_the_model_card_without_a_library(make_window):
    w = make_window()  # not started: no library open
    w.help.show_model()
    assert "No library is open" in w.help.model_window.text.toPlainText()
