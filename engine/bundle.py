"""The model bundle: the contract between the trainer (writes) and the engine (reads).

A bundle is a folder::

    manifest.json
    vision.onnx     pixels (B,3,S,S) float32          -> vision_feats (B,T,Dv)  after ln_vision
    target.onnx     vision_feats (B,T,Dv)             -> target_tokens (B,Q,E)  each L2-normalized
    query.onnx      vision_feats, input_ids, attention_mask (B,L) int64
                                                      -> query_embed (B,E)      L2-normalized
    text.onnx       input_ids, attention_mask          -> text_embed (B,E)       (optional, text-only search)
    query_kv.onnx   vision_feats                       -> cross_kv (B,C,2,h,T,d) the query path's cross-attention
                                                         keys and values of a reference (optional, with:)
    query_cached.onnx  cross_kv, input_ids, attention_mask (B,L any) -> query_embed (B,E): query.onnx split
                    at what depends on the reference alone, so a keystroke re-runs only this, at the text's length
    vocab.txt
    fp16/...        the same graphs in half precision for GPUs (optional)
    int8/...        the same graphs with int8 weights for CPUs (optional; written by
                    ``cirsearch-train quantize`` after measuring their agreement with float32,
                    whose figures ``int8_check`` records)
    weights/query_side.npz   float32 weights of the query side (optional; what personalization
                             fine-tunes a copy of; a personalized child keeps its root's file)

A graph over 2 GB lives in its own folder with one external-data file
(``vision/vision.onnx`` + ``vision/vision.onnx.data``); the manifest names its files.

Relevance of a photo to a query is ``max_k <q, t_k>`` over its Q target tokens.

``manifest.json`` records the format version, the model, the parent bundle (for
personalized ones), image and text preparation, sizes, and the SHA-256 and size of
every file. Loading checks the manifest field by field (``engine.manifest_schema``), every
file's size and hash, each graph's declared inputs and outputs against the manifest's sizes
(``engine.bundle_contract``: read from the ONNX files, without sessions), the query-side
weights' shapes and the vocabulary; a failure is a :class:`BundleError` naming the bundle folder and the
field or file at fault.
The *target side hash* covers what the index depends on (vision + target graphs and
image preparation): a personalized bundle that replaces only ``query.onnx`` keeps it,
so the index stays valid.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from .atomic import atomic_write_text
from .bundle_contract import GRAPH_IO as GRAPH_IO  # re-exported: the trainer exports graphs with these names
from .bundle_contract import check_graph_io, check_query_weights, check_tensor
from .errors import BundleError, GraphContractError, ManifestError
from .manifest_schema import FORMAT, FORMAT_VERSION, validate_manifest
from .onnx_header import TensorInfo, read_graph_io
from .preprocess import ImageSpec
from .text import TextSpec, Tokenizer

MANIFEST = "manifest.json"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    architecture: str  # "vitl", "tiny", ... (the trainer config name)
    description: str = ""
    demo: bool = False  # a demo model trained on generated images; the UI says so

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "architecture": self.architecture,
            "description": self.description,
            "demo": self.demo,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ModelInfo":
        return cls(
            name=str(d["name"]),
            version=str(d["version"]),
            architecture=str(d.get("architecture", "")),
            description=str(d.get("description", "")),
            demo=bool(d.get("demo", False)),
        )


@dataclass(frozen=True)
class Sizes:
    embed_dim: int  # E: shared embedding size (256 for QuRe)
    num_query_tokens: int  # Q: target tokens per image (32 for QuRe)
    vision_tokens: int  # T: patch tokens + CLS (257 at 224 px, patch 14)
    vision_width: int  # Dv: 1024 for CLIP ViT-L

    def to_json(self) -> dict[str, int]:
        return {
            "embed_dim": self.embed_dim,
            "num_query_tokens": self.num_query_tokens,
            "vision_tokens": self.vision_tokens,
            "vision_width": self.vision_width,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Sizes":
        return cls(**{k: int(d[k]) for k in ("embed_dim", "num_query_tokens", "vision_tokens", "vision_width")})


@dataclass(frozen=True)
class Manifest:
    model: ModelInfo
    image: ImageSpec
    text: TextSpec
    sizes: Sizes
    graphs: dict[str, str]  # graph name -> file (relative path, posix)
    files: dict[str, dict[str, Any]]  # relative path -> {"sha256": ..., "bytes": ...}
    fp16_graphs: dict[str, str] = field(default_factory=dict)
    int8_graphs: dict[str, str] = field(default_factory=dict)
    # how the int8 graphs were made and their measured agreement with float32 (trainer.quantize)
    int8_check: dict[str, Any] = field(default_factory=dict)
    parent: dict[str, Any] | None = None  # {"name", "version", "target_side": ..., "query_sha256": ...}
    parity: dict[str, Any] = field(default_factory=dict)  # max abs diff vs PyTorch per graph
    extra: dict[str, Any] = field(default_factory=dict)  # free-form provenance (training run, import sources)
    # float32 weights of the query side (Q-Former, query tokens, text_proj) as a plain .npz,
    # so personalization can fine-tune a copy without PyTorch checkpoints; optional.
    query_weights: str | None = None

    @property
    def target_side(self) -> str:
        """Hash of what the index depends on: vision + target graphs and image preparation."""
        h = hashlib.sha256()
        for g in ("vision", "target"):
            for rel in _graph_files(self.graphs[g], self.files):
                h.update(rel.encode() + b"\0" + self.files[rel]["sha256"].encode() + b"\0")
        h.update(json.dumps(self.image.to_json(), sort_keys=True).encode())
        h.update(json.dumps(self.sizes.to_json(), sort_keys=True).encode())
        return h.hexdigest()

    def graph_table(self, precision: str) -> dict[str, str]:
        """Graph name -> file of one precision: "fp32" (every graph), "fp16" or "int8" (those it has)."""
        return {"fp32": self.graphs, "fp16": self.fp16_graphs, "int8": self.int8_graphs}[precision]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": self.model.to_json(),
            "parent": self.parent,
            "image": self.image.to_json(),
            "text": self.text.to_json(),
            "sizes": self.sizes.to_json(),
            "graphs": dict(self.graphs),
            "fp16_graphs": dict(self.fp16_graphs),
            "int8_graphs": dict(self.int8_graphs),
            "int8_check": self.int8_check,
            "files": {k: dict(v) for k, v in sorted(self.files.items())},
            "target_side": self.target_side,
            "parity": self.parity,
            "extra": self.extra,
            "query_weights": self.query_weights,
        }

    @classmethod
    def from_json(cls, d: Any) -> "Manifest":
        """A manifest from its JSON; raises :class:`ManifestError` naming the field at fault."""
        validate_manifest(d)
        try:
            image = ImageSpec.from_json(d["image"])
        except ValueError as e:
            raise ManifestError(f"is not supported: {e}", "image") from e
        try:
            text = TextSpec.from_json(d["text"])
        except ValueError as e:
            raise ManifestError(f"is not supported: {e}", "text") from e
        return cls(
            model=ModelInfo.from_json(d["model"]),
            image=image,
            text=text,
            sizes=Sizes.from_json(d["sizes"]),
            graphs=dict(d["graphs"]),
            files={k: dict(v) for k, v in d["files"].items()},
            fp16_graphs=dict(d.get("fp16_graphs") or {}),
            int8_graphs=dict(d.get("int8_graphs") or {}),
            int8_check=dict(d.get("int8_check") or {}),
            parent=d.get("parent"),
            parity=dict(d.get("parity") or {}),
            extra=dict(d.get("extra") or {}),
            query_weights=d.get("query_weights"),
        )


def _graph_files(graph_rel: str, files: dict[str, Any]) -> list[str]:
    """A graph file plus its external-data file(s) listed in the manifest."""
    folder = graph_rel.rsplit("/", 1)[0] + "/" if "/" in graph_rel else None
    out = [graph_rel]
    if folder is not None:
        out += sorted(f for f in files if f.startswith(folder) and f != graph_rel and not f.endswith(".onnx"))
    return out


@dataclass
class Bundle:
    """A verified bundle on disk."""

    root: Path
    manifest: Manifest

    def path(self, rel: str) -> Path:
        return self.root / rel

    def graph_path(self, name: str, fp16: bool = False, precision: str | None = None) -> Path | None:
        """The file of graph ``name`` in ``precision`` (fp32, fp16, int8; ``fp16=True``: fp16), or None."""
        rel = self.manifest.graph_table(precision or ("fp16" if fp16 else "fp32")).get(name)
        return self.root / rel if rel else None

    def has_graph(self, name: str) -> bool:
        return name in self.manifest.graphs

    @property
    def target_side(self) -> str:
        return self.manifest.target_side

    @property
    def can_personalize(self) -> bool:
        """Whether the bundle carries the query-side weights personalization starts from."""
        return self.manifest.query_weights is not None

    @property
    def query_sha256(self) -> str:
        return self.manifest.files[self.manifest.graphs["query"]]["sha256"]

    @property
    def label(self) -> str:
        m = self.manifest.model
        return f"{m.name} {m.version}" + (" (demo model)" if m.demo else "")

    def tokenizer(self) -> Tokenizer:
        rel = self.manifest.text.vocab
        try:
            return Tokenizer(self.root / rel, self.manifest.text)
        except (OSError, ValueError) as e:  # unreadable, not UTF-8, no [PAD]/[UNK]/[CLS]/[SEP]
            why = str(e).removeprefix(f"{self.root / rel}: ")
            raise BundleError(f"the vocabulary {rel} (text.vocab) cannot be used: {why}; copy or export the bundle "
                              "again", rel, self.root) from e

    def check_graph(self, graph: str, inputs: Sequence[TensorInfo], outputs: Sequence[TensorInfo],
                    precision: str = "fp32") -> None:
        """The inputs and outputs ``graph`` (in ``precision``) declares or a session reports against
        the contract and the manifest's sizes (:mod:`engine.bundle_contract`)."""
        rel = self.manifest.graph_table(precision)[graph]
        check_graph_io(self.manifest, self.root, graph, rel, inputs, outputs)

    def check_output(self, graph: str, shape: tuple[int, ...]) -> None:
        """An actual output of ``graph`` against the manifest's sizes."""
        rel = self.manifest.graphs[graph]
        check_tensor(self.manifest, self.root, graph, rel, TensorInfo(GRAPH_IO[graph][1][0], None, shape))


