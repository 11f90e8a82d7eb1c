"""``cirsearch-train import-qure`` end to end on LAVIS-layout checkpoints."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from functools import partial
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from engine.bundle import load_bundle
from trainer.cli import main
from trainer.model.checkpoint import import_files

from .lavis_layout import random_lavis_state_dict
from .test_checkpoint_import import SMALL, SMALL_BASE


def _vocab(path, n_tokens: int):
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(n_tokens - 6)]
    path.write_text("\n".join(words) + "\n")  # + [DEC] = n_tokens ids
    return path


def _import(files, *extra, vocab="vocab.txt", blip2=True, out="b"):
    """Run ``import-qure`` on the test files: the QuRe checkpoint, BLIP-2's file (or not:
    ``blip2=False``), the vocabulary (or not: ``vocab=None``), the tiny base config."""
    argv = ["import-qure", "--checkpoint", str(files / "model.pth"), "--out", str(files / out), "--base-config", "tiny"]
    if blip2:
        argv += ["--blip2", str(files / "blip2_pretrained_vitL.pth")]
    if vocab:
        argv += ["--vocab", str(files / vocab)]
    return main([*argv, *extra])


@pytest.fixture()
def files(tmp_path):
    blip2 = random_lavis_state_dict(SMALL, seed=1)
    qure = random_lavis_state_dict(SMALL, seed=2, vit=False)  # QuRe's file may lack the frozen ViT
    torch.save({"model": blip2}, tmp_path / "blip2_pretrained_vitL.pth")
    torch.save(qure, tmp_path / "model.pth")
    _vocab(tmp_path / "vocab.txt", SMALL.vocab)
    return tmp_path


def test_import_writes_a_bundle_matching_pytorch(files, capsys):
    out = files / "bundle"
    rc = _import(files, "--offline", "--out-run", str(files / "run"), out="bundle")
    assert rc == 0
    text = capsys.readouterr().out
    assert "mapped" in text and "unused" in text and "captioning LM head" in text
    b = load_bundle(out)
    assert set(b.manifest.graphs) == {"vision", "target", "query", "text", "query_kv", "query_cached"}
    # the bundle computes what the imported PyTorch model computes
    model, _ = import_files(checkpoint=files / "model.pth", blip2=files / "blip2_pretrained_vitL.pth", base=SMALL_BASE)
    feats = np.random.default_rng(0).standard_normal((2, 37, 128)).astype(np.float32)
    got = ort.InferenceSession(str(b.graph_path("target")), providers=["CPUExecutionProvider"]).run(
        None, {"vision_feats": feats}
    )[0]
    with torch.no_grad():
        want = model.target_from_features(torch.from_numpy(feats)).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
    # the run dir (for train --init) holds the same weights
    from trainer.run import load_model

    run_model, _, _ = load_model(files / "run")
    with torch.no_grad():
        np.testing.assert_allclose(run_model.target_from_features(torch.from_numpy(feats)).numpy(), want, atol=1e-6)
    assert json.loads((out / "manifest.json").read_text())["extra"]["import"]["sources"] == {
        "qure": len(random_lavis_state_dict(SMALL, vit=False)),
        "blip2": len(random_lavis_state_dict(SMALL)),
    }


def test_wrong_vocabulary_is_refused(files, capsys):
    _vocab(files / "short.txt", 100)
    rc = _import(files, "--offline", vocab="short.txt")
    assert rc == 1
    assert "wrong vocabulary" in capsys.readouterr().err
    assert not (files / "b").exists()


def test_offline_without_vit_says_what_to_pass(files):
    with pytest.raises(SystemExit, match="BLIP-2 pretrained"):
        _import(files, "--offline", blip2=False)


def test_offline_uses_files_saved_in_the_cache_by_hand(files, capsys):
    """What the offline message says to do works: save the file in the cache, run again with --offline."""
    cache = files / "cache"
    with pytest.raises(SystemExit, match="blip2_pretrained_vitL.pth"):
        _import(files, "--offline", "--cache-dir", str(cache), blip2=False)
    cache.mkdir()
    (cache / "blip2_pretrained_vitL.pth").write_bytes((files / "blip2_pretrained_vitL.pth").read_bytes())
    assert _import(files, "--offline", "--cache-dir", str(cache), blip2=False) == 0
    assert load_bundle(files / "b").manifest.graphs["vision"]


def test_int8_optional_keeps_float32_when_the_check_refuses(files, capsys):
    """--int8 fails the command on a refused check; --int8-optional (what the app passes) keeps the
    float32 bundle, says why and succeeds; both report the outcome to programs as an "int8" event."""
    strict = ("--offline", "--progress-json", "--min-cosine", "1.0", "--calibration", "32")
    assert _import(files, *strict, "--int8", out="strict") == 1
    assert '"kept": false' in capsys.readouterr().err
    assert _import(files, *strict, "--int8-optional", out="optional") == 0
    err = capsys.readouterr().err
    assert '"kept": false' in err and "keeps its float32 graphs only" in err and '"event": "done"' in err
    assert not load_bundle(files / "optional").manifest.int8_graphs


@pytest.fixture()
def mirror(files):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            pass

    handler = partial(Quiet, directory=str(files))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_omitted_blip2_is_downloaded(files, mirror, tmp_path, capsys):
    cache = tmp_path / "cache"
    rc = _import(files, "--mirror", mirror, "--cache-dir", str(cache), blip2=False)
    assert rc == 0, capsys.readouterr().err
    assert (cache / "blip2_pretrained_vitL.pth").read_bytes() == (files / "blip2_pretrained_vitL.pth").read_bytes()
    assert "pins.json" in {p.name for p in cache.iterdir()}  # its SHA-256 pinned on first use
    load_bundle(files / "b")


def test_omitted_vocab_is_verified_against_its_pinned_hash(files, mirror, tmp_path, capsys):
    (files / "bert-base-uncased-vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nnot bert\n")
    rc = _import(files, "--mirror", mirror, "--cache-dir", str(tmp_path / "cache"), vocab=None)
    assert rc == 1
    assert "does not verify" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "bert-base-uncased-vocab.txt").exists()


def test_progress_json_reports_steps_bytes_and_every_file_to_fetch_by_hand(files, mirror, tmp_path, capsys):
    cache = tmp_path / "cache"
    rc = _import(files, "--mirror", mirror, "--cache-dir", str(cache), "--progress-json", blip2=False)
    assert rc == 0
    events = [json.loads(ln) for ln in capsys.readouterr().err.splitlines() if ln.startswith("{")]
    steps = [(e["step"], Path(e["file"]).name if e.get("file") else None) for e in events if e["event"] == "step"]
    assert steps == [("read", "model.pth"), ("download", "blip2_pretrained_vitL.pth"),
                     ("read", "blip2_pretrained_vitL.pth"), ("convert", None), ("export", None)]
    got = [(e["done"], e["total"]) for e in events if e["event"] == "download"]
    size = (files / "blip2_pretrained_vitL.pth").stat().st_size
    assert got[0] == (0, size) and got[-1] == (size, size) and got == sorted(got)
    assert events[-1] == {"event": "done", "bundle": str(files / "b")}

    with socket.socket() as dead:  # bound, not listening: connections are refused
        dead.bind(("127.0.0.1", 0))
        rc = _import(files, "--mirror", f"http://127.0.0.1:{dead.getsockname()[1]}", "--cache-dir",
                     str(tmp_path / "empty"), "--progress-json", blip2=False, vocab=None)
    assert rc == 1
    err = capsys.readouterr().err
    missing = [json.loads(ln) for ln in err.splitlines() if ln.startswith('{"event": "missing"')]
    assert [(m["file"], m["path"]) for m in missing] == [
        (name, str(tmp_path / "empty" / name)) for name in ("blip2_pretrained_vitL.pth", "bert-base-uncased-vocab.txt")]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and last.count("download it by hand and save it as") == 2
