"""Mining: chunked scoring equals the whole matrix; the table equals per-query samplers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from engine.text import Tokenizer
from trainer.data import load_split
from trainer.data.images import MemoryPixelBank
from trainer.data.queries import Queries, build_queries
from trainer.data.synthetic import write_fashioniq
from trainer.mining import MiningConfig, build_table, chunked_scores, mine
from trainer.model import TINY, build_model, score
from trainer.negatives import above_target, qure_hard_set, trns_mid_zone

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _random_problem(seed=0, groups=(30, 25), queries=40, E=16, Q=4):
    g = torch.Generator().manual_seed(seed)
    n = sum(groups)
    tokens = torch.nn.functional.normalize(torch.randn(n, Q, E, generator=g), dim=-1)
    q = torch.nn.functional.normalize(torch.randn(queries, E, generator=g), dim=-1)
    rng = np.random.default_rng(seed)
    starts = np.cumsum([0, *groups])
    corpus_ids = tuple(np.arange(starts[i], starts[i + 1]) for i in range(len(groups)))
    group = rng.integers(0, len(groups), size=queries)
    target_pos = np.asarray([rng.integers(0, groups[k]) for k in group])
    target = np.asarray([corpus_ids[k][p] for k, p in zip(group, target_pos)])
    L = 4
    qs = Queries(tuple(f"g{i}" for i in range(len(groups))), corpus_ids, target.copy(), target, group, target_pos,
                 np.zeros((queries, L), np.int64), np.ones((queries, L), np.int64))
    # token rows in a shuffled order, to check the id -> row mapping
    perm = rng.permutation(n)
    return q, tokens[perm], perm, qs, [f"im{i}" for i in range(n)]


@pytest.mark.parametrize("method", ["qure", "trns", "above"])
def test_chunked_table_equals_unchunked(method):
    q, tokens, rows, qs, names = _random_problem()
    cfg = MiningConfig(method=method, trns_lo=2, trns_hi=6, chunk=len(q))
    whole = build_table(q, tokens, rows, qs, cfg, names)
    for chunk in (1, 3, 7):
        part = build_table(q, tokens, rows, qs, replace(cfg, chunk=chunk), names)
        assert (part.offsets == whole.offsets).all() and (part.items == whole.items).all()
        assert (part.target_rank == whole.target_rank).all() and (part.fallback == whole.fallback).all()


def test_chunked_scores_equal_the_full_matrix():
    q, tokens, _, _, _ = _random_problem(1)
    full = score(q, tokens)
    pieces = torch.cat([s.clone() for _, s in chunked_scores(q, tokens, 6)])  # each chunk reuses one buffer
    # equal up to float rounding (a GEMM may block differently for a different row count)
    assert torch.allclose(full, pieces, rtol=0, atol=1e-6)


def test_table_equals_per_query_sampler_on_the_group_slice():
    q, tokens, rows, qs, names = _random_problem(2)
    cfg = MiningConfig(method="qure", window=12)
    table = build_table(q, tokens, rows, qs, cfg, names)
    inv = np.argsort(rows)  # bank id -> token row
    full = score(q, tokens[torch.as_tensor(inv)]).numpy()  # (M, N) in bank-id order
    for i in range(len(q)):
        corpus = qs.corpus_ids[qs.group[i]]
        ns = qure_hard_set(full[i, corpus], int(qs.target_pos[i]), window=12)
        assert table.set_of(i).tolist() == corpus[ns.positions].tolist()
        assert qs.target[i] not in table.set_of(i)
        assert set(table.set_of(i).tolist()) <= set(corpus.tolist())  # never another category's image


def test_above_table_keeps_out_near_copies_of_the_target():
    """The above sampler: images ranked above the target, minus those whose tokens are at
    least fn_sim alike to the target's (by a naive double loop over token pairs)."""
    q, tokens, rows, qs, names = _random_problem(3)
    cfg = MiningConfig(method="above", fn_sim=0.5)
    table = build_table(q, tokens, rows, qs, cfg, names)
    inv = np.argsort(rows)
    by_id = tokens[torch.as_tensor(inv)]  # (N, Q, E) in bank-id order
    full = score(q, by_id).numpy()
    kept_out = 0
    for i in range(len(q)):
        corpus = qs.corpus_ids[qs.group[i]]
        s, t = full[i, corpus], int(qs.target_pos[i])
        above = [int(p) for p in np.argsort(-s, kind="stable") if s[p] > s[t]]
        sim = {p: max(float(by_id[corpus[t], a] @ by_id[corpus[p], b]) for a in range(by_id.shape[1])
                      for b in range(by_id.shape[1])) for p in above}
        want = [corpus[p] for p in above if sim[p] < 0.5]
        kept_out += len(above) - len(want)
        if want:
            assert table.set_of(i).tolist() == want and not table.fallback[i]
        else:
            assert table.fallback[i]
        assert qs.target[i] not in table.set_of(i)
    assert kept_out > 0, "the rule kept some image out on this problem"


def test_above_target_without_similarities_is_everything_above():
    s = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    assert above_target(s, 2).positions.tolist() == [1, 3]
    sim = np.array([0.0, 0.95, 0.0, 0.2, 0.0])
    assert above_target(s, 2, image_sim=sim, fn_sim=0.9).positions.tolist() == [3]
    first = above_target(s, 1, fallback_k=2)
    assert first.fallback and first.positions.tolist() == [3, 2], "a target ranked first: the next ones"


def test_mine_with_a_model_matches_naive_encoding(tmp_path, tiny_vocab):
    root = write_fashioniq(tmp_path, categories=("dress", "shirt"), images_per_split=9, triplets_per_split=7,
                           splits=("train",))
    split = load_split("fashioniq", root, "train")
    tok = Tokenizer(tiny_vocab)
    torch.manual_seed(0)
    model = build_model(TINY, vocab_size=tok.vocab_size).eval()
    bank = MemoryPixelBank.load(split.paths, split.image_names(), model.cfg.image)
    qs = build_queries(split, bank, tok)
    cfg = MiningConfig(method="trns", trns_lo=1, trns_hi=3, chunk=4, batch_size=5)
    table = mine(model, bank, qs, cfg, torch.device("cpu"))
    with torch.no_grad():
        t = model.encode_target(bank.pixels)  # (N, Q, E)
        qv = model.encode_query(bank.pixels[torch.as_tensor(qs.ref)], torch.as_tensor(qs.input_ids),
                                torch.as_tensor(qs.attention_mask))  # (M, E)
        full = score(qv, t).numpy()
    for i in range(len(qs)):
        corpus = qs.corpus_ids[qs.group[i]]
        ns = trns_mid_zone(full[i, corpus], int(qs.target_pos[i]), lo=1, hi=3)
        assert table.set_of(i).tolist() == corpus[ns.positions].tolist()
    assert table.image_names == tuple(bank.names)
    assert table.meta["mining"]["method"] == "trns" and "encode" in table.meta["seconds"]
    assert not model.training
