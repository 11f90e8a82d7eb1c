"""Fetch public weight files: progress bar, resumable, verified.

Verification: a pinned SHA-256 where this project knows the file's digest; otherwise
the digest the server declares (Google Cloud Storage's ``x-goog-hash: md5=...``),
and the SHA-256 computed on first download is pinned in ``pins.json`` beside the
cache so every later download of the same URL must match it (trust on first use).
A file that fails verification is deleted, never used.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable

from engine.atomic import atomic_write_text


class DownloadError(Exception):
    """A download failed or its content did not verify."""


@dataclass(frozen=True)
class RemoteFile:
    url: str
    filename: str
    sha256: str | None = None
    size: int | None = None
    description: str = ""


# Public homes of the files an import needs when the user does not pass them.
BERT_VOCAB = RemoteFile(
    url="https://huggingface.co/google-bert/bert-base-uncased/resolve/main/vocab.txt",
    filename="bert-base-uncased-vocab.txt",
    # bert-base-uncased's vocab.txt: 30,522 entries, 231,508 bytes.
    sha256="07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    size=231_508,
    description="bert-base-uncased WordPiece vocabulary",
)
BLIP2_VITL = RemoteFile(
    url="https://storage.googleapis.com/sfr-vision-language-research/LAVIS/models/BLIP2/blip2_pretrained_vitL.pth",
    filename="blip2_pretrained_vitL.pth",
    description="BLIP-2 pretrained with CLIP ViT-L/14 (LAVIS)",
)
CLIP_VITL = RemoteFile(
    url="https://storage.googleapis.com/sfr-vision-language-research/LAVIS/models/BLIP2/clip_vit_L.pth",
    filename="clip_vit_L.pth",
    description="CLIP ViT-L/14 vision tower as LAVIS stores it",
)


def default_cache_dir() -> Path:
    env = os.environ.get("CIRSEARCH_CACHE")
    if env:
        return Path(env) / "downloads"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cirsearch")) / "downloads"


def _digests(path: Path) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), base64.b64encode(md5.digest()).decode()


def _declared_md5(headers) -> str | None:
    for part in (headers.get_all("x-goog-hash") or []):
        for item in part.split(","):
            k, _, v = item.strip().partition("=")
            if k == "md5":
                return v
    return None


class _Pins:
    def __init__(self, path: Path):
        self.path = path
        try:
            self.data: dict[str, str] = json.loads(path.read_text())
        except (OSError, ValueError):
            self.data = {}

    def get(self, url: str) -> str | None:
        return self.data.get(url)

    def set(self, url: str, sha: str) -> None:
        self.data[url] = sha
        # durable: a pin is the hash seen on first download, which later downloads are checked against
        atomic_write_text(self.path, json.dumps(self.data, indent=2, sort_keys=True), durable=True)


def cached(remote: RemoteFile, cache_dir: str | Path | None = None) -> Path | None:
    """The complete, verified copy of ``remote`` in the cache, or None; never touches the network."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    dest = cache / remote.filename
    if not dest.is_file():
        return None
    expected = remote.sha256 or _Pins(cache / "pins.json").get(remote.url)
    return dest if expected is None or _digests(dest)[0] == expected else None


def download(
    remote: RemoteFile,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    chunk: int = 1 << 20,
    stream: IO[str] | None = None,
    on_bytes: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download ``remote`` into the cache (resuming a partial download) and verify it.

    Returns the verified file. A complete, verified file already in the cache is
    returned without touching the network. ``on_bytes(done, total)`` hears the bytes in
    the file so far (a resumed part counts from its size) after each chunk, for programs
    that show their own progress; ``total`` is None when the server does not say.
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    dest = cache / remote.filename
    pins = _Pins(cache / "pins.json")
    expected = remote.sha256 or pins.get(remote.url)
    if dest.is_file():
        if cached(remote, cache) is not None:
            return dest
        dest.unlink()  # a stale or altered copy: fetch again
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(remote.url, headers={"User-Agent": "cirsearch"})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:  # nothing left to fetch: the part is complete
            resp = None
        else:
            raise DownloadError(f"{remote.url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError) as e:
        raise DownloadError(f"{remote.url}: {getattr(e, 'reason', e)} (are you online?)") from e
    declared_md5 = None
    if resp is not None:
        with resp:
            if offset and resp.status != 206:
                offset = 0  # the server ignored Range: start over
            declared_md5 = _declared_md5(resp.headers)  # GCS declares the whole object's MD5
            length = resp.headers.get("Content-Length")
            total = offset + int(length) if length is not None else remote.size
            bar = _progress(remote, total, offset, progress, stream)
            if on_bytes is not None:
                on_bytes(offset, total)
            try:
                with open(part, "ab" if offset else "wb") as f:
                    while True:
                        try:
                            b = resp.read(chunk)
                        except OSError as e:
                            raise DownloadError(
                                f"{remote.url}: connection lost after {f.tell()} bytes ({e}); run again to resume"
                            ) from e
                        if not b:
                            break
                        f.write(b)
                        if bar is not None:
                            bar.update(len(b))
                        if on_bytes is not None:
                            on_bytes(f.tell(), total)
                    f.flush()
                    os.fsync(f.fileno())
                    got = f.tell()
            finally:
                if bar is not None:
                    bar.close()
            if total is not None and got < total:
                raise DownloadError(f"{remote.url}: got {got} of {total} bytes; run again to resume")
    sha, md5 = _digests(part)
    problem = None
    if remote.size is not None and part.stat().st_size != remote.size:
        problem = f"size {part.stat().st_size} != expected {remote.size}"
    elif expected is not None and sha != expected:
        problem = f"SHA-256 {sha} != expected {expected}"
    elif declared_md5 is not None and md5 != declared_md5:
        problem = f"MD5 {md5} != the server's {declared_md5}"
    if problem:
        part.unlink(missing_ok=True)
        raise DownloadError(f"{remote.url}: downloaded file does not verify ({problem}); it was deleted")
    if expected is None:
        pins.set(remote.url, sha)
    # not engine.atomic: the part is kept between runs to resume; verified, it becomes the file
    os.replace(part, dest)
    return dest


def _progress(remote: RemoteFile, total: int | None, offset: int, enabled: bool, stream):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
                desc=remote.filename, file=stream or sys.stderr, leave=True)
