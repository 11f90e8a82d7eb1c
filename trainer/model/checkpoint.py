"""Import LAVIS-layout checkpoints (official QuRe ``model.pth``, BLIP-2
``blip2_pretrained_vitL.pth``, LAVIS's ``clip_vit_L.pth``) into :class:`QuReModel`.

Every key of every file is either mapped onto one of our parameters through the
explicit table below, or reported by name as known-unused (the captioning LM head,
the ITM head, CLIP's last block...), or it is unexpected and the import fails.
Every parameter of our model must be filled, or the import fails. Files are read
with ``torch.load(weights_only=True)``: a checkpoint cannot run code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch

from ..torchfile import TorchFileError, load_weights_only
from .config import ModelConfig
from .qure import QuReModel

# ----------------------------------------------------------------------------- key map
# (regex over the LAVIS key, our key template). Groups are substituted in order.
_VIT = r"visual_encoder\."
_VIT_PREFIX = "visual_encoder."
_QF = r"Qformer\.bert\."
_LAYER = _QF + r"encoder\.layer\.(\d+)\."
_ATTN_PARTS = {
    r"self\.query": "q",
    r"self\.key": "k",
    r"self\.value": "v",
    r"output\.dense": "out",
    r"output\.LayerNorm": "norm",
}
_KEY_MAP: list[tuple[str, str]] = [
    (_VIT + r"conv1\.weight", "vision.patch_embed.weight"),
    (_VIT + r"class_embedding", "vision.cls_token"),
    (_VIT + r"positional_embedding", "vision.pos_embed"),
    (_VIT + r"ln_pre\.(weight|bias)", "vision.ln_pre.{}"),
    (_VIT + r"transformer\.resblocks\.(\d+)\.attn\.in_proj_weight", "vision.blocks.{}.attn.qkv.weight"),
    (_VIT + r"transformer\.resblocks\.(\d+)\.attn\.in_proj_bias", "vision.blocks.{}.attn.qkv.bias"),
    (_VIT + r"transformer\.resblocks\.(\d+)\.attn\.out_proj\.(weight|bias)", "vision.blocks.{}.attn.proj.{}"),
    (_VIT + r"transformer\.resblocks\.(\d+)\.ln_1\.(weight|bias)", "vision.blocks.{}.ln_1.{}"),
    (_VIT + r"transformer\.resblocks\.(\d+)\.ln_2\.(weight|bias)", "vision.blocks.{}.ln_2.{}"),
    (_VIT + r"transformer\.resblocks\.(\d+)\.mlp\.c_fc\.(weight|bias)", "vision.blocks.{}.mlp.fc1.{}"),
    (_VIT + r"transformer\.resblocks\.(\d+)\.mlp\.c_proj\.(weight|bias)", "vision.blocks.{}.mlp.fc2.{}"),
    (r"ln_vision\.(weight|bias)", "ln_vision.{}"),
    (r"query_tokens", "query_tokens"),
    (_QF + r"embeddings\.word_embeddings\.weight", "qformer.embeddings.word.weight"),
    (_QF + r"embeddings\.position_embeddings\.weight", "qformer.embeddings.position.weight"),
    (_QF + r"embeddings\.LayerNorm\.(weight|bias)", "qformer.embeddings.norm.{}"),
    *[
        (_LAYER + r"attention\." + part + r"\.(weight|bias)", "qformer.layers.{}.self_attn." + ours + ".{}")
        for part, ours in _ATTN_PARTS.items()
    ],
    *[
        (_LAYER + r"crossattention\." + part + r"\.(weight|bias)", "qformer.layers.{}.cross_attn." + ours + ".{}")
        for part, ours in _ATTN_PARTS.items()
    ],
    (_LAYER + r"intermediate\.dense\.(weight|bias)", "qformer.layers.{}.ffn_text.fc1.{}"),
    (_LAYER + r"output\.dense\.(weight|bias)", "qformer.layers.{}.ffn_text.fc2.{}"),
    (_LAYER + r"output\.LayerNorm\.(weight|bias)", "qformer.layers.{}.ffn_text.norm.{}"),
    (_LAYER + r"intermediate_query\.dense\.(weight|bias)", "qformer.layers.{}.ffn_query.fc1.{}"),
    (_LAYER + r"output_query\.dense\.(weight|bias)", "qformer.layers.{}.ffn_query.fc2.{}"),
    (_LAYER + r"output_query\.LayerNorm\.(weight|bias)", "qformer.layers.{}.ffn_query.norm.{}"),
    (r"vision_proj\.(weight|bias)", "vision_proj.{}"),
    (r"text_proj\.(weight|bias)", "text_proj.{}"),
    (r"temp", "temp"),
]
_COMPILED = [(re.compile(p + r"$"), t) for p, t in _KEY_MAP]

# Keys CIR does not use, with the reason reported for each.
_UNUSED: list[tuple[str, str]] = [
    (r"Qformer\.cls\..*", "BLIP-2 captioning LM head (not used for retrieval)"),
    (r"itm_head\..*", "BLIP-2 image-text matching head (not used by QuRe)"),
    (r"Qformer\.bert\.pooler\..*", "BERT pooler (not used by BLIP-2)"),
    (r"Qformer\.bert\.embeddings\.position_ids", "buffer: position ids, recomputed"),
    (r"visual_encoder\.ln_post\..*", "CLIP's final LayerNorm (BLIP-2 uses the penultimate tokens)"),
    (r"visual_encoder\.proj", "CLIP's image projection (BLIP-2 uses the penultimate tokens)"),
]
_UNUSED_COMPILED = [(re.compile(p + r"$"), why) for p, why in _UNUSED]


def map_lavis_key(key: str) -> str | None:
    """Our parameter name for a LAVIS key, or None if the key is not in the map."""
    for rx, template in _COMPILED:
        m = rx.match(key)
        if m:
            return template.format(*m.groups())
    return None


def unused_reason(key: str) -> str | None:
    for rx, why in _UNUSED_COMPILED:
        if rx.match(key):
            return why
    return None


# ----------------------------------------------------------------------------- reading


class CheckpointError(Exception):
    """A checkpoint cannot be imported; the message names the keys at fault."""


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a LAVIS-layout checkpoint safely and return a flat state dict.

    Accepts a bare state dict (QuRe's ``model.pth``), ``{"model": sd}`` (LAVIS /
    BLIP-2 releases) or ``{"state_dict": sd}``; strips DDP's ``module.`` and
    fairscale's ``_checkpoint_wrapped_module.`` from key names.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        obj = load_weights_only(path)
    except TorchFileError as e:
        raise CheckpointError(f"{path} cannot be read as a weights-only checkpoint: {e}") from None
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]
    elif isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} does not hold a state dict of tensors")
    out = {}
    for k, v in obj.items():
        k = k.removeprefix("module.").replace("_checkpoint_wrapped_module.", "")
        out[k] = v
    return out


def clip_vit_to_lavis(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """LAVIS's ``clip_vit_L.pth`` has the vision tower's keys without a prefix."""
    return {("visual_encoder." + k if not k.startswith("visual_encoder.") else k): v for k, v in sd.items()}


# ----------------------------------------------------------------------------- config


def _vit_blocks(sd: dict[str, torch.Tensor]) -> int:
    idx = {int(m.group(1)) for k in sd if (m := re.match(r"visual_encoder\.transformer\.resblocks\.(\d+)\.", k))}
    if idx and idx != set(range(max(idx) + 1)):
        raise CheckpointError(f"vision blocks are not contiguous: {sorted(idx)}")
    return len(idx)


def infer_config(sd: dict[str, torch.Tensor], base: ModelConfig, vit_blocks: int | None = None) -> ModelConfig:
    """The base config with every size that the weights determine read off them.

    Head counts cannot be read off weights; they come from ``base`` and must divide
    the widths. The number of vision blocks is the checkpoint's own (LAVIS 1.0.2 and
    LAVIS main build different counts: never assume one), unless ``vit_blocks``
    caps it (a raw CLIP tower has one block more than BLIP-2 uses).
    """
    v, q = base.vision, base.qformer
    need = [
        "visual_encoder.conv1.weight",
        "visual_encoder.positional_embedding",
        "query_tokens",
        "Qformer.bert.embeddings.word_embeddings.weight",
        "Qformer.bert.embeddings.position_embeddings.weight",
        "vision_proj.weight",
    ]
    missing = [k for k in need if k not in sd]
    if missing:
        raise CheckpointError("the checkpoints lack keys needed to size the model: " + ", ".join(missing))
    conv = sd["visual_encoder.conv1.weight"]  # (W, 3, p, p)
    width, patch = conv.shape[0], conv.shape[-1]
    tokens = sd["visual_encoder.positional_embedding"].shape[0]
    grid = round((tokens - 1) ** 0.5)
    if grid * grid + 1 != tokens:
        raise CheckpointError(f"positional embedding of {tokens} tokens is not a square grid + [CLS]")
    blocks = _vit_blocks(sd)
    if vit_blocks is not None:
        if blocks < vit_blocks:
            raise CheckpointError(f"the vision tower has {blocks} blocks, fewer than the {vit_blocks} asked for")
        blocks = vit_blocks
    layer_idx = {int(m.group(1)) for k in sd if (m := re.match(_LAYER, k))}
    cross = sorted({int(m.group(1)) for k in sd if (m := re.match(_LAYER + "crossattention", k))})
    n_layers = len(layer_idx)
    if not n_layers or layer_idx != set(range(n_layers)):
        raise CheckpointError(f"Q-Former layers are missing or not contiguous: {sorted(layer_idx)}")
    freq = cross[1] - cross[0] if len(cross) > 1 else max(n_layers, 1)
    if not cross or cross != list(range(0, n_layers, freq)):
        raise CheckpointError(f"cross-attention layers {cross} do not follow an every-k pattern from layer 0")
    hidden = sd["query_tokens"].shape[-1]
    inter = sd["Qformer.bert.encoder.layer.0.intermediate.dense.weight"].shape[0]
    vision = replace(v, image_size=grid * patch, patch_size=patch, width=width, layers=blocks)
    qformer = replace(
        q,
        hidden=hidden,
        layers=n_layers,
        intermediate=inter,
        cross_attention_freq=freq,
        vocab_size=sd["Qformer.bert.embeddings.word_embeddings.weight"].shape[0],
        max_positions=sd["Qformer.bert.embeddings.position_embeddings.weight"].shape[0],
        num_query_tokens=sd["query_tokens"].shape[1],
    )
    for name, w, h in (("vision", width, vision.heads), ("Q-Former", hidden, qformer.heads)):
        if w % h:
            raise CheckpointError(f"{name} width {w} is not divisible by {h} heads; give a matching base config")
    image = replace(base.image, size=vision.image_size)
    return base.replace(vision=vision, qformer=qformer, embed_dim=sd["vision_proj.weight"].shape[0], image=image)


# ----------------------------------------------------------------------------- import


@dataclass
class ImportReport:
    """What happened to every key: mapped (with its source), unused (with a reason),
    unexpected, missing, dtype-converted, shadowed by an earlier source."""

    mapped: dict[str, str] = field(default_factory=dict)  # our key -> "source:lavis key"
    unused: dict[str, str] = field(default_factory=dict)  # "source:lavis key" -> reason
    unexpected: list[str] = field(default_factory=list)  # "source:lavis key"
    missing: list[str] = field(default_factory=list)  # our keys
    shape_errors: list[str] = field(default_factory=list)
    converted: dict[str, str] = field(default_factory=dict)  # "source:key" -> "float16 -> float32"
    shadowed: dict[str, int] = field(default_factory=dict)  # source -> keys also given by an earlier source

    @property
    def ok(self) -> bool:
        return not (self.unexpected or self.missing or self.shape_errors)

    def per_source(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for src in self.mapped.values():
            s = src.split(":", 1)[0]
            out[s] = out.get(s, 0) + 1
        return out

    def summary(self) -> str:
        lines = [f"mapped {len(self.mapped)} parameters " + str(self.per_source())]
        if self.shadowed:
            lines.append("keys given by several files (the first file wins): " + str(self.shadowed))
        if self.converted:
            lines.append(f"converted to float32: {len(self.converted)} tensors")
        groups: dict[str, int] = {}
        for why in self.unused.values():
            groups[why] = groups.get(why, 0) + 1
        for why, n in sorted(groups.items()):
            lines.append(f"unused: {n} keys: {why}")
        for k in self.unexpected:
            lines.append(f"UNEXPECTED key: {k}")
        for k in self.missing:
            lines.append(f"MISSING parameter: {k}")
        for k in self.shape_errors:
            lines.append(f"SHAPE mismatch: {k}")
        return "\n".join(lines)


def import_lavis(
    sources: list[tuple[str, dict[str, torch.Tensor]]],
    base: ModelConfig,
    vit_blocks: int | None = None,
    on_report: Callable[[ImportReport], None] | None = None,
) -> tuple[QuReModel, ImportReport]:
    """Build a :class:`QuReModel` from LAVIS-layout state dicts, strictly.

    ``sources`` are ``(label, state_dict)`` in priority order: a key found in an
    earlier source wins (QuRe's fine-tuned weights over BLIP-2's pretrained ones;
    QuRe's file may lack the frozen ViT, which then comes from BLIP-2 or CLIP).
    Raises :class:`CheckpointError` with the full report if anything is unexpected,
    missing or mis-shaped. The model is returned in eval mode.
    """
    merged: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    report = ImportReport()
    # The vision tower comes whole from the first file that has one (block counts
    # differ between files: never mix blocks from two towers).
    vit_source = next((label for label, sd in sources if any(k.startswith(_VIT_PREFIX) for k in sd)), None)
    for label, sd in sources:
        for k, v in sd.items():
            if k.startswith(_VIT_PREFIX) and label != vit_source:
                report.shadowed[label] = report.shadowed.get(label, 0) + 1
                continue
            if k in merged:
                report.shadowed[label] = report.shadowed.get(label, 0) + 1
                continue
            merged[k] = v
            origin[k] = label
    cfg = infer_config(merged, base, vit_blocks)
    model = QuReModel(cfg)
    ours = model.state_dict()
    new_sd: dict[str, torch.Tensor] = {}
    for k, v in merged.items():
        tag = f"{origin[k]}:{k}"
        target = map_lavis_key(k)
        if target is None:
            why = unused_reason(k)
            if why is None:
                report.unexpected.append(tag)
            else:
                report.unused[tag] = why
            continue
        if target not in ours:
            m = re.match(r"vision\.blocks\.(\d+)\.", target)
            if m and int(m.group(1)) >= cfg.vision.layers:
                report.unused[tag] = f"vision block beyond the {cfg.vision.layers} BLIP-2 uses"
            else:
                report.unexpected.append(tag)
            continue
        if tuple(v.shape) != tuple(ours[target].shape):
            report.shape_errors.append(f"{tag}: {tuple(v.shape)} vs ours {target} {tuple(ours[target].shape)}")
            continue
        if v.dtype != torch.float32:
            if not v.is_floating_point():
                report.shape_errors.append(f"{tag}: dtype {v.dtype} is not floating point")
                continue
            report.converted[tag] = f"{v.dtype} -> float32"
            v = v.float()
        new_sd[target] = v
        report.mapped[target] = tag
    pos = merged.get("Qformer.bert.embeddings.position_ids")
    if pos is not None and not torch.equal(pos.flatten().long(), torch.arange(pos.numel())):
        report.unexpected.append("position_ids buffer is not 0..n-1")
    report.missing = sorted(set(ours) - set(new_sd))
    if on_report is not None:
        on_report(report)
    if not report.ok:
        raise CheckpointError("checkpoint import failed:\n" + report.summary())
    model.load_state_dict(new_sd, strict=True)
    return model.eval(), report


def import_files(
    checkpoint: str | Path | None = None,
    blip2: str | Path | None = None,
    clip_vit: str | Path | None = None,
    base: ModelConfig | None = None,
) -> tuple[QuReModel, ImportReport]:
    """Import from files: QuRe's ``model.pth`` first, then BLIP-2's, then LAVIS's CLIP ViT."""
    from .config import VITL

    sources = []
    if checkpoint is not None:
        sources.append(("qure", read_state_dict(checkpoint)))
    if blip2 is not None:
        sources.append(("blip2", read_state_dict(blip2)))
    vit_blocks = None
    if clip_vit is not None:
        sources.append(("clip_vit", clip_vit_to_lavis(read_state_dict(clip_vit))))
        if not any(_vit_blocks(sd) for _, sd in sources[:-1]):
            # A raw CLIP tower holds all 24 blocks; BLIP-2 uses the first 23.
            vit_blocks = (base or VITL).vision.layers
    if not sources:
        raise CheckpointError("no checkpoint given")
    return import_lavis(sources, base or VITL, vit_blocks)
