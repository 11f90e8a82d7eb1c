"""int8 graphs for a model bundle, admitted only by measurement (``cirsearch-train quantize``).

Each float32 graph is converted with ONNX Runtime's dynamic quantization: the weights of
every MatMul/Gemm with a constant weight become int8 (per output channel), activations are
quantized to uint8 on the fly per tensor. MatMuls between two activations (attention
scores and their softmax times the values) are never quantized by it. What else stays in
float is chosen per graph by measurement, trying :data:`KEEP_FLOAT` in order and taking
the first rule whose graph agrees with its float32 self on the calibration inputs (cosine
of the outputs at least ``1 - (1 - min_cosine) / 2``: half the error budget, as two graphs
compose on each path); a graph that no rule brings there stays float32.

Then the whole bundle is measured, int8 against float32, on calibration images
(``trainer.calibration``: the user's photos, or generated ones): the cosine of target
tokens, of composed query vectors (the query graph's, the keystroke pair's, and text
vectors), and the top-10 overlap of the rankings of those images for composed queries
(``trainer.agreement``). The rankings are taken three ways, int8
queries against int8 target tokens, against float32 target tokens, and against half of
each, so that the check also proves that one index serves every precision (a library
indexed in float32 and searched in int8, or indexed partly in each, ranks as in float32).
Below ``min_cosine`` or ``min_overlap`` the bundle is left unchanged and
:class:`QuantizeRefused` carries the figures; above, the int8 graphs are written to
``int8/`` and the manifest records them (``int8_graphs``, hashed) and the figures
(``int8_check``). The float32 files are not touched (hard links in the rebuilt folder).
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from engine.bundle import Bundle, file_entries, load_bundle, write_manifest
from engine.runtime import Encoders, RuntimeConfig

from .agreement import TOP_K, agreement, cosine
from .calibration import Calibration

# What stays in float, tried in this order (each rule keeps what the previous kept):
KEEP_FLOAT = (
    "none",  # every MatMul/Gemm with constant weights in int8
    "ends",  # + the graph's first and last of them (patch tokens in, embedding out)
    "layernorm",  # + those reading a LayerNorm output (or the graph's float input, ln_vision's output)
    "gelu",  # + those reading a GELU output (the feed-forward's second layer)
)
GRAPHS = ("vision", "target", "query", "text", "query_kv", "query_cached")  # in the order they feed each other
BATCH = 8
# Ops that move or cut a tensor without changing its values: a MatMul reading a LayerNorm
# output through them reads that output.
_PASS_THROUGH = {"Reshape", "Transpose", "Slice", "Concat", "Squeeze", "Unsqueeze", "Split", "Identity", "Flatten"}
_GELU = {"Gelu", "Erf", "Sigmoid"}  # exact GELU exports as Erf, QuickGELU as Sigmoid (then Mul)


class QuantizeRefused(Exception):
    """The int8 graphs do not agree with float32 well enough; the bundle is unchanged."""

    def __init__(self, message: str, report: "QuantizeReport"):
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class QuantizeConfig:
    """``min_cosine``: least mean cosine of target tokens, query vectors and text vectors;
    ``min_overlap``: least mean top-10 overlap of composed-query rankings (0..1). See
    docs/model.md for how the defaults were chosen."""

    calibration: int = 64  # images
    min_cosine: float = 0.99
    min_overlap: float = 0.8
    seed: int = 0
    threads: int = 0

    @property
    def graph_cosine(self) -> float:
        """What one graph must reach on its own: half the error budget."""
        return graph_threshold(self.min_cosine)


def graph_threshold(min_cosine: float) -> float:
    return 1.0 - (1.0 - min_cosine) / 2


@dataclass
class QuantizeReport:
    figures: dict[str, float]
    thresholds: dict[str, float]
    kept_float: dict[str, str]  # graph -> the KEEP_FLOAT rule it took, or "all" (stayed float32)
    graph_cosine: dict[str, float]  # graph -> its own cosine to float32 under that rule
    calibration: dict[str, Any]
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        import onnxruntime

        return {
            "quantizer": f"onnxruntime {onnxruntime.__version__} quantize_dynamic: int8 weights per channel, "
                         "uint8 activations, MatMul/Gemm with constant weights",
            "kept_float": self.kept_float, "graph_cosine": self.graph_cosine, "calibration": self.calibration,
            "thresholds": self.thresholds, "figures": self.figures,
        }

    def summary(self) -> str:
        f = self.figures
        lines = [f"calibration: {self.calibration['images']} {self.calibration['source']} images, "
                 f"{self.calibration['queries']} composed queries"]
        need = graph_threshold(self.thresholds["min_cosine"])
        lines += [f"  {g}: int8, {rule} kept in float: cosine to float32 {self.graph_cosine[g]:.5f}"
                  if rule != "all" else
                  f"  {g}: stays float32: cosine {self.graph_cosine[g]:.5f} with every rule, below {need:.5f}"
                  for g, rule in self.kept_float.items()]
        lines.append("agreement with float32: " + ", ".join(f"{k} {v:.4f}" for k, v in f.items()))
        lines.append(f"thresholds: cosine >= {self.thresholds['min_cosine']}, "
                     f"top-{TOP_K} overlap >= {self.thresholds['min_overlap']}")
        return "\n".join(lines)


def failures(figures: dict[str, float], cfg: QuantizeConfig) -> list[str]:
    """The figures below ``cfg``'s thresholds, in words. The means are checked; the worst
    image or query (``_min``) is recorded only."""
    out = [f"{k} {v:.4f} < {cfg.min_cosine}" for k, v in figures.items()
           if k.endswith("_cosine") and not v >= cfg.min_cosine]
    out += [f"{k} {v:.3f} < {cfg.min_overlap}" for k, v in figures.items()
            if k.startswith("overlap_") and not v >= cfg.min_overlap]
    return out


# ----------------------------------------------------------------------------- graphs


def float_nodes(model: Any, rule: str, every: bool = False) -> list[str]:
    """Names of the MatMul/Gemm nodes with constant weights that ``rule`` keeps in float
    (``every``: all of them)."""
    g = model.graph
    consts = {i.name for i in g.initializer} | {o for n in g.node if n.op_type == "Constant" for o in n.output}
    producer = {o: n for n in g.node for o in n.output}
    float_inputs = {i.name for i in g.input if i.type.tensor_type.elem_type == 1}
    weighted = [n for n in g.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in consts]
    level = KEEP_FLOAT.index(rule)

    def reads(name: str, kinds: set[str], depth: int = 6) -> bool:
        n = producer.get(name)
        if n is None:
            return "input" in kinds and name in float_inputs
        if n.op_type in kinds:
            return True
        if n.op_type == "Mul" and "Sigmoid" in kinds:  # QuickGELU: x * sigmoid(1.702 x)
            return any(producer.get(i) is not None and producer[i].op_type == "Sigmoid" for i in n.input)
        if n.op_type in _PASS_THROUGH and depth:
            return any(reads(i, kinds, depth - 1) for i in n.input if i not in consts)
        return False

    keep = []
    for i, n in enumerate(weighted):
        if every or (level >= 1 and i in (0, len(weighted) - 1)) \
                or (level >= 2 and reads(n.input[0], {"LayerNormalization", "input"})) \
                or (level >= 3 and (reads(n.input[0], _GELU) or _after_gelu(n, producer))):
            keep.append(n.name)
    return keep


def _after_gelu(node: Any, producer: dict) -> bool:
    """Exact GELU exports as x * 0.5 * (1 + erf(x / sqrt 2)): the MatMul reads a Mul whose inputs
    lead back to an Erf through at most three Mul/Add/Div nodes."""
    frontier = [node.input[0]]
    for _ in range(4):
        nodes = [producer[t] for t in frontier if t in producer]
        if any(n.op_type == "Erf" for n in nodes):
            return True
        frontier = [t for n in nodes if n.op_type in ("Mul", "Add", "Div") for t in n.input]
    return False


@contextmanager
def _quiet() -> Iterator[None]:
    """ORT's quantizer logs advice on the root logger; a command's output is ours."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def quantize_graph(src: Path, dst: Path, rule: str, external: bool = False) -> int | None:
    """Write the int8 version of the float32 graph ``src`` to ``dst`` (``external``: its weights
    in a file beside it, for a graph in a folder of its own); returns how many MatMul/Gemm
    nodes with weights stayed float (None, and nothing written: all of them)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if not external:
        model = onnx.load(str(src))
    else:  # onnx refuses external data with several hard links (bundles share files by them): a copy
        with tempfile.TemporaryDirectory(dir=src.parent.parent) as tmp:
            for f in src.parent.iterdir():
                shutil.copyfile(f, Path(tmp) / f.name)
            model = onnx.load(str(Path(tmp) / src.name), load_external_data=True)
    keep = float_nodes(model, rule)
    if len(keep) == len(float_nodes(model, KEEP_FLOAT[-1], every=True)):
        return None
    declared = {v.name: copy.deepcopy(v.type) for v in (*model.graph.input, *model.graph.output)}
    dst.parent.mkdir(parents=True, exist_ok=True)
    with _quiet():
        quantize_dynamic(model, str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul", "Gemm"], nodes_to_exclude=keep,
                         use_external_data_format=external)
    # the quantizer's shape inference fixes axes the float32 graph left named: declare what it declared
    quantized = onnx.load(str(dst), load_external_data=False)
    for v in (*quantized.graph.input, *quantized.graph.output):
        if v.name in declared:
            v.type.CopyFrom(declared[v.name])
    onnx.save(quantized, str(dst))
    return len(keep)


# ----------------------------------------------------------------------------- running


def run_graphs(enc: Encoders, cal: Calibration, names: tuple[str, ...],
               given: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Outputs of the graphs ``names`` on the calibration inputs, in batches. Each graph reads
    the outputs of those before it (vision features, cross-attention keys and values) from
    this run, or from ``given`` (float32 outputs: to measure one graph on its own)."""
    out: dict[str, np.ndarray] = {}
    src = out if given is None else given
    for name in GRAPHS:
        if name in names:
            out[name] = np.concatenate([getattr(enc, name)(*x) for x in _feeds(name, cal, src)])
    return out


