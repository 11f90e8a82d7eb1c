"""ONNX Runtime sessions for a model bundle (the one module that imports onnxruntime).

CUDA is used only when a session really runs on it: the first session is created
asking for CUDA, and ``get_providers()`` says whether it got it. The answer is cached
per process. Probing happens with the ORT logger silenced, so a CPU-only machine sees
no provider-load errors. ``Encoders.device`` names the device in use.

``InferenceSession.run`` is thread-safe, so one :class:`Encoders` may be shared by
several worker threads.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class RuntimeConfig:
    """How sessions are made. ``device``: "auto" (CUDA if it really works), "cpu" or "cuda"."""

    device: str = "auto"
    threads: int = 0  # intra-op threads; 0 lets ORT decide (all cores)

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {self.device!r}")


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


def probe_device(cfg: RuntimeConfig = RuntimeConfig()) -> str:
    """"cuda" if a session asked for CUDA really gets it on this machine, else "cpu" (cached)."""
    if cfg.device not in _probed:
        _probed[cfg.device] = session_device(_create(_PROBE_MODEL, cfg))
    return _probed[cfg.device]


def session_device(sess: ort.InferenceSession) -> str:
    return "cuda" if CUDA in sess.get_providers() else "cpu"


class Encoders:
    """The bundle's graphs as callables on numpy arrays.

    ``vision`` and ``target`` run at indexing time, ``query``/``text`` at search time.
    Sessions are created on first use; ``load_all()`` creates them up front.
    """

    def __init__(self, bundle: Bundle, cfg: RuntimeConfig = RuntimeConfig()):
        self.bundle = bundle
        self.cfg = cfg
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._lock = threading.Lock()

    def session(self, name: str) -> ort.InferenceSession:
        s = self._sessions.get(name)
        if s is not None:
            return s
        with self._lock:
            if name not in self._sessions:
                self._sessions[name] = self._load(name)
            return self._sessions[name]

    def _load(self, name: str) -> ort.InferenceSession:
        path = self.bundle.graph_path(name)
        if path is None:
            raise BundleError(f"the model {self.bundle.label} has no {name} graph", bundle=self.bundle.root)
        rel = self.bundle.manifest.graphs[name]
        try:
            sess = _create(path, self.cfg)
        except Exception as e:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
            raise BundleError(f"{name} graph {rel} cannot be loaded by ONNX Runtime: {e}", rel,
                              self.bundle.root) from e
        self.bundle.check_graph(name, _declared(sess.get_inputs()), _declared(sess.get_outputs()))
        if self.cfg.device == "cuda" and session_device(sess) != "cuda":
            raise BundleError("CUDA was asked for but ONNX Runtime cannot use it on this machine")
        return sess

    def load_all(self) -> None:
        for g in ("vision", "target", "query", "text"):
            if self.bundle.has_graph(g):
                self.session(g)

    @property
    def device(self) -> str:
        """"cuda" or "cpu": where the vision graph (the heavy one) runs, or would run."""
        s = self._sessions.get("vision")
        return session_device(s) if s is not None else probe_device(self.cfg)

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

    def _run(self, name: str, *arrays: np.ndarray) -> np.ndarray:
        sess = self.session(name)
        feeds = dict(zip(GRAPH_IO[name][0], arrays))
        (out,) = sess.run([GRAPH_IO[name][1][0]], feeds)
        out = np.asarray(out)
        self.bundle.check_output(name, out.shape)  # axes the graph left open, e.g. the token count
        return out


def _declared(args: list) -> list[TensorInfo]:
    """ONNX Runtime's NodeArg list (type "tensor(float)", shape of ints, names and None) as TensorInfo."""
    return [TensorInfo(a.name, a.type[7:-1] if a.type.startswith("tensor(") else a.type, tuple(a.shape))
            for a in args]


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
