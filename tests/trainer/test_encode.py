"""Frozen-ViT token caches (the vitl speed path), exercised with a tiny frozen tower."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.text import Tokenizer
from trainer.data import load_split
from trainer.data.images import MemoryPixelBank, TokenBank
from trainer.data.queries import build_queries
from trainer.data.synthetic import write_fashioniq
from trainer.encode import cache_vit_tokens, featurize
from trainer.model import TINY, build_model
from trainer.objectives import Objective

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def frozen(tiny_vocab, tmp_path_factory):
    root = write_fashioniq(tmp_path_factory.mktemp("fiq"), categories=("dress",), images_per_split=6,
                           triplets_per_split=5, splits=("train",))
    split = load_split("fashioniq", root, "train")
    tok = Tokenizer(tiny_vocab)
    torch.manual_seed(0)
    model = build_model(TINY.replace(freeze_vision=True), vocab_size=tok.vocab_size)
    bank = MemoryPixelBank.load(split.paths, split.image_names(), model.cfg.image)
    return model, bank, build_queries(split, bank, tok)


def test_memory_and_file_caches_match_the_tower(frozen, tmp_path):
    model, bank, _ = frozen
    model.eval()
    with torch.no_grad():
        want = model.vision_features(bank.pixels)  # (N, T, Dv)
    mem = cache_vit_tokens(model, bank, torch.device("cpu"), batch_size=4)
    disk = cache_vit_tokens(model, bank, torch.device("cpu"), batch_size=4, cache_dir=tmp_path)
    assert isinstance(mem, TokenBank) and isinstance(disk.tokens, np.memmap)
    with torch.no_grad():
        assert torch.allclose(featurize(model, mem.batch(np.arange(len(bank)))), want, atol=1e-5)
        # float16 on disk: close, not equal
        assert torch.allclose(featurize(model, disk.batch(np.arange(len(bank)))), want, atol=2e-2)
    # workers get the path, not a copy of the array
    import pickle

    clone = pickle.loads(pickle.dumps(disk))
    assert len(pickle.dumps(disk)) < 4096 and torch.equal(clone[1], disk[1])
    files = list(tmp_path.glob("vit_tokens-*.npy"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    cache_vit_tokens(model, bank, torch.device("cpu"), cache_dir=tmp_path)  # reused, not rewritten
    assert files[0].stat().st_mtime_ns == stamp


def test_a_trained_tower_is_not_cached(frozen, tiny_vocab):
    _, bank, _ = frozen
    trained = build_model(TINY, vocab_size=Tokenizer(tiny_vocab).vocab_size)
    with pytest.raises(ValueError, match="trained"):
        cache_vit_tokens(trained, bank, torch.device("cpu"))


def test_training_step_on_cached_tokens_leaves_the_tower_alone(frozen):
    model, bank, qs = frozen
    tokens = cache_vit_tokens(model, bank, torch.device("cpu"))
    before = {k: v.clone() for k, v in model.vision.state_dict().items()}
    ln_before = model.ln_vision.weight.detach().clone()
    model.train()
    obj = Objective(model, "contrastive")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    idx = np.arange(4)
    batch = {
        "ref": tokens.batch(qs.ref[idx]),
        "target": tokens.batch(qs.target[idx]),
        "input_ids": torch.from_numpy(qs.input_ids[idx]),
        "attention_mask": torch.from_numpy(qs.attention_mask[idx]),
        "target_id": torch.from_numpy(qs.target[idx]),
    }
    loss, _ = obj(batch)
    loss.backward()
    opt.step()
    assert all(torch.equal(before[k], v) for k, v in model.vision.state_dict().items())
    assert not torch.equal(ln_before, model.ln_vision.weight)  # ln_vision is trained, as in QuRe
