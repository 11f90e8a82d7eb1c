"""ONNX Runtime sessions: the device, silence while probing CUDA, and the bundle's graph contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.bundle import file_entries, load_bundle, write_manifest
from engine.errors import BundleError
from engine.runtime import Encoders, RuntimeConfig, probe_device

REPO = Path(__file__).resolve().parents[2]


def test_auto_device_is_reported_and_probing_is_silent(fake_bundle):
    """In a fresh process (the CUDA probe is cached per process): asking for CUDA on a
    machine where it cannot load must print nothing, and the device must say so."""
    code = (
        "from engine.bundle import load_bundle\n"
        "from engine.runtime import Encoders, RuntimeConfig, probe_device\n"
        f"e = Encoders(load_bundle({str(fake_bundle)!r}), RuntimeConfig('auto'))\n"
        "e.load_all()\n"
        "print(e.device, probe_device(), sorted(e.session('vision').get_providers()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    device, probed, providers = out.stdout.split(maxsplit=2)
    assert out.stderr == ""  # no provider-load errors or warnings
    assert device == probed and device in ("cpu", "cuda")
    assert ("CUDAExecutionProvider" in providers) == (device == "cuda")


def test_cpu_is_used_when_asked(fake_bundle):
    e = Encoders(load_bundle(fake_bundle), RuntimeConfig("cpu"))
    assert e.device == "cpu"
    assert e.session("target").get_providers() == ["CPUExecutionProvider"]


@pytest.mark.skipif(probe_device() == "cuda", reason="CUDA works here")
def test_cuda_demanded_without_cuda_is_a_clear_error(fake_bundle):
    with pytest.raises(BundleError, match="CUDA was asked for"):
        Encoders(load_bundle(fake_bundle), RuntimeConfig("cuda")).session("vision")


def test_bad_device_name_is_refused():
    with pytest.raises(ValueError):
        RuntimeConfig("tpu")


def _rewrite(bundle: Path) -> None:
    m = load_bundle(bundle, verify=False).manifest
    from dataclasses import replace

    write_manifest(bundle, replace(m, files=file_entries(bundle, list(m.files))))


def test_a_graph_with_the_wrong_inputs_is_refused_naming_it(tmp_path, fake_bundle):
    import shutil

    b = Path(shutil.copytree(fake_bundle, tmp_path / "b"))
    shutil.copy(b / "vision.onnx", b / "query.onnx")  # hashes fine, contract broken
    _rewrite(b)
    e = Encoders(load_bundle(b, verify=False))  # unverified: the session's own check (loading reads the file's)
    with pytest.raises(BundleError, match="query graph query.onnx has inputs") as err:
        e.session("query")
    assert err.value.file == "query.onnx"


def test_a_graph_onnx_runtime_cannot_load_is_refused_naming_it(tmp_path, fake_bundle):
    import shutil

    b = Path(shutil.copytree(fake_bundle, tmp_path / "b"))
    (b / "target.onnx").write_bytes(b"\x08\x07garbage that is not a model")
    _rewrite(b)
    with pytest.raises(BundleError, match="target.onnx cannot be loaded") as err:
        Encoders(load_bundle(b)).load_all()
    assert err.value.file == "target.onnx"


def test_encoders_follow_the_manifest_sizes(any_bundle):
    import numpy as np

    b = load_bundle(any_bundle)
    s, size = b.manifest.sizes, b.manifest.image.size
    e = Encoders(b)
    feats = e.vision(np.zeros((2, 3, size, size), np.float32))
    assert feats.shape == (2, s.vision_tokens, s.vision_width)
    tokens = e.target(feats)
    assert tokens.shape == (2, s.num_query_tokens, s.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(tokens, axis=-1), 1, atol=1e-4)
    ids, mask = b.tokenizer().encode(["red", "a blue dress"])
    q = e.query(feats, ids, mask)
    assert q.shape == (2, s.embed_dim)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1, atol=1e-4)
