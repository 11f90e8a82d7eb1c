"""The Library facade end to end: indexing, search against an oracle, changes on disk, recovery."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.bundle import load_bundle
from engine.decode import load_image
from engine.errors import BundleError, BundleMismatchError, LibraryBusyError, LibraryError, QueryError
from engine.faiss_store import PhotoIndex
from engine.indexer import Control
from engine.library import Library, LibraryParts
from engine.preprocess import preprocess
from engine.ranking import maxsim, ranking_error
from engine.runtime import Encoders
from engine.scanner import IssueKind, ScanIssue
from tests.engine.conftest import make_photos, photo


def _direct(bundle_path: Path):
    """An independent path to the numbers: decode, preprocess and run the graphs by hand."""
    b = load_bundle(bundle_path)
    enc, tok = Encoders(b), b.tokenizer()

    def feats(path) -> np.ndarray:
        d, _ = load_image(path)
        return enc.vision(preprocess(d.image, b.manifest.image)[None])  # (1, T, Dv)

    def tokens(path) -> np.ndarray:
        return enc.target(feats(path))[0]  # (Q, E)

    def query(path, text) -> np.ndarray:
        ids, mask = tok.encode([text])
        return enc.query(feats(path), ids, mask)[0]  # (E,)

    def text(t) -> np.ndarray:
        ids, mask = tok.encode([t])
        return enc.text(ids, mask)[0]

    return tokens, query, text


def _all_photos(lib: Library):
    ids = lib.vectors.index.ids
    return ids, lib.photo_tokens(ids)  # (N,), (N, Q, E)


def test_index_then_search_matches_the_oracle(tmp_path, photos, any_bundle):
    (photos / "b" / "notes.jpg").write_text("not a photo")
    (photos / "b" / "empty.jpg").write_bytes(b"")
    with Library.open(tmp_path / "lib", bundle=any_bundle) as lib:
        report = lib.index([photos])
        assert (report.added, report.encoded, len(report.failed)) == (26, 24, 2)
        st = lib.status()
        assert (st.indexed, st.photos, st.pending, st.skipped) == (24, 24, 0, 2)
        assert {Path(p).name: r for p, r in st.skipped_files} == {
            "empty.jpg": "empty file (0 bytes)", "notes.jpg": "not an image, or a format this app cannot read"}

        tokens_of, query_of, text_of = _direct(any_bundle)
        ids, stored = _all_photos(lib)
        for pid, t in zip(ids.tolist(), stored):  # every slot holds its own photo's tokens
            np.testing.assert_allclose(t, tokens_of(lib.photo(pid).path), atol=2e-3)

        ref = sorted((photos / "a").iterdir())[3]
        ref_id = lib.photo_at(ref).id
        for text in ("same but red", "a blue dress with long sleeves", ""):
            res = lib.search(text, image=ref, k=10)
            q = query_of(ref, text)
            keep = ids != ref_id  # the reference itself is left out
            err = ranking_error([h.photo_id for h in res.hits], [h.score for h in res.hits],
                                ids[keep], maxsim(q[None], stored[keep]), k=10, atol=2e-4)
            assert err is None, (text, err)
            assert 1 <= res.cutoff <= 10 and res.query.mode == "composed" and res.query.ref_sha256

        res = lib.search("red shirt", k=7)
        assert res.query.mode == "text"
        err = ranking_error([h.photo_id for h in res.hits], [h.score for h in res.hits], ids,
                            maxsim(text_of("red shirt")[None], stored), k=7, atol=2e-4)
        assert err is None, err

        res = lib.similar(ref, k=5)
        keep = ids != ref_id
        err = ranking_error([h.photo_id for h in res.hits], [h.score for h in res.hits], ids[keep],
                            maxsim(stored[ids == ref_id][0], stored[keep]), k=5, atol=2e-4)
        assert err is None, err
        with_ref = lib.similar(ref, k=1, exclude_reference=False)
        assert with_ref.hits[0].photo_id == ref_id and abs(with_ref.hits[0].score - 1) < 1e-3


def test_rename_move_and_copy_keep_vectors(tmp_path, photos, fake_bundle):
    log: list[tuple[str, str]] = []

    def on_batch(what, shas):
        log.extend((what, s) for s in shas)

    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos], on_batch=on_batch)
        a = sorted((photos / "a").iterdir())
        before = lib.photo_at(a[0]).id, lib.photo_at(a[1]).id, lib.photo_at(a[2]).id
        a[0].rename(photos / "a" / "renamed.jpg")
        (photos / "c").mkdir()
        a[1].rename(photos / "c" / "moved.jpg")
        shutil.copy(a[2], photos / "b" / "copy.jpg")
        r = lib.index(on_batch=on_batch)
        assert (r.encoded, r.reused, r.added, r.removed) == (0, 3, 3, 2)
        assert lib.photo_at(photos / "a" / "renamed.jpg").id == before[0]
        assert lib.photo_at(photos / "c" / "moved.jpg").id == before[1]
        p = lib.photo(before[2])
        assert sorted(p.paths) == sorted([str(a[2]), str(photos / "b" / "copy.jpg")])
        assert lib.status().photos == 24 and lib.status().indexed == 25
        assert lib.vectors.index.num_photos == 24
    encodes = [sha for what, sha in log if what == "encode"]
    assert len(encodes) == 24 == len(set(encodes))


def test_changed_and_deleted_files_update_without_a_rebuild(tmp_path, photos, fake_bundle, monkeypatch):
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
        monkeypatch.setattr(PhotoIndex, "rebuild", lambda *a, **k: pytest.fail("index rebuilt"))
        files = sorted((photos / "b").iterdir())
        old_id = lib.photo_at(files[0]).id
        photo(np.random.default_rng(99)).save(files[0])  # new pixels at the same path
        os.utime(files[0], ns=(1, 1))
        gone_id = lib.photo_at(files[1]).id
        files[1].unlink()
        r = lib.index()
        assert (r.changed, r.removed, r.encoded) == (1, 1, 1)
        assert lib.photo_at(files[0]).id != old_id
        assert lib.vectors.index.num_photos == 23 and gone_id not in lib.vectors.index
        hits = lib.similar(files[2], k=50).hits
        assert gone_id not in {h.photo_id for h in hits} and old_id not in {h.photo_id for h in hits}
        assert len(hits) == 22


def test_two_new_copies_are_encoded_once(tmp_path, fake_bundle):
    root = tmp_path / "p"
    make_photos(root, 3)
    shutil.copy(root / "img_0_000.jpg", root / "dup.jpg")
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        r = lib.index([root])
        assert (r.encoded, r.reused) == (3, 1)
        assert len(lib.photo_at(root / "dup.jpg").paths) == 2


def test_an_unreachable_root_keeps_its_photos(tmp_path, photos, fake_bundle):
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
        photos.rename(tmp_path / "unplugged")
        r = lib.index()
        assert r.removed == 0 and r.kept_unreachable == 24
        st = lib.status()
        assert st.indexed == 24 and any("cannot open folder" in reason for _, reason in st.skipped_files)
        (tmp_path / "unplugged").rename(photos)
        r = lib.index()
        assert (r.unchanged, r.encoded) == (24, 0) and lib.status().skipped == 0


def test_an_unreadable_subfolder_keeps_its_photos(tmp_path, photos, fake_bundle, monkeypatch):
    import engine.scanner as scanner

    real = scanner._os_scandir
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])

        def scandir(path):
            if path == str(photos / "b"):
                raise PermissionError(13, "Permission denied", path)
            return real(path)

        monkeypatch.setattr(scanner, "_os_scandir", scandir)
        r = lib.index()
        assert (r.removed, r.kept_unreachable) == (0, 12)
        assert lib.status().indexed == 24
        assert (str(photos / "b"), "cannot read folder: Permission denied") in lib.status().skipped_files


@pytest.mark.parametrize("kind, reason, kept", [
    (IssueKind.UNREADABLE_FOLDER, "access denied", 12),  # no word "folder", still kept
    (IssueKind.BROKEN_LINK, "cannot read folder: broken folder link", 0),  # says "folder", still removed
])
def test_what_a_scan_keeps_follows_the_issue_kind_not_its_wording(tmp_path, photos, fake_bundle, monkeypatch,
                                                                   kind, reason, kept):
    """Folder b's files go missing from the listing with an issue at b: only the issue's kind
    decides whether they are kept, so rewording a scanner message cannot delete photos."""
    import engine.indexer as indexer

    real_walk = indexer.walk
    gone = str(photos / "b")

    def walk(root, **kw):
        listing = real_walk(root, **kw)
        listing.files = {p: s for p, s in listing.files.items() if not p.startswith(gone + os.sep)}
        listing.issues.append(ScanIssue(gone, kind, reason))
        return listing

    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
        monkeypatch.setattr(indexer, "walk", walk)
        r = lib.index()
        assert (r.removed, r.kept_unreachable) == (12 - kept, kept)
        assert lib.status().indexed == 12 + kept


def test_a_file_deleted_between_scan_and_decode(tmp_path, photos, fake_bundle, monkeypatch):
    import engine.indexer as indexer

    victim = sorted((photos / "a").iterdir())[5]
    real_scan = indexer.Indexer.scan

    def scan_then_delete(self, *a, **k):
        ok = real_scan(self, *a, **k)
        victim.unlink()
        return ok

    monkeypatch.setattr(indexer.Indexer, "scan", scan_then_delete)
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        r = lib.index([photos])
        assert r.encoded == 23 and r.failed == [(str(victim), "file disappeared before it could be read")]
        assert lib.status().skipped_files == ((str(victim), "file disappeared before it could be read"),)
        monkeypatch.setattr(indexer.Indexer, "scan", real_scan)
        r = lib.index()
        assert r.removed == 1 and lib.status().skipped == 0


def test_cancel_then_resume_encodes_each_photo_once(tmp_path, photos, fake_bundle):
    from engine.indexer import IndexConfig
    from engine.library import LibraryConfig

    log: list[tuple[str, str]] = []

    def on_batch(what, shas):
        log.extend((what, s) for s in shas)

    cfg = LibraryConfig(index=IndexConfig(batch_size=4))
    control = Control()
    seen = []

    def progress(p):
        seen.append(p)
        if p.phase == "encode" and p.done >= 10:
            control.cancel()

    with Library.open(tmp_path / "lib", bundle=fake_bundle, cfg=cfg) as lib:
        r1 = lib.index([photos], progress=progress, control=control, on_batch=on_batch)
        assert r1.cancelled and 0 < r1.encoded < 24
        assert lib.status().pending == 24 - r1.encoded and lib.vectors.index.num_photos == r1.encoded
        assert r1.resumed == 0  # every photo was new to the first run
        r2 = lib.index(on_batch=on_batch)
        assert not r2.cancelled and r1.encoded + r2.encoded == 24
        assert (r2.added, r2.unchanged, r2.resumed) == (0, 24, 24 - r1.encoded)  # the rest is taken up again
    shas = [sha for what, sha in log if what == "encode"]
    committed = [sha for what, sha in log if what == "commit"]
    assert len(set(committed)) == len(committed) == 24
    assert len(shas) == len(set(shas)) == 24  # the batch in flight at the cancel was never encoded
    p = seen[-1]
    assert p.total == 24 and p.rate > 0 and p.eta_s is not None
    assert seen[0].phase == "scan" and seen[0].current == str(photos) and seen[0].total == 1


def test_pause_holds_the_indexer_until_resumed(tmp_path, photos, fake_bundle):
    from engine.indexer import IndexConfig
    from engine.library import LibraryConfig

    control, done, paused_at = Control(), [], []

    def progress(p):
        if p.phase == "scan":
            return
        done.append(p.done)
        if p.done == 5 and not paused_at:
            paused_at.append(p.done)
            control.pause()

    with Library.open(tmp_path / "lib", bundle=fake_bundle, cfg=LibraryConfig(index=IndexConfig(batch_size=2))) as lib:
        t = threading.Thread(target=lib.index, args=([photos],), kwargs={"progress": progress, "control": control})
        t.start()
        deadline = time.monotonic() + 30
        while not paused_at and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        assert control.paused and max(done) == 5  # nothing moved while paused
        control.resume()
        t.join(30)
        assert not t.is_alive() and lib.status().indexed == 24


class _NoEncoding(Encoders):
    def target(self, *a):
        pytest.fail("re-encoded")


def test_a_corrupt_index_file_is_rebuilt_without_encoding(tmp_path, photos, fake_bundle):
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
        ref = sorted((photos / "a").iterdir())[0]
        before = lib.search("red", image=ref, k=10).to_json()
    index_file = tmp_path / "lib" / "index.faiss"
    data = bytearray(index_file.read_bytes())
    data[len(data) // 2] ^= 0x55
    index_file.write_bytes(bytes(data))
    parts = LibraryParts(encoders=_NoEncoding)
    with Library.open(tmp_path / "lib", parts=parts) as lib:
        assert "corrupt" in lib.vectors.rebuilt_because and lib.status().index_rebuilt_because
        assert lib.search("red", image=ref, k=10).to_json() == before
    index_file.unlink()
    with Library.open(tmp_path / "lib", parts=parts) as lib:
        assert lib.vectors.rebuilt_because is None and lib.vectors.index.num_photos == 24  # missing: rebuilt quietly
        assert lib.search("red", image=ref, k=10).to_json() == before


def test_an_index_saved_before_a_crash_is_synced_with_the_catalog(tmp_path, photos, fake_bundle):
    """Simulate a kill after commits but before the index was saved: the saved index lacks
    the newest photos; opening adds them from the token store."""
    lib = Library.open(tmp_path / "lib", bundle=fake_bundle)
    lib.index([photos / "a"])
    stale = (tmp_path / "lib" / "index.faiss").read_bytes()
    lib.index([photos / "b"])
    lib.close()
    (tmp_path / "lib" / "index.faiss").write_bytes(stale)
    with Library.open(tmp_path / "lib") as lib:
        assert lib.vectors.index.num_photos == 24 and lib.vectors.rebuilt_because is None


def test_another_target_side_is_refused_unless_reindexing(tmp_path, photos, fake_bundle, fake_bundle_other):
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
        with pytest.raises(BundleMismatchError):
            lib.use_bundle(fake_bundle_other)
    with pytest.raises(BundleMismatchError, match="re-index"):
        Library.open(tmp_path / "lib", bundle=fake_bundle_other)
    with Library.open(tmp_path / "lib", bundle=fake_bundle_other, reindex=True) as lib:
        assert lib.status().pending == 24 and lib.vectors.index.num_photos == 0
        r = lib.index()
        assert r.encoded == 24 and lib.status().bundle == "other 1"
        tokens_of, _, _ = _direct(fake_bundle_other)
        p = lib.photo_at(sorted((photos / "a").iterdir())[0])
        np.testing.assert_allclose(lib.photo_tokens([p.id])[0], tokens_of(p.path), atol=2e-3)


def test_a_personalized_query_graph_swaps_in_without_reindexing(tmp_path, photos, fake_bundle, fake_bundle_personal,
                                                                monkeypatch):
    ref = sorted((photos / "a").iterdir())[0]
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
        a = lib.search("same but red", image=ref, k=24)
        monkeypatch.setattr(PhotoIndex, "rebuild", lambda *x, **k: pytest.fail("index rebuilt"))
        lib.use_bundle(fake_bundle_personal)
        assert ("vision", a.query.ref_sha256) in lib.features  # reference features survive the swap
        b = lib.search("same but red", image=ref, k=24)
        assert b.query.bundle_version == "2" and b.query.query_sha256 != a.query.query_sha256
        assert b.query.target_side == a.query.target_side
        assert [h.score for h in a.hits] != [h.score for h in b.hits]
        assert lib.status().bundle == "fake-personal 2"
    with Library.open(tmp_path / "lib") as lib:  # the library remembers the swapped bundle
        assert lib.status().bundle == "fake-personal 2" and lib.status().indexed == 24


def test_a_tampered_or_incomplete_bundle_is_refused_naming_the_file(tmp_path, fake_bundle):
    bad = shutil.copytree(fake_bundle, tmp_path / "bad")
    with open(bad / "query.onnx", "r+b") as f:
        f.seek(40)
        b = f.read(1)
        f.seek(40)
        f.write(bytes([b[0] ^ 1]))
    with pytest.raises(BundleError, match="query.onnx") as e:
        Library.open(tmp_path / "lib", bundle=bad)
    assert e.value.file == "query.onnx"
    gone = shutil.copytree(fake_bundle, tmp_path / "gone")
    (gone / "vocab.txt").unlink()
    with pytest.raises(BundleError, match="vocab.txt is missing"):
        Library.open(tmp_path / "lib", bundle=gone)
    with pytest.raises(LibraryError, match="no model"):
        Library.open(tmp_path / "lib2")


def test_a_text_edit_reruns_only_the_query_graph(tmp_path, photos, fake_bundle):
    ref = sorted((photos / "a").iterdir())[0]
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
        calls = {"vision": 0, "query": 0}
        vision, query = lib.encoders.vision, lib.encoders.query
        lib.encoders.vision = lambda x: calls.__setitem__("vision", calls["vision"] + 1) or vision(x)
        lib.encoders.query = lambda *a: calls.__setitem__("query", calls["query"] + 1) or query(*a)
        for text in ("s", "sa", "sam", "same but red"):
            lib.search(text, image=ref, k=5)
        assert calls == {"vision": 1, "query": 4}
        lib.search("x", image=ref.read_bytes(), k=5)  # the same bytes pasted: still cached
        assert calls["vision"] == 1


def test_text_only_search_needs_a_text_graph(tmp_path, photos):
    from tests.engine.fakebundle import write_fake_bundle

    b = write_fake_bundle(tmp_path / "notext", text=False)
    with Library.open(tmp_path / "lib", bundle=b) as lib:
        lib.index([photos / "a"])
        with pytest.raises(QueryError, match="no text-only search"):
            lib.search("red")
        with pytest.raises(QueryError):
            lib.search("  ")
        assert not lib.status().has_text_search


def test_votes_are_kept_with_their_query_and_can_be_undone(tmp_path, photos, fake_bundle):
    ref = sorted((photos / "a").iterdir())[0]
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
        res = lib.search("same but red", image=ref, k=10)
        v = lib.vote(res, res.hits[3].photo_id, up=True)
        d = lib.vote(res, res.hits[0].photo_id, up=False)
        assert v.rank == 3 and v.shown_above == tuple(h.sha256 for h in res.hits[:3]) and v.score == res.hits[3].score
        assert v.query.text == "same but red" and v.query.ref_path == str(ref) and v.query.bundle_name == "fake"
        lib.undo_vote(d.id)
        with pytest.raises(QueryError, match="already undone"):
            lib.undo_vote(d.id)
        saved = list((tmp_path / "lib" / "refs").rglob("*.npy"))
        assert [p.stem for p in saved] == [res.query.ref_sha256]
    with Library.open(tmp_path / "lib") as lib:
        votes = lib.votes()
        assert [(x.id, x.up, x.rank, x.photo_sha256) for x in votes] == [(v.id, True, 3, res.hits[3].sha256)]
        assert len(lib.votes(include_undone=True)) == 2
        assert lib.votes(include_undone=True)[1].undone_at is not None
        feats = lib.reference_features(ref)
        s = load_bundle(fake_bundle).manifest.sizes
        assert feats.shape == (s.vision_tokens, s.vision_width)


def test_accessors_for_personalization(tmp_path, photos, fake_bundle):
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
        ids = lib.vectors.index.ids[:3]
        t = lib.photo_tokens(ids)
        s = load_bundle(fake_bundle).manifest.sizes
        assert t.shape == (3, s.num_query_tokens, s.embed_dim)
        np.testing.assert_allclose(np.linalg.norm(t, axis=-1), 1, atol=2e-3)
        with pytest.raises(QueryError):
            lib.photo_tokens([10_000])
        with pytest.raises(QueryError):
            lib.photo(10_000)


def test_thumbnails_are_cached_upright_and_safe_across_threads(tmp_path, fake_bundle):
    root = tmp_path / "p"
    root.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    Image.new("RGB", (600, 300), (10, 200, 30)).save(root / "rot.jpg", exif=exif.tobytes())
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([root])
        pid = lib.photo_at(root / "rot.jpg").id
        out: list[Path] = []
        threads = [threading.Thread(target=lambda: out.append(lib.thumbnail(pid))) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(out)) == 1 and out[0].is_file()
        assert out[0].is_relative_to(tmp_path / "lib" / "thumbs")
        with Image.open(out[0]) as im:
            assert im.size == (128, 256)
        assert not list(out[0].parent.glob("*.tmp"))
        assert lib.thumbnail(pid, size=64).name == out[0].name


def test_thumbnails_of_an_older_style_are_made_again(tmp_path):
    """A cache from before transparency was drawn on a checkerboard is not served."""
    from engine import thumbnails

    src = tmp_path / "cut.png"
    im = Image.new("RGBA", (64, 64), (255, 255, 255, 0))
    im.paste((255, 255, 255, 255), (16, 16, 48, 48))  # a white shape on a transparent ground
    im.save(src)
    old = tmp_path / "thumbs" / "32" / "ab" / ("ab" * 32 + ".jpg")  # the path before STYLE
    old.parent.mkdir(parents=True)
    Image.new("RGB", (32, 32), "white").save(old)
    new = thumbnails.thumbnail(src, "ab" * 32, tmp_path / "thumbs", size=32)
    assert new != old and new.is_file()
    with Image.open(new) as im:
        lo, hi = im.convert("L").getextrema()
        assert lo < 220 and hi > 240  # grey checkerboard around the white shape, not the old blank white


def test_searches_from_threads_while_indexing(tmp_path, fake_bundle):
    root = tmp_path / "p"
    make_photos(root / "first", 10, seed=5)
    errors: list[BaseException] = []
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([root])
        make_photos(root / "second", 40, seed=6)
        ref = root / "first" / "img_5_000.jpg"
        stop = threading.Event()

        def searcher():
            try:
                while not stop.is_set():
                    res = lib.search("red", image=ref, k=5)
                    assert all(Path(h.path).exists() for h in res.hits)
                    lib.status()
            except BaseException as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=searcher) for _ in range(3)]
        for t in threads:
            t.start()
        try:
            r = lib.index()
        finally:
            stop.set()
            for t in threads:
                t.join()
        assert errors == [] and r.encoded == 40 and lib.status().indexed == 50


def test_one_indexer_at_a_time(tmp_path, photos, fake_bundle):
    import fcntl

    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        fd = os.open(tmp_path / "lib" / "index.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)  # as another process would hold it
        try:
            with pytest.raises(LibraryBusyError, match="another cirsearch process"):
                lib.index([photos])
        finally:
            os.close(fd)
        assert lib.roots() == []  # a refused run adds no folder
        assert lib.index([photos]).encoded == 24


def test_roots_nest_and_can_be_removed_and_readded_cheaply(tmp_path, photos, fake_bundle):
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos / "a"])
        assert lib.add_root(photos / "a") == str(photos / "a")
        lib.index([photos])  # the parent absorbs the child root
        assert lib.roots() == [str(photos)] and lib.status().indexed == 24
        assert lib.remove_root(photos)
        assert lib.status().indexed == 0 and lib.vectors.index.num_photos == 0
        r = lib.index([photos])
        assert (r.encoded, r.reused) == (0, 24)
        with pytest.raises(LibraryError, match="not a folder"):
            lib.add_root(tmp_path / "nope")


def test_the_library_folder_inside_a_root_is_not_indexed(tmp_path, fake_bundle):
    make_photos(tmp_path / "photos", 3)
    with Library.open(tmp_path / "photos" / "library", bundle=fake_bundle) as lib:
        lib.index([tmp_path / "photos"])
        lib.thumbnail(lib.vectors.index.ids[0])
        r = lib.index()
        assert r.added == 0 and lib.status().indexed == 3


def test_a_reference_is_rehashed_only_when_its_file_changes(tmp_path, monkeypatch):
    import engine.references as refs

    p = tmp_path / "ref.jpg"
    photo(np.random.default_rng(1)).save(p)
    reads = []
    real = refs.read_file
    monkeypatch.setattr(refs, "read_file", lambda path, cfg=None: reads.append(path) or real(path))
    resolve = refs.ReferenceResolver()
    a = resolve(p)
    b = resolve(p)
    assert a.sha256 == b.sha256 and len(reads) == 1
    photo(np.random.default_rng(2)).save(p)
    os.utime(p, ns=(5, 5))
    c = resolve(p)
    assert c.sha256 != a.sha256 and len(reads) == 2
    stale = refs.Reference(a.sha256, str(p))  # the file changed under a memoized hash
    with pytest.raises(refs.ImageDecodeError, match="changed"):
        stale.decode(32)


def test_a_file_that_failed_for_a_transient_reason_is_retried(tmp_path, photos, fake_bundle, monkeypatch):
    import engine.indexer as indexer
    from engine.errors import ImageDecodeError

    victim = str(sorted((photos / "b").iterdir())[2])
    real = indexer.read_file

    def locked(path, cfg=None):
        if path == victim:
            raise ImageDecodeError(path, "permission denied")
        return real(path, cfg) if cfg is not None else real(path)

    monkeypatch.setattr(indexer, "read_file", locked)
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        r = lib.index([photos])
        assert r.failed == [(victim, "permission denied")] and lib.status().skipped == 1
        monkeypatch.setattr(indexer, "read_file", real)
        r = lib.index()
        assert (r.encoded, r.failed) == (1, []) and lib.status().indexed == 24 and lib.status().skipped == 0
        (photos / "a" / "junk.jpg").write_text("junk")
        lib.index()
        r = lib.index()  # bytes that cannot be decoded are not tried again while unchanged
        assert r.failed == [] and lib.status().skipped == 1


def test_a_folder_of_awkward_files_indexes_what_it_can_and_says_why_not(tmp_path, fake_bundle):
    import io

    from tests.engine.test_decode import _png_header_only

    root = tmp_path / "awkward"
    root.mkdir()
    rng = np.random.default_rng(0)
    good = photo(rng, (80, 60))
    good.save(root / "plain.jpg")
    good.convert("CMYK").save(root / "cmyk.jpg")
    Image.fromarray((np.asarray(good.convert("L"), np.uint16) * 257)).save(root / "grey16.png")
    frames = [photo(rng) for _ in range(3)]
    frames[0].save(root / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(root / "anim.webp", save_all=True, append_images=frames[1:])
    photo(rng).save(root / "phone.heic", quality=90)
    buf = io.BytesIO()
    photo(rng, (400, 300)).save(buf, "JPEG")
    (root / "truncated.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    (root / "empty.jpg").write_bytes(b"")
    (root / "letter.jpg").write_text("Dear friend,\n")
    (root / "bomb.png").write_bytes(_png_header_only(50000, 50000))
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        r = lib.index([root])
        reasons = {Path(p).name: why for p, why in lib.status().skipped_files}
        assert sorted(reasons) == ["bomb.png", "empty.jpg", "letter.jpg", "truncated.jpg"]
        assert "too many pixels" in reasons["bomb.png"] and "truncated or corrupt" in reasons["truncated.jpg"]
        assert reasons["empty.jpg"] == "empty file (0 bytes)" and "not an image" in reasons["letter.jpg"]
        assert r.encoded == 6 and lib.status().indexed == 6
        heic = lib.photo_at(root / "phone.heic")
        assert heic is not None and (heic.width, heic.height) == (64, 48)
        assert lib.search("red", image=root / "phone.heic", k=3).hits  # HEIC works as a reference too


def test_the_index_kind_follows_the_library_size_on_open(tmp_path, photos, fake_bundle):
    from engine.index_kind import VectorConfig
    from engine.library import LibraryConfig

    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
        assert lib.vectors.kind == "fp16"
    tiny_budget = LibraryConfig(vectors=VectorConfig(exact_budget_bytes=1000, recall_target=0.0))
    with Library.open(tmp_path / "lib", cfg=tiny_budget) as lib:
        assert lib.vectors.kind == "sq8" and "outgrew" in lib.status().index_rebuilt_because  # too few for ivfpq
        assert len(lib.similar(sorted((photos / "a").iterdir())[0], k=5).hits) == 5
    with Library.open(tmp_path / "lib") as lib:
        assert lib.vectors.kind == "fp16" and "small enough" in lib.status().index_rebuilt_because
    with Library.open(tmp_path / "lib", cfg=LibraryConfig(vectors=VectorConfig(kind="sq8"))) as lib:
        assert lib.vectors.kind == "sq8" and lib.vectors.index.num_photos == 24
    with Library.open(tmp_path / "lib", cfg=LibraryConfig(vectors=VectorConfig(kind="ivfpq"))) as lib:
        assert lib.vectors.kind == "fp16" and "too few photos" in lib.status().index_rebuilt_because


def test_an_exact_index_kept_after_measuring_is_not_measured_again(tmp_path, photos, fake_bundle, monkeypatch):
    from engine.index_kind import VectorConfig
    from engine.library import LibraryConfig

    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
    strict = LibraryConfig(vectors=VectorConfig(exact_budget_bytes=1000, recall_target=1.01))
    with Library.open(tmp_path / "lib", cfg=strict) as lib:
        assert lib.vectors.kind == "fp16" and lib.vectors.index.params.measured
    monkeypatch.setattr("engine.index_kind.measure_recall", lambda *a, **k: pytest.fail("measured again"))
    with Library.open(tmp_path / "lib", cfg=strict) as lib:
        assert lib.vectors.kind == "fp16" and lib.vectors.rebuilt_because is None
