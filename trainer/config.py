"""Training and data configuration: frozen dataclasses built at the edge (the CLI) and
stored in the run's config.json.

The defaults written here are the only ones: the command line gives its flags no
defaults of its own (a flag not given is None and leaves the field's default), and
``trainer.commands.train.DEFAULTS`` overrides a few of them per model family and dataset.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from .mining import MiningConfig
from .objectives import METHODS


@dataclass(frozen=True)
class DataConfig:
    dataset: str  # "fashioniq" | "cirr"
    root: str
    train_split: str = "train"
    val_split: str | None = "val"  # None: no validation
    categories: tuple[str, ...] | None = None  # FashionIQ; None = every captions file found
    corpus: str = "split"  # FashionIQ training corpus: "split" or "targets" (see data.fashioniq)
    images: str = "auto"  # "memory" (decode once, keep), "lazy" (decode in workers), "auto"
    feature_cache: str | None = None  # folder for cached frozen-ViT tokens (float16 .npy)

    def __post_init__(self) -> None:
        if self.images not in ("memory", "lazy", "auto"):
            raise ValueError(f"images must be memory, lazy or auto, not {self.images!r}")


@dataclass(frozen=True)
class TrainConfig:
    method: str = "contrastive"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 5e-6
    weight_decay: float = 0.05
    min_lr_ratio: float = 0.01  # QuRe's cosine floor lr0/100
    lr_warmup_steps: int = 0  # linear warm-up over the first steps (QuRe: none)
    seed: int = 1000
    amp: bool = True  # fp16 autocast + GradScaler, on CUDA only
    n_def: int = 6
    warmup: bool = True  # QuRe's warm-up: uniform negatives for the first period
    mining: MiningConfig = field(default_factory=MiningConfig)
    spn_temp: float = 0.05
    temp_floor: float = 1e-3
    num_workers: int = 0
    eval_every: int = 1
    log_every: int = 10
    max_steps_per_epoch: int | None = None  # for smoke runs
    eval_batch_size: int = 128

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {METHODS}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch size must be positive")
        if self.method in ("qure", "trns", "above") and self.mining.method != self.method:
            raise ValueError(f"method {self.method} needs mining method {self.method}, not {self.mining.method}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TrainConfig":
        d = dict(d)
        d["mining"] = MiningConfig(**d.get("mining", {}))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def default_of(cls: type, name: str) -> Any:
    """The default of dataclass ``cls``'s field ``name`` (for help texts)."""
    f = {f.name: f for f in dataclasses.fields(cls)}[name]
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise ValueError(f"{cls.__name__}.{name} has no default")


def data_to_json(d: DataConfig) -> dict[str, Any]:
    out = asdict(d)
    out["categories"] = list(d.categories) if d.categories else None
    return out


def data_from_json(d: dict[str, Any]) -> DataConfig:
    d = dict(d)
    if d.get("categories"):
        d["categories"] = tuple(d["categories"])
    known = {f.name for f in dataclasses.fields(DataConfig)}
    return DataConfig(**{k: v for k, v in d.items() if k in known})
