"""Which of a bundle's graphs run: int8 on the CPU and fp16 on CUDA where the bundle has them
(graph by graph), float32 otherwise, or the precision asked for; ``status`` says which, and a
change of precision keeps the index. No GPU here: CUDA is a session double that says it runs
there (a CPU session underneath), so what is tested is the choice, never a GPU figure."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from engine import runtime
from engine.bundle import file_entries, load_bundle, write_manifest
from engine.cli import main
from engine.errors import BundleError, ManifestError
from engine.library import Library, LibraryConfig, LibraryParts
from engine.runtime import CPU, CUDA, Encoders, RuntimeConfig

from .conftest import make_photos

GRAPHS = ("vision", "target", "query", "text")


def with_precisions(src: Path, dst: Path, int8: tuple[str, ...] = GRAPHS, fp16: tuple[str, ...] = ()) -> Path:
    """A copy of ``src`` with int8/ and fp16/ graphs beside the float32 ones: copies of them (the
    choice is under test here, not the arithmetic; tests/trainer/test_quantize.py runs real int8)."""
    shutil.copytree(src, dst)
    m = load_bundle(dst).manifest
    tables: dict[str, dict[str, str]] = {"int8": {}, "fp16": {}}
    for precision, names in (("int8", int8), ("fp16", fp16)):
        for g in names:
            rel = f"{precision}/{g}.onnx"
            (dst / precision).mkdir(exist_ok=True)
            shutil.copy(dst / m.graphs[g], dst / rel)
            tables[precision][g] = rel
    rels = [*m.files, *tables["int8"].values(), *tables["fp16"].values()]
    check = {"figures": {"target_cosine": 1.0}, "thresholds": {"min_cosine": 0.99}} if int8 else {}
    write_manifest(dst, replace(m, int8_graphs=tables["int8"], fp16_graphs=tables["fp16"], int8_check=check,
                                files=file_entries(dst, rels)))
    return dst


class _Recorder:
    """Sessions on the CPU; records which files were loaded. ``cuda``: each says it runs on CUDA."""

    def __init__(self, cuda: bool = False):
        self.cuda, self.loaded = cuda, []

    def __call__(self, model, cfg: RuntimeConfig):
        sess = runtime._create(model, replace(cfg, device="cpu"))
        if not isinstance(model, bytes):
            self.loaded.append(Path(model).relative_to(Path(model).parents[1]).as_posix())
        return _OnCuda(sess) if self.cuda else sess


class _OnCuda:
    def __init__(self, sess):
        self._sess = sess

    def get_providers(self) -> list[str]:
        return [CUDA, CPU]

    def __getattr__(self, name):
        return getattr(self._sess, name)


@pytest.fixture()
def mixed(tmp_path, fake_bundle) -> Path:
    """int8 vision and target graphs (the image path), fp16 vision/target/query graphs."""
    return with_precisions(fake_bundle, tmp_path / "b", int8=("vision", "target"), fp16=("vision", "target", "query"))


@pytest.mark.parametrize("cfg, cuda, want", [
    (RuntimeConfig(device="cpu"), False, {"vision": "int8", "target": "int8", "query": "fp32", "text": "fp32"}),
    (RuntimeConfig(), False, {"vision": "int8", "target": "int8", "query": "fp32", "text": "fp32"}),
    (RuntimeConfig(), True, {"vision": "fp16", "target": "fp16", "query": "fp16", "text": "fp32"}),
    (RuntimeConfig(device="cuda"), True, {"vision": "fp16", "target": "fp16", "query": "fp16", "text": "fp32"}),
    (RuntimeConfig(precision="fp32"), True, dict.fromkeys(GRAPHS, "fp32")),
    (RuntimeConfig(device="cpu", precision="fp16"), False, {"vision": "fp16", "target": "fp16", "query": "fp16"}),
])
def test_auto_takes_int8_on_the_cpu_and_fp16_on_cuda_where_the_bundle_has_them(mixed, cfg, cuda, want):
    rec = _Recorder(cuda)
    enc = Encoders(load_bundle(mixed), cfg, create=rec)
    for g, precision in want.items():
        assert enc.graph_precision(g) == precision, g
        enc.session(g)
        folder = {"fp32": "b", "int8": "int8", "fp16": "fp16"}[precision]
        assert rec.loaded[-1] == f"{folder}/{g}.onnx"  # the file of that precision was loaded
    assert enc.device == ("cuda" if cuda else "cpu")


def test_precision_says_what_runs(mixed, tmp_path, fake_bundle):
    cpu, cuda = RuntimeConfig(device="cpu"), RuntimeConfig()
    assert Encoders(load_bundle(mixed), cpu).precision == "int8 (query fp32, text fp32)"
    assert Encoders(load_bundle(mixed), cuda, create=_Recorder(cuda=True)).precision == "fp16 (text fp32)"
    assert Encoders(load_bundle(fake_bundle), cpu).precision == "fp32"
    full = with_precisions(fake_bundle, tmp_path / "full")
    assert Encoders(load_bundle(full), cpu).precision == "int8"
    assert Encoders(load_bundle(full), cuda, create=_Recorder(cuda=True)).precision == "fp32"  # no fp16 graphs


def test_a_precision_the_bundle_lacks_is_refused_with_what_to_do(mixed, fake_bundle):
    enc = Encoders(load_bundle(mixed), RuntimeConfig(device="cpu", precision="int8"))
    enc.session("vision")
    with pytest.raises(BundleError, match="has no int8 query graph .*cirsearch-train quantize"):
        enc.session("query")
    with pytest.raises(BundleError, match="has no fp16 text graph"):
        Encoders(load_bundle(mixed), RuntimeConfig(device="cpu", precision="fp16")).session("text")
    with pytest.raises(ValueError, match="precision must be"):
        RuntimeConfig(precision="bf16")


def test_int8_graphs_come_with_their_check_and_a_float32_graph(mixed):
    data = json.loads((mixed / "manifest.json").read_text())
    for edit, field in [
        (lambda d: d.pop("int8_check"), "int8_check"),
        (lambda d: d["int8_check"]["figures"].update(target_cosine="high"), "int8_check.figures.target_cosine"),
        (lambda d: d["int8_graphs"].update(text=d["int8_graphs"]["vision"]) or d["graphs"].pop("text"),
         "int8_graphs.text"),
    ]:
        d = json.loads(json.dumps(data))
        edit(d)
        (mixed / "manifest.json").write_text(json.dumps(d))
        with pytest.raises(ManifestError, match=field.replace(".", r"\.")):
            load_bundle(mixed)


def test_status_says_which_precision_runs_and_a_change_keeps_the_index(tmp_path, fake_bundle, capsys):
    bundle = with_precisions(fake_bundle, tmp_path / "b")
    make_photos(tmp_path / "photos", 6)
    lib_dir = tmp_path / "lib"
    fp32 = LibraryConfig(runtime=RuntimeConfig(device="cpu", precision="fp32"))
    with Library.open(lib_dir, bundle=bundle, cfg=fp32) as lib:  # indexed in float32
        lib.add_root(tmp_path / "photos")
        assert lib.index().encoded == 6
        assert lib.status().precision == "fp32"
    with Library.open(lib_dir, cfg=LibraryConfig(runtime=RuntimeConfig(device="cpu"))) as lib:  # int8: same index
        assert lib.status().precision == "int8"
        assert lib.index().encoded == 0 and len(lib.search("red dress").hits) == 6
    fake_gpu = LibraryParts(encoders=lambda b, cfg: Encoders(b, cfg, create=_Recorder(cuda=True)))
    with Library.open(lib_dir, parts=fake_gpu) as lib:
        st = lib.status()
        assert (st.device, st.precision) == ("cuda", "fp32")  # this bundle has no fp16 graphs
    assert main(["status", "--library", str(lib_dir), "--device", "cpu", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["precision"] == "int8"
    assert main(["--precision", "fp32", "status", "--library", str(lib_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["precision"] == "fp32"
    assert main(["status", "--library", str(lib_dir), "--device", "cpu"]) == 0
    assert "device    cpu (int8 graphs)" in capsys.readouterr().out
    assert main(["status", "--library", str(lib_dir), "--bundle", str(fake_bundle), "--precision", "int8"]) == 1
    assert "has no int8 vision graph" in capsys.readouterr().err
