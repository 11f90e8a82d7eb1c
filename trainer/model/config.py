"""Model configurations as frozen dataclasses. ``VITL`` is QuRe's real size; ``TINY`` is
the same modules at small widths and depths, for tests and the demo model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from engine.preprocess import ImageSpec
from engine.text import TextSpec


@dataclass(frozen=True)
class VisionConfig:
    """CLIP ViT as LAVIS builds it for BLIP-2 (no final LayerNorm; QuickGELU MLP)."""

    image_size: int = 224
    patch_size: int = 14
    width: int = 1024
    layers: int = 23  # CLIP ViT-L/14 has 24 blocks; BLIP-2 uses the penultimate output
    heads: int = 16
    mlp_ratio: int = 4
    eps: float = 1e-5
    # How pixels become tokens: "patch" (CLIP's one linear map per patch) or "conv" (a stack
    # of stride-2 3x3 convolutions down to the same grid, as in "Early convolutions help
    # transformers see better", Xiao et al. 2021; the patch side must be a power of two).
    stem: str = "patch"

    @property
    def num_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2 + 1


@dataclass(frozen=True)
class QFormerConfig:
    """BERT layout with cross-attention to the image every ``cross_attention_freq`` layers."""

    hidden: int = 768
    layers: int = 12
    heads: int = 12
    intermediate: int = 3072
    cross_attention_freq: int = 2
    vocab_size: int = 30523  # bert-base-uncased (30522) + [DEC]
    max_positions: int = 512
    num_query_tokens: int = 32
    eps: float = 1e-12
    dropout: float = 0.1
    pad_token_id: int = 0


@dataclass(frozen=True)
class ModelConfig:
    name: str
    vision: VisionConfig
    qformer: QFormerConfig
    embed_dim: int = 256
    max_txt_len: int = 32
    temp_init: float = 0.07
    freeze_vision: bool = True
    ln_vision_eps: float = 1e-5
    image: ImageSpec = field(default_factory=ImageSpec)

    def text_spec(self, vocab: str = "vocab.txt") -> TextSpec:
        return TextSpec(vocab=vocab, max_tokens=self.max_txt_len)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["image"] = self.image.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ModelConfig":
        d = dict(d)
        return cls(
            name=d["name"],
            vision=VisionConfig(**d["vision"]),
            qformer=QFormerConfig(**d["qformer"]),
            embed_dim=d["embed_dim"],
            max_txt_len=d["max_txt_len"],
            temp_init=d["temp_init"],
            freeze_vision=d["freeze_vision"],
            ln_vision_eps=d.get("ln_vision_eps", 1e-5),
            image=ImageSpec.from_json(d["image"]),
        )

    def replace(self, **kw: Any) -> "ModelConfig":
        return dataclasses.replace(self, **kw)


VITL = ModelConfig(name="vitl", vision=VisionConfig(), qformer=QFormerConfig())

# Small enough to train from scratch on 2 CPU cores in minutes; the vision tower is
# trained too (there is no pretrained tower to freeze).
TINY = ModelConfig(
    name="tiny",
    vision=VisionConfig(image_size=96, patch_size=16, width=128, layers=4, heads=4),
    qformer=QFormerConfig(
        hidden=128,
        layers=2,
        heads=4,
        intermediate=512,
        cross_attention_freq=1,
        vocab_size=1024,  # set from the vocabulary when a model is built for one
        max_positions=64,
        num_query_tokens=8,
    ),
    embed_dim=128,
    freeze_vision=False,
    image=ImageSpec(size=96),
)

CONFIGS = {"vitl": VITL, "tiny": TINY}


STEMS = ("patch", "conv")


def conv_stem_channels(width: int, patch_size: int) -> list[int]:
    """Output channels of the conv stem's stride-2 layers: log2(patch) of them, the last two at
    ``width`` and each earlier one half the next (width 128, patch 16: 32, 64, 128, 128)."""
    n = patch_size.bit_length() - 1
    return [max(1, width >> max(0, n - 2 - i)) for i in range(n)]


def resized(cfg: ModelConfig, image_size: int | None = None, vision_width: int | None = None,
            vision_layers: int | None = None, patch_size: int | None = None,
            stem: str | None = None) -> ModelConfig:
    """``cfg`` at another input resolution, patch size, vision-tower width/depth or stem (a model
    trained from scratch can be any of them; the preprocessing size follows the resolution)."""
    v = cfg.vision
    if stem is not None:
        if stem not in STEMS:
            raise ValueError(f"unknown vision stem {stem!r}; choose one of {', '.join(STEMS)}")
        v = dataclasses.replace(v, stem=stem)
    size = v.image_size if image_size is None else image_size
    patch = v.patch_size if patch_size is None else patch_size
    if patch < 1:
        raise ValueError(f"patch size must be at least 1 pixel (got {patch})")
    v = dataclasses.replace(v, patch_size=patch)
    width = v.width if vision_width is None else vision_width
    layers = v.layers if vision_layers is None else vision_layers
    if v.stem == "conv" and (v.patch_size < 2 or v.patch_size & (v.patch_size - 1)):
        raise ValueError(f"the conv stem halves the image per layer: the patch size must be a power of two "
                         f"(got {v.patch_size})")
    if size < v.patch_size or size % v.patch_size:
        raise ValueError(f"image size {size} must be a positive multiple of the patch size {v.patch_size}")
    if width < v.heads or width % v.heads:
        raise ValueError(f"vision width {width} must be a positive multiple of its {v.heads} heads")
    if layers < 1:
        raise ValueError(f"vision layers must be at least 1 (got {layers})")
    vision = dataclasses.replace(v, image_size=size, width=width, layers=layers)
    return cfg.replace(vision=vision, image=dataclasses.replace(cfg.image, size=size))


def get_config(name: str) -> ModelConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown model config {name!r}; choose one of {sorted(CONFIGS)}") from None
