"""Training under torchrun: 2 CPU processes (gloo) through the real entry point."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from trainer.run import read_log


@pytest.mark.timeout(120)
def test_two_process_gloo_run(tmp_path):
    from trainer.data.synthetic import write_fashioniq

    root = write_fashioniq(tmp_path / "fiq", categories=("dress", "shirt"), images_per_split=10, triplets_per_split=8)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "trainer.cli", "train", "--dataset", "fashioniq", "--data-root", str(root), "--method", "qure",
           "--model", "tiny", "--out", str(out), "--batch-size", "4", "--epochs", "2", "--no-warmup",
           "--log-every", "1", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=110)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    log = read_log(out)
    epochs = [r for r in log if r["kind"] == "epoch"]
    # 16 training queries split over 2 ranks, 4 per batch: 2 steps per epoch (rank 0 logs)
    assert [r["step"] for r in epochs] == [2, 4]
    assert epochs[0]["negatives"]["mined"] and (out / "negatives" / "epoch_001.npz").is_file()
    assert "R@10" in epochs[-1]["val"]
    # every epoch ends with a cross-rank weight checksum; a drift would have failed the run
    assert proc.stdout.count("epoch 2/2") == 1  # only rank 0 prints
