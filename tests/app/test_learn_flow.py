""""Learn from my votes" in the window, on a real library voted with a hidden taste and
the exported tiny QuRe model: progress arrives, the result shows before/after, "Use it"
swaps the query graph without re-indexing and changes the rankings, rolling back
restores them; cancel kills the trainer and changes nothing; no pairs and a model or a
Python that cannot learn are said in words. The trainer runs as a real child process."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QProcess

from app.state.learn import INSTALL_TRAINER, NO_WEIGHTS, LearnOptions, count_pairs, counts_line
from app.state.learn_report import percent
from engine.bundle import load_bundle
from engine.library import Library
from engine.world.demo import render_demo_library
from tests.app.test_threads import record_threads

TEXTS = ["make it striped", "is red with long sleeves", "same but blue", "no sleeves and dotted"]
FAST = LearnOptions(epochs=3, lr=1e-3)


@pytest.fixture(scope="module")
def voted_template(tmp_path_factory, tiny_bundle):
    """A library of 36 demo photos indexed with the tiny model, with 32 votes that like stripes."""
    root = tmp_path_factory.mktemp("learn")
    demo = render_demo_library(root / "photos", n=36, seed=3, queries=0)
    queries = [(demo.root / demo.photos[5 * i].path, t) for i, t in enumerate(TEXTS)]
    stripes = {str((demo.root / p.path).resolve()) for p in demo.photos if p.garment.pattern == "striped"}
    with Library.open(root / "lib", bundle=tiny_bundle) as lib:
        lib.add_root(demo.root)
        lib.index()
        for ref, text in queries:
            res = lib.search(text=text, image=ref, k=12)
            for h in res.hits[:8]:
                lib.vote(res, h.photo_id, up=str(h.path) in stripes)
    return root / "lib", queries


@pytest.fixture
def voted(voted_template, tmp_path):
    """A fresh copy of the voted library for one test, and its queries."""
    template, queries = voted_template
    folder = tmp_path / "lib"
    shutil.copytree(template, folder)
    return folder, queries


def open_window(make_window, qtbot, folder: Path):
    w = make_window(library=folder, bundle=None)
    w.learn.options = FAST
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    qtbot.waitUntil(lambda: w.learn.facts is not None, timeout=10000)
    return w


def ask(qtbot, w, ref: Path, text: str) -> list[int]:
    with qtbot.waitSignal(w.search.answered, timeout=15000):
        w.query_bar.edit.setText(text)
        w.well.set_reference(str(ref))
    qtbot.waitUntil(lambda: w.model.result is not None and w.model.result.query.text == text, timeout=15000)
    return [h.photo_id for h in w.model.result.hits]


def answered_by(w, bundle: Path) -> bool:
    r = w.model.result
    return r is not None and r.query.query_sha256 == load_bundle(bundle).query_sha256


def models_dir(folder: Path) -> list[str]:
    d = folder / "models"
    return sorted(os.listdir(d)) if d.is_dir() else []


def test_learn_use_it_and_roll_back(make_window, qtbot, voted, tiny_bundle, monkeypatch):
    folder, queries = voted
    with Library.open(folder) as lib:
        votes = lib.votes()
    calls = record_threads(monkeypatch)  # from here on, the engine is called by the window only
    w = open_window(make_window, qtbot, folder)
    assert w.learn_bar.learn_button.isEnabled() and not w.learn_bar.roll_back_button.isVisible()
    assert w.learn_bar.counts.text() == counts_line(count_pairs(votes)) and w.learn.facts.count.votes == 32
    assert "personalized" not in w.model_label.text()
    before = ask(qtbot, w, *queries[0])
    st0 = w.host.status
    epochs = []
    w.learn.progress.connect(epochs.append)
    with qtbot.waitSignal(w.learn.finished, timeout=90000) as done:
        w.learn_bar.learn_button.click()
        assert w.learn_dialog.isVisible() and w.learn_dialog.cancel_button.isVisible()
    o = done.args[0]
    assert [e.epoch for e in epochs] == list(range(len(epochs))) and len(epochs) == o.epochs_run + 1 >= 2
    assert o.pairs == w.learn.facts.count.pairs, "the app's count is the trainer's"
    d = w.learn_dialog
    assert percent(o.before) in d.numbers.text() and percent(o.after) in d.numbers.text()
    assert f"Trained on {o.pairs_train} pairs" in d.counts.text()
    assert f"{o.pairs_held_out} pairs set aside" in d.counts.text()
    assert len(d.plot.values) == o.epochs_run + 1 and d.plot.values[0] == (0, o.before)
    assert d.use_button.isVisible() and d.keep_button.isVisible() and not d.cancel_button.isVisible()
    assert w.host.status.bundle_path == st0.bundle_path, "nothing switches before 'Use it'"
    assert w.learn_bar.learn_button.text() == "New model ready…"
    img = d.plot.grab().toImage()
    x, y = d.plot.points()[-1]
    c = img.pixelColor(int(x), int(y))
    if o.best_epoch == o.epochs_run:  # the kept epoch's orange marker sits on the last point
        assert c.red() > 200 and c.blue() < 80, "the kept epoch is marked where its point is"
    else:
        assert c.blue() > 150, "the curve is drawn where its last point is"

    child = Path(o.bundle)
    with qtbot.waitSignal(w.learn.switched, timeout=30000):
        d.use_button.click()
    qtbot.waitUntil(lambda: answered_by(w, child), timeout=15000)  # the results asked the new model again
    st1 = w.host.status
    assert Path(st1.bundle_path) == child and (st1.indexed, st1.photos, st1.pending) == (st0.indexed, st0.photos, 0)
    after = [h.photo_id for h in w.model.result.hits]
    assert after != before, "the learned query graph ranks differently"
    assert not d.isVisible()
    qtbot.waitUntil(lambda: "personalized" in w.model_label.text(), timeout=10000)
    assert w.model_label.text().startswith("Model: tiny-test 0 · <b>personalized</b>"), "named after its base"
    qtbot.waitUntil(lambda: w.learn_bar.roll_back_button.isVisible(), timeout=10000)
    b = w.learn_bar.roll_back_button
    assert b.text() == "Roll back" and "tiny-test 0" in b.toolTip(), "short: the name is in its tooltip"
    assert w.learn_ui.roll_back_action.text() == "Roll back to tiny-test 0"

    with qtbot.waitSignal(w.learn.switched, timeout=30000):
        w.learn_bar.roll_back_button.click()
    qtbot.waitUntil(lambda: answered_by(w, tiny_bundle), timeout=15000)
    assert [h.photo_id for h in w.model.result.hits] == before, "rolling back restores the rankings"
    st2 = w.host.status
    assert Path(st2.bundle_path) == tiny_bundle and (st2.indexed, st2.photos) == (st0.indexed, st0.photos)
    qtbot.waitUntil(lambda: "personalized" not in w.model_label.text(), timeout=10000)
    assert not w.learn_bar.roll_back_button.isVisible()
    w.close()
    names = {n for n, _ in calls}
    assert {"learn_facts", "votes", "load_bundle", "use_bundle", "search", "status"} <= names
    assert sorted({n for n, main in calls if main}) == [], "engine calls on the GUI thread"


def test_cancel_kills_the_trainer_and_changes_nothing(make_window, qtbot, voted, monkeypatch):
    folder, _ = voted
    calls = record_threads(monkeypatch)
    w = open_window(make_window, qtbot, folder)
    bundle = w.host.status.bundle_path
    finished = []
    w.learn.finished.connect(finished.append)
    w.learn_bar.learn_button.click()
    qtbot.waitUntil(lambda: w.learn.proc is not None and w.learn.proc.processId() > 0, timeout=10000)
    pid = w.learn.proc.processId()
    with qtbot.waitSignal(w.learn.cancelled, timeout=20000):
        w.learn_dialog.cancel_button.click()
        assert w.learn_dialog.line.text() == "Stopping…" and not w.learn_dialog.cancel_button.isEnabled()
    assert w.learn.last_exit[1] is QProcess.ExitStatus.CrashExit, "killed, not finished"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert finished == [] and not w.learn_dialog.isVisible()
    qtbot.waitUntil(lambda: models_dir(folder) == [], timeout=10000)
    assert w.host.status.bundle_path == bundle
    assert w.learn_bar.learn_button.isEnabled() and w.learn_bar.learn_button.text() == "Learn from my votes…"
    w.close()
    assert {"remove_run", "learn_facts"} <= {n for n, _ in calls}
    assert sorted({n for n, main in calls if main}) == [], "engine calls on the GUI thread"
    with Library.open(folder) as lib:
        assert str(lib.bundle.root) == bundle


# A stand-in for the trainer's process (the real one runs in the tests above): it reads
# --out, prints two epochs on stderr, writes a folder there and prints a report.
FAKE_TRAINER = """\
import json, os, sys
out = sys.argv[sys.argv.index("--out") + 1]
for e in (1, 2):
    print(json.dumps({"event": "epoch", "epoch": e, "epochs": 5, "train_loss": 0.6, "train_acc": 0.7,
                      "held_acc": 0.5 + 0.1 * e, "held_loss": 0.6}), file=sys.stderr, flush=True)
