"""``eval --bundle``: a bundle's ONNX graphs ranked and scored by the same code as its run.

``tiny_bundle`` is ``trainer.export.export_bundle`` of ``tiny_model`` (tests/conftest.py),
so the run saved from ``tiny_model`` and the bundle are one model: every ranking and
metric must agree, except where ONNX Runtime's rounding swaps two near-tied images
(see ``TIE``): such a swap is checked to be one, and the metrics then allowed to differ
by what the affected queries can move them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.text import Tokenizer
from trainer.bundle_eval import open_bundle
from trainer.cli import main
from trainer.data import load_split
from trainer.data.images import MemoryPixelBank
from trainer.data.queries import build_queries
from trainer.data.synthetic import write_circo, write_cirr, write_fashioniq
from trainer.evaluate import EvalOptions, ModelEncoder, evaluate_split, evaluate_with
from trainer.mining import chunked_scores
from trainer.run import save_initial_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# ONNX Runtime's float32 sums differ from PyTorch's by ~2e-7 in a score, while the random-
# weight tiny model puts some images of a corpus as close as ~7e-7: two such images may
# swap places. Scores within TIE of each other count as tied.
TIE = 1e-5


def _world(root):
    from engine.world import WorldConfig, generate

    cfg = WorldConfig(seed=1, train_images=24, train_triplets=8, eval_images=24, eval_triplets=10, train_renders=2,
                      eval_renders=3, image_size=64, categories=("dress", "shirt"))
    return generate(cfg, root)


DATASETS = {
    "fashioniq": lambda p: write_fashioniq(p, categories=("dress", "shirt"), images_per_split=14,
                                           triplets_per_split=9, splits=("val",)),
    "cirr": lambda p: write_cirr(p, images_per_split=15, triplets_per_split=8, splits=("val",)),
    "circo": lambda p: write_circo(p, images=24, queries_per_split=8, splits=("val",)),
    "world": _world,
}


def _differ_only_by_ties(scores, corpus, want, got, tol=TIE) -> int:
    """How many queries the bundle ranks differently from the run; fails unless every
    difference is an exchange of images whose run scores are within ``tol``."""
    pos = {int(b): j for j, b in enumerate(corpus)}
    flipped = 0
    for i in range(len(want.rows)):
        same = np.array_equal(want.top[i], got.top[i]) and (want.ranks is None or want.ranks[i] == got.ranks[i])
        if want.sub_ranks is not None:
            same = same and want.sub_ranks[i] == got.sub_ranks[i]
        if same:
            continue
        flipped += 1
        s = scores[i]
        w_s = s[[pos[int(x)] for x in want.top[i]]]
        g_s = s[[pos[int(x)] for x in got.top[i]]]
        assert np.abs(w_s - g_s).max() <= tol, f"query {i}: the bundle's ranking differs beyond a near tie"
    return flipped


@pytest.mark.parametrize("name", list(DATASETS))
def test_bundle_ranks_and_scores_like_its_run(tmp_path, tiny_model, tiny_vocab, tiny_bundle, name):
    root = DATASETS[name](tmp_path / name)
    split = load_split("fashioniq" if name == "world" else name, root, "val")
    opt = EvalOptions(batch_size=5, chunk=4)
    # the run's path
    tok = Tokenizer(tiny_vocab, tiny_model.cfg.text_spec())
    bank = MemoryPixelBank.load(split.paths, split.image_names(), tiny_model.cfg.image)
    qs = build_queries(split, bank, tok)
    want, want_rank = evaluate_split(tiny_model, split, bank, qs, opt)
    # the bundle's path: its own image spec and tokenizer
    enc = open_bundle(tiny_bundle, device="cpu", batch_size=5)
    bbank = MemoryPixelBank.load(split.paths, split.image_names(), enc.bundle.manifest.image)
    bqs = build_queries(split, bbank, enc.bundle.tokenizer())
    got, got_rank = evaluate_with(enc, split, bbank, bqs, opt)
    np.testing.assert_array_equal(bqs.input_ids, qs.input_ids)
    # the encodings agree to float tolerance
    ref = ModelEncoder(tiny_model, opt)
    q = ref.queries(bank, qs.ref, qs.input_ids, qs.attention_mask)
    np.testing.assert_allclose(enc.queries(bbank, bqs.ref, bqs.input_ids, bqs.attention_mask).numpy(), q.numpy(),
                               atol=1e-4)
    affected = 0
    for corpus, w, b in zip(qs.corpus_ids, want_rank, got_rank):
        t = ref.targets(bank, corpus)
        np.testing.assert_allclose(enc.targets(bbank, corpus).numpy(), t.numpy(), atol=1e-4)
        scores = next(chunked_scores(q[w.rows], t, len(w.rows)))[1].numpy()  # (M_g, N_g), the run's
        affected += _differ_only_by_ties(scores, corpus, w, b)
    if affected == 0:  # the usual case: identical rankings, identical metrics
        assert got.keys() == want.keys() and got == pytest.approx(want, abs=1e-9)
    else:  # a near tie flipped: each metric is a mean of per-query values in [0, 100]
        smallest = min(len(w.rows) for w in want_rank)
        assert got.keys() == want.keys() and got == pytest.approx(want, abs=100 * affected / smallest)
    if name in ("circo", "world"):
        assert "map@10" in got


def test_eval_bundle_through_the_command_line(tmp_path, tiny_model, tiny_vocab, tiny_bundle, capsys):
    root = write_circo(tmp_path / "circo", images=16, queries_per_split=5)
    run = save_initial_run(tmp_path / "run", tiny_model, tiny_vocab, {"note": "test"})
    common = ["--dataset", "circo", "--data-root", str(root), "--device", "cpu", "--batch-size", "4"]
    for src, flag in ((run, "--run"), (tiny_bundle, "--bundle")):
        out = tmp_path / flag.strip("-")
        assert main(["eval", flag, str(src), *common, "--split", "val", "--json", str(out / "m.json"),
                     "--dump-rankings", str(out / "rank")]) == 0
        assert main(["eval", flag, str(src), *common, "--split", "test", "--circo-submission", str(out)]) == 0
    capsys.readouterr()
    by_run, by_bundle = (json.loads((tmp_path / d / "m.json").read_text()) for d in ("run", "bundle"))
    assert by_bundle["bundle"] == str(tiny_bundle) and by_run["run"] == str(run)
    # the same rankings (a near tie may swap two images: see TIE; then the metrics may
    # move by what those queries can move them), and the same server file
    ranked = [json.loads((tmp_path / d / "rank" / "circo.json").read_text()) for d in ("run", "bundle")]
    flipped = sum(a != b for a, b in zip(*ranked))
    assert by_bundle["metrics"] == pytest.approx(by_run["metrics"], abs=1e-9 + 100 * flipped / 5)
    subs = [json.loads((tmp_path / d / "circo_submission_test.json").read_text()) for d in ("run", "bundle")]
    assert subs[0].keys() == subs[1].keys() and sum(subs[0][k] != subs[1][k] for k in subs[0]) <= 1


def test_eval_bundle_mistakes_are_one_line(tmp_path, tiny_bundle, capsys):
    root = write_circo(tmp_path / "circo", images=6, queries_per_split=2)
    args = ["eval", "--dataset", "circo", "--data-root", str(root), "--device", "cpu"]
    assert main([*args, "--bundle", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot use bundle") and "does not exist" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as e:  # argparse: one source only
        main([*args, "--bundle", str(tiny_bundle), "--run", str(tmp_path)])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
