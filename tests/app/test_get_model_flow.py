"""Model → "Get the QuRe model…" in the window, with the real converter as a child process
(``cirsearch-train import-qure`` on random-weight checkpoints in LAVIS's layout, at the
small test size) and its BLIP-2 download served by a local HTTP server: the dialog walks
from the file to a library re-indexed with the new model; offline it says which file to
save where, and a second try picks it up; without the trainer it says how to install
it; Cancel kills the converter and leaves the library on its model."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QProcess

from app.state.get_model import INSTALL_HINT, QURE_CHECKPOINTS, ImportOptions, Kind, Phase
from engine.bundle import load_bundle
from engine.library import Library
from tests.app.test_threads import record_threads

torch = pytest.importorskip("torch")

BLIP2 = "blip2_pretrained_vitL.pth"
CHUNK = 1 << 20  # import-qure downloads in 1 MiB reads


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """QuRe's model.pth without the ViT (so BLIP-2's file is needed), BLIP-2's file, a vocabulary."""
    from tests.trainer.lavis_layout import random_lavis_state_dict
    from tests.trainer.test_checkpoint_import import SMALL

    d = tmp_path_factory.mktemp("qure")
    torch.save({"model": random_lavis_state_dict(SMALL, seed=1)}, d / BLIP2)
    torch.save(random_lavis_state_dict(SMALL, seed=2, vit=False), d / "model.pth")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(SMALL.vocab - 6)]
    (d / "vocab.txt").write_text("\n".join(words) + "\n")  # + [DEC] = SMALL.vocab ids
    return d


class Serve(http.server.SimpleHTTPRequestHandler):
    hold: threading.Event | None = None  # set: send the first MiB, then wait for it

    def log_message(self, *a):
        pass

    def copyfile(self, source, outputfile):
        if self.hold is None:
            return super().copyfile(source, outputfile)
        try:
            outputfile.write(source.read(CHUNK))
            outputfile.flush()
            self.hold.wait(60)
        except OSError:  # the converter was killed
            pass