def _feeds(name: str, cal: Calibration, src: dict[str, np.ndarray]) -> Iterator[tuple[np.ndarray, ...]]:
    """The inputs of graph ``name`` batch by batch: per image (vision, target, query_kv) or per query."""
    if name in ("vision", "target", "query_kv"):
        x = cal.pixels if name == "vision" else src["vision"]  # (N, 3, S, S) or (N, T, Dv)
        for s in range(0, len(x), BATCH):
            yield (x[s:s + BATCH],)
        return
    for s in range(0, len(cal.refs), BATCH):
        refs, text = cal.refs[s:s + BATCH], (cal.input_ids[s:s + BATCH], cal.attention_mask[s:s + BATCH])
        if name == "text":
            yield text
        else:  # query reads the reference's features, query_cached its keys and values
            yield (src["vision" if name == "query" else "query_kv"][refs], *text)


def _own_cosine(bundle: Bundle, cal: Calibration, name: str, rel: str, fp32: dict[str, np.ndarray],
                cfg: QuantizeConfig) -> float:
    """Mean cosine of graph ``name``'s int8 file ``rel`` to its float32 self, fed float32 inputs."""
    m = replace(bundle.manifest, int8_graphs={name: rel})
    enc = Encoders(Bundle(bundle.root, m), RuntimeConfig(device="cpu", threads=cfg.threads, precision="int8"))
    return float(cosine(run_graphs(enc, cal, (name,), fp32)[name], fp32[name]).mean())


