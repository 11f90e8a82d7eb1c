"""The app's preferences as a frozen value, read from any mapping of stored values.

The window keeps them in QSettings, which hands back strings, numbers or nothing at all
(a first run, a hand-edited file). :func:`from_mapping` takes what makes sense, clamps
numbers into range and falls back to the default for the rest, so bad settings never
stop the app from starting.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

from .query import Mode


@dataclass(frozen=True)
class AppSettings:
    results: int = 300  # photos per search
    debounce_ms: int = 200  # pause in typing before the search runs
    tile_px: int = 160  # thumbnail edge in the grid
    thumb_memory: int = 800  # thumbnails kept decoded in memory
    index_on_open: bool = True  # rescan the folders when a library opens
    watch_folders: bool = True  # index new, changed, moved and deleted photos while the app is open
    rescan_minutes: int = 5  # rescan folders whose changes are not announced (network drives) this often
    mode: str = Mode.COMPOSED.value
    device: str = "auto"  # "auto", "cpu", "cuda"
    precision: str = "auto"  # "auto" (int8 on the CPU, fp16 on CUDA, where the model has them), "fp32", "int8", "fp16"
    model_threads: int = 0  # CPU threads per model graph; 0: ONNX Runtime's choice (all cores)


RANGES: dict[str, tuple[int, int]] = {
    "results": (10, 100_000),
    "debounce_ms": (0, 2000),
    "tile_px": (64, 512),
    "thumb_memory": (50, 100_000),
    "model_threads": (0, 1024),
    "rescan_minutes": (1, 24 * 60),
}
CHOICES: dict[str, tuple[str, ...]] = {
    "mode": tuple(m.value for m in Mode),
    "device": ("auto", "cpu", "cuda"),
    "precision": ("auto", "fp32", "int8", "fp16"),
}


def _int(v: Any) -> int | None:
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return None


def _bool(v: Any) -> bool | None:
    if isinstance(v, bool):
        return v
    s = str(v).strip().lower()
    return True if s in ("1", "true", "yes", "on") else False if s in ("0", "false", "no", "off") else None


def from_mapping(values: Mapping[str, Any]) -> AppSettings:
    default = AppSettings()
    out: dict[str, Any] = {}
    for f in fields(AppSettings):
        if f.name not in values or values[f.name] is None:
            continue
        v = values[f.name]
        if f.name in RANGES:
            n, (lo, hi) = _int(v), RANGES[f.name]
            if n is not None:
                out[f.name] = min(hi, max(lo, n))
        elif f.name in CHOICES:
            if str(v) in CHOICES[f.name]:
                out[f.name] = str(v)
        elif isinstance(getattr(default, f.name), bool):
            b = _bool(v)
            if b is not None:
                out[f.name] = b
    return AppSettings(**out)


def to_mapping(s: AppSettings) -> dict[str, Any]:
    return {f.name: getattr(s, f.name) for f in fields(AppSettings)}