@pytest.fixture
def server(files):
    """(handler class, base URL) of a server for ``files``; its ``hold`` stalls a download."""
    class H(Serve):
        pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(H, directory=str(files)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield H, f"http://127.0.0.1:{httpd.server_address[1]}"
    if H.hold is not None:
        H.hold.set()
    httpd.shutdown()
    httpd.server_close()


def options(files: Path, mirror: str, cache: Path) -> ImportOptions:
    return ImportOptions(base_config="tiny", vocab=files / "vocab.txt", mirror=mirror, cache_dir=cache)


def models_dir(w) -> list[str]:
    d = Path(w.host.status.folder) / "models"
    return sorted(os.listdir(d)) if d.is_dir() else []


def begin(w, qtbot, files: Path):
    """Open the dialog (the trainer found) and choose QuRe's file."""
    d = w.get_model_dialog
    d.open_flow()
    qtbot.waitUntil(lambda: d.isVisible() and not d.trainer_hint.isVisible(), timeout=10000)
    assert not d.buttons["convert"].isEnabled(), "no file chosen yet"
    assert d.buttons["convert"].toolTip() == "Not yet: choose the QuRe checkpoint you downloaded (model.pth)"
    d.path_edit.setText(str(files / "model.pth"))
    assert d.buttons["convert"].isEnabled()
    return d


def test_convert_then_use_it_reindexes_the_library(window, qtbot, files, server, tmp_path, monkeypatch):
    w, (_, mirror) = window, server
    calls = record_threads(monkeypatch)
    c = w.get_model
    c.options = options(files, mirror, tmp_path / "cache")
    qtbot.waitUntil(lambda: w.host.status.photos == 24, timeout=10000)
    st0 = w.host.status
    d = begin(w, qtbot, files)
    assert QURE_CHECKPOINTS in d.where.text() and d.pages.currentIndex() == 0
    lines = []
    c.progress.connect(lambda p: lines.append(p.line))
    with qtbot.waitSignal(c.finished, timeout=180000) as done:
        d.buttons["convert"].click()
        assert d.pages.currentIndex() == 1 and d.buttons["cancel"].isVisible()
    size = f"{(files / BLIP2).stat().st_size / 1e6:.1f} MB"
    got = [ln for ln in lines if ln.startswith(f"Downloading {BLIP2}:")]
    assert len(got) >= 3 and got[-1] == f"Downloading {BLIP2}: {size} of {size}", "bytes as they arrive"
    steps = d.steps.text().split("\n")
    assert steps[:5] == ["✓ Read model.pth", "✓ Downloaded BLIP-2 pretrained with CLIP ViT-L/14 "
                         "(LAVIS)", f"✓ Read {BLIP2}", "✓ Converted the weights", "✓ Wrote the model's graphs"]
    assert (tmp_path / "cache" / BLIP2).read_bytes() == (files / BLIP2).read_bytes()
    out = Path(done.args[0])
    # the 8-bit graphs are tried; what the dialog says matches what the bundle holds
    kept = bool(load_bundle(out).manifest.int8_graphs)
    assert len(steps) == 6 and steps[5].startswith("✓ Made the 8-bit graphs" if kept else "✓ Kept full precision")
    assert out.parent == Path(st0.folder) / "models" and out.name.startswith("qure-cirr-")
    assert load_bundle(out).manifest.model.name == "qure-cirr"
    assert w.host.status.bundle_path == st0.bundle_path, "nothing switches before 'Use it'"
    assert d.pages.currentIndex() == 2 and d.buttons["use"].isEnabled() and d.buttons["later"].isVisible()
    assert f"({st0.photos} photos; your votes are kept)" in d.outcome.text()

    indexing = []
    w.index_job.progress.connect(lambda p: indexing.append(d.line.text()))
    with qtbot.waitSignal(c.done, timeout=120000):
        d.buttons["use"].click()
    st = w.host.status
    assert Path(st.bundle_path) == out and st.bundle.startswith("qure-cirr")
    assert any(t.startswith("Encoding your photos with the new model: ") for t in indexing), "re-indexing is shown"
    assert d.outcome.text() == f"Your library now uses {st.bundle}. {st0.photos} photos were encoded with it."
    assert d.pages.currentIndex() == 2 and d.buttons["close"].isVisible() and not d.buttons["use"].isVisible()
    qtbot.waitUntil(lambda: w.host.status.indexed == st0.indexed and w.host.status.pending == 0, timeout=10000)
    assert c.flow.phase is Phase.DONE
    d.buttons["close"].click()
    d.open_flow()
    assert c.flow.phase is Phase.IDLE and d.pages.currentIndex() == 0, "opened again: a new start"
    w.close()
    names = {n for n, _ in calls}
    assert {"load_bundle", "use_bundle", "index", "status"} <= names
    assert sorted({n for n, main in calls if main}) == [], "engine calls on the GUI thread"
    with Library.open(st0.folder) as lib:
        assert lib.bundle.root == out


def test_offline_says_what_to_save_where_and_the_next_try_uses_it(window, qtbot, files, tmp_path):
    w, c = window, window.get_model
    cache = tmp_path / "cache"
    with socket.socket() as dead:  # bound, never listening: every connection is refused
        dead.bind(("127.0.0.1", 0))
        c.options = options(files, f"http://127.0.0.1:{dead.getsockname()[1]}", cache)
        d = begin(w, qtbot, files)
        with qtbot.waitSignal(c.failed, timeout=120000) as failed:
            d.buttons["convert"].click()
        f = failed.args[0]
        assert f.kind is Kind.OFFLINE and [m.file for m in f.missing] == [BLIP2]
        text = d.outcome.text()
        assert d.pages.currentIndex() == 2 and f"save it as <code>{cache / BLIP2}</code>" in text
        assert "could not be downloaded" in text and str(cache) in text
        assert d.buttons["retry"].isVisible() and d.buttons["back"].isVisible()
        assert not d.buttons["convert"].isVisible()
        qtbot.waitUntil(lambda: models_dir(w) == [], timeout=10000)

        shutil.copy(files / BLIP2, cache / BLIP2)  # as the dialog says; the network is still down
        lines = []
        c.progress.connect(lambda p: lines.append(p.line))
        with qtbot.waitSignal(c.finished, timeout=180000) as done:
            d.buttons["retry"].click()
    assert not any(ln.startswith(f"Downloading {BLIP2}:") for ln in lines), "no byte was downloaded"
    assert "✓ Downloaded BLIP-2 pretrained with CLIP ViT-L/14 (LAVIS)" in d.steps.text(), "the file was found"
    out = Path(done.args[0])
    assert load_bundle(out).manifest.model.name == "qure-cirr"
    with open(out / "query.onnx", "ab") as f:  # damaged since: the switch is refused, the model waits
        f.write(b"x")
    d.buttons["use"].click()
    qtbot.waitUntil(lambda: c.flow.phase is Phase.READY and c.switch_error is not None, timeout=20000)
    assert "query.onnx" in c.switch_error and "could not be switched" in d.outcome.text()
    assert d.buttons["use"].isVisible() and d.pages.currentIndex() == 2
    d.buttons["later"].click()
    assert c.flow.phase is Phase.IDLE and d.pages.currentIndex() == 0
    assert out.is_dir(), "a model kept for later stays"
    assert w.host.status.bundle_path != str(out)


def no_torch_python(tmp_path: Path) -> str:
    """A Python in which ``import torch`` fails as it does where PyTorch is not installed."""
    script = tmp_path / "python-without-torch"
    script.write_text(f"""#!{sys.executable}
import os, runpy, sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, NoTorch())
sys.path.insert(0, os.getcwd())  # as "python -m" does
sys.argv = [sys.argv[2]] + sys.argv[3:]  # drop "-m"
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
""")
    script.chmod(0o755)
    return str(script)


def test_without_the_trainer_it_says_how_to_install_it(window, qtbot, files, tmp_path):
    w, c = window, window.get_model
    d = w.get_model_dialog
    c.find_spec = lambda name: None if name == "torch" else object()  # this Python lacks it
    d.open_flow()
    qtbot.waitUntil(lambda: d.trainer_hint.isVisible(), timeout=10000)
    assert "pip install 'cirsearch[train]'" in d.trainer_hint.text() and "./dev setup" in d.trainer_hint.text()
    d.path_edit.setText(str(files / "model.pth"))
    assert not d.buttons["convert"].isEnabled() and d.buttons["convert"].toolTip() == f"Not yet: {INSTALL_HINT}"

    c.find_spec = lambda name: object()  # found here, but the converter's Python cannot import it
    c.python = no_torch_python(tmp_path)
    c.check_trainer()
    qtbot.waitUntil(lambda: d.buttons["convert"].isEnabled(), timeout=10000)
    with qtbot.waitSignal(c.failed, timeout=60000) as failed:
        d.buttons["convert"].click()
    assert failed.args[0].kind is Kind.NO_TRAINER
    assert "pip install 'cirsearch[train]'" in d.outcome.text() and "cannot import torch" in d.outcome.text()
    assert d.pages.currentIndex() == 2
    d.buttons["back"].click()
    assert d.pages.currentIndex() == 0 and d.buttons["convert"].isVisible()
    qtbot.waitUntil(lambda: models_dir(w) == [], timeout=10000)


def test_a_converter_that_cannot_start_is_reported(window, qtbot, files, tmp_path):
    w, c = window, window.get_model
    d = begin(w, qtbot, files)
    c.python = str(tmp_path / "no-such-python")
    with qtbot.waitSignal(c.failed, timeout=10000) as failed:
        d.buttons["convert"].click()
    assert failed.args[0].kind is Kind.ERROR and "The converter could not be started" in d.outcome.text()
    assert c.proc is None and c.flow.phase is Phase.IDLE
    qtbot.waitUntil(lambda: models_dir(w) == [], timeout=10000)


def test_cancel_kills_the_converter_and_keeps_the_model(window, qtbot, files, server, tmp_path, monkeypatch):
    w, c = window, window.get_model
    H, mirror = server
    H.hold = threading.Event()  # the download stops after its first MiB
    calls = record_threads(monkeypatch)
    cache = tmp_path / "cache"
    c.options = options(files, mirror, cache)
    folder, bundle = w.host.status.folder, w.host.status.bundle_path
    finished = []
    c.finished.connect(finished.append)
    d = begin(w, qtbot, files)
    d.buttons["convert"].click()
    qtbot.waitUntil(lambda: c.state.bar is not None and c.state.bar[0] > 0, timeout=60000)
    assert c.state.line.startswith(f"Downloading {BLIP2}: 1.0 MB of ") and d.bar.value() == c.state.bar[0]
    pid = c.proc.processId()
    with qtbot.waitSignal(c.cancelled, timeout=20000):
        d.buttons["cancel"].click()
        assert d.line.text() == "Stopping…" and not d.buttons["cancel"].isEnabled()
    assert c.last_exit[1] is QProcess.ExitStatus.CrashExit, "killed, not finished"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert finished == [] and c.flow.phase is Phase.IDLE and c.flow.failure is None
    assert d.pages.currentIndex() == 0 and d.buttons["convert"].isEnabled()
    assert (cache / (BLIP2 + ".part")).stat().st_size == CHUNK, "the partial download stays for the next try"
    qtbot.waitUntil(lambda: models_dir(w) == [], timeout=10000)
    assert w.host.status.bundle_path == bundle
    w.close()
    assert "remove_run" in {n for n, _ in calls}
    assert sorted({n for n, main in calls if main}) == [], "engine calls on the GUI thread"
    with Library.open(folder) as lib:
        assert str(lib.bundle.root) == bundle
