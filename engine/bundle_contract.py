"""What a bundle's graphs and weights must look like for its manifest to describe them.

Each graph takes and gives named tensors (:data:`GRAPH_IO`) whose axes are the manifest's sizes::

    pixels          float (B, 3, image.size, image.size)
    vision_feats    float (B, sizes.vision_tokens, sizes.vision_width)
    target_tokens   float (B, sizes.num_query_tokens, sizes.embed_dim)
    input_ids, attention_mask  int64 (B, text.max_tokens); query_cached's may be shorter (the text's real length)
    query_embed, text_embed    float (B, sizes.embed_dim)
    cross_kv        float (B, C, 2, heads, sizes.vision_tokens, head width): the query path's
                    cross-attention keys and values of a reference, C cross-attention layers

``query_kv`` and ``query_cached`` are optional and come together: ``query`` split in two at
what depends on the reference alone, so each edit of the text re-runs only ``query_cached``.

The check runs three times, each as cheap as the moment allows: on the shapes an ONNX file
declares (when the bundle is loaded: no session), on the shapes a new ONNX Runtime session
reports (it infers some a file leaves open), and on each actual output (a free comparison).
An exporter may leave some output axes named rather than fixed; the query-side weights
(``query_weights``, an ``.npz``) then still tell the token count and embedding size at load.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .errors import BundleError, GraphContractError
from .onnx_header import TensorInfo

if TYPE_CHECKING:
    from .bundle import Manifest

# Input and output names of each graph: the trainer exports with these, the engine feeds them.
GRAPH_IO: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "vision": (("pixels",), ("vision_feats",)),
    "target": (("vision_feats",), ("target_tokens",)),
    "query": (("vision_feats", "input_ids", "attention_mask"), ("query_embed",)),
    "text": (("input_ids", "attention_mask"), ("text_embed",)),
    "query_kv": (("vision_feats",), ("cross_kv",)),
    "query_cached": (("cross_kv", "input_ids", "attention_mask"), ("query_embed",)),
}

Dim = tuple[int | None, str | None]  # (the size wanted, None: any; the manifest field that sets it, if one does)


def _tensors(m: Manifest) -> dict[str, tuple[str, tuple[Dim, ...]]]:
    """Tensor name -> (dtype, axes) as the manifest ``m`` describes them."""
    s = m.sizes
    b: Dim = (None, None)
    px: Dim = (m.image.size, "image.size")
    e: Dim = (s.embed_dim, "sizes.embed_dim")
    feats = (b, (s.vision_tokens, "sizes.vision_tokens"), (s.vision_width, "sizes.vision_width"))
    ids = ("int64", (b, (m.text.max_tokens, "text.max_tokens")))
    return {
        "pixels": ("float", (b, (3, None), px, px)),
        "vision_feats": ("float", feats),
        "target_tokens": ("float", (b, (s.num_query_tokens, "sizes.num_query_tokens"), e)),
        "input_ids": ids,
        "attention_mask": ids,
        "query_embed": ("float", (b, e)),
        "text_embed": ("float", (b, e)),
        "cross_kv": ("float", (b, b, (2, None), b, (s.vision_tokens, "sizes.vision_tokens"), b)),
    }


def check_graph_io(m: Manifest, root: Path, graph: str, rel: str, inputs: Sequence[TensorInfo],
                   outputs: Sequence[TensorInfo]) -> None:
    """Raise :class:`GraphContractError` if ``graph`` (file ``rel`` of the bundle in ``root``)
    lacks an input or output of the contract, has another one, or declares a type or a fixed
    axis that disagrees with the manifest."""
    want_in, want_out = GRAPH_IO[graph]
    got_in, got_out = {t.name: t for t in inputs}, {t.name: t for t in outputs}
    if set(got_in) != set(want_in) or not set(want_out) <= set(got_out):
        raise GraphContractError(
            f"{graph} graph {rel} has inputs {tuple(got_in)} and outputs {tuple(got_out)}; the bundle contract "
            f"wants {want_in} -> {want_out}: this file is not the {graph} graph", rel, bundle=root)
    for name in want_in + want_out:
        check_tensor(m, root, graph, rel, got_in.get(name) or got_out[name])


def check_tensor(m: Manifest, root: Path, graph: str, rel: str, got: TensorInfo) -> None:
    """``got`` (a declared input or output of ``graph``, or an actual output) against the contract."""
    dtype, dims = _tensors(m)[got.name]
    if got.dtype is not None and got.dtype != dtype:
        raise GraphContractError(f"{graph} graph {rel} has {got.name} of type {got.dtype}; the bundle contract "
                                 f"wants {dtype}", rel, bundle=root)
    if got.dims is None:
        return
    shape = "(" + ", ".join(str(d) for d in got.dims) + ")"
    if len(got.dims) != len(dims):
        raise GraphContractError(f"{graph} graph {rel} has {got.name} of shape {shape}; the bundle contract wants "
                                 f"{len(dims)} axes", rel, bundle=root)
    for axis, (size, (want, field)) in enumerate(zip(got.dims, dims)):
        if want is None or not isinstance(size, int) or size < 0 or size == want:
            continue
        why = (f"the manifest's {field} is {want}: the manifest does not describe this graph (it was edited, or "
               "belongs to another model); export the bundle again" if field else
               f"the bundle contract wants {want} there")
        raise GraphContractError(f"{graph} graph {rel} has {got.name} of shape {shape} ({size} on axis {axis}), "
                                 f"but {why}", rel, field, root)


# Query-side weights (the trainer's QuerySide as an .npz): array -> the manifest field of each axis.
_WEIGHT_AXES: dict[str, tuple[str | None, ...]] = {
    "query_tokens": (None, "sizes.num_query_tokens", None),  # (1, Q, H)
    "text_proj.weight": ("sizes.embed_dim", None),  # (E, H)
    "qformer.embeddings.word.weight": ("text.vocab", None),  # (vocabulary + extra special tokens, H)
}


def check_query_weights(m: Manifest, root: Path, vocab_size: int) -> None:
    """The shapes in ``m.query_weights`` (read from the array headers, not the arrays) against
    the manifest's sizes and the vocabulary's ``vocab_size``; arrays it lacks are not checked."""
    rel = m.query_weights
    if rel is None:
        return
    want = {"sizes.num_query_tokens": m.sizes.num_query_tokens, "sizes.embed_dim": m.sizes.embed_dim,
            "text.vocab": vocab_size}
    for name, shape in _npz_shapes(root / rel, rel, root).items():
        fields = _WEIGHT_AXES.get(name)
        if fields is None or len(fields) != len(shape):
            continue
        for size, field in zip(shape, fields):
            if field is not None and size != want[field]:
                what = f"{want[field]} tokens in {m.text.vocab}" if field == "text.vocab" else f"{field} {want[field]}"
                raise GraphContractError(f"query_weights file {rel} holds {name} of shape {shape}, which does not fit "
                                         f"the manifest's {what}: export the bundle again", rel, field, root)


def _npz_shapes(path: Path, rel: str, root: Path) -> dict[str, tuple[int, ...]]:
    out = {}
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.filename.endswith(".npy"):
                    with z.open(info) as f:
                        version = np.lib.format.read_magic(f)
                        shape, _, _ = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                                       else np.lib.format.read_array_header_2_0(f))
                    out[info.filename[:-4]] = tuple(shape)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise BundleError(f"query_weights file {rel} is not a readable .npz archive ({e}): the bundle is damaged; "
                          "copy or export it again", rel, root) from e
    return out
