"""tools/demo_model/reproduce.sh, the whole demo-model pipeline from seeds, run small.

The real run takes hours; a typo in its last step would show only at the end of it. Here
the same script runs on a world of a few dozen images with one epoch per stage: world,
vocabulary, pretraining (``PAIRED=1``, ``ITG=0.5``, ``ATTRIBUTES=0.5``, ``IMAGE_SIZE=112``,
``PATCH_SIZE=16``, ``VISION_STEM=conv``: the options' branches), composed stage, test eval,
export (``INT8=0``: float32 graphs; the int8 check has its own tests). A second run must
skip every finished step (the script's promise that a stopped run continues where it was)
and still write the bundle."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "demo_model" / "reproduce.sh"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(work: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "IMAGES": "60", "TRIPLETS": "45", "EVAL_IMAGES": "45",
           "EVAL_TRIPLETS": "30", "EPOCHS_PRE": "1", "EPOCHS_CIR": "1", "PAIRED": "1", "THREADS": "1",
           "ITG": "0.5", "ATTRIBUTES": "0.5", "ATTRIBUTE_INPUT": "vision",
           "IMAGE_SIZE": "112", "PATCH_SIZE": "16", "VISION_STEM": "conv",
           "SEED": "3", "INT8": "0", "OUT": str(out), "OMP_NUM_THREADS": "1"}
    return subprocess.run(["bash", str(SCRIPT), str(work)], capture_output=True, text=True, env=env, timeout=400)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_reproduce_script_builds_a_bundle_and_resumes(tmp_path):
    from engine.bundle import load_bundle

    work, out = tmp_path / "work", tmp_path / "bundle"
    proc = _run(work, out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    world = json.loads((work / "world" / "world.json").read_text())
    assert world["config"]["eval_images"] == 45 and world["config"]["train_images"] == 60, world["config"]
    pre = json.loads((work / "pretrain" / "config.json").read_text())
    assert pre["method"] == "pretrain" and pre["pretraining"]["paired"] is True and pre["pretraining"]["itg"] == 0.5
    assert pre["pretraining"]["attributes"] == 0.5 and pre["pretraining"]["attribute_input"] == "vision"
    assert pre["pretraining"]["epochs"] == 1 and pre["seed"] == 3 and pre["model"]["image"]["size"] == 112
    assert pre["model"]["vision"]["stem"] == "conv"
    cir = json.loads((work / "cir" / "config.json").read_text())
    assert Path(cir["init"]).resolve() == (work / "pretrain").resolve(), cir.get("init")
    metrics = json.loads((work / "test.json").read_text())
    assert 0 <= metrics["metrics"]["R@10"] <= 100, metrics

    bundle = load_bundle(out)  # verifies every file's SHA-256 against the manifest
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model"]["demo"] is True and manifest["model"]["name"] == "cirsearch-demo"
    assert manifest["int8_graphs"] == {}  # INT8=0: a one-epoch model's int8 ranking is too unstable to check
    # IMAGE_SIZE, PATCH_SIZE and VISION_STEM reach the pretraining, the composed stage, the bundle
    assert bundle.manifest.image.size == 112 and bundle.manifest.sizes.vision_tokens == (112 // 16) ** 2 + 1
    assert json.loads((work / "cir" / "config.json").read_text())["model"]["vision"]["stem"] == "conv"

    finished = {p: _sha(p) for p in (work / "world" / "world.json", work / "pretrain" / "best.pt",
                                     work / "pretrain" / "checkpoint.pt", work / "cir" / "best.pt",
                                     work / "cir" / "checkpoint.pt")}
    again = _run(work, out)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert {p: _sha(p) for p in finished} == finished  # nothing trained or generated twice
    load_bundle(out)
