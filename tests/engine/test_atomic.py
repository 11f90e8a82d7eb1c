"""engine.atomic: a write is all or nothing, and leaves no temporary behind."""

from __future__ import annotations

import json
import os

import pytest

from engine.atomic import atomic_write, atomic_write_bytes, atomic_write_json, atomic_write_text


@pytest.mark.parametrize("durable", [True, False])
def test_the_final_file_has_the_content(tmp_path, durable):
    path = tmp_path / "a.bin"
    assert atomic_write(path, lambda f: f.write(b"one\ntwo"), durable=durable) == path
    assert path.read_bytes() == b"one\ntwo"
    atomic_write_bytes(path, b"three", durable=durable)  # replaces
    assert path.read_bytes() == b"three"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_text_and_json_helpers(tmp_path):
    atomic_write_text(tmp_path / "t.txt", "å\n")
    assert (tmp_path / "t.txt").read_bytes() == "å\n".encode()
    atomic_write_json(tmp_path / "j.json", {"b": 1, "a": [2]}, indent=2, sort_keys=True)
    text = (tmp_path / "j.json").read_text(encoding="utf-8")
    assert text == json.dumps({"a": [2], "b": 1}, indent=2) + "\n"


@pytest.mark.parametrize("durable", [True, False])
def test_a_failing_writer_keeps_the_old_file_and_leaves_no_temporary(tmp_path, durable):
    path = tmp_path / "votes.json"
    path.write_text("old")

    def half_then_fail(f):
        f.write(b"half of the new")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        atomic_write(path, half_then_fail, durable=durable)
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["votes.json"]


def test_a_failing_first_write_creates_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "new.npy", lambda f: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert os.listdir(tmp_path) == []


def test_a_failing_rename_leaves_no_temporary(tmp_path):
    target = tmp_path / "dir"
    target.mkdir()  # a folder cannot be replaced by a file
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"x")
    assert os.listdir(tmp_path) == ["dir"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_permissions_are_those_of_a_plain_open(tmp_path):
    atomic_write_bytes(tmp_path / "a", b"x")
    (tmp_path / "b").write_bytes(b"x")
    assert (tmp_path / "a").stat().st_mode == (tmp_path / "b").stat().st_mode
