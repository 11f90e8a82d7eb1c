"""Malformed model bundles (issue 10, item 5): each gives one line naming the bundle folder and the
field or file at fault, and exit code 1; never a traceback. Every case works on a copy of the shipped
demo bundle (real exported graphs), opened with a library that bundle indexed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from engine.bundle import MANIFEST, file_entries, load_bundle
from engine.cli import main
from engine.errors import GraphContractError, ManifestError
from engine.onnx_header import read_graph_io
from engine.resources import demo_bundle_dir
from tests.engine.conftest import make_photos

DEMO = demo_bundle_dir()
pytestmark = pytest.mark.skipif(DEMO is None, reason="the demo bundle (resources/demo-bundle) is not installed")

Change = Callable[[Path], Any]  # changes the bundle copy; may return the path to give as --bundle


def _manifest(b: Path) -> dict:
    return json.loads((b / MANIFEST).read_text(encoding="utf-8"))


def _save(b: Path, d: dict) -> None:
    (b / MANIFEST).write_text(json.dumps(d), encoding="utf-8")


def edit(keys: tuple, value: Any = None, delete: bool = False, keep_side: bool = True) -> Change:
    """Set (or delete) manifest[keys[0]][keys[1]]...; ``keep_side=False`` also drops the recorded
    target_side, as someone editing sizes by hand would to get past that check."""
    def change(b: Path) -> None:
        d = _manifest(b)
        node = d
        for k in keys[:-1]:
            node = node[k]
        if delete:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
        if not keep_side:
            d.pop("target_side", None)
        _save(b, d)
    return change


def sized(keys: tuple, value: Any) -> Change:
    return edit(keys, value, keep_side=False)


def write(name: str, data: bytes) -> Change:
    def change(b: Path) -> None:
        (b / name).write_bytes(data)
    return change


def refreshed(rel: str, change: Callable[[Path], Any]) -> Change:
    """Change file ``rel``, then record its new hash (and drop target_side): only its content is wrong."""
    def go(b: Path) -> None:
        change(b / rel)
        d = _manifest(b)
        d["files"][rel] = file_entries(b, [rel])[rel]
        d.pop("target_side", None)
        _save(b, d)
    return go


def flip_byte(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 1
    p.write_bytes(bytes(data))


def truncate(p: Path) -> None:
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def into_folder(p: Path) -> None:
    p.unlink()
    p.mkdir()


FILES = ("vision.onnx", "target.onnx", "query.onnx", "text.onnx", "vocab.txt", "weights/query_side.npz")

CASES = [
    # the manifest as a file
    ("manifest missing", lambda b: (b / MANIFEST).unlink(), "has no manifest.json"),
    ("manifest not JSON", write(MANIFEST, b'{"format": "cirsearch-bundle",'), "manifest.json cannot be read"),
    ("manifest empty", write(MANIFEST, b""), "manifest.json cannot be read"),
    ("manifest not UTF-8", write(MANIFEST, b"\xff\xfe{}"), "manifest.json cannot be read"),
    ("manifest a list", write(MANIFEST, b"[]"), "manifest.json must hold a JSON object, not a list"),
    ("manifest a folder", lambda b: into_folder(b / MANIFEST), "has no manifest.json"),
    # its fields
    ("format other", edit(("format",), "onnx-zoo"), "field format "),
    ("format missing", edit(("format",), delete=True), "field format "),
    ("format_version abc", edit(("format_version",), "abc"), "field format_version must be a whole number"),
    ("format_version null", edit(("format_version",), None), "field format_version must be a whole number"),
    ("format_version newer", edit(("format_version",), 2), "newer cirsearch"),
    ("format_version 0", edit(("format_version",), 0), "field format_version must be a whole number"),
    ("format_version 1.5", edit(("format_version",), 1.5), "field format_version must be a whole number"),
    ("model missing", edit(("model",), delete=True), "field model is missing"),
    ("model.name a number", edit(("model", "name"), 5), "field model.name must be a string"),
    ("graphs a list", edit(("graphs",), ["vision.onnx", "target.onnx"]), "field graphs must be an object"),
    ("files a list", edit(("files",), ["vision.onnx"]), "field files must be an object"),
    ("file entry without sha256", edit(("files", "vision.onnx", "sha256"), delete=True),
     'files["vision.onnx"].sha256 is missing'),
    ("sha256 not hex", edit(("files", "query.onnx", "sha256"), "abc"), 'files["query.onnx"].sha256 must be 64'),
    ("bytes negative", edit(("files", "text.onnx", "bytes"), -1), 'files["text.onnx"].bytes must be'),
    ("file outside the bundle", edit(("files", "../x.onnx"), {"sha256": "0" * 64}), 'files["../x.onnx"]'),
    ("image a string", edit(("image",), "96px"), "field image must be an object"),
    ("image.size negative", edit(("image", "size"), -96), "field image.size must be a whole number above 0"),
    ("image.mean of 2", edit(("image", "mean"), [0.5, 0.5]), "field image.mean must hold 3 numbers"),
    ("image.std 0", edit(("image", "std"), [0.27, 0, 0.27]), "field image.std[1] must be above 0"),
    ("image.pad_ratio 0", edit(("image", "pad_ratio"), 0), "field image.pad_ratio must be 1 or more"),
    ("image.resize unknown", edit(("image", "resize"), "lanczos"), "field image is not supported"),
    ("text null", edit(("text",), None), "field text must be an object, not null"),
    ("text.max_tokens 0", edit(("text", "max_tokens"), 0), "field text.max_tokens must be a whole number"),
    ("text.tokenizer unknown", edit(("text", "tokenizer"), "sentencepiece"), "field text is not supported"),
    ("text.vocab unlisted", edit(("text", "vocab"), "words.txt"), "field text.vocab names words.txt"),
    ("sizes missing", edit(("sizes",), delete=True), "field sizes is missing"),
    ("sizes.embed_dim a string", edit(("sizes", "embed_dim"), "x"), "field sizes.embed_dim must be a whole number"),
    ("sizes.vision_tokens true", edit(("sizes", "vision_tokens"), True), "field sizes.vision_tokens must be"),
    ("no query graph", edit(("graphs", "query"), delete=True), "field graphs.query is missing"),
    ("unknown graph", edit(("graphs", "audio"), "vision.onnx"), "field graphs.audio names an unknown graph"),
    ("graph without a hash", edit(("graphs", "text"), "text2.onnx"), "graphs.text names text2.onnx"),
    ("fp16_graphs a list", edit(("fp16_graphs",), []), "field fp16_graphs must be an object"),
    ("parent a string", edit(("parent",), "base"), "field parent must be an object"),
    ("query_weights a number", edit(("query_weights",), 3), "field query_weights must be a string"),
    ("target_side edited", edit(("target_side",), "0" * 64), "field target_side does not match"),
    # sizes the graphs or weights disagree with
    ("image.size 64 on a 96 px graph", sized(("image", "size"), 64), "image.size is 64"),
    ("num_query_tokens 4", sized(("sizes", "num_query_tokens"), 4), "sizes.num_query_tokens 4"),
    ("embed_dim 64", sized(("sizes", "embed_dim"), 64), "sizes.embed_dim 64"),
    ("vision_tokens 36", sized(("sizes", "vision_tokens"), 36), "sizes.vision_tokens is 36"),
    ("vision_width 64", sized(("sizes", "vision_width"), 64), "sizes.vision_width is 64"),
    ("text.max_tokens 16", sized(("text", "max_tokens"), 16), "text.max_tokens is 16"),
    # the files
    ("graph file missing", lambda b: (b / "target.onnx").unlink(), "target.onnx is missing"),
    ("graph file a folder", lambda b: into_folder(b / "query.onnx"), "query.onnx is a folder"),
    ("vision.onnx truncated, hash fixed", refreshed("vision.onnx", truncate), "vision.onnx cannot be loaded"),
    ("target.onnx garbage, hash fixed", refreshed("target.onnx", lambda p: p.write_bytes(b"\x08\x07garbage")),
     "target.onnx cannot be loaded"),
    ("text.onnx empty, hash fixed", refreshed("text.onnx", lambda p: p.write_bytes(b"")), "text.onnx cannot be loaded"),
    ("query.onnx is the vision graph, hash fixed",
     refreshed("query.onnx", lambda p: shutil.copyfile(p.parent / "vision.onnx", p)), "query graph query.onnx has"),
    ("vocab.txt empty, hash fixed", refreshed("vocab.txt", lambda p: p.write_bytes(b"")), "vocab.txt (text.vocab)"),
    ("vocab.txt not UTF-8, hash fixed", refreshed("vocab.txt", lambda p: p.write_bytes(b"[PAD]\n\xff\xfe\n")),
     "vocab.txt (text.vocab)"),
    ("vocab.txt longer than the model's, hash fixed",
     refreshed("vocab.txt", lambda p: p.write_text(p.read_text() + "extra\nwords\n")), "tokens in vocab.txt"),
    ("query weights garbage, hash fixed", refreshed("weights/query_side.npz", lambda p: p.write_bytes(b"PK\x03\x04")),
     "weights/query_side.npz is not a readable .npz"),
    *[(f"{rel} altered", lambda b, rel=rel: flip_byte(b / rel), f"bundle file {rel} does not match its SHA-256")
      for rel in FILES],
    ("target.onnx hash edited in the manifest", edit(("files", "target.onnx", "sha256"), "0" * 64),
     "bundle file target.onnx does not match its SHA-256"),
    ("vision.onnx size edited in the manifest", edit(("files", "vision.onnx", "bytes"), 1), "vision.onnx has"),
    # the --bundle argument
    ("--bundle a file", lambda b: b / "vision.onnx", "give the model bundle folder"),
    ("--bundle missing", lambda b: b.parent / "nowhere", "does not exist"),
]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory) -> Path:
    """A library the demo bundle indexed (3 photos); tests use copies."""
    root = tmp_path_factory.mktemp("indexed")
    make_photos(root / "photos", 3)
    assert main(["index", "--library", str(root / "lib"), "--bundle", str(DEMO), str(root / "photos"), "--quiet"]) == 0
    return root / "lib"


def _status(capsys, lib: Path, bundle: Path) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["status", "--library", str(lib), "--bundle", str(bundle)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("change, needle", [pytest.param(c, n, id=i) for i, c, n in CASES])
def test_a_malformed_bundle_is_one_line_naming_the_folder_and_the_fault(tmp_path, capsys, indexed, change, needle):
    lib = shutil.copytree(indexed, tmp_path / "lib")
    b = shutil.copytree(DEMO, tmp_path / "bundle")
    given = change(b) or b
    code, err = _status(capsys, lib, given)
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert str(given) in err and needle in err, err


def test_the_demo_bundle_loads_from_its_folder_or_its_manifest(tmp_path, capsys, indexed):
    lib = shutil.copytree(indexed, tmp_path / "lib")
    b = shutil.copytree(DEMO, tmp_path / "bundle")
    for given in (b, b / MANIFEST):
        code, err = _status(capsys, lib, given)
        assert code == 0, err
        assert main(["status", "--library", str(lib), "--bundle", str(given), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["bundle_path"] == str(b)  # the folder, either way


@pytest.mark.parametrize("key, value, field", [("num_query_tokens", 4, "sizes.num_query_tokens"),
                                               ("embed_dim", 64, "sizes.embed_dim")])
def test_sizes_a_graph_leaves_open_are_checked_when_it_runs(tmp_path, capsys, key, value, field):
    """The exported target graph names its token axis instead of fixing it; without the query
    weights (which tell the sizes at load) the session or the first output catches the lie."""
    b = shutil.copytree(DEMO, tmp_path / "bundle")
    d = _manifest(b)
    d["sizes"][key] = value
    del d["files"][d.pop("query_weights")], d["target_side"]
    _save(b, d)
    load_bundle(b)  # nothing in the files says otherwise
    make_photos(tmp_path / "photos", 2)
    capsys.readouterr()
    code = main(["index", "--library", str(tmp_path / "lib"), "--bundle", str(b), str(tmp_path / "photos"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert str(b) in err and "target.onnx" in err and field in err, err


@pytest.mark.parametrize("graph", ["vision", "target", "query", "text"])
def test_the_header_reader_agrees_with_onnx_runtime(graph):
    import onnxruntime as ort

    path = DEMO / f"{graph}.onnx"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs, outputs = read_graph_io(path)
    fixed = []  # (declared, ONNX Runtime's) of each axis the file fixes; ORT may fix more by inference
    for declared, listed in ((inputs, sess.get_inputs()), (outputs, sess.get_outputs())):
        assert [(t.name, f"tensor({t.dtype})") for t in declared] == [(a.name, a.type) for a in listed]
        for t, a in zip(declared, listed):
            assert len(t.dims) == len(a.shape)
            fixed += [(x, y) for x, y in zip(t.dims, a.shape) if isinstance(x, int)]
    assert fixed and all(x == y for x, y in fixed)


def test_the_header_reader_leaves_out_initializers_listed_as_inputs(tmp_path):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 2), np.float32), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 4]),
                           helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 2])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["B", 2])], initializer=[w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(tmp_path / "g.onnx"))
    inputs, outputs = read_graph_io(tmp_path / "g.onnx")
    sess = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    assert [t.name for t in inputs] == [a.name for a in sess.get_inputs()] == ["x"]
    assert [(t.name, t.dtype, t.dims) for t in outputs] == [("y", "float", ("B", 2))]


@pytest.mark.parametrize("change, error, field", [
    (edit(("text",), None), ManifestError, "text"),
    (edit(("files", "vision.onnx", "sha256"), delete=True), ManifestError, 'files["vision.onnx"].sha256'),
    (sized(("image", "size"), 64), GraphContractError, "image.size"),
    (sized(("sizes", "num_query_tokens"), 4), GraphContractError, "sizes.num_query_tokens"),
])
def test_the_error_says_which_field_for_the_app(tmp_path, change, error, field):
    b = shutil.copytree(DEMO, tmp_path / "bundle")
    change(b)
    with pytest.raises(error) as e:
        load_bundle(b)
    assert e.value.field == field and e.value.bundle == b
