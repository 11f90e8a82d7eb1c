"""``app.state`` stays Qt-free: no import of Qt anywhere in its files (inside functions
too), and importing every one of its modules in a fresh Python leaves PySide6 unloaded."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import app.state

STATE = Path(app.state.__file__).parent
ROOT = STATE.parent.parent
# Qt's Python bindings (and the shims over them); any of these loads Qt.
QT = ("PySide6", "shiboken6", "PySide2", "shiboken2", "PyQt6", "PyQt5", "sip", "qtpy", "pyqtgraph")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) for every import in the file, relative ones resolved."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            found.append((node.lineno, stem))
            found += [(node.lineno, f"{stem}.{a.name}") for a in node.names if a.name != "*"]
    return found


def state_files() -> list[Path]:
    return sorted(STATE.rglob("*.py"))


def test_the_checks_see_the_package():
    names = {module_name(p) for p in state_files()}
    assert {"app.state", "app.state.query", "app.state.learn", "app.state.votes"} <= names
    assert any(name == "engine.bundle" for _, name in imported_names(STATE / "learn.py"))
    assert any(name == "app.state.query.Mode" for _, name in imported_names(STATE / "settings.py")), \
        "relative imports are resolved"


@pytest.mark.parametrize("path", state_files(), ids=lambda p: p.relative_to(STATE).as_posix())
def test_no_file_imports_qt(path):
    bad = []
    for line, name in imported_names(path):
        top = name.split(".")[0]
        if top in QT or top.startswith("Qt") or name.startswith("PySide6"):
            bad.append(f"{path.name}:{line} imports {name}")
        # the rest of app/ is the GUI: reaching it from here would load Qt through it
        elif top == "app" and name != "app" and not (name == "app.state" or name.startswith("app.state.")):
            bad.append(f"{path.name}:{line} imports {name} (a Qt module of the app)")
    assert not bad, "app.state must stay Qt-free:\n" + "\n".join(bad)


def test_importing_every_module_leaves_qt_unloaded():
    modules = [module_name(p) for p in state_files()]
    code = (f"import {', '.join(modules)}; import sys; "
            f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {QT!r}); "
            "assert not loaded, loaded")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
