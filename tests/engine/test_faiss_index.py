"""The FAISS token index (engine.faiss_index), the exact top-k over it (engine.exact_topk) and
the index-kind choice (engine.index_kind), against a brute-force numpy oracle."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import IndexFileError
from engine.exact_topk import top_photos
from engine.faiss_index import KINDS, IndexParams, TokenIndex, load_index, save_index
from engine.index_kind import make_queries, measure_recall
from engine.ranking import maxsim, ranking_error, recall_at_k

Q, E = 4, 16


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def library(n: int, seed: int = 0) -> np.ndarray:
    """(n, Q, E) unit tokens rounded to fp16, as the store keeps them."""
    t = unit(np.random.default_rng(seed).standard_normal((n, Q, E)))
    return t.astype(np.float16).astype(np.float32)


def build(kind: str, tokens: np.ndarray, ids: np.ndarray | None = None) -> TokenIndex:
    idx = TokenIndex(E, Q, IndexParams(kind, nlist=16, pq_bytes=4, nprobe=16))
    if not idx.is_trained:
        idx.train(tokens.reshape(-1, E))
    idx.add(np.arange(len(tokens)) if ids is None else ids, tokens)
    return idx


def oracle(queries: np.ndarray, tokens: np.ndarray, ids: np.ndarray):
    return ids, maxsim(np.atleast_2d(queries), tokens)


@pytest.mark.parametrize("kind", ["flat", "fp16"])
@pytest.mark.parametrize("seed", range(4))
def test_exact_kinds_match_the_oracle(kind, seed):
    tokens = library(300, seed)
    ids = np.arange(1000, 1300)  # ids need not start at 0
    idx = build(kind, tokens, ids)
    read = lambda c: tokens[np.asarray(c) - 1000]  # noqa: E731
    rng = np.random.default_rng(100 + seed)
    for q in unit(rng.standard_normal((5, E))):
        got_ids, got_scores = top_photos(idx, read, q, k=20)
        assert ranking_error(got_ids, got_scores, *oracle(q, tokens, ids), k=20, atol=1e-4) is None


def test_a_photo_whose_best_token_is_beyond_the_first_token_window_is_found():
    """Ten photos fill the first k' token hits with all their tokens; the 11th and 12th
    best photos are only reached after the window grows."""
    rng = np.random.default_rng(0)
    q = unit(rng.standard_normal(E))
    near = unit(q + 0.05 * rng.standard_normal((10, Q, E)))  # every token close to q
    mid = unit(q + 0.3 * rng.standard_normal((2, Q, E)))
    far = unit(rng.standard_normal((200, Q, E)))
    tokens = np.concatenate([near, mid, far]).astype(np.float16).astype(np.float32)
    idx = build("flat", tokens)
    got_ids, got_scores = top_photos(idx, lambda c: tokens[c], q, k=12, first_k=Q * 10)
    assert ranking_error(got_ids, got_scores, *oracle(q, tokens, np.arange(len(tokens))), k=12, atol=1e-5) is None
    assert set(got_ids[:10].tolist()) == set(range(10)) and all(i >= 10 for i in got_ids[10:])
    # One round over that window alone sees only the ten near photos.
    ids_one, _ = top_photos(idx, lambda c: tokens[c], q, k=12, first_k=Q * 10, max_rounds=1)
    assert len(ids_one) == 10


@pytest.mark.parametrize("kind", KINDS)
def test_similar_multi_vector_queries_are_exact_over_candidates(kind):
    tokens = library(400, 3)
    idx = build(kind, tokens)
    read = lambda c: tokens[c]  # noqa: E731
    ref = tokens[17]  # (Q, E): a library photo as the reference
    got_ids, got_scores = top_photos(idx, read, ref, k=10)
    assert got_ids[0] == 17 and abs(got_scores[0] - 1.0) < 1e-3
    ids, true = oracle(ref, tokens, np.arange(400))
    if kind in ("flat", "fp16"):
        assert ranking_error(got_ids, got_scores, ids, true, k=10, atol=1e-4) is None
    else:  # re-ranked exactly: every reported score is the true one
        np.testing.assert_allclose(got_scores, true[got_ids], atol=1e-5)


@pytest.mark.parametrize("kind", ["sq8", "ivfpq"])
def test_compressed_kinds_rerank_exactly_and_keep_recall(kind):
    tokens = library(600, 5)
    idx = build(kind, tokens)
    rng = np.random.default_rng(9)
    recalls = []
    for q in make_queries(tokens, 10, rng):
        got_ids, got_scores = top_photos(idx, lambda c: tokens[c], q, k=20)
        true = maxsim(q[None], tokens)
        np.testing.assert_allclose(got_scores, true[got_ids], atol=1e-5)  # scores are exact
        want = np.lexsort((np.arange(600), -true))[:20]
        recalls.append(recall_at_k(want, got_ids, 20))
    assert np.mean(recalls) >= 0.8


def test_keep_and_exclude_filter_results():
    tokens = library(100, 1)
    idx = build("flat", tokens)
    q = tokens[5, 0]
    ids, _ = top_photos(idx, lambda c: tokens[c], q, k=10, exclude=frozenset({5}), keep=lambda c: c % 2 == 1)
    assert 5 not in ids and all(i % 2 == 1 for i in ids) and len(ids) == 10
    odd = np.asarray([i for i in range(1, 100, 2) if i != 5])
    _, true = oracle(q, tokens[odd], odd)
    assert ranking_error(ids, maxsim(q[None], tokens[ids]), odd, true, k=10, atol=1e-5) is None


def test_remove_without_rebuild_and_replace():
    tokens = library(50)
    idx = build("flat", tokens)
    assert idx.num_photos == 50 and idx.num_vectors == 50 * Q
    assert idx.remove(np.array([3, 4, 99])) == 2
    assert idx.num_vectors == 48 * Q and 3 not in idx
    ids, _ = top_photos(idx, lambda c: tokens[c], tokens[3, 0], k=50)
    assert 3 not in ids and 4 not in ids and len(ids) == 48
    idx.add(np.array([7]), tokens[8:9])  # re-adding an id replaces its tokens
    assert idx.num_vectors == 48 * Q
    ids, s = top_photos(idx, lambda c: tokens[c], tokens[8, 0], k=2)
    assert set(ids.tolist()) == {7, 8} and np.allclose(s, 1.0, atol=1e-3)


def test_empty_index_answers_nothing():
    idx = TokenIndex(E, Q)
    ids, scores = top_photos(idx, lambda c: np.zeros((len(c), Q, E)), np.ones(E), k=5)
    assert len(ids) == 0 and len(scores) == 0


@pytest.mark.parametrize("kind", KINDS)
def test_save_and_load_roundtrip(tmp_path, kind):
    tokens = library(200, 2)
    idx = build(kind, tokens)
    idx.remove(np.arange(0, 200, 3))
    save_index(idx, tmp_path / "i.faiss", "side")
    back = load_index(tmp_path / "i.faiss", "side", E, Q)
    assert back.params.kind == kind and np.array_equal(back.ids, idx.ids)
    q = tokens[1, 0]
    a = idx.search(q[None], 10)
    b = back.search(q[None], 10)
    assert np.array_equal(a[1], b[1]) and np.allclose(a[0], b[0])
    assert [p.name for p in tmp_path.iterdir()] == ["i.faiss"]  # no temp file left behind


def test_load_refuses_corrupt_stale_and_foreign_files(tmp_path):
    idx = build("flat", library(30))
    p = tmp_path / "i.faiss"
    save_index(idx, p, "side")
    with pytest.raises(IndexFileError, match="another model"):
        load_index(p, "other-side", E, Q)
    with pytest.raises(IndexFileError, match="holds"):
        load_index(p, "side", E * 2, Q)
    data = bytearray(p.read_bytes())
    data[-100] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(IndexFileError, match="corrupt"):
        load_index(p, "side", E, Q)
    p.write_bytes(bytes(data[:50]))
    with pytest.raises(IndexFileError):
        load_index(p, "side", E, Q)
    p.write_bytes(b"hello")
    with pytest.raises(IndexFileError, match="not a cirsearch index"):
        load_index(p, "side", E, Q)
    with pytest.raises(IndexFileError, match="does not exist"):
        load_index(tmp_path / "none.faiss", "side", E, Q)


def test_measure_recall_is_one_for_an_exact_kind_and_lower_for_a_coarse_one():
    tokens = library(500, 4)
    queries = make_queries(tokens, 8, np.random.default_rng(0))
    assert measure_recall(IndexParams("fp16"), tokens, queries, k=20) == 1.0
    coarse = measure_recall(IndexParams("ivfpq", nlist=64, pq_bytes=1, nprobe=1), tokens, queries, k=20)
    assert coarse < 1.0


def test_auto_choice_follows_the_memory_budget_and_measured_recall(tmp_path, monkeypatch):
    from engine.index_kind import VectorConfig, choose_params
    from engine.token_file import TokenStore

    tokens = library(600, 8)
    store = TokenStore(tmp_path / "t.f16", Q, E)
    ids = np.arange(600)
    store.write(ids, tokens)
    assert choose_params(VectorConfig(), store, ids, Q, E).kind == "fp16"  # fits: exact
    assert choose_params(VectorConfig(kind="sq8"), store, ids, Q, E).kind == "sq8"  # asked for
    small = VectorConfig(exact_budget_bytes=1000, recall_target=0.0)
    assert choose_params(small, store, ids, Q, E).kind == "sq8"  # 2,400 tokens: too few for ivfpq
    monkeypatch.setattr("engine.index_kind.MIN_IVFPQ_TOKENS", 1000)
    assert choose_params(small, store, ids, Q, E).kind == "ivfpq"  # the smallest kind that passes
    never = VectorConfig(exact_budget_bytes=1000, recall_target=1.01)
    fallback = choose_params(never, store, ids, Q, E)
    assert fallback.kind == "fp16" and fallback.measured  # nothing passes: stay exact, and remember why
    store.close()


@pytest.mark.parametrize(
    "kind, per_token", [("flat", 4 * E + 8), ("fp16", 2 * E + 8), ("sq8", E + 8), ("ivfpq", E // 4 + 8)]
)
def test_memory_is_codes_plus_ids(kind, per_token):
    idx = build(kind, library(300, 6))
    assert idx.memory_bytes() == 300 * Q * per_token
