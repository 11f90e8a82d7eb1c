"""Image-grounded text generation (BLIP-2's ITG) in pretraining: the causal pass, the loss
against a naive implementation, the probe's texts, and the command end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.text import Tokenizer, VocabError
from engine.world.attributes import CATEGORIES, all_garments
from trainer.cli import main
from trainer.model import build_model
from trainer.model.config import get_config
from trainer.pretrain import ITG_SMOOTHING, ItgHead, changed_pairs, itg_logits, itg_loss, share_true_wins
from trainer.run import CHECKPOINT, load_checkpoint, read_config, read_log

from .pretrain_runs import short_pretrain as _pretrain
from .pretrain_runs import small_world

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DEC = 7  # any id of the vocabulary serves as [DEC] for the model-level tests


def _model(seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(get_config("tiny"), vocab_size=50).eval()
    head = ItgHead(model).eval()
    with torch.no_grad():  # BERT's 0.02 init makes every logit nearly equal; spread them out
        for p in [*model.qformer.parameters(), *head.parameters()]:
            p.add_(torch.randn_like(p) * 0.2)
    return model, head


def _texts(b: int, length: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 50, (b, length), generator=g)
    lengths = torch.randint(2, length + 1, (b,), generator=g)
    mask = (torch.arange(length)[None] < lengths[:, None]).long()
    return ids.masked_fill(mask == 0, 0), mask


def test_the_causal_pass_keeps_the_queries_blind_to_the_text_and_the_text_to_its_future():
    model, head = _model()
    feats = torch.randn(3, 37, 128)  # the tiny tower's 6 x 6 patches and [CLS], width 128
    ids, mask = _texts(3, 9, 1)
    nq = model.query_tokens.shape[1]
    queries = model.query_tokens.expand(3, -1, -1)
    with torch.no_grad():
        h = model.qformer(ids, mask, queries, feats, causal=True)
        alone = model.qformer(query_embeds=queries, image=feats)
        # the queries come out as in the image-only pass (the target path)
        assert (h[:, :nq] - alone).abs().max() < 1e-4  # float32 rounding of another kernel (a leak: ~5)
        # changing token 5 changes nothing before it, and something from it on
        other = ids.clone()
        other[:, 5] = (other[:, 5] % 49) + 1
        mask_all = torch.ones_like(mask)
        a = model.qformer(ids, mask_all, queries, feats, causal=True)
        b = model.qformer(other, mask_all, queries, feats, causal=True)
        assert torch.allclose(a[:, :nq + 5], b[:, :nq + 5], atol=1e-6)
        assert not torch.allclose(a[:, nq + 5:], b[:, nq + 5:], atol=1e-4)
    with pytest.raises(ValueError, match="causal pass needs the text"):
        model.qformer(query_embeds=queries, image=feats, causal=True)


def naive_itg(model, head, feats, ids, mask, smoothing: float) -> float:
    """Token by token: run the decoder on the prefix up to each position alone (no later
    text exists), and take the smoothed cross-entropy of the next token, as the definition reads."""
    losses = []
    vocab = head.bias.shape[0]
    for b in range(ids.shape[0]):
        n = int(mask[b].sum())
        for t in range(n - 1):
            prefix = ids[b:b + 1, :t + 1]
            logits = itg_logits(model, head, feats[b:b + 1], prefix, torch.ones_like(prefix), DEC)[0, t]
            logp = torch.log_softmax(logits.double(), -1)
            y = int(ids[b, t + 1])
            nll = -float(logp[y])
            uniform = -float(logp.sum()) / vocab
            losses.append((1 - smoothing) * nll + smoothing * uniform)
    return float(np.mean(losses))


@pytest.mark.parametrize("seed", [0, 1])
def test_itg_loss_matches_a_naive_implementation(seed):
    model, head = _model(seed)
    feats = torch.randn(4, 37, 128, generator=torch.Generator().manual_seed(seed))
    ids, mask = _texts(4, 8, seed + 10)
    with torch.no_grad():
        got = float(itg_loss(model, head, feats, ids, mask, DEC))
        plain = float(itg_loss(model, head, feats, ids, mask, DEC, smoothing=0.0))
        want = naive_itg(model, head, feats, ids, mask, ITG_SMOOTHING)
        want_plain = naive_itg(model, head, feats, ids, mask, 0.0)
    assert got == pytest.approx(want, rel=1e-5)
    assert plain == pytest.approx(want_plain, rel=1e-5)
    assert abs(got - plain) > 1e-3, "the smoothing enters the loss"
    # trailing padding is trimmed and ignored: more of it changes nothing
    padded = torch.cat([ids, torch.zeros(4, 5, dtype=ids.dtype)], 1)
    with torch.no_grad():
        assert float(itg_loss(model, head, feats, padded, torch.cat([mask, torch.zeros_like(padded[:, :5])], 1),
                              DEC)) == pytest.approx(got, rel=1e-6)


def test_the_decoder_reads_the_image():
    model, head = _model(3)
    ids, mask = _texts(2, 8, 4)
    with torch.no_grad():
        a = itg_loss(model, head, torch.randn(2, 37, 128), ids, mask, DEC)
        b = itg_loss(model, head, torch.randn(2, 37, 128), ids, mask, DEC)
    assert abs(float(a) - float(b)) > 1e-4


def test_changed_pairs_change_one_attribute_in_the_same_wording():
    garments = [g for c in CATEGORIES for g in list(all_garments(c))[:15]]
    pairs = changed_pairs(garments, seed=0)
    by_image: dict[int, list[tuple[str, str]]] = {}
    for i, a, text in pairs:
        by_image.setdefault(i, []).append((a, text))
    for i, g in enumerate(garments):
        rows = by_image[i]
        assert rows[0][0] == "" and [a for a, _ in rows[1:]] == list(g.attributes)
        true = rows[0][1]
        for a, text in rows[1:]:
            assert text != true, (a, text)
    # the share counts, per attribute, the images whose true text scores above the changed one
    values = np.array([1.0 if a == "" else (2.0 if a == "colour" else 0.0) for _, a, _ in pairs])
    shares = share_true_wins(pairs, values, "p_")
    assert shares["p_colour"] == 0.0 and shares["p_pattern"] == 100.0


def test_the_tokenizer_gives_dec_its_own_id(tmp_path):
    from engine.world import vocabulary_corpus
    from trainer.vocab import build_wordpiece_vocab

    vocab = build_wordpiece_vocab(vocabulary_corpus(), tmp_path / "vocab.txt", vocab_size=300)
    tok = Tokenizer(vocab)
    assert tok.token_id("[DEC]") == tok.vocab_size - 1
    assert tok.token_id("[CLS]") != tok.token_id("[DEC]")
    with pytest.raises(VocabError, match="no token"):
        tok.token_id("[NOPE]")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return small_world(tmp_path_factory.mktemp("pwg"), seed=4)


def test_an_itg_run_trains_probes_and_resumes(tmp_path, world, capsys):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert _pretrain(world, whole, "--itg", "1.0", "--vision-stem", "conv") == 0
    assert read_config(whole)["pretraining"]["itg"] == 1.0
    steps = [r for r in read_log(whole) if r["kind"] == "step"]
    assert len(steps) == 6 and all(math.isfinite(r["itg_loss"]) and r["loss"] > r["itg_loss"] > 0 for r in steps)
    for r in (r for r in read_log(whole) if r["kind"] == "epoch"):
        shares = {k: v for k, v in r["val"].items() if k.startswith("probe_itg_")}
        assert {"probe_itg_colour", "probe_itg_neckline", "probe_itg_sleeves"} <= set(shares)
        assert all(0.0 <= v <= 100.0 for v in shares.values())
    check = load_checkpoint(whole / CHECKPOINT)
    assert set(check["itg_head"]) == {"dense.weight", "dense.bias", "norm.weight", "norm.bias", "bias"}
    assert "itg_head" not in load_checkpoint(whole / "best.pt"), "best.pt holds the model alone (train --init)"

    assert _pretrain(world, parts, "--itg", "1.0", "--vision-stem", "conv", "--pause-after", "1") == 0
    assert main(["pretrain", "--out", str(parts), "--resume", "--threads", "1"]) == 0
    other = load_checkpoint(parts / CHECKPOINT)
    assert all(torch.equal(check["model"][k], other["model"][k]) for k in check["model"])
    assert all(torch.equal(check["itg_head"][k], other["itg_head"][k]) for k in check["itg_head"])

    plain = tmp_path / "plain"
    assert _pretrain(world, plain, "--vision-stem", "conv") == 0
    a = load_checkpoint(plain / CHECKPOINT)
    assert "itg_head" not in a
    assert any(not torch.equal(a["model"][k], check["model"][k]) for k in a["model"]), "ITG changes training"

    cir = tmp_path / "cir"
    assert main(["train", "--dataset", "fashioniq", "--data-root", str(world), "--method", "contrastive",
                 "--init", str(whole), "--out", str(cir), "--epochs", "1", "--batch-size", "4",
                 "--max-steps-per-epoch", "1", "--threads", "1"]) == 0
    capsys.readouterr()
    assert main(["pretrain", "--data-root", str(world), "--out", str(tmp_path / "bad"), "--itg", "-1",
                 "--threads", "1"]) == 2
    assert "itg must be a weight >= 0" in capsys.readouterr().err
