"""Downloads: resumable, verified, against a server the test starts on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import http.server
import io
import threading

import pytest

from trainer.download import DownloadError, RemoteFile, download

BLOB = bytes(range(256)) * 4000  # ~1 MB


class _Handler(http.server.BaseHTTPRequestHandler):
    blob = BLOB
    ranges = True  # honour Range
    cut_after: int | None = None  # close the connection after this many bytes (first request only)
    md5_header: str | None = None
    seen: list = []

    def log_message(self, *a):  # keep test output clean
        pass

    def do_GET(self):
        type(self).seen.append(self.headers.get("Range"))
        data, status, start = self.blob, 200, 0
        rng = self.headers.get("Range")
        if rng and self.ranges:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.end_headers()
                return
            status = 206
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if self.md5_header:
            self.send_header("x-goog-hash", f"crc32c=AAAA==,md5={self.md5_header}")
        self.end_headers()
        cut = type(self).cut_after
        if cut is not None:
            type(self).cut_after = None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    class H(_Handler):
        seen = []

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield H, f"http://127.0.0.1:{httpd.server_address[1]}/file.bin"
    httpd.shutdown()
    httpd.server_close()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def test_pinned_download_verifies_and_caches(server, tmp_path):
    H, url = server
    out = io.StringIO()
    p = download(RemoteFile(url, "f.bin", sha256=_sha(BLOB), size=len(BLOB)), tmp_path, stream=out)
    assert p.read_bytes() == BLOB
    assert "f.bin" in out.getvalue()  # the progress bar was drawn
    n = len(H.seen)
    assert download(RemoteFile(url, "f.bin", sha256=_sha(BLOB)), tmp_path, progress=False) == p
    assert len(H.seen) == n  # served from the cache, no request


def test_interrupted_download_resumes_with_range(server, tmp_path):
    H, url = server
    H.cut_after = 300_000
    remote = RemoteFile(url, "f.bin", sha256=_sha(BLOB))
    with pytest.raises(DownloadError, match="run again to resume"):
        download(remote, tmp_path, progress=False)
    assert (tmp_path / "f.bin.part").stat().st_size == 300_000
    assert download(remote, tmp_path, progress=False).read_bytes() == BLOB
    assert H.seen[-1] == "bytes=300000-"
    assert not (tmp_path / "f.bin.part").exists()


def test_server_without_range_restarts_cleanly(server, tmp_path):
    H, url = server
    H.ranges = False
    (tmp_path / "f.bin.part").write_bytes(b"garbage that is not the start")
    assert download(RemoteFile(url, "f.bin", sha256=_sha(BLOB)), tmp_path, progress=False).read_bytes() == BLOB


def test_wrong_content_is_deleted_never_used(server, tmp_path):
    H, url = server
    with pytest.raises(DownloadError, match="does not verify"):
        download(RemoteFile(url, "f.bin", sha256="0" * 64), tmp_path, progress=False)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_server_declared_md5_and_trust_on_first_use(server, tmp_path):
    H, url = server
    H.md5_header = base64.b64encode(hashlib.md5(b"something else").digest()).decode()
    with pytest.raises(DownloadError, match="MD5"):
        download(RemoteFile(url, "g.bin"), tmp_path, progress=False)
    H.md5_header = base64.b64encode(hashlib.md5(BLOB).digest()).decode()
    p = download(RemoteFile(url, "g.bin"), tmp_path, progress=False)
    assert p.read_bytes() == BLOB
    # the SHA-256 seen first is now pinned: a changed file at the same URL is refused
    H.blob = BLOB[::-1]
    H.md5_header = None
    p.unlink()
    with pytest.raises(DownloadError, match="SHA-256"):
        download(RemoteFile(url, "g.bin"), tmp_path, progress=False)


def test_offline_gives_a_clear_error(tmp_path):
    with pytest.raises(DownloadError, match="are you online"):
        download(RemoteFile("http://127.0.0.1:9/x", "x.bin"), tmp_path, progress=False, timeout=2)
