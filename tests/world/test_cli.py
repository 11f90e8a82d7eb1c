import json

from engine.world.__main__ import main


def test_generate_prints_what_it_wrote(tmp_path, capsys):
    out = tmp_path / "w"
    rc = main(["generate", "--out", str(out), "--seed", "4", "--images", "36", "--triplets", "30",
               "--eval-images", "30", "--eval-triplets", "6", "--size", "64"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "dress.train" in text and str(out) in text
    meta = json.loads((out / "world.json").read_text())
    assert meta["config"]["train_images"] == 36 and meta["seed"] == 4
    assert len(list((out / "images").glob("*.png"))) == 36 + 30 + 30


def test_generate_refuses_a_folder_with_other_files(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("x")
    assert main(["generate", "--out", str(tmp_path), "--images", "36", "--eval-images", "30"]) == 2
    assert "error:" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").exists()


def test_sheet_and_demo_library(tmp_path, capsys):
    assert main(["sheet", "--out", str(tmp_path / "s.png"), "--columns", "2", "--rows", "1"]) == 0
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert main(["demo-library", "--out", str(tmp_path / "lib"), "--n", "30"]) == 0
    assert "example queries" in capsys.readouterr().out
