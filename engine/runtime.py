"""ONNX Runtime sessions for a model bundle (the one module that imports onnxruntime).

CUDA is used only when a session really runs on it: the first session is created
asking for CUDA, and ``get_providers()`` says whether it got it. The answer is cached
per process. Probing happens with the ORT logger silenced, so a CPU-only machine sees
no provider-load errors. ``Encoders.device`` names the device in use.

Precision (``RuntimeConfig.precision``): a bundle always has float32 graphs and may have
int8 ones (for CPUs, ``cirsearch-train quantize``) and fp16 ones (for GPUs). "auto" takes,
graph by graph, int8 on the CPU and fp16 on CUDA when the bundle has them, else float32;
``Encoders.precision`` says what runs. Every precision of a bundle feeds the same index:
int8 graphs are admitted only when their target tokens rank photos as the float32 ones do
(measured when they are made; see ``trainer.quantize``).

``InferenceSession.run`` is thread-safe, so one :class:`Encoders` may be shared by
several worker threads.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnxruntime as ort

from .bundle import Bundle
from .bundle_contract import GRAPH_IO
from .errors import BundleError
from .onnx_header import TensorInfo

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

# The engine never prints: ORT's own logger shows only errors, and none while probing.
ort.set_default_logger_severity(3)

_probe_lock = threading.Lock()
_cuda_works: bool | None = None

# A one-node ONNX model (Identity on a float[1]), to learn the device without loading a bundle.
_PROBE_MODEL = (
    b"\x08\x07\x12\tcirsearch:;\n\x10\n\x01x\x12\x01y\"\x08Identity\x12\x05probeZ\x0f\n\x01x\x12\n\n\x08\x08\x01"
    b"\x12\x04\n\x02\x08\x01b\x0f\n\x01y\x12\n\n\x08\x08\x01\x12\x04\n\x02\x08\x01B\x04\n\x00\x10\r"
)


PRECISIONS = ("auto", "fp32", "int8", "fp16")


@dataclass(frozen=True)
class RuntimeConfig:
    """How sessions are made. ``device``: "auto" (CUDA if it really works), "cpu" or "cuda".
    ``precision``: "auto" (int8 on the CPU, fp16 on CUDA, where the bundle has them), or one
    of "fp32", "int8", "fp16" for every graph (a bundle without it is refused)."""

    device: str = "auto"
    threads: int = 0  # intra-op threads; 0 lets ORT decide (all cores)
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be {', '.join(PRECISIONS)}, not {self.precision!r}")


def _options(cfg: RuntimeConfig) -> ort.SessionOptions:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if cfg.threads:
        so.intra_op_num_threads = cfg.threads
    so.inter_op_num_threads = 1
    return so


def _create(model: Path | bytes, cfg: RuntimeConfig) -> ort.InferenceSession:
    """A session on CUDA when it really works (and is wanted), else on the CPU."""
    global _cuda_works
    path = model if isinstance(model, bytes) else str(model)
    if cfg.device == "cpu" or CUDA not in ort.get_available_providers():
        return ort.InferenceSession(path, _options(cfg), providers=[CPU])
    with _probe_lock:
        if _cuda_works is False:
            return ort.InferenceSession(path, _options(cfg), providers=[CPU])
        ort.set_default_logger_severity(4)  # provider-load failures are expected here
        try:
            sess = ort.InferenceSession(path, _options(cfg), providers=[CUDA, CPU])
        finally:
            ort.set_default_logger_severity(3)
        _cuda_works = CUDA in sess.get_providers()
        return sess


_probed: dict[str, str] = {}
SessionFactory = Callable[[Path | bytes, RuntimeConfig], Any]  # (model, config) -> an InferenceSession


def probe_device(cfg: RuntimeConfig = RuntimeConfig(), create: SessionFactory = _create) -> str:
    """"cuda" if a session asked for CUDA really gets it on this machine, else "cpu" (cached
    for the real session factory)."""
    if create is not _create:
        return session_device(create(_PROBE_MODEL, cfg))
    if cfg.device not in _probed:
        _probed[cfg.device] = session_device(_create(_PROBE_MODEL, cfg))
    return _probed[cfg.device]


def session_device(sess: Any) -> str:
    return "cuda" if CUDA in sess.get_providers() else "cpu"


class Encoders:
    """The bundle's graphs as callables on numpy arrays.

    ``vision`` and ``target`` run at indexing time, ``query``/``text`` at search time.
    Sessions are created on first use; ``load_all()`` creates them up front. ``create``
    makes a session (ONNX Runtime's, on CUDA when it works; tests pass a double).
    """

    def __init__(self, bundle: Bundle, cfg: RuntimeConfig = RuntimeConfig(), create: SessionFactory = _create):
        self.bundle = bundle
        self.cfg = cfg
        self._create = create
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._lock = threading.Lock()
        self._cached_query: bool | None = None  # answers of cached_query and query_cached's text axis
        self._trim_text: bool | None = None

    def session(self, name: str) -> ort.InferenceSession:
        s = self._sessions.get(name)
        if s is not None:
            return s
        with self._lock:
            if name not in self._sessions:
                self._sessions[name] = self._load(name)
            return self._sessions[name]

    def graph_precision(self, name: str) -> str:
        """The precision graph ``name`` runs in: the configured one, or under "auto" int8 on the
        CPU and fp16 on CUDA when the bundle has that graph in it, else fp32."""
        want, m = self.cfg.precision, self.bundle.manifest
        if want != "auto":
            if name in m.graphs and name not in m.graph_table(want):
                raise BundleError(f"the model {self.bundle.label} has no {want} {name} graph (precision {want} was "
                                  "asked for): use precision auto"
                                  + (", or make them with cirsearch-train quantize --bundle" if want == "int8" else ""),
                                  bundle=self.bundle.root)
            return want
        fast = "fp16" if self.cfg.device != "cpu" and probe_device(self.cfg, self._create) == "cuda" else "int8"
        return fast if name in m.graph_table(fast) else "fp32"

    @property
    def precision(self) -> str:
        """What runs, e.g. "int8", "fp32", or "int8 (query fp32)" when a graph differs from the vision graph's."""
        got = {g: self.graph_precision(g) for g in ("vision", "target", "query", "text") if self.bundle.has_graph(g)}
        main = got.pop("vision")
        other = [f"{g} {p}" for g, p in got.items() if p != main]
        return main + (f" ({', '.join(other)})" if other else "")

    def _load(self, name: str) -> ort.InferenceSession:
        if not self.bundle.has_graph(name):
            raise BundleError(f"the model {self.bundle.label} has no {name} graph", bundle=self.bundle.root)
        precision = self.graph_precision(name)
        path = self.bundle.graph_path(name, precision=precision)
        rel = self.bundle.manifest.graph_table(precision)[name]
        try:
            sess = self._create(path, self.cfg)
        except Exception as e:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
            raise BundleError(f"{name} graph {rel} cannot be loaded by ONNX Runtime: {e}", rel,
                              self.bundle.root) from e
        self.bundle.check_graph(name, _declared(sess.get_inputs()), _declared(sess.get_outputs()), precision)
        if self.cfg.device == "cuda" and session_device(sess) != "cuda":
            raise BundleError("CUDA was asked for but ONNX Runtime cannot use it on this machine")
        return sess

    def load_all(self) -> None:
        """The sessions search and indexing use (the query graph or the cached pair)."""
        query = ("query_kv", "query_cached") if self.cached_query else ("query",)
        for g in ("vision", "target", *query, "text"):
            if self.bundle.has_graph(g):
                self.session(g)

    @property
    def device(self) -> str:
        """"cuda" or "cpu": where the vision graph (the heavy one) runs, or would run."""
        s = self._sessions.get("vision")
        return session_device(s) if s is not None else probe_device(self.cfg, self._create)

    @property
    def has_text(self) -> bool:
        return self.bundle.has_graph("text")

    def vision(self, pixels: np.ndarray) -> np.ndarray:
        """(B, 3, S, S) float32 -> (B, T, Dv) float32."""
        return self._run("vision", pixels.astype(np.float32, copy=False))

    def target(self, feats: np.ndarray) -> np.ndarray:
        """(B, T, Dv) -> (B, Q, E), each token L2-normalized."""
        return self._run("target", feats.astype(np.float32, copy=False))

    def query(self, feats: np.ndarray, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B, T, Dv), (B, L), (B, L) -> (B, E) L2-normalized."""
        return self._run("query", feats.astype(np.float32, copy=False), ids, mask)

    def text(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B, L), (B, L) -> (B, E) L2-normalized."""
        return self._run("text", ids, mask)

    @property
    def cached_query(self) -> bool:
        """Whether a composed query runs :meth:`query_kv` once per reference and
        :meth:`query_cached` per text: the bundle has both graphs (older ones do not), in the
        precision its query graph runs in."""
        if self._cached_query is None:
            pair = ("query_kv", "query_cached")
            try:
                self._cached_query = (all(self.bundle.has_graph(g) for g in pair)
                                      and {self.graph_precision(g) for g in pair} == {self.graph_precision("query")})
            except BundleError:  # a forced precision the pair lacks: the query graph serves
                self._cached_query = False
        return self._cached_query

    def query_kv(self, feats: np.ndarray) -> np.ndarray:
        """(B, T, Dv) -> (B, C, 2, h, T, d): the query path's cross-attention keys and values
        of the references, which depend on them alone (computed once per reference)."""
        return self._run("query_kv", feats.astype(np.float32, copy=False))

    def query_cached(self, kv: np.ndarray, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """(B, C, 2, h, T, d) from :meth:`query_kv`, (B, L), (B, L) -> (B, E) L2-normalized: what
        :meth:`query` gives on the features. The text runs at the longest real length of the
        batch (padding columns dropped) when the graph's text axis is dynamic."""
        if self._trim_text is None:
            dims = {i.name: i.shape for i in self.session("query_cached").get_inputs()}
            self._trim_text = not isinstance(dims["input_ids"][1], int)
        if self._trim_text:
            ids, mask = trim_padding(ids, mask)
        return self._run("query_cached", kv.astype(np.float32, copy=False), ids, mask)

    def _run(self, name: str, *arrays: np.ndarray) -> np.ndarray:
        sess = self.session(name)
        feeds = dict(zip(GRAPH_IO[name][0], arrays))
        (out,) = sess.run([GRAPH_IO[name][1][0]], feeds)
        out = np.asarray(out)
        self.bundle.check_output(name, out.shape)  # axes the graph left open, e.g. the token count
        return out


def trim_padding(ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop the trailing columns that are padding in every row: (B, L) -> (B, L'), L' >= 1."""
    used = np.flatnonzero(mask.any(axis=0))
    n = int(used[-1]) + 1 if used.size else 1
    return ids[:, :n], mask[:, :n]


def _declared(args: list) -> list[TensorInfo]:
    """ONNX Runtime's NodeArg list (type "tensor(float)", shape of ints, names and None) as TensorInfo."""
    return [TensorInfo(a.name, a.type[7:-1] if a.type.startswith("tensor(") else a.type, tuple(a.shape))
            for a in args]


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
