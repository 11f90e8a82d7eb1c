"""The engine's dependency rules: no torch, Qt, trainer or app (nor the optional vector
database client); one home per heavy import."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def test_engine_imports_neither_torch_nor_qt():
    code = (
        "import sys, json\n"
        "import engine.library, engine.cli, engine.demo\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'PySide6', 'trainer', 'app', 'transformers', 'qdrant_client'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ENGINE.parent, check=True)
    assert json.loads(out.stdout) == []


def test_one_home_module_per_heavy_dependency():
    homes = {"faiss": set(), "onnxruntime": set(), "qdrant_client": set()}
    for path in ENGINE.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for dep in homes:
            if re.search(rf"^\s*(import {dep}\b|from {dep}\b)", text, re.M):
                homes[dep].add(path.relative_to(ENGINE).as_posix())
    assert homes == {"faiss": {"faiss_index.py"}, "onnxruntime": {"runtime.py"}, "qdrant_client": {"qdrant_store.py"}}


FORBIDDEN = ("torch", "PySide6", "shiboken6", "trainer", "app")


def _imported_modules(path: Path) -> set[str]:
    """Every module an engine file imports, at the top or inside a function (absolute
    names; relative imports stay inside the engine)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module)
    return out


def test_no_engine_module_imports_torch_qt_trainer_or_app_anywhere():
    found = {}
    for path in sorted(ENGINE.rglob("*.py")):
        bad = sorted(m for m in _imported_modules(path) if m.split(".")[0] in FORBIDDEN or m.startswith("Qt"))
        if bad:
            found[path.relative_to(ENGINE).as_posix()] = bad
    assert found == {}


def test_the_import_scan_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("import os\n\ndef f():\n    import torch.nn\n    from PySide6 import QtCore\n    from . import x\n")
    assert _imported_modules(f) == {"os", "torch.nn", "PySide6"}
