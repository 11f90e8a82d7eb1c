"""int8 graphs (``cirsearch-train quantize``): written only after their agreement with float32
is measured, refused below the thresholds with the bundle unchanged, taken over by a
personalized child. Measured on the shipped demo model (the tiny architecture with trained
weights: a random model ranks images it cannot tell apart, which int8 reshuffles)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from engine.bundle import ModelInfo, load_bundle, sha256_file
from engine.library import Library
from engine.resources import demo_bundle_dir
from engine.runtime import Encoders, RuntimeConfig
from engine.world.demo import render_demo_library
from trainer.agreement import agreement, overlap, top_k
from trainer.calibration import generated_calibration
from trainer.cli import main
from trainer.export import ExportOptions, export_bundle
from trainer.model.query_side import QuerySide
from trainer.personalize.run import int8_child
from trainer.quantize import KEEP_FLOAT, QuantizeConfig, failures, float_nodes, quantize_bundle

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CAL = 32  # calibration images in these tests (the least allowed)


def _demo_copy(dst: Path) -> Path:
    src = demo_bundle_dir()
    assert src is not None, "resources/demo-bundle is missing"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("int8"))
    m = json.loads((dst / "manifest.json").read_text())  # the float32 bundle as exported
    m["files"] = {k: v for k, v in m["files"].items() if not k.startswith("int8/")}
    m["int8_graphs"], m["int8_check"] = {}, {}
    (dst / "manifest.json").write_text(json.dumps(m))
    return dst


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256_file(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def demo_int8(tmp_path_factory):
    root = _demo_copy(tmp_path_factory.mktemp("q") / "demo")
    fp32 = _snapshot(root)
    bundle = load_bundle(root)
    quantized, report = quantize_bundle(bundle, generated_calibration(bundle, CAL), QuantizeConfig(threads=1))
    return quantized, report, fp32


def test_int8_graphs_are_hashed_in_the_manifest_and_the_float32_files_untouched(demo_int8):
    bundle, report, fp32 = demo_int8
    m = load_bundle(bundle.root).manifest  # verifies every hash, the int8 graphs' too
    assert set(m.int8_graphs) == set(m.graphs) >= {"vision", "target", "query", "text"}
    for rel in m.int8_graphs.values():
        assert rel.startswith("int8/") and m.files[rel]["sha256"] == sha256_file(bundle.root / rel)
    assert {k: v for k, v in _snapshot(bundle.root).items() if not k.startswith("int8/") and k != "manifest.json"} \
        == {k: v for k, v in fp32.items() if k != "manifest.json"}
    assert m.target_side == load_bundle(demo_bundle_dir(), verify=False).target_side  # the index stays valid
    check = m.int8_check
    assert check["figures"] == report.figures and check["thresholds"] == {"min_cosine": 0.99, "min_overlap": 0.8}
    assert check["calibration"] == {"source": "generated", "images": CAL, "queries": CAL, "seed": 0}
    assert check["kept_float"] == dict.fromkeys(m.graphs, "none")  # this model needs nothing kept in float
    # the mean cosine of every graph is near 1; the worst single input is looser, and how loose depends on
    # the model and the CPU's int8 kernels (the conv-stem demo model: 0.9938 on an AMD EPYC; the patch-map
    # one before it 0.9976 there, above 0.999 on Intel hosts), so it is held to the product's bar, 0.99
    assert report.passed and min(v for k, v in report.figures.items() if k.endswith("_cosine")) > 0.999
    assert min(v for k, v in report.figures.items() if k.endswith("_cosine_min")) > 0.99
    assert min(v for k, v in report.figures.items() if k.startswith("overlap_")) >= 0.95


def test_the_shipped_demo_bundle_carries_int8_graphs_that_passed_their_check():
    m = load_bundle(demo_bundle_dir()).manifest
    assert set(m.int8_graphs) == set(m.graphs)
    assert m.int8_check["thresholds"] == {"min_cosine": 0.99, "min_overlap": 0.8}
    assert failures(m.int8_check["figures"], QuantizeConfig()) == []
    assert Encoders(load_bundle(demo_bundle_dir()), RuntimeConfig(device="cpu")).precision == "int8"


def test_the_engine_runs_the_int8_graphs_on_the_cpu_and_they_agree(demo_int8):
    bundle = demo_int8[0]
    int8 = Encoders(bundle, RuntimeConfig(device="cpu", threads=1))
    fp32 = Encoders(bundle, RuntimeConfig(device="cpu", threads=1, precision="fp32"))
    assert (int8.precision, fp32.precision) == ("int8", "fp32")
    px = generated_calibration(bundle, 8).pixels
    t8, t32 = int8.target(int8.vision(px)), fp32.target(fp32.vision(px))  # (8, Q, E)
    assert not np.array_equal(t8, t32)  # really another graph
    cos = (t8 * t32).sum(-1)
    assert cos.min() > 0.999


@pytest.mark.parametrize("flag, value, why", [
    ("--min-cosine", "1.0", "no graph could be made int8"),  # each graph's own check
    ("--min-overlap", "1.01", "overlap_int8_index"),  # the whole bundle's check
])
def test_below_a_threshold_it_refuses_with_the_figures_and_leaves_the_bundle_as_it_was(
        demo_int8, tmp_path, capsys, flag, value, why):
    root = tmp_path / "b"
    shutil.copytree(demo_int8[0].root, root)  # with int8 graphs already: they stay as they are
    before = _snapshot(root)
    args = ["quantize", "--bundle", str(root), "--calibration", str(CAL), "--threads", "1", flag, value]
    assert main(args) == 1
    out = capsys.readouterr()
    assert why in out.err and "keeps its float32 graphs only (unchanged)" in out.err
    assert "agreement with float32" in out.out or "stays float32" in out.out  # the figures
    assert _snapshot(root) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no work folder left behind


def test_calibration_on_a_librarys_own_photos(demo_int8, tmp_path, capsys):
    photos = render_demo_library(tmp_path / "photos", n=36, seed=2, queries=0).root
    with Library.open(tmp_path / "lib", bundle=demo_int8[0].root) as lib:
        lib.add_root(photos)
        lib.index()
    root = _demo_copy(tmp_path / "b")
    args = ["quantize", "--bundle", str(root), "--library", str(tmp_path / "lib"), "--threads", "1", "--json"]
    assert main(args) == 0  # 64 asked for, 36 there: it takes them all
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] and out["calibration"] == {"source": "library", "images": 36, "queries": 36, "seed": 0}
    assert load_bundle(root).manifest.int8_check["calibration"]["source"] == "library"
    assert main(["quantize", "--bundle", str(root), "--library", str(tmp_path / "nolib")]) == 1
    assert "error:" in capsys.readouterr().err


def test_a_personalized_child_takes_the_parents_int8_graphs_and_quantizes_its_own(demo_int8, tmp_path):
    base = demo_int8[0]
    side = QuerySide.load_npz(base.path(base.manifest.query_weights))
    m = base.manifest.model
    child = export_bundle(side, base.path("vocab.txt"), tmp_path / "child", ModelInfo(m.name, "child", m.architecture),
                          parent={"path": str(base.root)}, reuse_from=base)
    assert not child.manifest.int8_graphs
    child, note = int8_child(child, base, [], QuantizeConfig(calibration=CAL, threads=1))
    c, b = child.manifest, base.manifest
    assert note.startswith(f"int8 graphs checked on {CAL} generated photos")
    assert set(c.int8_graphs) == set(c.graphs)
    for g in ("vision", "target", "text"):  # the same files as the parent's
        assert c.files[c.int8_graphs[g]] == b.files[b.int8_graphs[g]]
    assert c.files[c.int8_graphs["query"]]["sha256"] == sha256_file(child.root / c.int8_graphs["query"])
    assert c.int8_check["figures"]["query_cosine"] > 0.999
    assert Encoders(child, RuntimeConfig(device="cpu")).precision == "int8"


def test_export_int8_writes_the_float32_bundle_even_when_the_check_refuses(tiny_model, tiny_vocab, tmp_path, capsys):
    from trainer.run import save_initial_run

    run = save_initial_run(tmp_path / "run", tiny_model, tiny_vocab, {"note": "test"})
    out = tmp_path / "bundle"
    args = ["export", "--run", str(run), "--out", str(out), "--no-text", "--int8", "--calibration", str(CAL)]
    assert main([*args, "--min-overlap", "1.01"]) == 1
    assert "keeps its float32 graphs only" in capsys.readouterr().err
    assert load_bundle(out).manifest.graphs and not load_bundle(out).manifest.int8_graphs


def test_a_graph_with_external_weights_gets_an_int8_graph_with_external_weights(tiny_model, tiny_vocab, tmp_path):
    info = ModelInfo("tiny", "0", "tiny")
    options = ExportOptions(text_graph=False, cached_query=False, external_threshold=0)  # every graph in a folder
    bundle = export_bundle(tiny_model, tiny_vocab, tmp_path / "b", info, options)
    # random weights rank images they cannot tell apart, and int8 reshuffles those: no overlap asked
    quantized, _ = quantize_bundle(bundle, generated_calibration(bundle, CAL), QuantizeConfig(min_overlap=0))
    m = load_bundle(quantized.root).manifest  # every file hashed
    assert m.int8_graphs == {g: f"int8/{g}/{g}.onnx" for g in ("vision", "target", "query")}
    assert {f for f in m.files if f.startswith("int8/")} == {
        f"int8/{g}/{g}.onnx{ext}" for g in ("vision", "target", "query") for ext in ("", ".data")}
    assert Encoders(quantized, RuntimeConfig(device="cpu")).precision == "int8"


# ----------------------------------------------------------------------------- the rules and the figures


def test_what_each_rule_keeps_in_float_on_the_demo_vision_graph():
    model = onnx.load(str(demo_bundle_dir() / "vision.onnx"))
    kept = {rule: float_nodes(model, rule) for rule in KEEP_FLOAT}
    assert [len(kept[r]) for r in KEEP_FLOAT] == [0, 2, 9, 12]  # of 16 MatMuls with weights, 4 blocks
    assert kept["ends"] == ["/vision/blocks.0/attn/qkv/MatMul", "/vision/blocks.3/mlp/fc2/MatMul"]
    assert {n.split("/")[-2] for n in kept["layernorm"]} == {"qkv", "fc1", "fc2"}  # fc2: the last one
    assert {n.split("/")[-2] for n in set(kept["gelu"]) - set(kept["layernorm"])} == {"fc2"}


def test_rankings_leave_the_reference_out_and_overlap_counts_shared_results():
    tokens = np.eye(4, dtype=np.float32)[:, None, :]  # (4 images, 1 token, E=4)
    q = np.array([[1, 0.5, 0.2, 0.1], [0.1, 0.2, 0.3, 1]], np.float32)
    assert top_k(q, tokens, np.array([0, 3]), k=2).tolist() == [[1, 2], [2, 1]]
    assert overlap(np.array([[1, 2], [2, 1]]), np.array([[2, 3], [1, 2]])) == 0.75


def test_figures_and_failures():
    rng = np.random.default_rng(0)
    t = rng.standard_normal((16, 2, 8)).astype(np.float32)
    q = rng.standard_normal((16, 8)).astype(np.float32)
    same = agreement({"target": t, "query": q}, {"target": t, "query": q}, np.arange(16))
    assert same == pytest.approx({"target_cosine": 1, "target_cosine_min": 1, "query_cosine": 1,
                                  "query_cosine_min": 1, "overlap_int8_index": 1, "overlap_fp32_index": 1,
                                  "overlap_mixed_index": 1})
    flipped = agreement({"target": t, "query": q}, {"target": t, "query": -q}, np.arange(16))
    assert flipped["query_cosine"] == pytest.approx(-1) and flipped["overlap_fp32_index"] < 0.8
    assert failures(same, QuantizeConfig()) == []
    failed = [f.split()[0] for f in failures(flipped, QuantizeConfig())]
    assert failed[0] == "query_cosine" and "overlap_fp32_index" in failed
    assert "query_cosine_min" not in failed  # the worst image is recorded, the means are checked
