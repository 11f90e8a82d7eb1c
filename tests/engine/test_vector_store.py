"""The vector-store boundary: the same oracle checks on the default store (token file +
FAISS) and on the Qdrant adapter (embedded mode), and a library kept in Qdrant end to end."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.errors import LibraryError, VectorStoreError
from engine.index_kind import VectorConfig
from engine.ranking import maxsim, ranking_error
from engine.vector_store import QdrantConfig, VectorStore, open_vector_store

Q, E = 4, 16
NO_CLIENT = "qdrant-client is not installed (pip install 'cirsearch[vectordb]')"


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def library(n: int, seed: int = 0) -> np.ndarray:
    """(n, Q, E) unit tokens rounded to fp16, as every store keeps them."""
    return unit(np.random.default_rng(seed).standard_normal((n, Q, E))).astype(np.float16).astype(np.float32)


class FakeCatalog:
    """What a vector store reads from the catalog: the live ids; what it may write: lost photos."""

    def __init__(self, live=()):
        self.live = np.asarray(sorted(live), np.int64)
        self.forgotten: list[int] = []

    def live_ids(self) -> np.ndarray:
        return self.live

    def forget_contents(self, ids) -> None:
        self.forgotten += [int(i) for i in ids]


def put(v: VectorStore, ids, tokens) -> None:
    """What the indexer does: durable tokens inside the catalog commit, then live."""
    ids = np.asarray(ids, np.int64)
    v.store.write(ids, tokens)
    v.store.flush()
    v.add(ids, tokens)


@pytest.fixture(params=["faiss", "qdrant"])
def backend(request) -> str:
    if request.param == "qdrant":
        pytest.importorskip("qdrant_client", reason=NO_CLIENT)
    return request.param


@pytest.fixture
def make(backend, tmp_path):
    """Open a vector store of ``backend`` in a folder (default: one per test)."""
    opened: list[VectorStore] = []

    def make(folder: Path | None = None, catalog=None, side: str = "side", owner: str = "lib-1",
             persistent: bool = False) -> VectorStore:
        folder = folder or tmp_path / "v"
        folder.mkdir(exist_ok=True)
        # Embedded Qdrant commits each point in its own SQLite transaction: in memory where
        # persistence is not what is tested.
        db = QdrantConfig(path=None if persistent else ":memory:") if backend == "qdrant" else None
        v = open_vector_store(folder, Q, E, side, VectorConfig(), db, owner)
        opened.append(v)
        v.open(catalog or FakeCatalog())
        return v

    yield make
    for v in opened:
        v.close()


def oracle(queries: np.ndarray, tokens: np.ndarray, ids: np.ndarray):
    return ids, maxsim(np.atleast_2d(queries), tokens)


def test_both_backends_satisfy_the_protocol(make, backend):
    v = make()
    assert isinstance(v, VectorStore)
    assert v.kind == ("fp16" if backend == "faiss" else "qdrant")
    assert v.count == 0 and len(v.ids) == 0
    ids, scores = v.search(np.ones(E, np.float32), k=5)
    assert len(ids) == 0 and len(scores) == 0


@pytest.mark.parametrize("seed", range(2))
def test_search_matches_the_oracle(make, seed):
    tokens = library(200, seed)
    ids = np.arange(1000, 1200)  # ids need not start at 0
    v = make()
    put(v, ids[:120], tokens[:120])
    put(v, ids[120:], tokens[120:])  # in two batches, as indexing commits them
    assert v.count == 200 and np.array_equal(v.ids, ids)
    rng = np.random.default_rng(100 + seed)
    for q in unit(rng.standard_normal((4, E))):  # composed / text: one query vector
        got_ids, got_scores = v.search(q, k=20)
        assert ranking_error(got_ids, got_scores, *oracle(q, tokens, ids), k=20, atol=1e-4) is None
    ref = tokens[17]  # "similar": a photo's own Q tokens, mean over them of the best match
    got_ids, got_scores = v.search(ref, k=10)
    assert got_ids[0] == 1017 and abs(got_scores[0] - 1.0) < 1e-3
    assert ranking_error(got_ids, got_scores, *oracle(ref, tokens, ids), k=10, atol=1e-4) is None


def test_equal_scores_come_in_id_order(make):
    tokens = library(40, 3)
    for i in (7, 31, 12):
        tokens[i] = tokens[5]  # four photos with the same tokens
    v = make()
    put(v, np.arange(40), tokens)
    got_ids, got_scores = v.search(tokens[5, 2], k=4)
    assert got_ids.tolist() == [5, 7, 12, 31] and np.ptp(got_scores) == 0


def test_exclude_and_keep_filter_results(make):
    tokens = library(100, 1)
    v = make()
    put(v, np.arange(100), tokens)
    q = tokens[5, 0]
    got, scores = v.search(q, k=10, exclude=frozenset({5}), keep=lambda c: c % 2 == 1)
    assert 5 not in got and all(i % 2 == 1 for i in got) and len(got) == 10
    odd = np.asarray([i for i in range(1, 100, 2) if i != 5])
    assert ranking_error(got, scores, *oracle(q, tokens[odd], odd), k=10, atol=1e-4) is None
    few, _ = v.search(q, k=10, keep=lambda c: c < 3)  # fewer pass than asked for: all of them
    assert sorted(few.tolist()) == [0, 1, 2]


def test_remove_keeps_tokens_and_add_from_store_brings_photos_back(make):
    tokens = library(50)
    v = make()
    put(v, np.arange(50), tokens)
    assert v.remove(np.array([3, 4, 99])) == 2
    assert v.count == 48 and 3 not in v.ids.tolist()
    got, _ = v.search(tokens[3, 0], k=50)
    assert len(got) == 48 and 3 not in got and 4 not in got
    assert np.array_equal(v.tokens(np.array([3])), tokens[3:4])  # out of the results, not forgotten
    v.add_from_store(np.array([3]))
    got, scores = v.search(tokens[3, 0], k=1)
    assert got.tolist() == [3] and abs(scores[0] - 1.0) < 1e-3 and v.count == 49


def test_tokens_round_trip_at_fp16(make):
    raw = unit(np.random.default_rng(4).standard_normal((6, Q, E)))  # full fp32 precision
    v = make()
    put(v, np.array([10, 2, 7, 40, 41, 3]), raw)
    got = v.tokens(np.array([7, 10, 7, 555]))  # any order, repeats, and an id never written
    assert got.dtype == np.float32 and got.shape == (4, Q, E)
    want = raw.astype(np.float16).astype(np.float32)
    assert np.array_equal(got[0], want[2]) and np.array_equal(got[1], want[0]) and np.array_equal(got[2], want[2])
    assert not got[3].any()
    assert np.array_equal(v.store.read(np.array([40])), want[3:4])


def test_sync_follows_the_catalog(make):
    tokens = library(10)
    v = make()
    put(v, np.arange(10), tokens)
    assert v.sync(FakeCatalog(range(5))) == (0, 5)  # a folder left the library
    assert v.ids.tolist() == [0, 1, 2, 3, 4]
    got, _ = v.search(tokens[8, 0], k=10)
    assert sorted(got.tolist()) == [0, 1, 2, 3, 4]
    assert v.sync(FakeCatalog(range(8))) == (3, 0)  # it came back: tokens from the store
    got, s = v.search(tokens[6, 1], k=1)
    assert got.tolist() == [6] and abs(s[0] - 1.0) < 1e-3


def test_reopen_keeps_photos_and_answers(make, tmp_path):
    tokens = library(60, 6)
    v = make(persistent=True)
    put(v, np.arange(60), tokens)
    v.remove(np.arange(0, 60, 4))
    q = tokens[9, 1]
    before = v.search(q, k=15)
    v.save()
    v.close()
    live = [i for i in range(60) if i % 4]
    back = make(tmp_path / "v", FakeCatalog(live), persistent=True)
    assert back.ids.tolist() == live and back.rebuilt_because is None
    after = back.search(q, k=15)
    assert np.array_equal(before[0], after[0]) and np.allclose(before[1], after[1], atol=1e-6)


# -- Qdrant only ----------------------------------------------------------------------------


@pytest.fixture
def qdrant():
    pytest.importorskip("qdrant_client", reason=NO_CLIENT)


def open_qdrant(folder: Path, catalog, owner="lib-1", side="side", cfg=QdrantConfig()):
    v = open_vector_store(folder, Q, E, side, VectorConfig(), cfg, owner)
    try:
        v.open(catalog)
    except BaseException:
        v.close()
        raise
    return v


def test_photos_the_database_lacks_go_back_to_pending(qdrant, tmp_path):
    tokens = library(5)
    with_tokens = open_qdrant(tmp_path, FakeCatalog())
    put(with_tokens, np.array([1, 2]), tokens[:2])
    with_tokens.remove(np.array([1, 2]))
    with_tokens.close()
    catalog = FakeCatalog([1, 2, 3, 4])  # 3 and 4: indexed, but their tokens never reached this database
    v = open_qdrant(tmp_path, catalog)
    try:
        assert catalog.forgotten == [3, 4] and "2 indexed photos" in v.rebuilt_because
        assert v.ids.tolist() == [1, 2]
    finally:
        v.close()


def test_another_librarys_or_models_collection_is_refused(qdrant, tmp_path):
    v = open_qdrant(tmp_path, FakeCatalog(), owner="lib-1")
    put(v, np.arange(3), library(3))
    v.close()
    with pytest.raises(VectorStoreError, match="another library"):
        open_qdrant(tmp_path, FakeCatalog(), owner="lib-2")
    other = open_vector_store(tmp_path, Q, E, "side", VectorConfig(), QdrantConfig(), "lib-2")
    try:
        with pytest.raises(VectorStoreError, match="another library"):
            other.store.truncate()  # a new library must not wipe the collection of another
    finally:
        other.close()
    with pytest.raises(VectorStoreError, match="another model"):
        open_qdrant(tmp_path, FakeCatalog(), side="new-side")
    v = open_qdrant(tmp_path, FakeCatalog(range(3)))  # still whole after the refusals
    try:
        assert v.count == 3
        v.store.truncate()  # the owner's new model: emptied
        v.open(FakeCatalog())
        assert v.count == 0 and not v.tokens(np.array([0])).any()
    finally:
        v.close()


def test_a_folder_held_by_another_client_is_a_clear_error(qdrant, tmp_path):
    v = open_qdrant(tmp_path, FakeCatalog())
    try:
        with pytest.raises(VectorStoreError, match="open in another process"):
            open_qdrant(tmp_path, FakeCatalog())
    finally:
        v.close()


def test_a_server_that_does_not_answer_is_a_clear_error(qdrant, tmp_path):
    with socket.socket() as s:  # a port on this machine that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = QdrantConfig(url=f"http://127.0.0.1:{port}", timeout_s=5)
    with pytest.raises(VectorStoreError, match=f"cannot open the vector database http://127.0.0.1:{port}"):
        open_qdrant(tmp_path, FakeCatalog(), cfg=cfg)


def test_in_memory_mode_keeps_nothing(qdrant, tmp_path):
    cfg = QdrantConfig(path=":memory:")
    v = open_qdrant(tmp_path, FakeCatalog(), cfg=cfg)
    put(v, np.arange(4), library(4))
    assert v.count == 4
    v.close()
    assert not (tmp_path / "qdrant").exists()


def test_without_the_client_the_error_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "qdrant_client", None)  # import qdrant_client raises ImportError
    monkeypatch.delitem(sys.modules, "engine.qdrant_store", raising=False)
    with pytest.raises(LibraryError, match=r"pip install 'cirsearch\[vectordb\]'"):
        open_vector_store(tmp_path, Q, E, "side", VectorConfig(), QdrantConfig(), "lib-1")
    v = open_vector_store(tmp_path, Q, E, "side", VectorConfig())  # the default needs no client
    v.close()


# -- a library kept in Qdrant, end to end -------------------------------------------------


def test_a_library_in_qdrant_ranks_like_the_default(qdrant, tmp_path, tiny_bundle):
    from engine.library import Library, LibraryConfig
    from engine.world.demo import render_demo_library

    demo = render_demo_library(tmp_path / "photos", n=30, seed=2, queries=0)
    ref = str(demo.root / demo.photos[4].path)
    queries = [dict(text="make it blue and striped", image=ref), dict(text="a black dress without sleeves")]
    answers = {}
    for name, cfg in [("faiss", LibraryConfig()), ("qdrant", LibraryConfig(vector_db=QdrantConfig()))]:
        with Library.open(tmp_path / name, bundle=tiny_bundle, cfg=cfg) as lib:
            lib.index([demo.root])
            answers[name] = [lib.search(k=10, **q) for q in queries] + [lib.similar(ref, k=10)]
            if name == "qdrant":
                st = lib.status()
                assert st.index_kind == "qdrant" and st.indexed == 30 and lib.vectors.count == st.photos
                photos = st.photos
                res = answers[name][0]
                lib.vote(res, res.hits[1].photo_id, up=True)
                assert [v.photo_sha256 for v in lib.votes()] == [res.hits[1].sha256]
    assert not (tmp_path / "qdrant" / "index.faiss").exists() and (tmp_path / "qdrant" / "qdrant").is_dir()
    for a, b in zip(answers["faiss"], answers["qdrant"]):
        assert [h.photo_id for h in a.hits] == [h.photo_id for h in b.hits]
        assert np.allclose([h.score for h in a.hits], [h.score for h in b.hits], atol=1e-4)
        assert a.cutoff == b.cutoff
    # Reopened: the same answers from the collection; a removed folder leaves the results
    # and comes back without encoding.
    with Library.open(tmp_path / "qdrant", cfg=LibraryConfig(vector_db=QdrantConfig())) as lib:
        again = lib.search(k=10, **queries[1])
        assert [h.photo_id for h in again.hits] == [h.photo_id for h in answers["faiss"][1].hits]
        lib.remove_root(demo.root)
        assert lib.vectors.count == 0 and lib.search(k=5, **queries[1]).hits == ()
        report = lib.index([demo.root])
        assert report.encoded == 0 and lib.vectors.count == photos
        assert [h.photo_id for h in lib.search(k=10, **queries[1]).hits] == [
            h.photo_id for h in answers["faiss"][1].hits]
    # The catalog remembers where its vectors are: another store is refused, or re-indexed into.
    with pytest.raises(LibraryError, match="in a Qdrant collection, not in this folder"):
        Library.open(tmp_path / "qdrant")
    with pytest.raises(LibraryError, match="in this folder .*, not in a Qdrant collection"):
        Library.open(tmp_path / "faiss", cfg=LibraryConfig(vector_db=QdrantConfig()))
    with Library.open(tmp_path / "faiss", cfg=LibraryConfig(vector_db=QdrantConfig()), reindex=True) as lib:
        assert lib.status().pending == 30 and lib.vectors.count == 0
