"""Kill indexing with SIGKILL at random points, restart, and check nothing is lost or redone.

A child process indexes (``Library.index``, batches of one) with an ``on_batch`` callback
that logs every photo encoded (``encode <sha> <time>``) before the encoder runs and again
(``commit <sha> <time>``) once its batch is committed. The child is killed at random moments (some by time, which
may land in start-up, scanning or a commit; some right after the log grows), then the
index is completed by an uninterrupted run and compared with a library indexed in one go.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.catalog import Catalog
from engine.db import Database
from engine.faiss_index import load_index
from engine.indexer import IndexConfig
from engine.library import Library, LibraryConfig
from tests.engine.conftest import make_photos

REPO = Path(__file__).resolve().parents[2]


CHILD = """
import sys, time
from engine.indexer import IndexConfig
from engine.library import Library, LibraryConfig

lib_dir, bundle, photos, log = sys.argv[1:]


def on_batch(what, shas):
    now = time.time()
    with open(log, "a") as f:
        f.write("".join(f"{what} {s} {now:.6f}\\n" for s in shas))


with Library.open(lib_dir, bundle=bundle, cfg=LibraryConfig(index=IndexConfig(batch_size=1))) as lib:
    lib.index([photos], on_batch=on_batch)
"""


def _child(lib: Path, bundle: Path, photos: Path, log: Path, err) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(lib), str(bundle), str(photos), str(log)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)


def _lines(log: Path) -> int:
    return log.read_text().count("\n") if log.exists() else 0


def _kill_at_random(proc: subprocess.Popen, log: Path, rng: np.random.Generator, by_time: bool, left: int) -> None:
    """Kill once a random share of the photos still to do has been logged (lands
    mid-indexing whatever the speed), or, ``by_time``, after a random delay that may land
    in start-up or scanning, but never later than that share: on a fast machine the
    whole run can take less than the longest delay, and a kill after the end tests nothing."""
    start = time.monotonic()
    target = _lines(log) + 2 * int(rng.integers(1, max(2, left // 3)))
    deadline = start + (rng.uniform(0.05, 0.8) if by_time else 30.0)
    while _lines(log) < target and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    if not by_time:
        time.sleep(rng.uniform(0, 0.005))
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def _committed(log: Path) -> int:
    return sum(1 for line in log.read_text().splitlines() if line.startswith("commit")) if log.exists() else 0


def _state(lib_dir: Path, bundle: Path):
    with Library.open(lib_dir, bundle=bundle) as lib:
        rows = lib.db.query("SELECT f.path, f.state, f.error, c.sha256 FROM files f "
                            "LEFT JOIN contents c ON c.id = f.content_id ORDER BY f.path")
        files = {r[0]: (r[1], r[2], r[3]) for r in rows}
        ids = lib.vectors.index.ids
        tokens = {lib.photo(i).sha256: t for i, t in zip(ids.tolist(), lib.photo_tokens(ids))}
        ref = next(p for p, s in files.items() if s[0] == "ok")
        results = [(h.path, h.score) for h in lib.search("same but red", image=ref, k=15).hits]
    return files, tokens, results


@pytest.mark.parametrize("bundle_name, kills", [("fake_bundle", 8), ("tiny_bundle", 4)])
def test_sigkill_at_random_points_then_resume(tmp_path, request, bundle_name, kills):
    bundle = request.getfixturevalue(bundle_name)
    photos = tmp_path / "photos"
    make_photos(photos / "x", 90, seed=11)
    make_photos(photos / "y", 60, seed=12)
    shutil.copy(photos / "x" / "img_11_000.jpg", photos / "y" / "copy.jpg")  # a copy: linked, not encoded
    (photos / "y" / "bad.jpg").write_bytes(b"\xff\xd8\xff" + b"\1" * 50)  # a failure to record

    with Library.open(tmp_path / "ref", bundle=bundle, cfg=LibraryConfig(index=IndexConfig(batch_size=1))) as lib:
        lib.index([photos])

    lib_dir, log, errors = tmp_path / "killed", tmp_path / "encodes.log", tmp_path / "stderr.txt"
    rng = np.random.default_rng(2024)
    killed_mid_run = 0
    with open(errors, "wb") as err:
        for i in range(kills):
            proc = _child(lib_dir, bundle, photos, log, err)
            _kill_at_random(proc, log, rng, by_time=i % 4 == 0, left=150 - _committed(log))
            killed_mid_run += proc.returncode == -signal.SIGKILL
            assert proc.returncode in (0, -signal.SIGKILL), errors.read_text()
        proc = _child(lib_dir, bundle, photos, log, err)
        assert proc.wait(120) == 0, errors.read_text()
    assert killed_mid_run >= kills - 2

    # Nothing finished was encoded again: every encode of a photo happened before the
    # commit that stuck (the catalog's encoded_at); a commit logged is never followed
    # by another encode of the same bytes.
    db = Database(lib_dir / "catalog.sqlite")
    encoded_at = {r[0]: r[1] for r in db.query("SELECT sha256, encoded_at FROM contents WHERE state = 'encoded'")}
    committed: set[str] = set()
    encodes: dict[str, int] = {}
    for line in log.read_text().splitlines():
        what, sha, t = line.split()
        if what == "encode":
            assert sha not in committed, f"{sha} encoded again after its commit was logged"
            assert float(t) <= encoded_at[sha] + 1e-3, f"{sha} encoded again after it was committed"
            encodes[sha] = encodes.get(sha, 0) + 1
        else:
            committed.add(sha)
    assert set(encodes) == set(encoded_at) and len(encoded_at) == 150
    assert committed <= set(encoded_at)

    # The saved index holds exactly the catalog's photos, and loads without repair.
    live = Catalog(db).live_ids()
    target_side = db.get_meta("target_side")
    db.close()
    s = Library.open(lib_dir).bundle.manifest.sizes
    saved = load_index(lib_dir / "index.faiss", target_side, s.embed_dim, s.num_query_tokens)
    assert np.array_equal(saved.ids, live) and len(live) == 150

    # Same final state as the uninterrupted run.
    files_k, tokens_k, results_k = _state(lib_dir, bundle)
    files_r, tokens_r, results_r = _state(tmp_path / "ref", bundle)
    assert files_k == files_r
    assert files_k[str(photos / "y" / "bad.jpg")][0] == "failed"
    assert tokens_k.keys() == tokens_r.keys()
    for sha, t in tokens_k.items():
        np.testing.assert_allclose(t, tokens_r[sha], atol=2e-3)
    assert [p for p, _ in results_k] == [p for p, _ in results_r]
    np.testing.assert_allclose([s for _, s in results_k], [s for _, s in results_r], atol=2e-3)


def test_a_vote_survives_sigkill_right_after_it_returns(tmp_path, photos, fake_bundle):
    with Library.open(tmp_path / "lib", bundle=fake_bundle) as lib:
        lib.index([photos])
    ref = sorted((photos / "a").iterdir())[0]
    code = (
        "import sys, time\n"
        "from engine.library import Library\n"
        f"lib = Library.open({str(tmp_path / 'lib')!r})\n"
        f"res = lib.search('same but red', image={str(ref)!r}, k=5)\n"
        "v = lib.vote(res, res.hits[1].photo_id, up=False)\n"
        "print(v.id, res.hits[1].sha256, flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    proc.stdout.close()
    vote_id, sha = line.split()
    with Library.open(tmp_path / "lib") as lib:
        (v,) = lib.votes()
        assert (v.id, v.photo_sha256, v.up, v.rank) == (int(vote_id), sha, False, 1)
        assert v.query.text == "same but red" and v.query.ref_path == str(ref) and len(v.shown_above) == 1
