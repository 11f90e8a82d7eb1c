"""The ``cirsearch`` command end to end: in-process for most cases, the installed script for a few."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli import main
from engine.resources import demo_bundle_dir

REPO = Path(__file__).resolve().parents[2]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_index_search_similar_status_vote(tmp_path, photos, any_bundle, capsys):
    lib = tmp_path / "lib"
    (photos / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    code, out, err = run(capsys, "index", "--library", lib, "--bundle", any_bundle, photos, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["indexed"] == 24 and summary["encoded"] == 24 and summary["skipped"] == 1
    assert summary["skipped_files"][0]["path"] == str(photos / "a" / "broken.jpg")
    assert summary["skipped_files"][0]["reason"]

    ref = sorted((photos / "a").glob("img_*"))[0]
    code, out, err = run(capsys, "search", "--library", lib, "--image", ref, "--text", "same but red", "-k", "5",
                         "--json")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 5
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert all(Path(h["path"]).is_file() and h["path"] != str(ref) for h in hits)

    code, out, _ = run(capsys, "search", "--library", lib, "--text", "red shirt", "--json", "-k", "3")
    assert code == 0 and len(json.loads(out)) == 3
    code, out, _ = run(capsys, "similar", ref, "--library", lib, "--json", "-k", "4")
    assert code == 0 and len(json.loads(out)) == 4

    code, out, _ = run(capsys, "search", "--library", lib, "--image", ref, "--text", "same but red", "-k", "5")
    lines = [x for x in out.splitlines() if not x.strip().startswith("---")]
    assert code == 0 and len(lines) == 5 and lines[0].split()[2] == hits[0]["path"]

    code, out, _ = run(capsys, "vote", hits[2]["path"], "--up", "--image", ref, "--query", "same but red", "-k", "5",
                       "--library", lib, "--json")
    vote = json.loads(out)
    assert code == 0 and vote["rank"] == 2 and vote["up"] is True

    code, out, _ = run(capsys, "status", "--library", lib, "--json")
    st = json.loads(out)
    assert code == 0 and st["indexed"] == 24 and st["skipped"] == 1 and st["votes"] == 1
    assert st["skipped_files"] == summary["skipped_files"]
    assert st["device"] == "cpu" and st["bundle"] and st["bundle_path"] == str(any_bundle)

    code, out, _ = run(capsys, "vote", "--undo", vote["id"], "--library", lib)
    assert code == 0 and "undone" in out
    code, out, _ = run(capsys, "status", "--library", lib)
    assert "votes     0" in out and "broken.jpg" in out


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["search", "--text", "x"], 1, "no library in"),
        (["search"], 2, "give --text"),
        (["vote", "x.jpg", "--up"], 1, "no library in"),
        (["index"], 2, "no folders yet"),
    ],
)
def test_user_errors_are_messages_not_tracebacks(tmp_path, capsys, fake_bundle, argv, code, message):
    lib = tmp_path / "lib"
    extra = ["--bundle", str(fake_bundle)] if argv[0] == "index" else []
    got, out, err = run(capsys, *argv, "--library", lib, *extra)
    assert got == code and message in err and "Traceback" not in err


def test_errors_on_a_real_library(tmp_path, photos, fake_bundle, capsys):
    lib = tmp_path / "lib"
    assert run(capsys, "index", "--library", lib, "--bundle", fake_bundle, photos / "a", "--quiet")[0] == 0
    code, _, err = run(capsys, "search", "--library", lib, "--image", tmp_path / "nope.jpg", "--text", "x")
    assert code == 1 and "no such file" in err
    code, _, err = run(capsys, "search", "--library", lib, "--text", "x", "-k", "0")
    assert code == 2 and "-k" in err
    code, _, err = run(capsys, "vote", tmp_path / "other.jpg", "--down", "--text", "x", "--library", lib)
    assert code == 2 and "not an indexed photo" in err
    bad = shutil.copytree(fake_bundle, tmp_path / "bad")
    (bad / "target.onnx").write_bytes(b"tampered")
    code, _, err = run(capsys, "status", "--library", lib, "--bundle", bad)
    assert code == 1 and "target.onnx" in err


def test_ctrl_c_exits_130_and_keeps_work(tmp_path, photos, fake_bundle, capsys, monkeypatch):
    from engine.library import Library

    def interrupted(self, *a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Library, "index", interrupted)
    code, _, err = run(capsys, "index", "--library", tmp_path / "lib", "--bundle", fake_bundle, photos)
    assert code == 130 and "run the same command to continue" in err


def _script() -> list[str]:
    exe = Path(sys.executable).with_name("cirsearch")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "engine.cli"]


def test_installed_script_shows_progress_and_a_summary(tmp_path, photos, fake_bundle):
    (photos / "b" / "text.jpg").write_text("hello")
    out = subprocess.run([*_script(), "index", "--library", str(tmp_path / "lib"), "--bundle", str(fake_bundle),
                          str(photos)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "photo/s" in out.stderr and "100%" in out.stderr  # tqdm: rate and completion on stderr
    assert "24 photos indexed" in out.stdout and "Skipped 1:" in out.stdout and "text.jpg: not an image" in out.stdout
    bad = subprocess.run([*_script(), "similar", str(tmp_path / "none.jpg"), "--library", str(tmp_path / "lib")],
                         capture_output=True, text=True, timeout=120, cwd=REPO)
    assert bad.returncode == 1 and "no such file" in bad.stderr and "Traceback" not in bad.stderr


def _demo(tmp_path, capsys, bundle, *extra):
    return run(capsys, "demo", "--library", tmp_path / "demo-lib", "--bundle", bundle, "--count", "60", *extra)


@pytest.mark.parametrize("bundle_name", ["fake_bundle", "tiny_bundle"])
def test_demo_builds_indexes_and_answers(tmp_path, capsys, request, bundle_name):
    bundle = request.getfixturevalue(bundle_name)
    code, out, err = _demo(tmp_path, capsys, bundle, "--json", "-k", "8")
    assert code == 0, err
    d = json.loads(out)
    assert d["indexed"] == 60 and len(d["results"]) == 8
    assert Path(d["reference"]).is_file() and d["text"]
    photos = tmp_path / "demo-lib-photos"
    assert (photos / "demo.json").is_file() and d["photos"] == str(photos)
    assert all(Path(r["path"]).is_relative_to(photos) for r in d["results"])
    assert any(isinstance(r["relevant"], bool) for r in d["results"])
    code, out, err = _demo(tmp_path, capsys, bundle, "--quiet")  # again: nothing rendered or encoded twice
    assert code == 0 and "0 encoded" in out and "60 unchanged" in out
    assert "reference:" in out and "satisfy the query" in out


def test_demo_with_the_shipped_demo_bundle(tmp_path, capsys):
    assert demo_bundle_dir() is not None, "resources/demo-bundle is missing"
    code, out, err = run(capsys, "demo", "--library", tmp_path / "demo-lib", "--count", "60", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["indexed"] == 60 and d["results"] and "demo" in d["bundle"]


def test_default_library_is_in_the_user_data_dir(monkeypatch, tmp_path):
    from engine.resources import default_library_dir

    monkeypatch.delenv("CIRSEARCH_LIBRARY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_library_dir() == tmp_path / "data" / "cirsearch" / "library"
    monkeypatch.setenv("CIRSEARCH_LIBRARY", str(tmp_path / "elsewhere"))
    assert default_library_dir() == tmp_path / "elsewhere"
    assert os.environ["CIRSEARCH_LIBRARY"]


def test_a_run_that_stopped_is_taken_up_and_said_so(tmp_path, photos, fake_bundle, capsys):
    """Photos an interrupted run listed but did not encode are not 'unchanged': the next
    index says they were taken up again, in its text and its --json."""
    from engine.indexer import Control, IndexConfig
    from engine.library import Library, LibraryConfig

    lib, control = tmp_path / "lib", Control()

    def stop(p):
        if p.phase == "encode" and p.done >= 8:
            control.cancel()

    with Library.open(lib, bundle=fake_bundle, cfg=LibraryConfig(index=IndexConfig(batch_size=4))) as library:
        first = library.index([photos], progress=stop, control=control)
    assert first.cancelled and 0 < first.encoded < 24
    waiting = 24 - first.encoded
    code, out, err = run(capsys, "index", "--library", lib, "--quiet")
    assert code == 0, err
    assert f"{waiting} encoded" in out and f"{24 - waiting} unchanged" in out
    assert f"{waiting} photos left waiting by an earlier run that did not finish" in out
    code, out, _ = run(capsys, "index", "--library", lib, "--json")
    summary = json.loads(out)
    assert (summary["encoded"], summary["unchanged"], summary["resumed"]) == (0, 24, 0)  # nothing waits now
