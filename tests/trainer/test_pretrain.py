"""Image-text pretraining on a generated world: the loss, the descriptions' positives, and
the command end to end (then ``train --init`` from its run)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from engine.world.attributes import CATEGORIES, Garment, all_garments
from engine.world.descriptions import describe, full_description, near_miss
from trainer.cli import main
from trainer.losses import image_text_contrastive
from trainer.pretrain import fits_matrix
from trainer.run import CHECKPOINT, load_checkpoint, load_model, read_config, read_log

from .pretrain_runs import short_pretrain as _pretrain
from .pretrain_runs import small_world

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def naive_itc(scores: np.ndarray, positive: np.ndarray, temp: float) -> float:
    """Row by row and column by column, as the definition reads."""
    bi, bt = scores.shape
    i2t = 0.0
    for i in range(bi):
        logits = scores[i] / temp
        log_z = math.log(sum(math.exp(v) for v in logits))
        pos = [j for j in range(bt) if positive[i, j]]
        i2t += -sum(logits[j] - log_z for j in pos) / len(pos)
    t2i, matched = 0.0, 0
    for j in range(bt):
        logits = scores[:, j] / temp
        log_z = math.log(sum(math.exp(v) for v in logits))
        pos = [i for i in range(bi) if positive[i, j]]
        if not pos:  # a hard negative text: in the image rows only
            continue
        matched += 1
        t2i += -sum(logits[i] - log_z for i in pos) / len(pos)
    return (i2t / bi + t2i / matched) / 2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_itc_loss_matches_a_naive_implementation(seed):
    rng = np.random.default_rng(seed)
    b = 7
    scores = rng.uniform(-1, 1, size=(b, b))
    positive = np.eye(b, dtype=bool) | (rng.random((b, b)) < 0.25)
    got = image_text_contrastive(torch.tensor(scores), torch.tensor(positive), 0.07)
    assert float(got) == pytest.approx(naive_itc(scores, positive, 0.07), rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_itc_with_unmatched_negative_texts_matches_a_naive_implementation(seed):
    rng = np.random.default_rng(seed)
    b, extra = 6, 4
    scores = rng.uniform(-1, 1, size=(b, b + extra))
    positive = np.zeros((b, b + extra), dtype=bool)
    positive[:, :b] = np.eye(b, dtype=bool) | (rng.random((b, b)) < 0.25)
    positive[seed % b, b] = True  # one extra text happens to fit an image of the batch
    got = image_text_contrastive(torch.tensor(scores), torch.tensor(positive), 0.07, unmatched_texts=True)
    assert float(got) == pytest.approx(naive_itc(scores, positive, 0.07), rel=1e-9)
    with pytest.raises(ValueError, match="positive"):
        image_text_contrastive(torch.tensor(scores), torch.tensor(positive), 0.07)


def test_a_negative_text_raises_the_loss_of_the_image_it_resembles():
    """The near miss scores as high as the true text for image 0: the loss must see it."""
    scores = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    positive = torch.tensor([[True, False, False], [False, True, False]])
    without = image_text_contrastive(scores[:, :2], positive[:, :2], 0.1)
    with_it = image_text_contrastive(scores, positive, 0.1, unmatched_texts=True)
    assert float(with_it) > float(without) + 0.1


def test_itc_with_one_positive_each_is_symmetric_infonce():
    scores = torch.randn(5, 5, dtype=torch.float64)
    want = (torch.nn.functional.cross_entropy(scores / 0.1, torch.arange(5))
            + torch.nn.functional.cross_entropy(scores.T / 0.1, torch.arange(5))) / 2
    got = image_text_contrastive(scores, torch.eye(5, dtype=torch.bool), 0.1)
    assert float(got) == pytest.approx(float(want), rel=1e-12)


def test_itc_refuses_a_row_without_positives():
    positive = torch.eye(3, dtype=torch.bool)
    positive[1, 1] = False
    with pytest.raises(ValueError, match="positive"):
        image_text_contrastive(torch.zeros(3, 3), positive, 0.1)


def test_more_positives_lower_the_loss_for_the_images_they_fit():
    """A text true of two images must not push either away."""
    scores = torch.tensor([[1.0, 0.0], [1.0, 0.0]])  # both images score text 0 high
    one = image_text_contrastive(scores, torch.eye(2, dtype=torch.bool), 0.1)
    both = image_text_contrastive(scores, torch.tensor([[True, False], [True, True]]), 0.1)
    assert float(both) < float(one)


def test_descriptions_fit_their_garment_and_say_its_words():
    rng = np.random.default_rng(0)
    garments = [g for c in CATEGORIES for g in all_garments(c)]
    for g in garments[::7]:
        d = describe(g, rng, omit=0.3)
        assert d.fits(g) and d.stated[0] == ("category", g.category)
        full = full_description(g, rng)
        assert {a for a, _ in full.stated} == {"category", *g.attributes}
        assert full.fits(g)
        for other in garments[::53]:
            assert full.fits(other) == (other == g), "a full description fits its combination only"
    red = Garment("dress", "red", "striped", "long", "round", "short")
    text = [describe(red, np.random.default_rng(s), omit=0.0).text for s in range(30)]
    assert all("red" in t and "dress" in t for t in text)
    assert len(set(text)) > 10, "wordings and orders vary"


def test_a_near_miss_is_false_in_exactly_one_stated_attribute():
    rng = np.random.default_rng(5)
    changed = {}
    for g in [g for c in CATEGORIES for g in all_garments(c)][::5]:
        for _ in range(3):
            d = near_miss(g, rng, omit=0.5)
            stated = dict(d.stated)
            assert stated["category"] == g.category and not d.fits(g)
            wrong = [a for a, v in stated.items() if a != "category" and g.get(a) != v]
            assert len(wrong) == 1, (g, d)
            assert d.fits(g.replace(**{wrong[0]: stated[wrong[0]]}))
            changed[wrong[0]] = changed.get(wrong[0], 0) + 1
    assert set(changed) == {"colour", "pattern", "sleeves", "neckline", "length"}, changed
    forced = [describe(Garment("shirt", "red", "plain", "short"), np.random.default_rng(s), omit=0.9,
                       always=("sleeves",)) for s in range(20)]
    assert all(dict(d.stated)["sleeves"] == "short" for d in forced)


def test_partial_descriptions_fit_every_garment_they_are_true_of():
    rng = np.random.default_rng(3)
    garments = list(all_garments("shirt"))
    descriptions = [describe(g, rng, omit=0.6) for g in garments[:20]]
    m = fits_matrix(garments[:20], descriptions).numpy()
    assert m.diagonal().all()
    for i, g in enumerate(garments[:20]):
        for j, d in enumerate(descriptions):
            want = all(g.category == v if a == "category" else g.get(a) == v for a, v in d.stated)
            assert m[i, j] == want


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return small_world(tmp_path_factory.mktemp("pw"), seed=3)


def test_pretrain_writes_a_run_that_train_init_starts_from(tmp_path, world, capsys):
    out = tmp_path / "pre"
    assert _pretrain(world, out) == 0
    cfg = read_config(out)
    assert cfg["method"] == "pretrain" and cfg["pretraining"]["epochs"] == 2
    epochs = [r for r in read_log(out) if r["kind"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1]
    for r in epochs:
        assert {"probe_p@5", "probe_colour", "probe_sleeves"} <= set(r["val"])
        assert 0.0 <= r["val"]["probe_p@5"] <= 100.0
    steps = [r for r in read_log(out) if r["kind"] == "step"]
    assert len(steps) == 6 and all(math.isfinite(r["loss"]) for r in steps)
    model, _, meta = load_model(out)
    best = max(r["val"]["probe_p@5"] for r in epochs)
    assert meta["metrics"]["probe_p@5"] == best, "best.pt is the epoch with the best probe"

    # the CIR stage starts from the pretrained weights
    cir = tmp_path / "cir"
    code = main(["train", "--dataset", "fashioniq", "--data-root", str(world), "--method", "contrastive",
                 "--init", str(out), "--out", str(cir), "--epochs", "1", "--batch-size", "4",
                 "--max-steps-per-epoch", "2", "--threads", "1"])
    assert code == 0
    assert json.loads((cir / "config.json").read_text())["init_meta"]["method"] == "pretrain"
    start = load_checkpoint(out / "best.pt")["model"]
    first_cir = load_checkpoint(cir / CHECKPOINT)["model"]
    assert set(start) == set(first_cir)
    assert "wrote" in capsys.readouterr().out


def test_near_misses_join_the_batch_as_negatives_of_their_own_image(tmp_path, world, capsys):
    out = tmp_path / "pre"
    assert _pretrain(world, out, "--near-misses", "1.0") == 0
    assert read_config(out)["pretraining"]["near_misses"] == 1.0
    steps = [r for r in read_log(out) if r["kind"] == "step"]
    assert len(steps) == 6 and all(math.isfinite(r["loss"]) for r in steps)

    from engine.text import Tokenizer
    from trainer.pretrain import PretrainConfig, Pretrainer, load_world_images

    model, _, _ = load_model(out)
    images = load_world_images(world, "train", model)
    tok = Tokenizer(out / "vocab.txt", model.cfg.text_spec())
    ids = np.arange(8)
    batches = {}
    for share in (0.0, 1.0):
        trainer = Pretrainer(tmp_path / f"unused{share}", model, tok, images, None,
                             PretrainConfig(near_misses=share), lambda s: None)
        batches[share] = trainer._batch(ids, np.random.default_rng(0))
    (_, plain_ids, _, plain_pos), (_, ids2, mask2, pos) = batches[0.0], batches[1.0]
    w = plain_ids.shape[1]
    assert plain_ids.shape[0] == 8 and ids2.shape[0] == 16, "one near miss per image"
    assert torch.equal(ids2[:8, :w], plain_ids) and not mask2[:8, w:].any(), "the true texts are unchanged"
    assert torch.equal(pos[:, :8], plain_pos)
    assert not pos[:, 8:].diagonal().any(), "a near miss is never true of its own image"
    assert main(["pretrain", "--data-root", str(world), "--out", str(tmp_path / "bad"), "--near-misses", "1.5",
                 "--threads", "1"]) == 2
    assert "near_misses" in capsys.readouterr().err


def test_paired_batches_draw_images_one_attribute_away():
    from trainer.pretrain import Neighbours

    every = [g for c in ("shirt", "toptee") for g in all_garments(c)]
    garments = [every[int(i)] for i in np.random.default_rng(1).choice(len(every), 200, replace=False)] * 2
    lonely = Garment("dress", "red", "plain", "long", "round", "short")  # no dress one attribute away
    garments.append(lonely)
    near = Neighbours(garments)
    rng = np.random.default_rng(0)
    changed = set()
    for i, g in enumerate(garments[:-1]):
        for _ in range(2):
            j = near.draw(i, rng)
            assert garments[j].category == g.category and len(g.differences(garments[j])) == 1
            changed.update(g.differences(garments[j]))
    assert changed == {"colour", "pattern", "sleeves", "neckline"}
    assert 0 <= near.draw(len(garments) - 1, rng) < len(garments), "no neighbour: any image"


def test_a_paired_run_trains_and_records_it(tmp_path, world):
    out = tmp_path / "pre"
    assert _pretrain(world, out, "--paired", "--near-misses", "0.5") == 0
    cfg = read_config(out)["pretraining"]
    assert cfg["paired"] is True and cfg["near_misses"] == 0.5
    steps = [r for r in read_log(out) if r["kind"] == "step"]
    assert len(steps) == 6 and all(math.isfinite(r["loss"]) for r in steps)


def test_pretraining_changes_the_weights_it_should(tmp_path, world):
    out = tmp_path / "pre"
    assert _pretrain(world, out, "--epochs", "1") == 0
    torch.manual_seed(0)
    after = load_checkpoint(out / CHECKPOINT)["model"]
    from trainer.run import model_from_payload

    fresh = _fresh(out)
    for prefix in ("vision.", "qformer.", "vision_proj.", "text_proj.", "query_tokens"):
        assert any(not torch.equal(after[k], fresh[k]) for k in after if k.startswith(prefix)), prefix
    assert model_from_payload(load_checkpoint(out / CHECKPOINT)) is not None


def _fresh(out):
    """The starting weights of a fresh pretraining run with seed 0."""
    from engine.text import Tokenizer
    from trainer.model import TINY, build_model
    from trainer.scratch import widen_qformer_init

    torch.manual_seed(0)
    model = build_model(TINY, vocab_size=Tokenizer(out / "vocab.txt").vocab_size)
    widen_qformer_init(model, 0.1)
    return model.state_dict()


def test_pause_and_resume_equal_an_uninterrupted_run(tmp_path, world):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert _pretrain(world, whole) == 0
    assert _pretrain(world, parts, "--pause-after", "1") == 0
    assert [r["epoch"] for r in read_log(parts) if r["kind"] == "epoch"] == [0]
    assert main(["pretrain", "--out", str(parts), "--resume", "--threads", "1"]) == 0
    a, b = load_checkpoint(whole / CHECKPOINT)["model"], load_checkpoint(parts / CHECKPOINT)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bad_input_is_one_line_and_exit_2(tmp_path, world, capsys):
    assert main(["pretrain", "--data-root", str(tmp_path), "--out", str(tmp_path / "x"), "--threads", "1"]) == 2
    assert "not a generated world" in capsys.readouterr().err
    out = tmp_path / "pre"
    assert _pretrain(world, out, "--epochs", "1") == 0
    assert _pretrain(world, out) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["pretrain", "--data-root", str(world), "--out", str(tmp_path / "y"), "--split", "nope",
                 "--threads", "1"]) == 2
    assert "no split 'nope'" in capsys.readouterr().err
    assert main(["pretrain", "--data-root", str(world), "--out", str(tmp_path / "z"), "--categories", "dress,hat",
                 "--threads", "1"]) == 2
    assert "no category 'hat' in this world (it has " in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    assert _pretrain(world, tmp_path / "a-file" / "run", "--epochs", "1") == 2  # --out cannot be made
    assert capsys.readouterr().err.strip() == f"error: Not a directory: {tmp_path / 'a-file' / 'run'}"


@pytest.mark.parametrize("content, why", [
    (b"\xff\xd8\xff\xe0JFIF", "not a vocabulary file (not UTF-8 text at byte 0)"),
    (b"hello\nworld\n", "the vocabulary has no [PAD] token"),
    (None, "vocabulary file not found"),
])
def test_a_bad_vocabulary_is_one_line_and_exit_2(tmp_path, world, capsys, content, why):
    vocab = tmp_path / "vocab.txt"
    if content is not None:
        vocab.write_bytes(content)
    argv = ["pretrain", "--data-root", str(world), "--vocab", str(vocab), "--out", str(tmp_path / "x"),
            "--threads", "1"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {vocab}: {why}") and err.count("\n") == 1, err
    assert not (tmp_path / "x" / "config.json").exists()


def test_cir_stage_with_a_frozen_vision_tower_keeps_it(tmp_path, world):
    out, cir = tmp_path / "pre", tmp_path / "cir"
    assert _pretrain(world, out, "--epochs", "1") == 0
    code = main(["train", "--dataset", "fashioniq", "--data-root", str(world), "--method", "contrastive",
                 "--init", str(out), "--out", str(cir), "--epochs", "1", "--batch-size", "4",
                 "--max-steps-per-epoch", "2", "--threads", "1", "--freeze-vision"])
    assert code == 0
    start, end = load_checkpoint(out / "best.pt")["model"], load_checkpoint(cir / CHECKPOINT)["model"]
    assert all(torch.equal(start[k], end[k]) for k in start if k.startswith("vision."))
    assert any(not torch.equal(start[k], end[k]) for k in start if k.startswith("qformer."))
    model, _, _ = load_model(cir)
    assert model.cfg.freeze_vision and not any(p.requires_grad for p in model.vision.parameters())


def test_probe_counts_what_it_says(world):
    """A model whose target tokens *are* the full description's text feature scores 100."""
    from engine.text import Tokenizer
    from trainer.data.images import MemoryPixelBank
    from trainer.model import TINY, build_model
    from trainer.pretrain import WorldImages, probe

    gs = [Garment("shirt", "red", "plain", "long"), Garment("shirt", "blue", "plain", "long"),
          Garment("dress", "red", "plain", "long", "round", "short")]
    names = [f"im{i}" for i in range(6)]
    garments = [gs[0], gs[0], gs[1], gs[1], gs[2], gs[2]]
    images = WorldImages(names, garments, MemoryPixelBank(names, torch.zeros(6, 3, 96, 96)))
    model = build_model(TINY, vocab_size=1000)
    code = {g: i for i, g in enumerate(gs)}
    model.encode_target = lambda px: torch.nn.functional.one_hot(  # type: ignore[method-assign]
        torch.tensor([code[g] for g in garments[: len(px)]]), 3).float()[:, None, :]
    order = sorted(gs)  # the probe describes the distinct garments in sorted order
    model.encode_text = lambda ids, mask: torch.nn.functional.one_hot(  # type: ignore[method-assign]
        torch.tensor([code[g] for g in order]), 3).float()
    tok = Tokenizer(_vocab(world), TINY.text_spec())
    out = probe(model, images, tok)
    # 2 exact matches per garment in a top 5 of its category (shirts: 4 images, dress: 2)
    assert out["probe_p@5"] == pytest.approx(100 * 2 / 5)
    assert out["probe_colour"] == pytest.approx(100 * (2 / 5 + 2 / 5 + 2 / 5) / 3)


