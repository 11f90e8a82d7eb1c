"""Export a :class:`QuReModel` to a model bundle (``engine/bundle.py`` is the contract).

Each graph is exported with a dynamic batch axis, then checked against PyTorch on
fresh inputs (another batch size than the export's, so the batch axis is proven
dynamic); the export fails if the difference exceeds the graph's tolerance. A graph
whose weights exceed ``external_threshold`` bytes goes to its own folder with one
external-data file. ``fp16=True`` adds half-precision copies of the graphs (for GPUs;
float32 inputs and outputs, float32 LayerNorms) with their own tolerance.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.bundle import GRAPH_IO, Bundle, Manifest, ModelInfo, Sizes, file_entries, load_bundle, write_manifest
from engine.text import Tokenizer

from . import export_cached
from .export_cached import CACHED_GRAPHS, QueryCached, QueryKV
from .model import QuReModel

OPSET = 17
# Max abs difference ORT vs PyTorch allowed per output (float32 graphs / float16 graphs).
TOLERANCE = {"vision": 1e-3, "target": 1e-4, "query": 1e-4, "text": 1e-4, **export_cached.TOLERANCE}
TOLERANCE_FP16 = {"vision": 0.15, "target": 2e-2, "query": 2e-2, "text": 2e-2, **export_cached.TOLERANCE_FP16}
# The graphs a personalized child bundle exports afresh (its query side); it shares the others.
QUERY_SIDE_GRAPHS = ("query", *CACHED_GRAPHS)


class ExportError(Exception):
    """An exported graph does not match PyTorch, or could not be written."""


# ----------------------------------------------------------------------------- graph wrappers


class _Vision(nn.Module):
    def __init__(self, m: QuReModel):
        super().__init__()
        self.m = m

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.m.vision_features(pixels)  # (B, T, Dv)


class _Target(nn.Module):
    def __init__(self, m: QuReModel):
        super().__init__()
        self.m = m

    def forward(self, vision_feats: torch.Tensor) -> torch.Tensor:
        return self.m.target_from_features(vision_feats)  # (B, Q, E)


class _Query(nn.Module):
    def __init__(self, m: QuReModel):
        super().__init__()
        self.m = m

    def forward(
        self, vision_feats: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        return self.m.query_from_features(vision_feats, input_ids, attention_mask)  # (B, E)


class _Text(nn.Module):
    def __init__(self, m: QuReModel):
        super().__init__()
        self.m = m

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.m.encode_text(input_ids, attention_mask)  # (B, E)


class _Half(nn.Module):
    """Run a wrapped graph in float16 with float32 inputs and outputs."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        args = tuple(a.half() if a.is_floating_point() else a for a in args)
        return self.inner(*args).float()


_WRAPPERS = {"vision": _Vision, "target": _Target, "query": _Query, "text": _Text, "query_kv": QueryKV,
             "query_cached": QueryCached}


