"""Reading dataset JSON files with errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import DataError


def read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: {what} is not valid JSON ({e})") from None


def require(cond: bool, path: Path, message: str) -> None:
    if not cond:
        raise DataError(f"{path}: {message}")
