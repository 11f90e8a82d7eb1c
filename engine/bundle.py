"""The model bundle: the contract between the trainer (writes) and the engine (reads).

A bundle is a folder::

    manifest.json
    vision.onnx     pixels (B,3,S,S) float32          -> vision_feats (B,T,Dv)  after ln_vision
    target.onnx     vision_feats (B,T,Dv)             -> target_tokens (B,Q,E)  each L2-normalized
    query.onnx      vision_feats, input_ids, attention_mask (B,L) int64
                                                      -> query_embed (B,E)      L2-normalized
    text.onnx       input_ids, attention_mask          -> text_embed (B,E)       (optional, text-only search)
    vocab.txt
    fp16/...        the same graphs in half precision for GPUs (optional)
    weights/query_side.npz   float32 weights of the query side (optional; what personalization
                             fine-tunes a copy of; a personalized child keeps its root's file)

A graph over 2 GB lives in its own folder with one external-data file
(``vision/vision.onnx`` + ``vision/vision.onnx.data``); the manifest names its files.

Relevance of a photo to a query is ``max_k <q, t_k>`` over its Q target tokens.

``manifest.json`` records the format version, the model, the parent bundle (for
personalized ones), image and text preparation, sizes, and the SHA-256 and size of
every file. Loading verifies all of them and names the offending file on failure.
The *target side hash* covers what the index depends on (vision + target graphs and
image preparation): a personalized bundle that replaces only ``query.onnx`` keeps it,
so the index stays valid.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .atomic import atomic_write_text
from .errors import BundleError
from .preprocess import ImageSpec
from .text import TextSpec, Tokenizer

FORMAT = "cirsearch-bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
REQUIRED_GRAPHS = ("vision", "target", "query")

# Input and output names of each graph: the trainer exports with these, the engine feeds them.
GRAPH_IO: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vision": (("pixels",), ("vision_feats",)),
    "target": (("vision_feats",), ("target_tokens",)),
    "query": (("vision_feats", "input_ids", "attention_mask"), ("query_embed",)),
    "text": (("input_ids", "attention_mask"), ("text_embed",)),
}


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
            "files": {k: dict(v) for k, v in sorted(self.files.items())},
            "target_side": self.target_side,
            "parity": self.parity,
            "extra": self.extra,
            "query_weights": self.query_weights,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Manifest":
        if d.get("format") != FORMAT:
            raise BundleError(f"not a cirsearch model bundle (format {d.get('format')!r})", MANIFEST)
        if int(d.get("format_version", -1)) > FORMAT_VERSION:
            raise BundleError(
                f"bundle format {d.get('format_version')} is newer than this app understands ({FORMAT_VERSION}); "
                "update cirsearch",
                MANIFEST,
            )
        try:
            m = cls(
                model=ModelInfo.from_json(d["model"]),
                image=ImageSpec.from_json(d["image"]),
                text=TextSpec.from_json(d["text"]),
                sizes=Sizes.from_json(d["sizes"]),
                graphs={str(k): str(v) for k, v in d["graphs"].items()},
                files={str(k): dict(v) for k, v in d["files"].items()},
                fp16_graphs={str(k): str(v) for k, v in d.get("fp16_graphs", {}).items()},
                parent=d.get("parent"),
                parity=dict(d.get("parity", {})),
                extra=dict(d.get("extra", {})),
                query_weights=d.get("query_weights"),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise BundleError(f"manifest is malformed: {e!r}", MANIFEST) from e
        for g in REQUIRED_GRAPHS:
            if g not in m.graphs:
                raise BundleError(f"manifest names no {g} graph", MANIFEST)
        for g in list(m.graphs.values()) + list(m.fp16_graphs.values()) + [m.text.vocab] + (
            [m.query_weights] if m.query_weights else []
        ):
            if g not in m.files:
                raise BundleError(f"manifest lists {g} but records no hash for it", g)
        if "target_side" in d and d["target_side"] != m.target_side:
            raise BundleError("manifest's target_side does not match its own file hashes", MANIFEST)
        return m


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

    def graph_path(self, name: str, fp16: bool = False) -> Path | None:
        table = self.manifest.fp16_graphs if fp16 else self.manifest.graphs
        rel = table.get(name)
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
        return Tokenizer(self.root / self.manifest.text.vocab, self.manifest.text)


def load_bundle(root: str | Path, verify: bool = True) -> Bundle:
    """Read and verify a bundle. Raises :class:`BundleError` naming the file at fault.

    Verification checks that every file the manifest lists exists inside the bundle
    with the recorded size and SHA-256.
    """
    root = Path(root)
    if not root.is_dir():
        raise BundleError(f"model bundle folder {root} does not exist")
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"{root} has no {MANIFEST}: not a model bundle", MANIFEST)
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"{MANIFEST} cannot be read: {e}", MANIFEST) from e
    if not isinstance(data, dict):
        raise BundleError(f"{MANIFEST} is not a JSON object", MANIFEST)
    manifest = Manifest.from_json(data)
    if verify:
        verify_files(root, manifest.files)
    return Bundle(root=root, manifest=manifest)


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
        p = root / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise BundleError(f"manifest names a file outside the bundle: {rel}", rel)
        if not p.is_file():
            raise BundleError(f"bundle file {rel} is missing", rel)
        size = p.stat().st_size
        if "bytes" in meta and size != int(meta["bytes"]):
            raise BundleError(
                f"bundle file {rel} has {size} bytes, the manifest says {meta['bytes']}: incomplete or altered", rel
            )
        if sha256_file(p) != meta["sha256"]:
            raise BundleError(f"bundle file {rel} does not match its SHA-256 in the manifest: altered or corrupt", rel)


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
