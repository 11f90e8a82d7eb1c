"""What a well-formed ``manifest.json`` holds, checked field by field before anything is built from it.

A malformed manifest (hand-edited, truncated, written by another tool) is one
:class:`ManifestError` naming the field, e.g. ``sizes.embed_dim`` or ``files["vision.onnx"].sha256``,
never a Python exception from deep inside the loader. Optional fields may be absent or null.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import PurePosixPath
from typing import Any, Callable

from .errors import ManifestError

FORMAT = "cirsearch-bundle"
FORMAT_VERSION = 1
GRAPH_NAMES = ("vision", "target", "query", "text", "query_kv", "query_cached")
PAIRED_GRAPHS = ("query_kv", "query_cached")  # optional, but one is of no use without the other
REQUIRED_GRAPHS = ("vision", "target", "query")

_SHA256 = re.compile(r"[0-9a-f]{64}")
_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "object": (lambda v: isinstance(v, dict), "an object"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "text": (lambda v: isinstance(v, str), "a string"),
    "flag": (lambda v: isinstance(v, bool), "true or false"),
    "count": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a whole number above 0"),
    "bytes": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0, "a whole number, 0 or more"),
    "number": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v), "a number"),
}


def _show(v: Any) -> str:
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, list):
        return "a list"
    s = json.dumps(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _check(v: Any, path: str, kind: str) -> Any:
    ok, what = _KINDS[kind]
    if not ok(v):
        raise ManifestError(f"must be {what}, not {_show(v)}", path)
    return v


def _req(obj: dict, key: str, path: str, kind: str) -> Any:
    if key not in obj:
        raise ManifestError("is missing", path)
    return _check(obj[key], path, kind)


def _opt(obj: dict, key: str, path: str, kind: str) -> Any:
    v = obj.get(key)
    return None if v is None else _check(v, path, kind)


def validate_manifest(d: Any) -> None:
    """Raise :class:`ManifestError` naming the first field that is missing, of the wrong type or
    out of range, or a format this version cannot read."""
    if not isinstance(d, dict):
        raise ManifestError(f"must hold a JSON object, not {_show(d)}")
    if d.get("format") != FORMAT:
        raise ManifestError(f"is {_show(d.get('format'))}, not {FORMAT!r}: this is not a cirsearch model bundle",
                            "format")
    version = _req(d, "format_version", "format_version", "count")
    if version > FORMAT_VERSION:
        raise ManifestError(f"is {version}: the bundle was made by a newer cirsearch than this one (which reads "
                            f"format {FORMAT_VERSION}); update cirsearch", "format_version")
    model = _req(d, "model", "model", "object")
    for key in ("name", "version"):
        _req(model, key, f"model.{key}", "text")
    for key in ("architecture", "description"):
        _opt(model, key, f"model.{key}", "text")
    _opt(model, "demo", "model.demo", "flag")
    _image(_req(d, "image", "image", "object"))
    _text(_req(d, "text", "text", "object"))
    sizes = _req(d, "sizes", "sizes", "object")
    for key in ("embed_dim", "num_query_tokens", "vision_tokens", "vision_width"):
        _req(sizes, key, f"sizes.{key}", "count")
    files = _req(d, "files", "files", "object")
    for rel, meta in files.items():
        _file_entry(rel, meta)
    graphs = _req(d, "graphs", "graphs", "object")
    _graphs(graphs, "graphs", files)
    for g in REQUIRED_GRAPHS:
        if g not in graphs:
            raise ManifestError(f"is missing: a bundle needs the {', '.join(REQUIRED_GRAPHS)} graphs", f"graphs.{g}")
    for g, other in (PAIRED_GRAPHS, PAIRED_GRAPHS[::-1]):
        if g in graphs and other not in graphs:
            raise ManifestError(f"is missing: the {g} graph comes with a {other} graph", f"graphs.{other}")
    for table in ("fp16_graphs", "int8_graphs"):  # other precisions of graphs the bundle has in float32
        _graphs(_opt(d, table, table, "object") or {}, table, files, graphs)
    _listed(d["text"]["vocab"], "text.vocab", files)
    weights = _opt(d, "query_weights", "query_weights", "text")
    if weights is not None:
        _listed(weights, "query_weights", files)
    for key in ("parent", "parity", "extra", "int8_check"):
        _opt(d, key, key, "object")
    if d.get("int8_graphs"):
        _int8_check(_req(d, "int8_check", "int8_check", "object"))
    _opt(d, "target_side", "target_side", "text")


def _image(image: dict) -> None:
    _req(image, "size", "image.size", "count")
    if _req(image, "pad_ratio", "image.pad_ratio", "number") < 1:
        raise ManifestError(f"must be 1 or more, not {image['pad_ratio']}", "image.pad_ratio")
    for key in ("resize", "crop"):
        _opt(image, key, f"image.{key}", "text")
    for key in ("mean", "std"):
        values = _req(image, key, f"image.{key}", "list")
        if len(values) != 3:
            raise ManifestError(f"must hold 3 numbers (red, green, blue), not {len(values)}", f"image.{key}")
        for i, v in enumerate(values):
            if _check(v, f"image.{key}[{i}]", "number") <= 0 and key == "std":
                raise ManifestError(f"must be above 0, not {v}", f"image.{key}[{i}]")


def _text(text: dict) -> None:
    _req(text, "vocab", "text.vocab", "text")
    if _req(text, "max_tokens", "text.max_tokens", "count") < 2:
        raise ManifestError("must be at least 2 (room for [CLS] and [SEP])", "text.max_tokens")
    _opt(text, "max_words", "text.max_words", "count")
    _opt(text, "lowercase", "text.lowercase", "flag")
    _opt(text, "punctuation", "text.punctuation", "text")
    _opt(text, "tokenizer", "text.tokenizer", "text")
    for i, tok in enumerate(_opt(text, "extra_special_tokens", "text.extra_special_tokens", "list") or []):
        _check(tok, f"text.extra_special_tokens[{i}]", "text")


def _int8_check(check: dict) -> None:
    """int8 graphs come with the agreement with float32 measured when they were made (trainer.quantize)."""
    for key in ("figures", "thresholds"):
        for name, v in _req(check, key, f"int8_check.{key}", "object").items():
            _check(v, f"int8_check.{key}.{name}", "number")


def _file_entry(rel: str, meta: Any) -> None:
    path = f"files[{json.dumps(rel)}]"
    p = PurePosixPath(rel)
    if not rel or p.is_absolute() or ".." in p.parts or "\\" in rel:
        raise ManifestError("names a file outside the bundle folder: give paths relative to it", path)
    _check(meta, path, "object")
    if not _SHA256.fullmatch(str(_req(meta, "sha256", f"{path}.sha256", "text"))):
        raise ManifestError(f"must be 64 lowercase hex digits, not {_show(meta['sha256'])}", f"{path}.sha256")
    _opt(meta, "bytes", f"{path}.bytes", "bytes")


def _graphs(graphs: dict, path: str, files: dict, float32: dict | None = None) -> None:
    for name, rel in graphs.items():
        if name not in GRAPH_NAMES:
            raise ManifestError(f"names an unknown graph (this version knows {', '.join(GRAPH_NAMES)})",
                                f"{path}.{name}")
        if float32 is not None and name not in float32:
            raise ManifestError(f"names a {name} graph, but graphs has no float32 {name} graph beside it",
                                f"{path}.{name}")
        _listed(_check(rel, f"{path}.{name}", "text"), f"{path}.{name}", files)


def _listed(rel: str, path: str, files: dict) -> None:
    if rel not in files:
        raise ManifestError(f"names {rel}, but files records no hash for it", path)