def example_inputs(model: QuReModel, name: str, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """Random inputs for one graph: pixels ~ N(0,1), features ~ N(0,1), token ids in the
    vocabulary with masks of random lengths (at least [CLS] and [SEP])."""
    cfg = model.cfg
    S, T, Dv, L = cfg.vision.image_size, cfg.vision.num_tokens, cfg.vision.width, cfg.max_txt_len
    V = cfg.qformer.vocab_size

    def text() -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.randint(1, V, (batch, L), generator=gen)
        lengths = torch.randint(2, L + 1, (batch,), generator=gen)
        mask = (torch.arange(L)[None] < lengths[:, None]).long()
        return ids * mask, mask  # padding id 0 where masked

    if name == "vision":
        return (torch.randn(batch, 3, S, S, generator=gen),)
    if name == "target":
        return (torch.randn(batch, T, Dv, generator=gen),)
    if name == "query":
        return (torch.randn(batch, T, Dv, generator=gen), *text())
    if name == "text":
        return text()
    if name == "query_kv":
        return (torch.randn(batch, T, Dv, generator=gen),)
    if name == "query_cached":
        with torch.no_grad():
            kv = model.query_cross_kv(torch.randn(batch, T, Dv, generator=gen))  # (B, C, 2, h, T, d)
        return (kv, *text())
    raise ValueError(name)


# ----------------------------------------------------------------------------- export


def _graph_param_bytes(model: QuReModel, name: str, dtype_bytes: int = 4) -> int:
    """Bytes of the weights one graph carries (an upper bound: whole submodules)."""
    if not isinstance(model, QuReModel):  # a QuerySide: only the query graph
        return sum(p.numel() for p in model.parameters()) * dtype_bytes
    parts: list[nn.Module] = {
        "vision": [model.vision, model.ln_vision],
        "target": [model.qformer, model.vision_proj],
        "query": [model.qformer_query or model.qformer, model.text_proj_query or model.text_proj],
        "query_kv": [model.qformer_query or model.qformer],
        "query_cached": [model.qformer_query or model.qformer, model.text_proj_query or model.text_proj],
        "text": [model.qformer, model.text_proj],
    }[name]
    n = sum(p.numel() for m in parts for p in m.parameters())
    return n * dtype_bytes + (model.query_tokens.numel() * dtype_bytes if name != "text" else 0)


def _export_graph(
    module: nn.Module, name: str, args: tuple[torch.Tensor, ...], out_dir: Path, rel: str, external: bool
) -> list[str]:
    """Export one graph; return the relative paths of the files written."""
    inputs, outputs = GRAPH_IO[name]
    dyn = {n: {0: "batch"} for n in (*inputs, *outputs)}
    if name == "query_cached":
        dyn.update(export_cached.TEXT_AXES)
    options = dict(dynamo=False, opset_version=OPSET, input_names=list(inputs), output_names=list(outputs),
                   dynamic_axes=dyn, do_constant_folding=True)
    target = out_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated upstream but is fast and exact for
        # these graphs; the parity check below guards every export.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        if not external:
            buf = io.BytesIO()
            torch.onnx.export(module, args, buf, **options)
            target.write_bytes(buf.getvalue())
            return [rel]
        import onnx

        with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
            raw = Path(tmp) / "raw.onnx"
            torch.onnx.export(module, args, str(raw), **options)
            proto = onnx.load(str(raw), load_external_data=True)
            data_name = target.name + ".data"
            onnx.save_model(
                proto,
                str(target),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=data_name,
                size_threshold=1024,
            )
        return [rel, str(Path(rel).parent / data_name)]


def _ort_session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def check_parity(module: nn.Module, name: str, path: Path, inputs: tuple[torch.Tensor, ...]) -> float:
    """Max abs difference between ONNX Runtime and PyTorch on ``inputs``."""
    sess = _ort_session(path)
    feed = {n: t.numpy() for n, t in zip(GRAPH_IO[name][0], inputs)}
    (got,) = sess.run(list(GRAPH_IO[name][1]), feed)
    with torch.no_grad():
        want = module(*inputs).float().numpy()
    if got.shape != want.shape:
        raise ExportError(f"{name}: ONNX output shape {got.shape} != PyTorch {want.shape}")
    return float(np.abs(got.astype(np.float32) - want).max())


@dataclass(frozen=True)
class ExportOptions:
    text_graph: bool = True
    fp16: bool = False
    query_weights: bool = True  # write weights/query_side.npz (personalization starts from it)
    external_threshold: int = 1_800_000_000  # bytes of weights above which a graph gets external data
    export_batch: int = 2
    check_batch: int = 3
    seed: int = 0
    cached_query: bool = True  # query_kv + query_cached: a keystroke re-runs only what the text changed


def export_bundle(
    model: QuReModel,
    vocab_path: str | Path,
    out_dir: str | Path,
    info: ModelInfo,
    options: ExportOptions = ExportOptions(),
    parent: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    reuse_from: Bundle | None = None,
) -> Bundle:
    """Write a verified bundle to ``out_dir`` (replaced if it exists).

    ``reuse_from``: copy the vision/target (and text) graphs, fp16 graphs and query-side
    weights of an existing bundle instead of exporting them (a personalized child bundle
    whose only new file is ``query.onnx``); their hashes then equal the parent's. Then
    ``model`` may be a :class:`QuerySide`.
    """
    if reuse_from is None and not isinstance(model, QuReModel):
        raise ExportError("only the query graph can be exported from a query side: pass reuse_from")
    model = model.eval().float()
    cfg = model.cfg
    tok = Tokenizer(vocab_path, cfg.text_spec())
    if tok.vocab_size != cfg.qformer.vocab_size:
        raise ExportError(
            f"vocabulary {vocab_path} gives {tok.vocab_size} token ids (with [DEC]) but the model has "
            f"{cfg.qformer.vocab_size} word embeddings"
        )
    out_dir = Path(out_dir).absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # built beside the target so the final rename stays on one filesystem
    work = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", dir=out_dir.parent))
    try:
        graphs: dict[str, str] = {}
        fp16_graphs: dict[str, str] = {}
        files: list[str] = []
        parity: dict[str, float] = {}
        gen = torch.Generator().manual_seed(options.seed)
        names = ["vision", "target", "query"] + (["text"] if options.text_graph else [])
        names += list(CACHED_GRAPHS) if options.cached_query else []
        for name in names:
            if reuse_from is not None and name not in QUERY_SIDE_GRAPHS:
                if not reuse_from.has_graph(name):
                    continue
                rel = reuse_from.manifest.graphs[name]
                for f in _files_of(reuse_from.manifest, rel):
                    (work / f).parent.mkdir(parents=True, exist_ok=True)
                    _link_or_copy(reuse_from.root / f, work / f)
                    files.append(f)
                graphs[name] = rel
                if name in reuse_from.manifest.parity:
                    parity[name] = reuse_from.manifest.parity[name]
                continue
            module = _WRAPPERS[name](model).eval()
            external = _graph_param_bytes(model, name) > options.external_threshold
            rel = f"{name}/{name}.onnx" if external else f"{name}.onnx"
            files += _export_graph(
                module, name, example_inputs(model, name, options.export_batch, gen), work, rel, external
            )
            diff = check_parity(module, name, work / rel, example_inputs(model, name, options.check_batch, gen))
            if not diff <= TOLERANCE[name]:
                raise ExportError(f"{name}.onnx differs from PyTorch by {diff:.3g} (tolerance {TOLERANCE[name]:g})")
            graphs[name], parity[name] = rel, diff
            if options.fp16:
                half = _Half(_WRAPPERS[name](_half_copy(model))).eval()
                hrel = f"fp16/{name}/{name}.onnx" if external else f"fp16/{name}.onnx"
                files += _export_graph(
                    half,
                    name,
                    example_inputs(model, name, options.export_batch, gen),
                    work,
                    hrel,
                    _graph_param_bytes(model, name, 2) > options.external_threshold,
                )
                hdiff = check_parity(module, name, work / hrel, example_inputs(model, name, options.check_batch, gen))
                if not hdiff <= TOLERANCE_FP16[name]:
                    raise ExportError(
                        f"fp16 {name}.onnx differs from float32 PyTorch by {hdiff:.3g} "
                        f"(tolerance {TOLERANCE_FP16[name]:g})"
                    )
                fp16_graphs[name], parity[f"fp16_{name}"] = hrel, hdiff
        if options.cached_query:  # the chain at the text's real length against the full query
            diff = export_cached.check_cached_path(model, work / graphs["query_kv"], work / graphs["query_cached"],
                                                   example_inputs(model, "query", options.check_batch, gen),
                                                   _ort_session)
            if not diff <= TOLERANCE["query"]:
                raise ExportError(f"query_kv + query_cached on trimmed text differ from the PyTorch query by "
                                  f"{diff:.3g} (tolerance {TOLERANCE['query']:g})")
            parity["query_cached_trimmed"] = diff
        shutil.copy2(vocab_path, work / "vocab.txt")
        files.append("vocab.txt")
        query_weights = None
        if reuse_from is not None:
            query_weights = reuse_from.manifest.query_weights
            for name, rel in reuse_from.manifest.fp16_graphs.items():
                if name not in QUERY_SIDE_GRAPHS:
                    for f in _files_of(reuse_from.manifest, rel):
                        (work / f).parent.mkdir(parents=True, exist_ok=True)
                        _link_or_copy(reuse_from.root / f, work / f)
                        files.append(f)
                    fp16_graphs[name] = rel
            if query_weights:
                (work / query_weights).parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(reuse_from.root / query_weights, work / query_weights)
                files.append(query_weights)
        elif options.query_weights:
            from .model.query_side import QuerySide

            query_weights = "weights/query_side.npz"
            QuerySide.from_model(model).save_npz(work / query_weights)
            files.append(query_weights)
        manifest = Manifest(
            model=info,
            image=cfg.image,
            text=cfg.text_spec("vocab.txt"),
            sizes=Sizes(
                embed_dim=cfg.embed_dim,
                num_query_tokens=cfg.qformer.num_query_tokens,
                vision_tokens=cfg.vision.num_tokens,
                vision_width=cfg.vision.width,
            ),
            graphs=graphs,
            files=file_entries(work, files),
            fp16_graphs=fp16_graphs,
            parent=parent,
            parity={k: float(v) for k, v in parity.items()},
            extra={"model_config": cfg.to_json(), **(extra or {})},
            query_weights=query_weights,
        )
        write_manifest(work, manifest)
        load_bundle(work)  # verifies every hash we just wrote
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(work, 0o777 & ~umask)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        work.rename(out_dir)
        return load_bundle(out_dir, verify=False)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _link_or_copy(src: Path, dst: Path) -> None:
    """A child bundle shares its parent's unchanged files: a hard link where the
    filesystem allows (bundle files are never modified in place), else a copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _files_of(manifest: Manifest, graph_rel: str) -> list[str]:
    folder = graph_rel.rsplit("/", 1)[0] + "/" if "/" in graph_rel else None
    if folder is None:
        return [graph_rel]
    return [f for f in manifest.files if f.startswith(folder)]


def _half_copy(model: QuReModel) -> QuReModel:
    import copy

    return copy.deepcopy(model).half().eval()


def manifest_summary(bundle: Bundle) -> str:
    m = bundle.manifest
    total = sum(int(f["bytes"]) for f in m.files.values())
    return json.dumps(
        {
            "bundle": str(bundle.root),
            "model": m.model.to_json(),
            "graphs": m.graphs,
            "fp16_graphs": m.fp16_graphs,
            "int8_graphs": m.int8_graphs,
            "parity_max_abs_diff": m.parity,
            "bytes": total,
            "target_side": m.target_side,
        },
        indent=2,
    )
