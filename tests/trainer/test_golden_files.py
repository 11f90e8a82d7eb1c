"""The LAVIS golden files (tests/trainer/golden/, written by tools/lavis_golden/) are
self-consistent, checked without LAVIS: hashes, shapes, unit norms, scores as max over
target tokens, a randomized checkpoint in LAVIS's layout, and the project's text
preparation reproducing LAVIS's cleaning and tokenizer on every recorded case."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from engine.text import Tokenizer, clean_caption, read_vocab

GOLDEN = Path(__file__).parent / "golden"
CONFIG = json.loads((GOLDEN / "config.json").read_text(encoding="utf-8"))
SIZES = CONFIG["sizes"]
CASES = json.loads((GOLDEN / "tokenizer_cases.json").read_text(encoding="utf-8"))["cases"]
B, Q, E, L = SIZES["batch"], SIZES["num_query_tokens"], SIZES["embed_dim"], SIZES["max_txt_len"]
T = (SIZES["image_size"] // SIZES["patch_size"]) ** 2 + 1


@pytest.fixture(scope="module")
def vocab() -> list[str]:
    return read_vocab(GOLDEN / "vocab.txt")


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer(GOLDEN / "vocab.txt")


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "inputs.npz", allow_pickle=False) as z:
        return dict(z)


@pytest.fixture(scope="module")
def outputs() -> dict[str, np.ndarray]:
    with np.load(GOLDEN / "outputs.npz", allow_pickle=False) as z:
        return dict(z)


@pytest.fixture(scope="module")
def state_dict():
    import torch

    ckpt = torch.load(GOLDEN / "tiny_lavis.pth", map_location="cpu", weights_only=True)
    assert set(ckpt) == {"model"}
    return ckpt["model"]


# ------------------------------------------------------------------ files and config
@pytest.mark.parametrize("name", sorted(CONFIG["sha256"]))
def test_file_matches_recorded_hash(name):
    assert hashlib.sha256((GOLDEN / name).read_bytes()).hexdigest() == CONFIG["sha256"][name]


def test_golden_files_stay_small():
    total = sum(p.stat().st_size for p in GOLDEN.iterdir())
    assert total < 2_500_000, f"golden files are {total:,} bytes"


def test_config_records_versions_and_lavis_block_counts():
    v = CONFIG["versions"]
    assert (v["salesforce-lavis"], v["transformers"]) == ("1.0.2", "4.26.1")
    assert v["torch"].startswith("2.13.0")
    assert CONFIG["vit_blocks"] == SIZES["vit_blocks"] == CONFIG["model"]["vision"]["layers"] == 3
    assert CONFIG["vit_layers_argument"] == CONFIG["vit_blocks"] + 1  # LAVIS builds layers - 1
    assert CONFIG["lavis_create_clip_vit_L_blocks"] == 21  # create_clip_vit_L passes layers=22
    assert CONFIG["cross_attention_layers"] == [0, 2]
    assert CONFIG["offline"]["network_interfaces"] == ["lo"] or CONFIG["offline"]["HF_HUB_OFFLINE"] == "1"


def test_vocab_layout(vocab):
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert len(set(vocab)) == len(vocab) == SIZES["vocab_size"]
    assert "[DEC]" not in vocab
    assert CONFIG["lavis_tokenizer"] == {"len": len(vocab) + 1, "dec_token_id": len(vocab)}
    for ch in "abcdefghijklmnopqrstuvwxyz0123456789,'?-/":
        assert ch in vocab
    assert any(t.startswith("##") and len(t) > 3 for t in vocab)


# ------------------------------------------------------------------ checkpoint
def test_checkpoint_layout_matches_config(state_dict):
    m = CONFIG["model"]
    H, W, V = m["qformer"]["hidden"], m["vision"]["width"], m["qformer"]["vocab_size"]
    blocks = {int(k.split(".")[3]) for k in state_dict if k.startswith("visual_encoder.transformer.resblocks.")}
    assert blocks == set(range(CONFIG["vit_blocks"]))
    layers = {int(k.split(".")[4]) for k in state_dict if k.startswith("Qformer.bert.encoder.layer.")}
    assert layers == set(range(m["qformer"]["layers"]))
    cross = {int(k.split(".")[4]) for k in state_dict if ".crossattention." in k}
    assert sorted(cross) == CONFIG["cross_attention_layers"]
    assert tuple(state_dict["visual_encoder.conv1.weight"].shape) == (W, 3, SIZES["patch_size"], SIZES["patch_size"])
    assert tuple(state_dict["visual_encoder.positional_embedding"].shape) == (T, W)
    assert tuple(state_dict["query_tokens"].shape) == (1, Q, H)
    assert tuple(state_dict["Qformer.bert.embeddings.word_embeddings.weight"].shape) == (V, H)
    assert tuple(state_dict["Qformer.bert.encoder.layer.0.crossattention.self.key.weight"].shape) == (H, W)
    assert tuple(state_dict["vision_proj.weight"].shape) == (E, H)
    for prefix in ("Qformer.cls.predictions.", "itm_head.", "text_proj.", "ln_vision."):
        assert any(k.startswith(prefix) for k in state_dict), prefix
    assert state_dict["temp"].item() == pytest.approx(m["temp"])


def test_checkpoint_is_randomized_everywhere(state_dict):
    import torch

    for k, t in state_dict.items():
        if k.endswith("position_ids"):
            assert torch.equal(t, torch.arange(t.shape[-1]).expand(1, -1)), k
            continue
        assert t.dtype == torch.float32, k
        if k == "temp":
            assert abs(t.item() - 0.07) > 1e-3  # not LAVIS's default
        elif re.search(r"(LayerNorm|ln_\w+|ln_vision)\.weight$", k):
            assert (t - 1).abs().max() > 0.05 and t.std() > 0.01, k  # not BERT's 1s
        else:
            assert t.abs().max() > 1e-3 and (t.numel() == 1 or t.std() > 1e-3), k  # not 0s or constant
    # The LM head's decoder is tied to the word embeddings, as LAVIS saves it.
    assert torch.equal(
        state_dict["Qformer.cls.predictions.decoder.weight"],
        state_dict["Qformer.bert.embeddings.word_embeddings.weight"],
    )


# ------------------------------------------------------------------ inputs and outputs
def test_input_shapes_and_dtypes(inputs, vocab):
    assert inputs["pixels"].shape == (B, 3, SIZES["image_size"], SIZES["image_size"])
    assert inputs["pixels"].dtype == np.float32
    for k in ("input_ids", "attention_mask"):
        assert inputs[k].shape == (B, L) and inputs[k].dtype == np.int64
    ids = inputs["input_ids"]
    assert ids.min() >= 0 and ids.max() <= len(vocab)
    assert len(inputs["texts"]) == len(inputs["cleaned"]) == B


def test_inputs_exercise_truncation_and_punctuation(inputs):
    mask = inputs["attention_mask"]
    assert (mask.sum(1) == L).any(), "no text reaches 32 tokens"
    assert (mask.sum(1) < L).any(), "no padded text"
    changed = [str(t).lower() != str(c) for t, c in zip(inputs["texts"], inputs["cleaned"])]
    assert any(changed), "no text loses punctuation in cleaning"


def test_cleaned_texts_match_engine(inputs):
    assert [clean_caption(str(t)) for t in inputs["texts"]] == [str(c) for c in inputs["cleaned"]]


def test_engine_tokenizer_reproduces_lavis_inputs(inputs, tokenizer):
    ids, mask = tokenizer.encode([str(t) for t in inputs["texts"]])
    np.testing.assert_array_equal(ids, inputs["input_ids"])
    np.testing.assert_array_equal(mask, inputs["attention_mask"])


def test_output_shapes(outputs):
    D = CONFIG["model"]["vision"]["width"]
    assert outputs["vision_feats"].shape == (B, T, D)
    assert outputs["target_tokens"].shape == (B, Q, E)
    assert outputs["query_embed"].shape == (B, E)
    assert outputs["text_embed"].shape == (B, E)
    assert outputs["scores"].shape == (B, B)
    assert all(v.dtype == np.float32 for v in outputs.values())


@pytest.mark.parametrize("name", ["target_tokens", "query_embed", "text_embed"])
def test_normalized_outputs_have_unit_norm(outputs, name):
    np.testing.assert_allclose(np.linalg.norm(outputs[name], axis=-1), 1.0, atol=1e-5)


def test_scores_are_max_over_target_tokens(outputs):
    q, t = outputs["query_embed"].astype(np.float64), outputs["target_tokens"].astype(np.float64)
    naive = np.array([[max(float(q[i] @ t[j, k]) for k in range(Q)) for j in range(B)] for i in range(B)])
    np.testing.assert_allclose(outputs["scores"], naive, atol=1e-5)


def test_outputs_are_not_degenerate(outputs):
    s = outputs["scores"]
    assert s.std() > 0.02
    q = outputs["query_embed"]
    dist = np.linalg.norm(q[:, None] - q[None], axis=-1)[~np.eye(B, dtype=bool)]
    assert dist.min() > 0.1
    assert outputs["vision_feats"].std() > 0.1


# ------------------------------------------------------------------ tokenizer cases
def test_tokenizer_cases_cover_what_they_claim(vocab):
    ids = [c["input_ids"] for c in CASES] + [c["raw_input_ids"] for c in CASES]
    assert len(CASES) >= 40
    assert any(1 in row for row in ids), "no [UNK]"
    assert any(len(vocab) in c["raw_input_ids"] for c in CASES), "no literal [DEC]"
    assert any(sum(c["attention_mask"]) == L for c in CASES), "no truncated case"
    assert any(len(c["text"].split()) > SIZES["max_words"] for c in CASES), "no case over max_words"
    assert any(t.startswith("##") for c in CASES for t in c["tokens"]), "no WordPiece split"
    assert any(c["cleaned"] == "" for c in CASES), "no empty text"


@pytest.mark.parametrize("case", CASES, ids=[f"case{i:02d}" for i in range(len(CASES))])
def test_engine_matches_lavis_on_case(case, tokenizer, vocab):
    assert clean_caption(case["text"]) == case["cleaned"]
    ids, mask = tokenizer.encode([case["text"]])
    assert ids[0].tolist() == case["input_ids"], tokenizer.tokens(case["text"])
    assert mask[0].tolist() == case["attention_mask"]
    assert [vocab[i] if i < len(vocab) else "[DEC]" for i in case["input_ids"][: sum(case["attention_mask"])]] == case[
        "tokens"
    ]
    raw_ids, raw_mask = tokenizer.encode([case["text"]], clean=False)
    assert raw_ids[0].tolist() == case["raw_input_ids"], tokenizer.tokens(case["text"], clean=False)
    assert raw_mask[0].tolist() == case["raw_attention_mask"]
