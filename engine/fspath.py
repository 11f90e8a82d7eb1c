"""File paths that are not valid UTF-8: stored without loss, shown with escapes.

Python hands a name that is not UTF-8 (bytes that a disk written by old Windows or a
camera holds) as a str with lone surrogates: ``os.fsdecode(b"bad\\xff.jpg")`` is
``"bad\\udcff.jpg"`` (on Windows, an unpaired UTF-16 half is kept the same way). Such a
str opens the right file, but cannot be encoded as UTF-8: SQLite text, a terminal and
Qt all refuse it or drop the surrogates.

- In the catalog (:func:`to_db`, :func:`from_db`) such a path is a BLOB: its UTF-8 bytes
  with the surrogates kept (``surrogatepass``). Every other path stays TEXT, exactly as
  catalogs held it before, so nothing migrates. The storage class tells the two apart
  (a TEXT never equals a BLOB in SQLite), so the form is unambiguous, and a path looks
  itself up by equality either way. Folder prefixes are compared on the decoded str.
- For people (:func:`shown`) each undecodable byte becomes ``\\xNN`` and an unpaired
  half ``\\uNNNN``, as ``ls -b`` does: printable everywhere, not meant to be parsed back.
  Machine-readable output (``--json``) carries the str itself, whose surrogates JSON
  writes as ``\\udcNN`` escapes: ``os.fsencode(json.loads(...))`` gives the file's bytes.
"""

from __future__ import annotations

_SURROGATES = range(0xD800, 0xE000)
_ESCAPED = range(0xDC80, 0xDD00)  # surrogateescape: the byte 0xNN is U+DCNN


def is_utf8(path: str) -> bool:
    """True when ``path`` has no lone surrogates (it encodes as UTF-8 as it is)."""
    return path.isascii() or not any(ord(c) in _SURROGATES for c in path)


def to_db(path: str) -> str | bytes:
    """The value a path is stored and looked up as in SQLite."""
    return path if is_utf8(path) else path.encode("utf-8", "surrogatepass")


def from_db(value: str | bytes) -> str:
    """The path a stored value (:func:`to_db`) stands for."""
    return value if isinstance(value, str) else value.decode("utf-8", "surrogatepass")


def shown(path: str) -> str:
    """``path`` for people: undecodable bytes as ``\\xNN``, unpaired halves as ``\\uNNNN``."""
    if is_utf8(path):
        return path
    return "".join(_escape(c) for c in path)


def _escape(c: str) -> str:
    n = ord(c)
    if n in _ESCAPED:
        return f"\\x{n - 0xDC00:02x}"
    if n in _SURROGATES:
        return f"\\u{n:04x}"
    return c
