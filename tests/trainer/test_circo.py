"""CIRCO's mAP@K against a naive loop, the CIRCO loader, and CIRCO evaluation end to end
(metrics against naive full rankings, the test server's file) through a tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.text import Tokenizer
from trainer.cli import main
from trainer.data import DataError, load_split
from trainer.data.images import MemoryPixelBank
from trainer.data.queries import build_queries
from trainer.data.synthetic import write_circo
from trainer.evaluate import EvalOptions, evaluate_split
from trainer.metrics import average_precision_at, map_at
from trainer.model import score
from trainer.run import save_initial_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _naive_ap(ranking, truths, k):
    """CIRCO's AP@K for one query, written out: sum over hits of P@j, over min(K, |G|)."""
    truths = set(truths)
    hits, total = 0, 0.0
    for j, x in enumerate(ranking[:k], start=1):
        if x in truths:
            hits += 1
            total += hits / j
    return total / min(k, len(truths))


def test_map_at_matches_a_naive_loop():
    rng = np.random.default_rng(0)
    m, length = 60, 50
    ranked = np.stack([rng.permutation(200)[:length] for _ in range(m)])  # (M, L) distinct ids
    ranked[::7, 30:] = -1  # some short rankings (padded)
    truths = []
    for i in range(m):
        n = int(rng.choice([1, 2, 3, 7, 30, 70]))  # fewer and more than K
        inside = list(rng.choice(ranked[i][ranked[i] >= 0], size=min(n, 5), replace=False))
        outside = list(rng.choice(np.arange(200, 400), size=n, replace=False))  # never ranked
        truths.append({int(x) for x in (inside + outside)[:n]})
    for k in (5, 10, 25, 50):
        want = [_naive_ap([int(x) for x in ranked[i] if x >= 0], truths[i], k) for i in range(m)]
        np.testing.assert_allclose(average_precision_at(ranked, truths, k), want, rtol=0, atol=1e-12)
        assert map_at(ranked, truths, (k,))[f"map@{k}"] == pytest.approx(100 * np.mean(want))
    # by hand: hits at places 1 and 3 of K=3 with 3 ground truths: (1/1 + 2/3) / 3
    assert average_precision_at(np.array([[4, 9, 5]]), [{4, 5, 6}], 3)[0] == pytest.approx((1 + 2 / 3) / 3)
    # one ground truth, found at place 2: 1/2 at every K >= 2
    assert map_at(np.array([[9, 4]]), [{4}], (5, 50)) == {"map@5": 50.0, "map@50": 50.0}


def test_map_at_needs_a_ground_truth_per_query():
    with pytest.raises(ValueError, match="at least one ground truth"):
        average_precision_at(np.array([[1, 2]]), [set()], 5)
    with pytest.raises(ValueError, match="rankings for"):
        average_precision_at(np.array([[1, 2]]), [{1}, {2}], 5)


def test_circo_loader_reads_the_layout(tmp_path):
    root = write_circo(tmp_path / "circo", images=12, queries_per_split=4)
    info = json.loads((root / "COCO2017_unlabeled/annotations/image_info_unlabeled2017.json").read_text())
    val = load_split("circo", root, "val")
    assert val.dataset == "circo" and val.groups == ["circo"]
    assert val.corpus["circo"] == tuple(str(im["id"]) for im in info["images"])  # COCO's order
    ann = json.loads((root / "annotations/val.json").read_text())
    for t, a in zip(val.triplets, ann):
        assert t.pair_id == a["id"] and t.reference == str(a["reference_img_id"])
        assert t.target == str(a["target_img_id"]) == t.ground_truth[0]
        assert t.ground_truth == tuple(str(g) for g in a["gt_img_ids"]) and t.caption == a["relative_caption"]
    assert all(val.paths[n].name == f"{int(n):012d}.jpg" and val.paths[n].is_file() for n in val.corpus["circo"])
    test = load_split("circo", root, "test")
    assert all(t.target is None and t.ground_truth == () for t in test.triplets)


def test_circo_loader_names_the_bad_file(tmp_path):
    root = write_circo(tmp_path / "circo", images=8, queries_per_split=3)
    with pytest.raises(DataError, match=r"annotations/train\.json: CIRCO annotations file not found"):
        load_split("circo", root, "train")
    ann = root / "annotations" / "val.json"
    good = ann.read_text()
    ann.write_text("[{")
    with pytest.raises(DataError, match=r"val\.json: CIRCO annotations file is not valid JSON"):
        load_split("circo", root, "val")
    ann.write_text(json.dumps([{"id": 0, "relative_caption": "x"}]))
    with pytest.raises(DataError, match=r"val\.json: item 0 needs 'id', 'reference_img_id'"):
        load_split("circo", root, "val")
    items = json.loads(good)
    items[0]["gt_img_ids"] = []
    ann.write_text(json.dumps(items))
    with pytest.raises(DataError, match=r"val\.json: item 0: 'gt_img_ids' must be a non-empty list"):
        load_split("circo", root, "val")
    items[0]["gt_img_ids"] = [items[0]["target_img_id"], 999_999_999]
    ann.write_text(json.dumps(items))
    with pytest.raises(DataError, match=r"image_info_unlabeled2017\.json: 1 image id\(s\) used by val\.json"):
        load_split("circo", root, "val")
    ann.write_text(good)
    info = root / "COCO2017_unlabeled/annotations/image_info_unlabeled2017.json"
    first = json.loads(info.read_text())["images"][0]["file_name"]
    (root / "COCO2017_unlabeled/unlabeled2017" / first).unlink()
    with pytest.raises(DataError, match=rf"unlabeled2017: 1 image file\(s\) .* missing, e.g. \['{first}'\]"):
        load_split("circo", root, "val")
    info.write_text(json.dumps({"images": [{"id": 1}]}))
    with pytest.raises(DataError, match=r"image_info_unlabeled2017\.json: image 0 needs 'id' and 'file_name'"):
        load_split("circo", root, "val")