# ----------------------------------------------------------------------------- the bundle


def quantize_bundle(bundle: Bundle, cal: Calibration, cfg: QuantizeConfig = QuantizeConfig(),
                    reuse: Bundle | None = None, say: Callable[[str], None] = lambda _: None
                    ) -> tuple[Bundle, QuantizeReport]:
    """Add int8 graphs to ``bundle`` (replacing any it had) if they pass the check; else raise
    :class:`QuantizeRefused` and leave it as it was. ``reuse``: a bundle whose int8 graphs are
    taken (hard links) for the graphs whose float32 file is the same (a personalized child's
    parent: only the new query graph is quantized). ``say`` hears each step."""
    m = bundle.manifest
    old_int8 = {f for rel in m.int8_graphs.values() for f in _graph_files_of(m, rel)}
    keep_files = {rel: meta for rel, meta in m.files.items() if rel not in old_int8}
    base = replace(m, int8_graphs={}, int8_check={}, files=keep_files)
    work = Path(tempfile.mkdtemp(prefix=bundle.root.name + ".int8-", dir=bundle.root.parent))
    try:
        for rel in keep_files:
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(bundle.root / rel, work / rel)
        plain = Bundle(work, base)
        names = tuple(g for g in GRAPHS if plain.has_graph(g))
        say(f"float32 outputs of {', '.join(names)} on {len(cal.pixels)} images, {len(cal.refs)} queries")
        fp32 = run_graphs(Encoders(plain, RuntimeConfig(device="cpu", threads=cfg.threads, precision="fp32")),
                          cal, names)
        int8: dict[str, str] = {}
        kept: dict[str, str] = {}
        own: dict[str, float] = {}
        for name in names:
            rel, kept[name], own[name] = _int8_graph(plain, name, cal, fp32, cfg, reuse, say)
            if rel is not None:
                int8[name] = rel
        report = QuantizeReport({}, {"min_cosine": cfg.min_cosine, "min_overlap": cfg.min_overlap}, kept, own,
                                {**cal.to_json(), "seed": cfg.seed})
        if not int8:
            report.failures.append(f"no graph reached cosine {cfg.graph_cosine:.5f} to float32 on its own")
            raise QuantizeRefused("no graph could be made int8: " + report.failures[0], report)
        files = {**keep_files, **file_entries(work, [f for r in int8.values() for f in _written(work, r)])}
        with_int8 = Bundle(work, replace(base, int8_graphs=int8, files=files))
        say("int8 outputs (int8 wherever a graph has it)")
        got = run_graphs(Encoders(with_int8, RuntimeConfig(device="cpu", threads=cfg.threads)), cal, names)
        report.figures = agreement(fp32, got, cal.refs)
        report.failures = failures(report.figures, cfg)
        if report.failures:
            raise QuantizeRefused("int8 does not agree with float32 well enough: " + "; ".join(report.failures),
                                  report)
        write_manifest(work, replace(with_int8.manifest, int8_check=report.to_json()))
        load_bundle(work)  # verifies every hash and graph just written
        _swap(work, bundle.root)
        return load_bundle(bundle.root, verify=False), report
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _int8_graph(plain: Bundle, name: str, cal: Calibration, fp32: dict[str, np.ndarray], cfg: QuantizeConfig,
                reuse: Bundle | None, say: Callable[[str], None]) -> tuple[str | None, str, float]:
    """(the int8 file written, or None; the rule it took, or "all"; its own cosine to float32)."""
    m = plain.manifest
    if reuse is not None and name in reuse.manifest.int8_graphs \
            and reuse.manifest.files[reuse.manifest.graphs[name]]["sha256"] == m.files[m.graphs[name]]["sha256"]:
        rel = reuse.manifest.int8_graphs[name]
        for f in _graph_files_of(reuse.manifest, rel):
            (plain.root / f).parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(reuse.root / f, plain.root / f)
        c = _own_cosine(plain, cal, name, rel, fp32, cfg)
        rule = str(reuse.manifest.int8_check.get("kept_float", {}).get(name, "none"))
        say(f"{name}: int8 graph of {reuse.label} (the same float32 graph): cosine {c:.5f}")
        return rel, rule, c
    src = plain.graph_path(name)
    external = "/" in m.graphs[name]
    rel = f"int8/{name}/{name}.onnx" if external else f"int8/{name}.onnx"
    c = float("nan")
    for rule in KEEP_FLOAT:
        n_float = quantize_graph(src, plain.root / rel, rule, external)
        if n_float is None:  # the rule keeps every MatMul in float: no int8 graph left to try
            break
        c = _own_cosine(plain, cal, name, rel, fp32, cfg)
        say(f"{name}: {rule} kept in float ({n_float} weighted MatMuls): cosine to float32 {c:.5f}")
        if c >= cfg.graph_cosine:
            return rel, rule, c
    shutil.rmtree(plain.root / "int8" / name, ignore_errors=True)
    (plain.root / rel).unlink(missing_ok=True)
    return None, "all", c