def _vocab(world):
    from engine.world import vocabulary_corpus
    from trainer.vocab import build_wordpiece_vocab

    path = world.parent / "vocab.txt"
    if not path.exists():
        build_wordpiece_vocab(vocabulary_corpus(), path, 400)
    return path


def test_a_resized_model_pretrains_trains_exports_and_indexes(tmp_path, world):
    """--image-size / --patch-size / --vision-width / --vision-layers reach the run, the CIR
    stage, the bundle's preprocessing and the engine (the resolution and model-size ablations)."""
    from engine.bundle import load_bundle
    from engine.library import Library

    pre, cir, bundle = tmp_path / "pre", tmp_path / "cir", tmp_path / "bundle"
    assert _pretrain(world, pre, "--epochs", "1", "--image-size", "64", "--patch-size", "8",
                     "--vision-width", "64", "--vision-layers", "2") == 0
    vision = read_config(pre)["model"]["vision"]
    assert (vision["image_size"], vision["patch_size"], vision["width"], vision["layers"]) == (64, 8, 64, 2)
    assert read_config(pre)["model"]["image"]["size"] == 64
    assert main(["train", "--dataset", "fashioniq", "--data-root", str(world), "--method", "contrastive",
                 "--init", str(pre), "--out", str(cir), "--epochs", "1", "--batch-size", "4",
                 "--max-steps-per-epoch", "2", "--threads", "1"]) == 0
    model, _, _ = load_model(cir)
    assert model.vision.pos_embed.shape == (65, 64) and len(model.vision.blocks) == 2  # 8x8 patches + [CLS]
    assert main(["export", "--run", str(cir), "--out", str(bundle), "--demo", "--description", "resized"]) == 0
    manifest = load_bundle(bundle).manifest
    assert manifest.image.size == 64 and manifest.sizes.vision_tokens == 65
    photos = world / "images"
    with Library.open(tmp_path / "lib", bundle=bundle) as lib:
        report = lib.index([photos])
        assert report.encoded == len(list(photos.iterdir())) and not report.failed
        name = sorted(photos.iterdir())[0]
        assert lib.similar(name, k=1, exclude_reference=False).hits[0].path == str(name)


