"""The installable package: an sdist built from a clean copy of the work tree holds the demo
model, a wheel built from that sdist carries it as engine package data, and the wheel,
installed into a fresh virtual environment that cannot see the work tree, runs
``cirsearch demo`` with it.

Nothing is downloaded: the build uses this environment's setuptools (``--no-build-isolation``),
the wheel is installed with ``--no-deps --no-index``, and the new environment reaches the
dependencies through a ``.pth`` line naming this environment's site-packages (a plain path:
the ``.pth`` files in there, such as the editable install's, are not run).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUNDLE_FILES = sorted(str(p.relative_to(REPO / "resources")) for p in (REPO / "resources").rglob("*") if p.is_file())


def _sh(*argv, cwd: Path, env: dict | None = None, timeout: int = 300) -> str:
    out = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, f"{argv}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def _checkout(dst: Path) -> Path:
    """What a clean checkout holds (tracked files and new ones git does not ignore), copied, so
    the build's build/ and egg-info land there and not in the work tree."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout to know which files a clean checkout has")
    listed = _sh("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO).split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():  # listed but deleted in the work tree: not in a checkout of it either
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / name)
    return dst


def _dependency_dirs() -> list[str]:
    dirs = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    assert dirs, "this environment has no site-packages to borrow the dependencies from"
    for d in dirs:
        assert Path(d) != REPO and not (Path(d).is_relative_to(REPO) and not Path(d).is_relative_to(sys.prefix))
    return dirs


def test_wheel_from_the_sdist_installs_and_runs_the_demo(tmp_path):
    src = _checkout(tmp_path / "checkout")
    dist = tmp_path / "dist"
    sdist_build = "import sys; from setuptools import build_meta as b; print(b.build_sdist(sys.argv[1]))"
    name = _sh(sys.executable, "-c", sdist_build, dist, cwd=src).strip().splitlines()[-1]
    with tarfile.open(dist / name) as sdist:
        root = name.removesuffix(".tar.gz")
        members = set(sdist.getnames())
        assert {f"{root}/resources/{f}" for f in BUNDLE_FILES} <= members, "the sdist lacks the demo bundle"
        assert {f"{root}/setup.py", f"{root}/engine/resources.py", f"{root}/app/main.py"} <= members
        sdist.extractall(tmp_path / "unpacked", filter="data")

    _sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", dist,
        tmp_path / "unpacked" / root, cwd=tmp_path)
    (wheel,) = dist.glob("cirsearch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"engine/_resources/{f}" for f in BUNDLE_FILES} <= names, "the wheel lacks the demo bundle"
    assert not any(n.startswith("resources/") for n in names), "resources/ would land at the top of site-packages"
    assert {"engine/cli.py", "app/main.py", "trainer/cli.py"} <= names

    venv = tmp_path / "venv"
    _sh(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    py = venv / "bin" / "python"
    _sh(sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    site = Path(_sh(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path).strip())
    (site / "borrowed-dependencies.pth").write_text("".join(f"{d}\n" for d in _dependency_dirs()))

    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"), "XDG_CACHE_HOME": str(home / "cache"),
           "XDG_CONFIG_HOME": str(home / "config"), "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin')}",
           "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen", "COLUMNS": "300"}
    where = json.loads(_sh(py, "-c", "import json, engine, app.main_window, engine.resources as r; print(json.dumps("
                           "[engine.__file__, app.__file__, str(r.demo_bundle_dir())]))", cwd=elsewhere, env=env))
    assert all(Path(p).is_relative_to(venv) for p in where), f"not the installed package: {where}"

    out = _sh(venv / "bin" / "cirsearch", "demo", "--count", "60", "--quiet", cwd=elsewhere, env=env)
    assert "60 photos indexed" in out and "(a demo model trained on generated images)" in out, out
    assert "satisfy the query" in out and out.count(str(home / "data" / "cirsearch" / "demo-library-photos")) >= 5
    status = json.loads(_sh(venv / "bin" / "cirsearch", "--library", home / "data" / "cirsearch" / "demo-library",
                            "status", "--json", cwd=elsewhere, env=env))
    assert status["indexed"] == 60 and Path(status["bundle_path"]) == Path(where[2])

    gui = _sh(venv / "bin" / "cirsearch-gui", "--help", cwd=elsewhere, env=env)
    assert "--demo" in gui and str(home / "data" / "cirsearch" / "demo-library") in gui
