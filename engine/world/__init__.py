"""The demo world: rendered garments with known attributes, modification texts, FashionIQ layout.

Torch-free (PIL + numpy): the trainer uses it to make training data, and the engine to
build the demo photo library on first run. See docs/world.md.
"""

from engine.world.attributes import CATEGORIES, CATEGORY_ATTRIBUTES, VALUES, Garment, all_garments
from engine.world.captions import Caption, caption_pair
from engine.world.corpus import vocabulary_corpus
from engine.world.demo import DemoLibrary, DemoQuery, read_demo_queries, render_demo_library
from engine.world.errors import WorldError
from engine.world.layout import World, generate, read_world, write_world
from engine.world.metrics import (
    Query,
    attribute_agreement_at_k,
    mean_attribute_agreement_at_k,
    mean_precision_at_k,
    precision_at_k,
    relevant,
    satisfies,
)
from engine.world.phrases import Statement
from engine.world.plan import SPLITS, WorldConfig, WorldPlan, plan_world
from engine.world.render import Nuisance, render, render_seeded, sample_nuisance

__all__ = [
    "CATEGORIES", "CATEGORY_ATTRIBUTES", "SPLITS", "VALUES",
    "Caption", "DemoLibrary", "DemoQuery", "Garment", "Nuisance", "Query", "Statement",
    "World", "WorldConfig", "WorldError", "WorldPlan",
    "all_garments", "attribute_agreement_at_k", "caption_pair", "generate", "mean_attribute_agreement_at_k",
    "mean_precision_at_k", "plan_world", "precision_at_k", "read_demo_queries", "read_world", "relevant",
    "render", "render_demo_library", "render_seeded", "sample_nuisance", "satisfies", "vocabulary_corpus",
    "write_world",
]