def test_a_conv_stem_pretrains_trains_exports_and_matches_in_onnx(tmp_path, world):
    """--vision-stem conv reaches the run, the CIR stage and the bundle; the exported vision
    graph gives what the run's model gives, and the engine indexes with it."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from engine.bundle import load_bundle
    from engine.library import Library
    from trainer.model.layers import ConvStem

    pre, cir, bundle = tmp_path / "pre", tmp_path / "cir", tmp_path / "bundle"
    assert _pretrain(world, pre, "--epochs", "1", "--vision-stem", "conv") == 0
    assert read_config(pre)["model"]["vision"]["stem"] == "conv"
    assert main(["train", "--dataset", "fashioniq", "--data-root", str(world), "--method", "contrastive",
                 "--init", str(pre), "--out", str(cir), "--epochs", "1", "--batch-size", "4",
                 "--max-steps-per-epoch", "2", "--threads", "1"]) == 0
    model, _, _ = load_model(cir)
    stem = model.vision.patch_embed
    assert isinstance(stem, ConvStem)
    # a frozen tower keeps its BatchNorm statistics too, not only its weights
    frozen = tmp_path / "frozen"
    assert main(["train", "--dataset", "fashioniq", "--data-root", str(world), "--method", "contrastive",
                 "--init", str(pre), "--freeze-vision", "--out", str(frozen), "--epochs", "1", "--batch-size", "4",
                 "--max-steps-per-epoch", "2", "--threads", "1"]) == 0
    before, after = load_model(pre)[0].vision.state_dict(), load_model(frozen)[0].vision.state_dict()
    assert any("running_mean" in k for k in after)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not all(torch.equal(before[k], model.vision.state_dict()[k]) for k in before)  # the unfrozen run moved
    # 96 px, 16-px grid: four stride-2 convolutions (32, 64, 128, 128 channels), BatchNorm and GELU
    # between them, 6x6 tokens + [CLS]
    assert [c.out_channels for c in stem if isinstance(c, torch.nn.Conv2d)] == [32, 64, 128, 128]
    assert sum(isinstance(c, torch.nn.BatchNorm2d) for c in stem) == 3
    assert model.vision.pos_embed.shape == (37, 128)
    assert main(["export", "--run", str(cir), "--out", str(bundle), "--demo", "--description", "conv stem"]) == 0
    loaded = load_bundle(bundle)
    pixels = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want = model.vision_features(pixels).numpy()
    session = ort.InferenceSession(str(bundle / loaded.manifest.graphs["vision"]), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: pixels.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4)
    photos = world / "images"
    with Library.open(tmp_path / "lib", bundle=bundle) as lib:
        report = lib.index([photos])
        assert report.encoded == len(list(photos.iterdir())) and not report.failed


@pytest.mark.parametrize("flags, words", [(["--image-size", "70"], "multiple of the patch size 16"),
                                          (["--patch-size", "10"], "multiple of the patch size 10"),
                                          (["--patch-size", "0"], "at least 1 pixel"),
                                          (["--vision-width", "66"], "multiple of its 4 heads"),
                                          (["--vision-layers", "0"], "at least 1"),
                                          (["--vision-stem", "conv", "--patch-size", "12"], "power of two")])
def test_an_impossible_size_is_one_line_and_exit_2(tmp_path, world, capsys, flags, words):
    assert _pretrain(world, tmp_path / "x", *flags) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_itm_pairs_draw_negatives_only_among_false_pairs_and_by_similarity():
    from trainer.pretrain import itm_pairs

    bi, bt = 6, 8  # two extra texts: near misses
    positive = torch.zeros(bi, bt, dtype=torch.bool)
    positive[torch.arange(bi), torch.arange(bi)] = True
    positive[1, 2] = positive[2, 1] = True  # a partial description true of two images
    positive[4, :] = True  # image 4: every text is true of it -> no negative text
    positive[:, 5] = True  # text 5: true of every image -> no negative image
    scores = torch.zeros(bi, bt)
    scores[0, 7] = 20.0  # image 0's most similar false text: drawn (almost) every time
    scores[3, 0] = 20.0  # text 0's most similar false image
    g = torch.Generator().manual_seed(0)
    drawn = []
    for _ in range(50):
        im, tx, labels = itm_pairs(scores, positive, g)
        assert torch.equal(im[:bi], torch.arange(bi)) and torch.equal(tx[:bi], torch.arange(bi))
        assert labels[:bi].all() and not labels[bi:].any()
        assert not positive[im[bi:], tx[bi:]].any(), "a negative pair is never a true one"
        assert len(labels) == bi + (bi - 1) + (bi - 1), "image 4 and text 5 have no negative"
        drawn.append((int(tx[bi]), int(im[2 * bi - 1])))  # image 0's text, text 0's image
    assert sum(t == 7 for t, _ in drawn) >= 48 and sum(i == 3 for _, i in drawn) >= 48

    # hard=0: uniform over the false pairs, whatever the similarities; 0.5: half of each
    for hard, expected in ((0.0, 1 / 6), (0.5, 0.5 + 0.5 / 6)):  # image 0: 6 false texts (not 0, not 5)
        counts = torch.zeros(bt)
        for _ in range(2000):
            im, tx, _ = itm_pairs(scores, positive, g, hard=hard)
            assert not positive[im[bi:], tx[bi:]].any()
            counts[tx[bi]] += 1
        assert abs(counts[7] / 2000 - expected) < 0.025, (hard, counts)


def test_an_itm_run_trains_probes_and_resumes(tmp_path, world, capsys):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert _pretrain(world, whole, "--itm", "1.0") == 0
    assert read_config(whole)["pretraining"]["itm"] == 1.0
    steps = [r for r in read_log(whole) if r["kind"] == "step"]
    assert len(steps) == 6 and all(math.isfinite(r["loss"]) and math.isfinite(r["itm_loss"]) for r in steps)
    epochs = [r for r in read_log(whole) if r["kind"] == "epoch"]
    for r in epochs:
        shares = {k: v for k, v in r["val"].items() if k.startswith("probe_itm_")}
        assert {"probe_itm_colour", "probe_itm_neckline", "probe_itm_sleeves"} <= set(shares)
        assert "probe_itm_category" not in shares, "only attributes a garment has are changed"
        assert all(0.0 <= v <= 100.0 for v in shares.values())
    check = load_checkpoint(whole / CHECKPOINT)
    head = check["itm_head"]
    assert set(head) == {"weight", "bias"} and head["weight"].shape[0] == 2
    assert "itm_head" not in load_checkpoint(whole / "best.pt"), "best.pt holds the model alone (train --init)"
    fresh = torch.zeros_like(head["weight"])
    assert not torch.equal(head["weight"], fresh)

    # paused and resumed: the same weights and head as the run in one go
    assert _pretrain(world, parts, "--itm", "1.0", "--pause-after", "1") == 0
    assert main(["pretrain", "--out", str(parts), "--resume", "--threads", "1"]) == 0
    other = load_checkpoint(parts / CHECKPOINT)
    assert all(torch.equal(check["model"][k], other["model"][k]) for k in check["model"])
    assert torch.equal(head["weight"], other["itm_head"]["weight"])

    # ITM changes training: the same run without it ends elsewhere
    plain = tmp_path / "plain"
    assert _pretrain(world, plain) == 0
    a = load_checkpoint(plain / CHECKPOINT)["model"]
    assert any(not torch.equal(a[k], check["model"][k]) for k in a)
    assert "itm_head" not in load_checkpoint(plain / CHECKPOINT)

    cir = tmp_path / "cir"
    assert main(["train", "--dataset", "fashioniq", "--data-root", str(world), "--method", "contrastive",
                 "--init", str(whole), "--out", str(cir), "--epochs", "1", "--batch-size", "4",
                 "--max-steps-per-epoch", "1", "--threads", "1"]) == 0
    capsys.readouterr()
    assert main(["pretrain", "--data-root", str(world), "--out", str(tmp_path / "bad"), "--itm", "-1",
                 "--threads", "1"]) == 2
    assert "itm" in capsys.readouterr().err
    assert main(["pretrain", "--data-root", str(world), "--out", str(tmp_path / "bad2"), "--itm", "1",
                 "--itm-hard", "1.5", "--threads", "1"]) == 2
    assert "itm_hard must be in [0, 1]" in capsys.readouterr().err


def test_pretrain_init_continues_from_a_run_with_its_architecture(tmp_path, world, capsys):
    first, more = tmp_path / "first", tmp_path / "more"
    assert _pretrain(world, first, "--epochs", "1", "--image-size", "48") == 0
    # lr 0: the run starts from, and stays at, the init run's best weights
    assert _pretrain(world, more, "--init", str(first), "--itm", "1.0", "--lr", "0") == 0
    cfg = read_config(more)
    assert cfg["init"] == str(first.resolve()) and cfg["init_meta"]["method"] == "pretrain"
    start, after = load_checkpoint(first / "best.pt")["model"], load_checkpoint(more / CHECKPOINT)
    assert after["model_config"]["vision"]["image_size"] == 48
    assert all(torch.equal(start[k], after["model"][k]) for k in start)
    assert (more / "vocab.txt").read_bytes() == (first / "vocab.txt").read_bytes()
    capsys.readouterr()
    assert _pretrain(world, tmp_path / "x", "--init", str(first), "--image-size", "64") == 2
    assert "--init takes the architecture and vocabulary of" in capsys.readouterr().err
    assert _pretrain(world, tmp_path / "y", "--init", str(first), "--vision-stem", "conv") == 2
    assert "drop --vision-stem" in capsys.readouterr().err
    assert _pretrain(world, tmp_path / "y", "--init", str(tmp_path / "nothing")) == 2
    assert "not a run directory" in capsys.readouterr().err