def test_circo_metrics_against_naive_rankings(tmp_path, tiny_model, tiny_vocab):
    root = write_circo(tmp_path / "circo", images=30, queries_per_split=8)
    split = load_split("circo", root, "val")
    tok = Tokenizer(tiny_vocab, tiny_model.cfg.text_spec())
    bank = MemoryPixelBank.load(split.paths, split.image_names(), tiny_model.cfg.image)
    qs = build_queries(split, bank, tok)
    metrics, rankings = evaluate_split(tiny_model, split, bank, qs, EvalOptions(chunk=3))
    corpus = qs.corpus_ids[0]
    with torch.no_grad():
        t = tiny_model.encode_target(bank.pixels[torch.as_tensor(corpus)])
        q = tiny_model.encode_query(bank.pixels[torch.as_tensor(qs.ref)], torch.as_tensor(qs.input_ids),
                                    torch.as_tensor(qs.attention_mask))
        full = score(q, t).numpy()  # (M, N)
    names = split.corpus["circo"]
    aps = {k: [] for k in (5, 10, 25, 50)}
    ranks = []
    for i, trip in enumerate(split.triplets):
        order = [names[j] for j in sorted(range(len(names)), key=lambda j: -full[i, j])]  # reference kept
        assert [bank.names[b] for b in rankings[0].top[i]] == order[:50]
        ranks.append(order.index(trip.target))
        for k in aps:
            aps[k].append(_naive_ap(order[:50], trip.ground_truth, k))
    assert any(len(t.ground_truth) > 1 for t in split.triplets)
    for k in aps:
        assert metrics[f"map@{k}"] == pytest.approx(100 * np.mean(aps[k]))
        assert metrics[f"R@{k}"] == pytest.approx(100 * np.mean(np.asarray(ranks) < k))


def test_circo_through_the_command_line(tmp_path, tiny_model, tiny_vocab, capsys):
    root = write_circo(tmp_path / "circo", images=16, queries_per_split=5)
    run = save_initial_run(tmp_path / "run", tiny_model, tiny_vocab, {"note": "test"})
    out = tmp_path / "m.json"
    assert main(["eval", "--run", str(run), "--dataset", "circo", "--data-root", str(root), "--split", "val",
                 "--json", str(out), "--device", "cpu"]) == 0
    metrics = json.loads(out.read_text())["metrics"]
    assert set(metrics) == {f"{m}@{k}" for m in ("map", "R") for k in (5, 10, 25, 50)}
    assert "map@10" in capsys.readouterr().out
    sub = tmp_path / "sub"
    assert main(["eval", "--run", str(run), "--dataset", "circo", "--data-root", str(root), "--split", "test",
                 "--circo-submission", str(sub), "--device", "cpu"]) == 0
    assert "no targets" in capsys.readouterr().err
    got = json.loads((sub / "circo_submission_test.json").read_text())
    ann = json.loads((root / "annotations/test.json").read_text())
    ids = {im["id"] for im in json.loads(
        (root / "COCO2017_unlabeled/annotations/image_info_unlabeled2017.json").read_text())["images"]}
    assert sorted(got) == sorted(str(a["id"]) for a in ann)  # every query id, as a string
    for top in got.values():  # the whole corpus (16 < 50) as int COCO ids, each once
        assert len(top) == 16 and set(top) == ids and all(isinstance(x, int) for x in top)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--dataset", "fashioniq", "--circo-submission", "x"], "--circo-submission needs --dataset circo"),
        (["--dataset", "circo", "--cirr-submission", "x"], "--cirr-submission needs --dataset cirr"),
        (["--dataset", "circo", "--split", "nope"], "nope.json: CIRCO annotations file not found"),
    ],
)
def test_command_line_mistakes_are_one_line(tmp_path, tiny_model, tiny_vocab, capsys, extra, message):
    root = write_circo(tmp_path / "circo", images=6, queries_per_split=2)
    run = save_initial_run(tmp_path / "run", tiny_model, tiny_vocab, {"note": "test"})
    assert main(["eval", "--run", str(run), "--data-root", str(root), "--device", "cpu", *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