def load_bundle(root: str | Path, verify: bool = True) -> Bundle:
    """Read and verify a bundle: the folder, or its ``manifest.json``. Raises
    :class:`BundleError` naming the bundle folder and the field or file at fault.

    Verification checks that every file the manifest lists exists inside the bundle with
    the recorded size and SHA-256, then that the graphs, the query-side weights and the
    vocabulary are what the manifest says (see the module docstring). Without it only the
    manifest itself is checked.
    """
    root = _folder(Path(root))
    try:
        data = _read_manifest(root)
        manifest = Manifest.from_json(data)
        if verify:
            verify_files(root, manifest.files)
        if data.get("target_side") not in (None, manifest.target_side):
            raise ManifestError("does not match the hashes and sizes the manifest records for the vision and target "
                                "graphs: the manifest was edited; export or copy the bundle again", "target_side")
        bundle = Bundle(root=root, manifest=manifest)
        if verify:
            _check_contents(bundle)
    except BundleError as e:
        e.locate(root)
        raise
    return bundle


def _folder(path: Path) -> Path:
    if path.is_file() and path.name == MANIFEST:
        return path.parent
    if path.exists() and not path.is_dir():
        raise BundleError(f"{path} is a file; give the model bundle folder (the one holding {MANIFEST})")
    if not path.is_dir():
        raise BundleError(f"model bundle folder {path} does not exist")
    return path


