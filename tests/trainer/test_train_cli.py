"""Training, mining and evaluation through ``cirsearch-train`` (``trainer.cli.main``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.text import Tokenizer
from trainer.cli import main
from trainer.model import TINY, build_model
from trainer.negatives import NegativeTable
from trainer.run import CHECKPOINT, RunError, load_model, read_log, save_initial_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_command_module_is_a_subcommand():
    """trainer.cli imports each command plainly: a module left out of COMMANDS, or a
    misspelt one, cannot silently drop a subcommand."""
    import pkgutil

    import trainer.commands
    from trainer.cli import COMMANDS

    modules = {m.name for m in pkgutil.iter_modules(trainer.commands.__path__) if not m.name.startswith("_")}
    assert sorted(m.__name__.rsplit(".", 1)[1] for m in COMMANDS) == sorted(modules)


@pytest.fixture(scope="module")
def fiq(tmp_path_factory):
    from trainer.data.synthetic import write_fashioniq

    return write_fashioniq(tmp_path_factory.mktemp("fiq"), categories=("dress", "shirt"), images_per_split=10,
                           triplets_per_split=8)


def _train(root, out, method, *extra):
    argv = ["train", "--dataset", "fashioniq", "--data-root", str(root), "--method", method, "--model", "tiny",
            "--out", str(out), "--batch-size", "4", "--log-every", "1", "--threads", "1", *extra]
    return main(argv)


def _fresh_model(out, seed=1000):
    """The starting weights of a fresh tiny run: seeded build, then the scratch init."""
    from trainer.scratch import widen_qformer_init

    torch.manual_seed(seed)
    model = build_model(TINY, vocab_size=Tokenizer(out / "vocab.txt").vocab_size)
    widen_qformer_init(model, 0.1)
    return model


def _changed(a: dict, b: dict, prefix: str) -> bool:
    return any(not torch.equal(a[k], b[k]) for k in a if k.startswith(prefix))


@pytest.mark.parametrize("method", ["contrastive", "qure", "trns", "above", "spn"])
def test_two_step_smoke_run(tmp_path, fiq, method):
    out = tmp_path / method
    extra = ["--no-warmup"] if method in ("qure", "trns", "above") else []
    assert _train(fiq, out, method, "--epochs", "1", "--max-steps-per-epoch", "2", *extra) == 0
    for name in ("config.json", "vocab.txt", "checkpoint.pt", "best.pt", "log.jsonl", "plot.png"):
        assert (out / name).is_file(), name
    log = read_log(out)
    steps = [r for r in log if r["kind"] == "step"]
    assert [r["step"] for r in steps] == [1, 2] and all(np.isfinite(r["loss"]) for r in steps)
    epoch = [r for r in log if r["kind"] == "epoch"][0]
    assert {"R@10", "R@50", "average", "dress/R@10"} <= set(epoch["val"])
    model, vocab, meta = load_model(out, "last")
    assert meta["method"] == method and meta["step"] == 2 and meta["git_commit"] is not None
    assert not model.training and vocab == out / "vocab.txt"
    trained, fresh = model.state_dict(), _fresh_model(out).state_dict()
    if method == "spn":
        # SPN trains only the split query side; the target side is the starting model's
        assert model.has_split_query_side and meta["split_query_side"]
        # the split copy started as the Q-Former and has moved away from it
        start = {k: fresh["qformer." + k[len("qformer_query."):]] for k in trained if k.startswith("qformer_query.")}
        assert _changed({k: trained[k] for k in start}, start, "qformer_query.")
        assert not _changed(trained, fresh, "qformer.") and not _changed(trained, fresh, "vision_proj.")
    else:
        assert _changed(trained, fresh, "qformer.") and _changed(trained, fresh, "vision.")
    if method in ("qure", "trns"):
        table = NegativeTable.load(out / "negatives" / "epoch_000.npz")
        assert table.meta["mining"]["method"] == method and epoch["negatives"]["mined"]


def test_resume_continues_exactly(tmp_path, fiq):
    # 4 epochs, period 2: uniform negatives in epochs 0-1, mined at 2; paused after 3 epochs,
    # the resumed epoch 3 must reload the table mined at epoch 2 from the checkpoint
    args = ("--epochs", "4", "--n-def", "2", "--max-steps-per-epoch", "2", "--val-split", "none")
    assert _train(fiq, tmp_path / "whole", "qure", *args) == 0
    assert _train(fiq, tmp_path / "parts", "qure", *args, "--pause-after", "3") == 0
    paused = torch.load(tmp_path / "parts" / CHECKPOINT, weights_only=True)
    assert paused["epoch"] == 2 and paused["step"] == 6 and paused["negatives_file"] == "negatives/epoch_002.npz"
    assert main(["train", "--out", str(tmp_path / "parts"), "--resume", "--threads", "1"]) == 0
    assert not (tmp_path / "parts" / "negatives" / "epoch_003.npz").exists()
    a = torch.load(tmp_path / "whole" / CHECKPOINT, weights_only=True)
    b = torch.load(tmp_path / "parts" / CHECKPOINT, weights_only=True)
    assert a["epoch"] == b["epoch"] == 3 and a["step"] == b["step"] == 8
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert all(torch.equal(sa[i]["exp_avg_sq"], sb[i]["exp_avg_sq"]) for i in sa)
    epochs = [r["epoch"] for r in read_log(tmp_path / "parts") if r["kind"] == "epoch"]
    assert epochs == [0, 1, 2, 3]


def test_init_then_fine_tune_and_mine_and_eval(tmp_path, fiq):
    first = tmp_path / "stage1"
    assert _train(fiq, first, "contrastive", "--epochs", "1", "--max-steps-per-epoch", "2") == 0
    second = tmp_path / "stage2"
    assert _train(fiq, second, "qure", "--init", str(first), "--epochs", "1", "--max-steps-per-epoch", "1",
                  "--lr", "1e-4", "--no-warmup", "--window", "5") == 0
    cfg = json.loads((second / "config.json").read_text())
    assert cfg["init"] == str(first.resolve()) and cfg["training"]["lr"] == 1e-4
    assert cfg["training"]["mining"]["window"] == 5
    assert (second / "vocab.txt").read_text() == (first / "vocab.txt").read_text()

    table_path = tmp_path / "neg.npz"
    assert main(["mine", "--run", str(second), "--dataset", "fashioniq", "--data-root", str(fiq), "--out",
                 str(table_path), "--method", "trns", "--trns-lo", "1", "--trns-hi", "4", "--threads", "1"]) == 0
    table = NegativeTable.load(table_path)
    assert len(table) == 16 and table.meta["mining"]["method"] == "trns"

    dump = tmp_path / "rank"
    assert main(["eval", "--run", str(second), "--dataset", "fashioniq", "--data-root", str(fiq), "--split", "val",
                 "--dump-rankings", str(dump), "--json", str(tmp_path / "m.json"), "--threads", "1"]) == 0
    ranked = json.loads((dump / "dress.json").read_text())
    assert len(ranked) == 8 and len(ranked[0]) == 10  # 8 queries; the whole 10-image corpus
    metrics = json.loads((tmp_path / "m.json").read_text())["metrics"]
    assert metrics["R@50"] == 100.0  # every target is in a 10-image index


def test_save_initial_run_round_trip_and_init(tmp_path, fiq, tiny_vocab, capsys):
    torch.manual_seed(5)
    model = build_model(TINY, vocab_size=Tokenizer(tiny_vocab).vocab_size)
    save_initial_run(tmp_path / "imported", model, tiny_vocab, {"source": "test"})
    back, vocab, meta = load_model(tmp_path / "imported")
    assert meta["meta"] == {"source": "test"} and vocab.read_text() == tiny_vocab.read_text()
    for k, v in model.state_dict().items():
        assert torch.equal(v, back.state_dict()[k])
    # it holds weights, not a training run: resuming it is refused with a message
    assert main(["train", "--out", str(tmp_path / "imported"), "--resume"]) == 2
    # a run started from it trains with the imported vocabulary
    assert _train(fiq, tmp_path / "ft", "contrastive", "--init", str(tmp_path / "imported"), "--epochs", "1",
                  "--max-steps-per-epoch", "1") == 0
    assert "not a training run" in capsys.readouterr().err


def test_checkpoints_cannot_run_code(tmp_path, tiny_vocab):
    torch.manual_seed(0)
    model = build_model(TINY, vocab_size=Tokenizer(tiny_vocab).vocab_size)
    save_initial_run(tmp_path / "r", model, tiny_vocab, {})
    payload = torch.load(tmp_path / "r" / "best.pt", weights_only=True)
    payload["extra"] = Exploit()
    torch.save(payload, tmp_path / "r" / "best.pt")
    with pytest.raises(RunError, match="not loaded, since unpickling them could run code"):
        load_model(tmp_path / "r")


def test_a_damaged_checkpoint_is_one_line_not_a_traceback(tmp_path, fiq, tiny_vocab, capsys):
    torch.manual_seed(0)
    model = build_model(TINY, vocab_size=Tokenizer(tiny_vocab).vocab_size)
    save_initial_run(tmp_path / "r", model, tiny_vocab, {})
    best = tmp_path / "r" / "best.pt"
    best.write_bytes(best.read_bytes()[: best.stat().st_size // 2])  # a copy cut short
    argv = ["eval", "--run", str(tmp_path / "r"), "--dataset", "fashioniq", "--data-root", str(fiq), "--split", "val",
            "--threads", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {best}: truncated or damaged (PytorchStreamReader failed reading zip archive: failed " \
                  "finding central directory)", err
    assert _train(fiq, tmp_path / "ft", "contrastive", "--init", str(tmp_path / "r"), "--epochs", "1") == 2
    assert "truncated or damaged" in capsys.readouterr().err and not (tmp_path / "ft" / "best.pt").exists()


def test_outputs_that_cannot_be_written_are_one_line(tmp_path, fiq, capsys):
    (tmp_path / "a-file").write_text("")
    assert _train(fiq, tmp_path / "a-file" / "run", "contrastive", "--epochs", "1") == 2
    assert capsys.readouterr().err.strip() == f"error: Not a directory: {tmp_path / 'a-file' / 'run'}"
    # eval checks its output paths before it loads anything: no run is needed to see the message
    base = ["eval", "--run", str(tmp_path / "no-run"), "--dataset", "fashioniq", "--data-root", str(fiq)]
    for flags, message in [
        (["--json", str(tmp_path / "a-file" / "m.json")], f"--json: {tmp_path / 'a-file'} is a file, not a folder"),
        (["--dump-rankings", str(tmp_path / "a-file" / "d")], "--dump-rankings: cannot create the folder"),
        (["--json", str(tmp_path)], "is a folder: give a file name"),
    ]:
        assert main([*base, *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err, err
    assert main([*base, "--json", str(tmp_path / "new" / "m.json")]) == 2  # a writable path: on to the missing run
    assert "no-run" in capsys.readouterr().err and (tmp_path / "new").is_dir()


class Exploit:
    pass


def test_strict_loading_names_the_keys(tmp_path, tiny_vocab):
    torch.manual_seed(0)
    model = build_model(TINY, vocab_size=Tokenizer(tiny_vocab).vocab_size)
    save_initial_run(tmp_path / "r", model, tiny_vocab, {})
    payload = torch.load(tmp_path / "r" / "best.pt", weights_only=True)
    del payload["model"]["text_proj.bias"]
    torch.save(payload, tmp_path / "r" / "best.pt")
    with pytest.raises(RunError, match="text_proj.bias"):
        load_model(tmp_path / "r")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--method", "qure", "--model", "vitl", "--epochs", "1"], "needs --vocab"),
        (["--method", "qure", "--epochs", "0"], "epochs"),
        (["--model", "tiny", "--epochs", "1"], "needs --method"),
    ],
)
def test_train_errors_are_messages(tmp_path, fiq, capsys, argv, message):
    code = main(["train", "--dataset", "fashioniq", "--data-root", str(fiq), "--out", str(tmp_path / "x"), *argv])
    assert code == 2 and message in capsys.readouterr().err


def test_existing_run_is_not_overwritten(tmp_path, fiq, capsys):
    assert _train(fiq, tmp_path / "r", "contrastive", "--epochs", "1", "--max-steps-per-epoch", "1") == 0
    before = (tmp_path / "r" / "checkpoint.pt").read_bytes()
    assert _train(fiq, tmp_path / "r", "contrastive", "--epochs", "1") == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (tmp_path / "r" / "checkpoint.pt").read_bytes() == before


def test_missing_data_root_is_a_message(tmp_path, capsys):
    assert _train(tmp_path / "nowhere", tmp_path / "r", "qure", "--epochs", "1") == 2
    assert "no cap.<category>.train.json" in capsys.readouterr().err


def test_lazy_images_in_workers_and_a_feature_cache(tmp_path, fiq):
    # the large-data paths: images decoded in DataLoader workers; frozen-ViT tokens in a cache file
    assert _train(fiq, tmp_path / "lazy", "contrastive", "--epochs", "1", "--max-steps-per-epoch", "2",
                  "--images", "lazy", "--num-workers", "2", "--val-split", "none") == 0
    assert read_log(tmp_path / "lazy")[-1]["step"] == 2
    cache = tmp_path / "cache"
    assert _train(fiq, tmp_path / "spn", "spn", "--init", str(tmp_path / "lazy"), "--epochs", "1",
                  "--max-steps-per-epoch", "2", "--feature-cache", str(cache)) == 0
    assert len(list(cache.glob("vit_tokens-*.npy"))) == 2  # the train and the val image sets
