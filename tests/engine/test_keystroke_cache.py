"""A keystroke runs only what the text changed: the reference's cross-attention keys and
values are computed once (query_kv) and kept; each edit runs query_cached at the text's
real length; the answers are those of the full query graph. Bundles without the pair
keep using the query graph."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.bundle import load_bundle, write_manifest
from engine.errors import ManifestError
from engine.library import Library, LibraryConfig, LibraryParts
from engine.runtime import Encoders, RuntimeConfig, _create, trim_padding
from tests.engine.conftest import make_photos

TEXTS = ["r", "red", "is red and has short sleeves", "same shirt but green with long sleeves"]


def _old_bundle(src: Path, dst: Path) -> Path:
    """A copy of ``src`` as bundles were before the cached pair: no query_kv, no query_cached."""
    shutil.copytree(src, dst)
    m = load_bundle(dst).manifest
    pair = {m.graphs["query_kv"], m.graphs["query_cached"]}
    write_manifest(dst, replace(m, graphs={g: r for g, r in m.graphs.items() if g not in ("query_kv", "query_cached")},
                                files={f: e for f, e in m.files.items() if f not in pair}))
    return dst


def _counting(calls: Counter):
    class Counting(Encoders):
        def vision(self, pixels):
            calls["vision"] += 1
            return super().vision(pixels)

        def query(self, *a):
            calls["query"] += 1
            return super().query(*a)

        def query_kv(self, feats):
            calls["query_kv"] += 1
            return super().query_kv(feats)

        def query_cached(self, *a):
            calls["query_cached"] += 1
            return super().query_cached(*a)

    return Counting


@pytest.mark.parametrize(("mask", "width"), [
    ([[1, 1, 0, 0], [1, 1, 1, 0]], 3),
    ([[1, 1, 1, 1]], 4),
    ([[1, 0, 0, 0]], 1),
    ([[0, 0, 0, 0]], 1),
    ([[1, 0, 1, 0]], 3),  # a hole is kept: only trailing columns padded everywhere go
])
def test_trim_padding_drops_only_columns_padded_in_every_row(mask, width):
    m = np.asarray(mask, np.int64)
    ids = np.arange(m.size, dtype=np.int64).reshape(m.shape)
    got_ids, got_mask = trim_padding(ids, m)
    np.testing.assert_array_equal(got_ids, ids[:, :width])
    np.testing.assert_array_equal(got_mask, m[:, :width])


def test_cached_path_equals_the_query_graph_and_runs_at_real_length(tiny_bundle):
    b = load_bundle(tiny_bundle)
    fed: list[tuple[int, ...]] = []

    class Recording:
        def __init__(self, sess):
            self.sess = sess

        def run(self, names, feeds):
            if "cross_kv" in feeds:
                fed.append(feeds["input_ids"].shape)
            return self.sess.run(names, feeds)

        def __getattr__(self, name):
            return getattr(self.sess, name)

    e = Encoders(b, RuntimeConfig("cpu"), create=lambda model, cfg: Recording(_create(model, cfg)))
    assert e.cached_query
    ids, mask = b.tokenizer().encode(TEXTS)  # (4, 32)
    feats = np.random.default_rng(0).standard_normal((4, 37, 128)).astype(np.float32)
    full = e.query(feats, ids, mask)
    kv = e.query_kv(feats)  # (4, C, 2, h, T, d)
    assert kv.shape[0] == 4 and kv.shape[2] == 2 and kv.shape[4] == 37
    assert np.abs(e.query_cached(kv, ids, mask) - full).max() < 1e-5
    for i in range(4):
        assert np.abs(e.query_cached(kv[i : i + 1], ids[i : i + 1], mask[i : i + 1]) - full[i : i + 1]).max() < 1e-5
    lengths = mask.sum(1)
    assert fed == [(4, lengths.max()), *[(1, n) for n in lengths]]  # padding never reaches the graph


def test_keystrokes_reuse_the_references_keys_and_values_and_answer_as_the_query_graph(tmp_path, tiny_bundle):
    photos = make_photos(tmp_path / "photos", 6, seed=3)
    calls = Counter()
    cfg, parts = LibraryConfig(query_kv_cache=2), LibraryParts(encoders=_counting(calls))
    with Library.open(tmp_path / "lib", bundle=tiny_bundle, cfg=cfg, parts=parts) as lib:
        lib.index([tmp_path / "photos"])
        calls.clear()
        cached = [lib.search(t, image=photos[0], k=6) for t in TEXTS]
        assert calls == {"vision": 1, "query_kv": 1, "query_cached": len(TEXTS)}  # the full query graph never ran
        assert ("query_kv", cached[0].query.ref_sha256) in lib.query_kv
        for ref in photos[1:3]:  # two more references: the LRU keeps two, the first goes
            lib.search("red", image=ref, k=6)
        assert ("query_kv", cached[0].query.ref_sha256) not in lib.query_kv
        lib.search("red", image=photos[2], k=6)
        assert calls["query_kv"] == 3

        lib.use_bundle(_old_bundle(tiny_bundle, tmp_path / "old"))  # same target side: no re-indexing
        assert not lib.encoders.cached_query and ("query_kv", cached[0].query.ref_sha256) not in lib.query_kv
        calls.clear()
        full = [lib.search(t, image=photos[0], k=6) for t in TEXTS]
        assert calls == {"query": len(TEXTS)}  # the reference's vision features were still cached
    for a, b in zip(cached, full):
        assert [h.photo_id for h in a.hits] == [h.photo_id for h in b.hits]
        np.testing.assert_allclose([h.score for h in a.hits], [h.score for h in b.hits], atol=1e-5)


def test_half_of_the_cached_pair_is_refused_naming_the_missing_graph(tmp_path, tiny_bundle):
    b = Path(shutil.copytree(tiny_bundle, tmp_path / "b"))
    m = load_bundle(b).manifest
    write_manifest(b, replace(m, graphs={g: r for g, r in m.graphs.items() if g != "query_cached"}))
    with pytest.raises(ManifestError, match="query_kv graph comes with a query_cached graph") as err:
        load_bundle(b)
    assert err.value.field == "graphs.query_cached"
