"""trainer.torchfile: checkpoints are read weights-only, and each way one can be unusable
gets its own reason instead of torch's internals."""

from __future__ import annotations

import pytest
import torch

from trainer.torchfile import TorchFileError, load_weights_only


class Runs:
    def __reduce__(self):
        return (print, ("this ran",))


def test_a_good_checkpoint_loads_in_either_format(tmp_path):
    for name, zipped in (("new.pt", True), ("legacy.pt", False)):
        torch.save({"w": torch.arange(3.0)}, tmp_path / name, _use_new_zipfile_serialization=zipped)
        assert torch.equal(load_weights_only(tmp_path / name)["w"], torch.arange(3.0))


@pytest.mark.parametrize("zipped", [True, False])
def test_a_truncated_checkpoint_is_damaged(tmp_path, zipped):
    path = tmp_path / "cut.pt"
    torch.save({"w": torch.zeros(1000)}, path, _use_new_zipfile_serialization=zipped)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(TorchFileError, match="^truncated or damaged"):
        load_weights_only(path)


def test_files_that_are_not_checkpoints(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "photo.pt").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))  # a JPEG's first bytes
    with pytest.raises(TorchFileError, match=r"^empty file \(0 bytes\)$"):
        load_weights_only(tmp_path / "empty.pt")
    with pytest.raises(TorchFileError, match="^not a PyTorch checkpoint"):
        load_weights_only(tmp_path / "photo.pt")
    with pytest.raises(TorchFileError, match="^cannot be read"):
        load_weights_only(tmp_path / "missing.pt")
    with pytest.raises(TorchFileError, match="^cannot be read"):
        load_weights_only(tmp_path)  # a folder


def test_a_pickle_that_would_run_code_is_refused_and_does_not_run(tmp_path, capsys):
    torch.save({"model": Runs()}, tmp_path / "evil.pt")
    with pytest.raises(TorchFileError) as e:
        load_weights_only(tmp_path / "evil.pt")
    assert "not loaded, since unpickling them could run code" in str(e.value)
    assert "GLOBAL print" in str(e.value) and "allowlist" not in str(e.value)  # names it; no advice to trust it
    assert "this ran" not in capsys.readouterr().out