def _read_manifest(root: Path) -> Any:
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"{root} has no {MANIFEST}: not a model bundle", MANIFEST)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"cannot be read as JSON ({e}): the bundle is damaged; copy or export it again") from e


def _check_contents(bundle: Bundle) -> None:
    """Each graph's declared inputs and outputs, the query-side weights and the vocabulary."""
    m = bundle.manifest
    for precision in ("fp32", "fp16", "int8"):
        for graph, rel in m.graph_table(precision).items():
            try:
                inputs, outputs = read_graph_io(bundle.root / rel)
            except (OSError, ValueError) as e:
                raise GraphContractError(f"{graph} graph {rel} cannot be loaded: it is not a complete ONNX model "
                                         f"({e}); copy or export the bundle again", rel) from e
            bundle.check_graph(graph, inputs, outputs, precision)
    check_query_weights(m, bundle.root, bundle.tokenizer().vocab_size)


def find_base(bundle: Bundle) -> Bundle | None:
    """The bundle a personalized one was made from (its manifest's ``parent``), read
    without verifying, or None: the parent's folder must still exist and see photos as
    the child does (same target side)."""
    parent = bundle.manifest.parent
    path = parent.get("path") if isinstance(parent, dict) else None
    if not path or not Path(path).is_dir():
        return None
    try:
        base = load_bundle(path, verify=False)
    except BundleError:
        return None
    return base if base.target_side == bundle.target_side else None


def verify_files(root: Path, files: dict[str, dict[str, Any]]) -> None:
    for rel, meta in sorted(files.items()):
        p = root / rel  # inside the bundle: the manifest schema refuses absolute paths and ".."
        if p.is_dir():
            raise BundleError(f"bundle file {rel} is a folder, not a file: copy or export the bundle again", rel)
        if not p.is_file():
            raise BundleError(f"bundle file {rel} is missing: copy or export the bundle again", rel)
        try:
            size = p.stat().st_size
            if "bytes" in meta and size != int(meta["bytes"]):
                raise BundleError(f"bundle file {rel} has {size} bytes, the manifest says {meta['bytes']}: "
                                  "incomplete or altered; copy or export the bundle again", rel)
            if sha256_file(p) != meta["sha256"]:
                raise BundleError(f"bundle file {rel} does not match its SHA-256 in the manifest: altered or corrupt; "
                                  "copy or export the bundle again", rel)
        except OSError as e:
            raise BundleError(f"bundle file {rel} cannot be read: {e.strerror or e}", rel) from e


def file_entries(root: Path, rels: Iterable[str]) -> dict[str, dict[str, Any]]:
    """SHA-256 and size of each file, for a manifest."""
    out = {}
    for rel in rels:
        p = root / rel
        out[rel] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
    return out


def write_manifest(root: str | Path, manifest: Manifest) -> Path:
    """Write ``manifest.json`` atomically (temp file, fsync, rename, fsync the folder)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    text = json.dumps(manifest.to_json(), indent=2, sort_keys=False) + "\n"
    # durable: the manifest is what makes a folder a bundle (and holds every file's hash)
    return atomic_write_text(root / MANIFEST, text, durable=True)