os.makedirs(out)
os.makedirs(out + ".tmpwork")
curve = [{"epoch": e, "train_loss": 0.6, "train_acc": 0.7, "held_acc": 0.5 + 0.1 * e, "held_loss": 0.6} for e in (1, 2)]
print(json.dumps({"bundle": out, "base": "/b", "votes": 3, "pairs": 4, "dropped_pairs": 0, "queries": 1,
                  "pairs_train": 3, "pairs_held_out": 1, "before": 0.5, "after": 0.7, "train_before": 0.5,
                  "train_after": 0.8, "best_epoch": 2, "epochs_run": 2, "seconds": 0.1, "curve": curve}))
"""


def fake_trainer(tmp_path: Path) -> str:
    script = tmp_path / "fake-python"
    script.write_text(f"#!{sys.executable}\n" + FAKE_TRAINER)
    script.chmod(0o755)
    return str(script)


def test_keep_the_current_model_removes_the_new_one(make_window, qtbot, tmp_path, tiny_bundle):
    w = make_window(bundle=tiny_bundle)
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    qtbot.waitUntil(lambda: w.learn.facts is not None, timeout=10000)
    w.learn.python = fake_trainer(tmp_path)
    folder, bundle = Path(w.host.status.folder), w.host.status.bundle_path
    with qtbot.waitSignal(w.learn.finished, timeout=20000) as done:
        w.learn_bar.learn_button.click()
    o = done.args[0]
    assert [e.epoch for e in w.learn.epochs] == [1, 2] and w.learn_dialog.plot.values == [(0, 0.5), (1, 0.6), (2, 0.7)]
    assert Path(o.bundle).parent == folder / "models" and len(models_dir(folder)) == 2
    assert w.learn_dialog.numbers.text().count("%") == 2 and "70.0%" in w.learn_dialog.numbers.text()
    assert w.learn_bar.learn_button.isEnabled() and w.learn_bar.learn_button.text() == "New model ready…"
    w.learn_dialog.hide()  # closing the window only hides it; the bar brings it back
    w.learn_bar.learn_button.click()
    assert w.learn_dialog.isVisible() and w.learn_dialog.use_button.isVisible()
    w.learn_dialog.keep_button.click()
    assert not w.learn_dialog.isVisible() and w.learn_bar.learn_button.text() == "Learn from my votes…"
    qtbot.waitUntil(lambda: models_dir(folder) == [], timeout=10000)  # the new model and the exporter's work folder
    assert w.host.status.bundle_path == bundle


def test_a_trainer_that_cannot_start_or_crashes_is_reported(make_window, qtbot, tmp_path, tiny_bundle):
    w = make_window(bundle=tiny_bundle)
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    qtbot.waitUntil(lambda: w.learn.facts is not None, timeout=10000)
    w.learn.python = str(tmp_path / "no-such-python")
    with qtbot.waitSignal(w.learn.failed, timeout=10000) as failed:
        w.learn_bar.learn_button.click()
    assert failed.args[0].startswith("the trainer could not be started")
    crash = tmp_path / "crash-python"
    crash.write_text(f"#!{sys.executable}\nimport sys\nprint('MemoryError: out of memory', file=sys.stderr)\n"
                     "sys.exit(3)\n")
    crash.chmod(0o755)
    w.learn.python = str(crash)
    with qtbot.waitSignal(w.learn.failed, timeout=10000) as failed:
        w.learn_bar.learn_button.click()
    assert failed.args[0] == "the trainer failed: MemoryError: out of memory"
    assert "MemoryError" in w.learn_dialog.line.text() and w.learn_bar.learn_button.isEnabled()


def test_no_usable_pairs_shows_the_trainers_words(make_window, qtbot, voted):
    folder, _ = voted
    with Library.open(folder) as lib:
        for v in lib.votes():
            lib.undo_vote(v.id)
    w = open_window(make_window, qtbot, folder)
    assert w.learn_bar.counts.text() == "0 votes · 0 pairs" and "No pairs yet" in w.learn_bar.counts.toolTip()
    assert w.learn_bar.learn_button.isEnabled(), "the trainer says which votes are usable"
    with qtbot.waitSignal(w.learn.failed, timeout=60000) as failed:
        w.learn_bar.learn_button.click()
    assert failed.args[0].startswith("no usable preference pairs yet (0 votes")
    assert "no usable preference pairs yet" in w.learn_dialog.line.text() and w.learn_dialog.close_button.isVisible()
    assert not w.learn_dialog.use_button.isVisible()
    qtbot.waitUntil(lambda: models_dir(folder) == [], timeout=10000)
    assert w.learn_bar.learn_button.isEnabled()


def test_a_model_without_query_side_weights_cannot_learn(window):
    w = window  # the engine's ONNX test double: graphs only
    assert w.learn.facts is not None and not w.learn.facts.can_personalize
    b = w.learn_bar.learn_button
    assert not b.isEnabled() and b.toolTip() == f"Not available: {NO_WEIGHTS}"
    assert not w.learn_ui.learn_action.isEnabled() and not w.learn_bar.roll_back_button.isVisible()
    assert not w.learn.start() and w.learn.proc is None


def test_without_the_trainer_the_action_says_how_to_install_it(make_window, qtbot, tiny_bundle):
    w = make_window(bundle=tiny_bundle)
    w.learn.find_spec = lambda name: None if name == "torch" else object()
    with qtbot.waitSignal(w.host.opened, timeout=20000):
        w.start()
    qtbot.waitUntil(lambda: w.learn.facts is not None, timeout=10000)
    b = w.learn_bar.learn_button
    assert w.learn.facts.can_personalize, "the model could learn"
    assert not b.isEnabled() and b.toolTip() == f"Not available: {INSTALL_TRAINER}"
    w.learn.find_spec = lambda name: object()
    with qtbot.waitSignal(w.learn.facts_changed, timeout=10000):
        w.learn.refresh()
    assert b.isEnabled()
