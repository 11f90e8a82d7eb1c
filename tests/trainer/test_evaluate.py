"""Evaluation through a tiny model against naive full-matrix rankings."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.text import Tokenizer
from trainer.data import DataError, load_split
from trainer.data.images import MemoryPixelBank
from trainer.data.queries import build_queries
from trainer.data.synthetic import write_cirr, write_fashioniq
from trainer.evaluate import EvalOptions, cirr_submission, dump_rankings, evaluate_split, rank_split
from trainer.hpfiq import evaluate_hpfiq, load_hpfiq
from trainer.model import TINY, build_model, score

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def model_and_tok(tiny_vocab):
    tok = Tokenizer(tiny_vocab)
    torch.manual_seed(3)
    return build_model(TINY, vocab_size=tok.vocab_size).eval(), tok


def _prepare(split, model, tok):
    bank = MemoryPixelBank.load(split.paths, split.image_names(), model.cfg.image)
    return bank, build_queries(split, bank, tok)


def _naive_scores(model, bank, qs, corpus):
    with torch.no_grad():
        t = model.encode_target(bank.pixels[torch.as_tensor(corpus)])
        q = model.encode_query(bank.pixels[torch.as_tensor(qs.ref)], torch.as_tensor(qs.input_ids),
                               torch.as_tensor(qs.attention_mask))
        return score(q, t).numpy()  # (M, N_g)


def _naive_order(row, exclude=None):
    return [j for j in sorted(range(len(row)), key=lambda j: -row[j]) if j != exclude]


def test_fashioniq_metrics_and_rankings_against_naive(tmp_path, model_and_tok):
    model, tok = model_and_tok
    root = write_fashioniq(tmp_path / "fiq", categories=("dress", "shirt"), images_per_split=14, triplets_per_split=9,
                           splits=("val",))
    split = load_split("fashioniq", root, "val")
    bank, qs = _prepare(split, model, tok)
    metrics, rankings = evaluate_split(model, split, bank, qs, EvalOptions(batch_size=5, chunk=4, top_k=10))
    per_cat = {}
    for g, corpus in enumerate(qs.corpus_ids):
        rows = np.flatnonzero(qs.group == g)
        full = _naive_scores(model, bank, qs, corpus)[rows]
        ranks = [(_naive_order(full[i]).index(int(qs.target_pos[r]))) for i, r in enumerate(rows)]
        per_cat[qs.groups[g]] = ranks
        got = next(r for r in rankings if r.group == qs.groups[g])
        for i in range(len(rows)):
            assert got.top[i].tolist() == corpus[_naive_order(full[i])[:10]].tolist()
        assert got.ranks.tolist() == ranks
    for cat, ranks in per_cat.items():
        assert metrics[f"{cat}/R@10"] == pytest.approx(100 * np.mean(np.asarray(ranks) < 10))
    r10 = np.mean([100 * np.mean(np.asarray(r) < 10) for r in per_cat.values()])
    r50 = np.mean([100 * np.mean(np.asarray(r) < 50) for r in per_cat.values()])
    assert metrics["R@10"] == pytest.approx(r10) and metrics["average"] == pytest.approx((r10 + r50) / 2)
    # dumps: one list per category, aligned with its captions file, names of the top-k
    paths = dump_rankings(tmp_path / "dump", bank, rankings)
    assert sorted(p.name for p in paths) == ["dress.json", "shirt.json"]
    dumped = json.loads((tmp_path / "dump" / "shirt.json").read_text())
    caps = json.loads((root / "captions" / "cap.shirt.val.json").read_text())
    assert len(dumped) == len(caps) and all(len(x) == 10 for x in dumped)
    shirt = next(r for r in rankings if r.group == "shirt")
    assert dumped[0] == [bank.names[b] for b in shirt.top[0]]


def test_cirr_removes_the_reference_and_ranks_subsets(tmp_path, model_and_tok):
    model, tok = model_and_tok
    root = write_cirr(tmp_path / "cirr", images_per_split=15, triplets_per_split=8, splits=("val", "test1"))
    split = load_split("cirr", root, "val")
    bank, qs = _prepare(split, model, tok)
    metrics, rankings = evaluate_split(model, split, bank, qs, EvalOptions(chunk=3))
    corpus = qs.corpus_ids[0]
    full = _naive_scores(model, bank, qs, corpus)
    pos = {n: j for j, n in enumerate(split.corpus["cirr"])}
    ranks, subs = [], []
    for i, t in enumerate(split.triplets):
        ref = pos[t.reference]
        order = _naive_order(full[i], exclude=ref)
        ranks.append(order.index(pos[t.target]))
        members = {pos[m] for m in t.members} - {ref}
        subs.append([j for j in order if j in members].index(pos[t.target]))
        assert qs.ref[i] not in rankings[0].top[i].tolist()  # bank ids
    for k in (1, 5, 10, 50):
        assert metrics[f"R@{k}"] == pytest.approx(100 * np.mean(np.asarray(ranks) < k))
    for k in (1, 2, 3):
        assert metrics[f"R_subset@{k}"] == pytest.approx(100 * np.mean(np.asarray(subs) < k))
    assert metrics["average"] == pytest.approx((metrics["R@5"] + metrics["R_subset@1"]) / 2)

    test = load_split("cirr", root, "test1")
    tbank, tqs = _prepare(test, model, tok)
    recall, subset = cirr_submission(test, tbank, rank_split(model, test, tbank, tqs, EvalOptions()))
    assert recall["version"] == subset["version"] == "rc2"
    assert recall["metric"] == "recall" and subset["metric"] == "recall_subset"
    for t in test.triplets:
        top = recall[str(t.pair_id)]
        assert len(top) == 14 and t.reference not in top  # 15 images minus the reference
        assert len(subset[str(t.pair_id)]) == 3 and set(subset[str(t.pair_id)]) <= set(t.members) - {t.reference}


def test_evaluation_refuses_targets_missing_from_the_index(tmp_path, model_and_tok):
    model, tok = model_and_tok
    root = write_fashioniq(tmp_path, categories=("dress",), images_per_split=6, triplets_per_split=3, splits=("val",))
    caps = json.loads((root / "captions" / "cap.dress.val.json").read_text())
    names = json.loads((root / "image_splits" / "split.dress.val.json").read_text())
    (root / "image_splits" / "split.dress.val.json").write_text(
        json.dumps([n for n in names if n != caps[0]["target"]])
    )
    split = load_split("fashioniq", root, "val")
    bank, qs = _prepare(split, model, tok)
    with pytest.raises(DataError, match="missing from the image split"):
        evaluate_split(model, split, bank, qs, EvalOptions())


def _write_hpfiq(root, rng):
    """A tiny file in hpfiq.json's layout over images the test writes."""
    from PIL import Image

    img_dir = root / "image_data" / "shirt"
    img_dir.mkdir(parents=True)
    for i in range(12):
        Image.new("RGB", (30, 40), tuple(int(v) for v in rng.integers(0, 255, 3))).save(img_dir / f"A{i}.jpg")
    p = lambda i: f"/-/image_data/shirt/A{i}.jpg"  # noqa: E731
    qs = {
        k: []
        for k in ("ref_img_paths", "targ_img_paths", "sentences", "retrieved_set1", "retrieved_set2", "preferred set")
    }
    for _ in range(6):
        picks = rng.choice(12, size=11, replace=False)
        qs["ref_img_paths"].append(p(picks[0]))
        qs["targ_img_paths"].append(p(picks[1]))
        qs["sentences"].append(["is red", "has long sleeves"] if rng.random() < 0.5 else "is blue and striped")
        qs["retrieved_set1"].append({"img_path": [p(i) for i in picks[1:6]], "user_score": "4"})
        qs["retrieved_set2"].append({"img_path": [p(i) for i in picks[6:11]], "user_score": "2"})
        qs["preferred set"].append(str(rng.integers(1, 3)))
    data = {"user_1": {"question_set_1": qs}}
    (root / "hpfiq.json").write_text(json.dumps(data))
    return root / "hpfiq.json", data


