"""What Pillow and its C libraries say while a photo is decoded: to the log, and to the photo.

Pillow speaks three ways, none of which a decoding thread can scope with the standard
tools (``warnings.catch_warnings`` swaps process-wide state, so it is not thread-safe):

- Python warnings (``"Corrupt EXIF data"``, ``"Invalid APNG, will use default PNG image
  if possible"``): a ``warnings.showwarning`` hook, installed once, takes the warnings
  raised in a thread that is inside :func:`capture`; any other warning goes to the hook
  that was there before. Warning filters still apply first (a warning the host turned
  into an error is raised; a repeated "default" one is shown once per process).
- Its loggers (``logging.getLogger("PIL...")``, e.g. "More samples per pixel than can be
  decoded"): a handler on the ``PIL`` logger keeps the records of a capturing thread.
  Having a handler also stops Python's last-resort handler from printing them on stderr
  when the host configured no logging; where it did, the records still propagate to it.
- libtiff's errors ("ZIPDecode: Decoding error at scanline 0"), which libtiff prints on
  the C library's stderr. When Pillow's wheel ships libtiff as a separate shared library
  (Linux ``pillow.libs``, macOS ``PIL/.dylibs``) an error handler is set on it with
  ctypes; it runs in the decoding thread, so the message reaches the right photo. Where
  libtiff is linked into Pillow itself (Windows) or cannot be found, those messages still
  go to stderr: redirecting file descriptor 2 would be process-wide, and would swallow
  every other thread's output (the progress bar's among them) while a photo decodes.

Each message heard during :func:`capture` is logged on ``engine.decode`` (WARNING, with
the file's name) and returned to the caller, who adds it to the reason when the photo
turns out unusable. The ``engine.decode`` logger has a ``NullHandler``: a host that
configures no logging shows nothing.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import PIL

log = logging.getLogger("engine.decode")
log.addHandler(logging.NullHandler())

_local = threading.local()


@contextmanager
def capture(name: str) -> Iterator[list[str]]:
    """Within: what Pillow and libtiff say in this thread is logged as about ``name`` and
    collected in the list yielded (in the order said)."""
    outer = getattr(_local, "frame", None)
    heard: list[str] = []
    _local.frame = (name, heard)
    try:
        yield heard
    finally:
        _local.frame = outer


def _hear(message: str, to_log: bool = True) -> bool:
    """Note a message for the capture of this thread, if any; False when there is none."""
    frame = getattr(_local, "frame", None)
    if frame is None:
        return False
    name, heard = frame
    message = " ".join(message.split())
    if message and message not in heard:
        heard.append(message)
        if to_log:
            log.warning("%s: %s", name, message)
    return True


# -- Python warnings --------------------------------------------------------------------

_shown_before = warnings.showwarning


def _showwarning(message, category, filename, lineno, file=None, line=None):
    if not _hear(str(message)):
        _shown_before(message, category, filename, lineno, file, line)


# -- Pillow's loggers -------------------------------------------------------------------


class _PillowRecords(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        # the record also propagates to the host's handlers: log it once, there
        _hear(record.getMessage(), to_log=False)


# -- libtiff ----------------------------------------------------------------------------

_TIFF_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)


def _libtiff_path() -> Path | None:
    pil = Path(PIL.__file__).parent
    found = sorted(pil.parent.glob("pillow.libs/libtiff*")) + sorted(pil.glob(".dylibs/libtiff*"))
    return found[0] if found else None


def _install_libtiff_handler():
    """Set our error handler on Pillow's own libtiff; the ctypes callback (kept alive by
    the caller), or None where libtiff is not a separate library this can reach."""
    path = _libtiff_path()
    if path is None or sys.platform == "win32":
        return None
    try:
        from PIL import _imaging  # noqa: F401  (loads Pillow's libtiff, so we get that very copy)

        tiff, libc = ctypes.CDLL(str(path)), ctypes.CDLL(None)
        vsnprintf = libc.vsnprintf
        vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
        previous = tiff.TIFFSetErrorHandler
        previous.restype, previous.argtypes = ctypes.c_void_p, [_TIFF_HANDLER]
    except (OSError, AttributeError):
        return None

    @_TIFF_HANDLER
    def on_error(module, fmt, args):
        try:  # an exception must not cross back into C
            buf = ctypes.create_string_buffer(512)
            vsnprintf(buf, len(buf), fmt, args)
            text = buf.value.decode("utf-8", "replace")
            where = module.decode("utf-8", "replace") if module else ""
            message = f"libtiff: {where}: {text}" if where else f"libtiff: {text}"
            if not _hear(message):
                log.warning("%s", message)
        except Exception:  # pragma: no cover - nothing sensible left to do
            pass

    tiff.TIFFSetErrorHandler(on_error)
    return on_error


def install() -> None:
    """Put the warnings hook and the Pillow log handler in place. Done on import; again
    is harmless, and needed after something else swapped ``warnings.showwarning`` (as
    ``warnings.catch_warnings`` does, and pytest around each test)."""
    if warnings.showwarning is not _showwarning:
        warnings.showwarning = _showwarning
    pil_log = logging.getLogger("PIL")
    if not any(isinstance(h, _PillowRecords) for h in pil_log.handlers):
        pil_log.addHandler(_PillowRecords(logging.WARNING))


install()
_libtiff_handler = _install_libtiff_handler()  # a module global: the callback must outlive every call
