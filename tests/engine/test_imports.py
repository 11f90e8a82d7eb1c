"""The engine's dependency rules: no torch, Qt, trainer or app (nor the optional vector
database client); one home per heavy import."""

from __future__ import annotations

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
    assert homes == {"faiss": {"vectors.py"}, "onnxruntime": {"runtime.py"}, "qdrant_client": {"qdrantstore.py"}}