def test_hpfiq_preference_rate_against_naive(tmp_path, model_and_tok):
    model, tok = model_and_tok
    path, data = _write_hpfiq(tmp_path, np.random.default_rng(0))
    items = load_hpfiq(path, tmp_path)
    assert len(items) == 6 and items[0].reference.is_file()
    assert any(it.sentence == "Is red and has long sleeves" for it in items)
    out = evaluate_hpfiq(model, items, tok, EvalOptions(batch_size=4))
    from PIL import Image

    from engine.preprocess import preprocess

    def px(p):
        with Image.open(p) as im:
            return torch.from_numpy(preprocess(im, model.cfg.image))

    num = den = 0
    with torch.no_grad():
        for it in items:
            ids, mask = tok.encode([it.sentence])
            q = model.encode_query(px(it.reference)[None], torch.as_tensor(ids), torch.as_tensor(mask))
            s1 = float(score(q, model.encode_target(torch.stack([px(p) for p in it.set1]))).mean())
            s2 = float(score(q, model.encode_target(torch.stack([px(p) for p in it.set2]))).mean())
            if s1 > s2:
                den += 1
                num += it.preferred == 1
    assert out["counted"] == den and out["items"] == 6
    assert 0 < den < 6  # both kinds of items occur in this fixture
    assert out["preference_rate"] == pytest.approx(100 * num / den)


