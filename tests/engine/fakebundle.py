"""Small deterministic ONNX bundles for fast engine tests (test doubles at the ONNX boundary).

The graphs honour the bundle contract (GRAPH_IO names, shapes, L2-normalized outputs) and
are simple enough to reason about: vision features are a fixed random projection of 8x8
average-pooled pixels, target tokens are softmax-attention pools of those features, and the
query mixes the mean vision feature with the mean embedding of the text tokens.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.bundle import Manifest, ModelInfo, Sizes, file_entries, write_manifest
from engine.preprocess import ImageSpec
from engine.text import TextSpec

WORDS = (
    "red green blue yellow black white orange purple pink gray dress shirt jacket coat skirt same but with "
    "in and short long sleeves sleeveless darker lighter more less stripes dots plain is a the"
).split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS

SIZE, GRID, DV, Q, E, L = 32, 4, 16, 4, 16, 16
T = GRID * GRID + 1


def _model(nodes, inputs, outputs, inits, name: str) -> onnx.ModelProto:
    g = helper.make_graph(
        nodes, name, inputs, outputs, initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()]
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="cirsearch-tests")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _normalize(x: str, out: str, prefix: str) -> list:
    return [
        helper.make_node("ReduceSumSquare", [x], [f"{prefix}_ss"], axes=[-1], keepdims=1),
        helper.make_node("Sqrt", [f"{prefix}_ss"], [f"{prefix}_n"]),
        helper.make_node("Max", [f"{prefix}_n", "eps"], [f"{prefix}_nc"]),
        helper.make_node("Div", [x, f"{prefix}_nc"], [out]),
    ]


def vision_graph(rng: np.random.Generator) -> onnx.ModelProto:
    k = SIZE // GRID
    inits = {
        "shape": np.array([0, 3, GRID * GRID], np.int64),
        "w1": rng.standard_normal((3, DV)).astype(np.float32),
        "pos": (0.3 * rng.standard_normal((GRID * GRID, DV))).astype(np.float32),
    }
    nodes = [
        helper.make_node("AveragePool", ["pixels"], ["pool"], kernel_shape=[k, k], strides=[k, k]),
        helper.make_node("Reshape", ["pool", "shape"], ["flat"]),
        helper.make_node("Transpose", ["flat"], ["patches"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["patches", "w1"], ["proj"]),
        helper.make_node("Add", ["proj", "pos"], ["proj_pos"]),
        helper.make_node("Tanh", ["proj_pos"], ["h"]),
        helper.make_node("ReduceMean", ["h"], ["cls"], axes=[1], keepdims=1),
        helper.make_node("Concat", ["cls", "h"], ["vision_feats"], axis=1),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["B", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("vision_feats", TensorProto.FLOAT, ["B", T, DV])],
        inits,
        "vision",
    )


def target_graph(rng: np.random.Generator) -> onnx.ModelProto:
    inits = {
        "queries": (2.0 * rng.standard_normal((Q, DV))).astype(np.float32),
        "wt": rng.standard_normal((DV, E)).astype(np.float32),
        "eps": np.array(1e-6, np.float32),
    }
    nodes = [
        helper.make_node("Transpose", ["vision_feats"], ["ft"], perm=[0, 2, 1]),
        helper.make_node("MatMul", ["queries", "ft"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["attn"], axis=-1),
        helper.make_node("MatMul", ["attn", "vision_feats"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "wt"], ["z"]),
        *_normalize("z", "target_tokens", "nz"),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("vision_feats", TensorProto.FLOAT, ["B", T, DV])],
        [helper.make_tensor_value_info("target_tokens", TensorProto.FLOAT, ["B", Q, E])],
        inits,
        "target",
    )


def _text_nodes() -> list:
    return [
        helper.make_node("Gather", ["emb", "input_ids"], ["tok"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "ax_last"], ["mask3"]),
        helper.make_node("Mul", ["tok", "mask3"], ["tokm"]),
        helper.make_node("ReduceSum", ["tokm", "ax1"], ["tsum"], keepdims=0),
        helper.make_node("ReduceSum", ["mask3", "ax1"], ["tcnt"], keepdims=0),
        helper.make_node("Max", ["tcnt", "one"], ["tcntc"]),
        helper.make_node("Div", ["tsum", "tcntc"], ["txt"]),
    ]


def _text_inits(rng: np.random.Generator) -> dict:
    return {
        "emb": rng.standard_normal((len(VOCAB) + 1, E)).astype(np.float32),
        "ax_last": np.array([-1], np.int64),
        "ax1": np.array([1], np.int64),
        "one": np.array(1.0, np.float32),
        "eps": np.array(1e-6, np.float32),
    }


def _text_inputs() -> list:
    return [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["B", "L"]),
        helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["B", "L"]),
    ]


def query_graph(rng: np.random.Generator) -> onnx.ModelProto:
    inits = {**_text_inits(rng), "wv": rng.standard_normal((DV, E)).astype(np.float32)}
    nodes = [
        *_text_nodes(),
        helper.make_node("ReduceMean", ["vision_feats"], ["vmean"], axes=[1], keepdims=0),
        helper.make_node("MatMul", ["vmean", "wv"], ["img"]),
        helper.make_node("Add", ["img", "txt"], ["mix"]),
        *_normalize("mix", "query_embed", "nq"),
    ]
    return _model(
        nodes,
        [helper.make_tensor_value_info("vision_feats", TensorProto.FLOAT, ["B", T, DV]), *_text_inputs()],
        [helper.make_tensor_value_info("query_embed", TensorProto.FLOAT, ["B", E])],
        inits,
        "query",
    )


def text_graph(rng: np.random.Generator) -> onnx.ModelProto:
    nodes = [*_text_nodes(), *_normalize("txt", "text_embed", "nt")]
    return _model(
        nodes,
        _text_inputs(),
        [helper.make_tensor_value_info("text_embed", TensorProto.FLOAT, ["B", E])],
        _text_inits(rng),
        "text",
    )


def write_fake_bundle(
    root: str | Path,
    seed: int = 0,
    query_seed: int | None = None,
    text: bool = True,
    name: str = "fake",
    version: str = "1",
) -> Path:
    """Write a complete, verifiable bundle. ``query_seed`` changes only the query/text graphs."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    qrng = np.random.default_rng(seed if query_seed is None else 1000 + query_seed)
    graphs = {"vision": vision_graph(rng), "target": target_graph(rng), "query": query_graph(qrng)}
    if text:
        graphs["text"] = text_graph(np.random.default_rng(seed if query_seed is None else 1000 + query_seed))
    for g, m in graphs.items():
        onnx.save(m, str(root / f"{g}.onnx"))
    (root / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    rels = [f"{g}.onnx" for g in graphs] + ["vocab.txt"]
    manifest = Manifest(
        model=ModelInfo(name=name, version=version, architecture="fake", description="test double"),
        image=ImageSpec(size=SIZE),
        text=TextSpec(max_tokens=L),
        sizes=Sizes(embed_dim=E, num_query_tokens=Q, vision_tokens=T, vision_width=DV),
        graphs={g: f"{g}.onnx" for g in graphs},
        files=file_entries(root, rels),
    )
    write_manifest(root, manifest)
    return root
