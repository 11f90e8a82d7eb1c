"""``cirsearch``'s --library, --bundle and --device before the command as well as after it,
and what a library with no model says about where a model comes from."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from engine.cli import build_parser, main
from engine.resources import demo_bundle_dir


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "argv, library, bundle, device",
    [
        (["--library", "L", "index", "D"], "L", None, "auto"),
        (["index", "D", "--library", "L"], "L", None, "auto"),
        (["--bundle", "B", "--device", "cpu", "index", "D"], None, "B", "cpu"),
        (["--library", "L", "index", "D", "--bundle", "B"], "L", "B", "auto"),
        (["--library", "before", "--device", "cpu", "index", "D", "--library", "after"], "after", None, "cpu"),
        (["--device", "cuda", "index", "D", "--device", "cpu"], None, None, "cpu"),
        (["index", "D"], None, None, "auto"),
    ],
)
def test_global_options_mean_the_same_before_and_after_the_command(argv, library, bundle, device):
    args = build_parser().parse_args(argv)
    assert args.command == "index" and args.dirs == [Path("D")]
    assert args.library == (Path(library) if library else None)
    assert args.bundle == (Path(bundle) if bundle else None)
    assert args.device == device


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_no_command_resets_an_option_given_before_it():
    """A command's own default would overwrite the value given before the command."""
    commands = _commands(build_parser())
    assert {"index", "search", "status", "demo"} <= set(commands)
    for name, p in commands.items():
        for action in p._actions:
            if {"--library", "--bundle", "--device"} & set(action.option_strings):
                assert action.default is argparse.SUPPRESS, f"cirsearch {name} {action.option_strings[0]}"


def test_a_bad_global_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["--device", "tpu", "status"])
    assert e.value.code == 2 and "--device" in capsys.readouterr().err


def test_index_and_status_with_options_before_the_command(tmp_path, photos, fake_bundle, capsys):
    lib = tmp_path / "lib"
    code, out, err = run(capsys, "--library", lib, "--bundle", fake_bundle, "index", photos, "--json", "--quiet")
    assert code == 0, err
    assert json.loads(out)["indexed"] == 24 and (lib / "catalog.sqlite").is_file()
    code, out, err = run(capsys, "--library", lib, "--device", "cpu", "status", "--json")
    st = json.loads(out)
    assert code == 0 and st["indexed"] == 24 and st["device"] == "cpu" and st["bundle_path"] == str(fake_bundle)


def test_a_library_with_no_model_says_where_one_comes_from(tmp_path, photos, capsys, monkeypatch):
    monkeypatch.delenv("CIRSEARCH_DEMO_BUNDLE", raising=False)
    demo = demo_bundle_dir()
    assert demo is not None, "resources/demo-bundle is missing"
    code, _, err = run(capsys, "--library", tmp_path / "lib", "index", photos)
    assert code == 1 and "Traceback" not in err
    assert "no model yet" in err and "--bundle PATH" in err
    assert "cirsearch-train import-qure" in err and "Getting the real model" in err
    assert f"--bundle {demo})" in err and "not real photos" in err

    monkeypatch.setattr("engine.opening.demo_bundle_dir", lambda: None)  # an install without the demo model
    code, _, err = run(capsys, "--library", tmp_path / "lib", "index", photos)
    assert code == 1 and "import-qure" in err and "demo model" not in err
