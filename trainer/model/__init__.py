from .config import CONFIGS, TINY, VITL, ModelConfig, QFormerConfig, VisionConfig, get_config
from .qure import QuReModel, build_model, paired_score, score

__all__ = [
    "CONFIGS",
    "TINY",
    "VITL",
    "ModelConfig",
    "QFormerConfig",
    "VisionConfig",
    "get_config",
    "QuReModel",
    "build_model",
    "score",
    "paired_score",
]