def _graph_files_of(m: Any, rel: str) -> list[str]:
    """A graph's file and, when it has a folder of its own (``.../name/name.onnx``), its external data."""
    return [f for f in m.files if f.startswith(_own_folder(rel) + "/")] if _own_folder(rel) else [rel]


def _written(work: Path, rel: str) -> list[str]:
    """The int8 graph file ``rel`` just written, and its external data."""
    folder = _own_folder(rel)
    return sorted(p.relative_to(work).as_posix() for p in (work / folder).iterdir()) if folder else [rel]


def _own_folder(rel: str) -> str:
    folder, _, file = rel.rpartition("/")
    return folder if folder.rpartition("/")[2] == file.removesuffix(".onnx") else ""


def _link_or_copy(src: Path, dst: Path) -> None:
    """Bundle files are never modified in place: share them by hard link where the filesystem allows."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _swap(work: Path, root: Path) -> None:
    """Put the rebuilt folder ``work`` where ``root`` is, with ``root``'s permissions."""
    os.chmod(work, root.stat().st_mode & 0o777)
    old = Path(tempfile.mkdtemp(prefix=root.name + ".old-", dir=root.parent))
    old.rmdir()
    root.rename(old)
    try:
        work.rename(root)
    except OSError:
        old.rename(root)
        raise
    shutil.rmtree(old, ignore_errors=True)