def test_hpfiq_bad_file(tmp_path):
    (tmp_path / "h.json").write_text(json.dumps({"u": {"question_set_1": {"ref_img_paths": []}}}))
    with pytest.raises(DataError, match="needs the lists"):
        load_hpfiq(tmp_path / "h.json", tmp_path)


def test_world_relevance_is_reported_on_the_demo_world(tmp_path, model_and_tok):
    from engine.world import WorldConfig, generate, read_world

    model, tok = model_and_tok
    cfg = WorldConfig(
        seed=1,
        train_images=24,
        train_triplets=8,
        eval_images=24,
        eval_triplets=10,
        train_renders=2,
        eval_renders=3,
        image_size=64,
        categories=("dress", "shirt"),
    )
    root = generate(cfg, tmp_path / "world")
    split = load_split("fashioniq", root, "val")
    bank, qs = _prepare(split, model, tok)
    metrics, rankings = evaluate_split(model, split, bank, qs, EvalOptions())
    attrs = read_world(root).attributes
    precisions = []
    for r in rankings:
        for j, row in enumerate(r.rows):
            t = split.triplets[row]
            names = [bank.names[b] for b in r.top[j] if bank.names[b] != t.reference][:5]
            hits = sum(attrs[n] == attrs[t.target] for n in names)
            precisions.append(hits / 5)
    assert metrics["P@5"] == pytest.approx(100 * np.mean(precisions))
    # mAP@K (CIRCO's definition) against every exact match of the target in its category's
    # split images, reference dropped from the ranking as for P@5, written out naively
    aps, sizes = {k: [] for k in (5, 10, 25, 50)}, []
    for r in rankings:
        for j, row in enumerate(r.rows):
            t = split.triplets[row]
            truths = {n for n in split.corpus[t.group] if attrs[n] == attrs[t.target] and n != t.reference}
            assert t.target in truths
            sizes.append(len(truths))
            ranked = [bank.names[b] for b in r.top[j] if bank.names[b] != t.reference]
            for k, ap in aps.items():
                found = [n in truths for n in ranked[:k]]
                ap.append(sum(sum(found[: i + 1]) / (i + 1) for i, f in enumerate(found) if f) / min(k, len(truths)))
    assert max(sizes) > 1  # look-alike renders count
    for k, ap in aps.items():
        assert metrics[f"map@{k}"] == pytest.approx(100 * np.mean(ap))
    assert 0 <= metrics["agree@10"] <= 100 and "R@10" in metrics
    # a plain FashionIQ root has no world metrics
    plain = write_fashioniq(
        tmp_path / "fiq", categories=("dress",), images_per_split=5, triplets_per_split=3, splits=("val",)
    )
    psplit = load_split("fashioniq", plain, "val")
    pbank, pqs = _prepare(psplit, model, tok)
    assert "P@5" not in evaluate_split(model, psplit, pbank, pqs, EvalOptions())[0]
