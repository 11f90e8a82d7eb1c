"""Texts for learning a small WordPiece vocabulary that covers the world and what people type.

``vocabulary_corpus()`` yields every wording the caption tables can produce (each template
with each filler, for every attribute value and category), the fixed words of the caption
shapes, a sample of whole captions and of garment descriptions (pretraining's texts), and
everyday words a person might type into the demo app ("make it", "without", "instead",
"please", colours and garments the world does not draw). Building the vocabulary file is
the trainer's job (``trainer.vocab``); the engine only supplies the texts.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from engine.world.attributes import CATEGORIES, CATEGORY_ATTRIBUTES, VALUES, all_garments
from engine.world.captions import caption_pair
from engine.world.descriptions import sampled_descriptions
from engine.world.phrases import NOUNS, PATTERN_ADJ, RELATIONS, Statement, expand, fillers, templates

# The fixed words of caption shapes (captions.py) and of things people type.
SHAPE_WORDS = (
    "it this one the new one should be one that please can you just then and but with without "
    "same style similar like this one same but same thing but a an i want looking for i would like "
    "show me i'd prefer instead of rather than not change to make"
)
EVERYDAY = (
    "make it more less but same instead please with without and or not no yes very bit a little slightly "
    "much too also still keep change to from into like than other another different similar more of "
    "the a an this that these those one ones it its is are be was has have had do does don't "
    "i me my we you your want would like need looking for find show give get put take remove add "
    "colour color colours colors colourful colorful pattern patterned print printed style fit size "
    "darker lighter brighter paler longer shorter bigger smaller wider looser tighter "
    "navy brown beige cream tan teal maroon burgundy olive khaki gold silver turquoise lavender "
    "coral mint peach magenta violet crimson charcoal ivory denim light dark pale bright "
    "jacket coat sweater hoodie cardigan blouse skirt jeans pants trousers shorts suit jumpsuit "
    "tank camisole polo tunic gown sundress shoes boots bag hat scarf "
    "collar collared buttons button zip zipper pocket pockets belt hood lace ruffles "
    "cotton silk denim wool leather knit sheer "
    "stripe stripes striped dot dots dotted polka spots check checks checked checkered plaid gingham "
    "flower flowers floral flowery animal leopard graphic logo text "
    "sleeve sleeves sleeveless short long longer shorter three quarter cap strapless strap straps "
    "neck neckline v-neck crew round scoop turtleneck off shoulder "
    "mini midi maxi knee ankle floor length above below"
)
USER_PHRASES = (
    "make it red",
    "same dress but blue",
    "with long sleeves",
    "without sleeves",
    "more colorful",
    "less formal",
    "but in green",
    "same but striped",
    "instead of black",
    "please make it darker",
    "a shorter version",
    "the same shirt in white",
    "no pattern please",
    "with a v-neck instead",
    "make the sleeves shorter",
    "change the color to navy",
    "i want this in pink",
)


def _statements(category: str) -> Iterator[Statement]:
    for attribute in CATEGORY_ATTRIBUTES[category]:
        for value in VALUES[attribute]:
            for relation in RELATIONS:
                try:
                    table = templates(Statement(attribute, relation, value))
                except KeyError:
                    continue
                if table:
                    yield Statement(attribute, relation, value)


def phrase_texts() -> Iterator[str]:
    """Every wording of every claim, for every category."""
    for category in CATEGORIES:
        for st in _statements(category):
            options = fillers(st, category)
            for frame_templates in templates(st).values():
                for t in frame_templates:
                    yield from expand(t, options)


def sampled_captions(count: int, seed: int = 0) -> Iterator[str]:
    """Captions of random reference/target pairs, as the world makes them."""
    rng = np.random.default_rng([seed, 42])
    pools = {c: list(all_garments(c)) for c in CATEGORIES}
    made = 0
    while made < count:
        pool = pools[CATEGORIES[made % len(CATEGORIES)]]
        ref, tgt = (pool[int(i)] for i in rng.integers(len(pool), size=2))
        if ref == tgt:
            continue
        for c in caption_pair(ref, tgt, rng):
            yield c.text
        made += 1


def vocabulary_corpus(samples: int = 3000, seed: int = 0) -> list[str]:
    """Texts a vocabulary for the demo model should be learned from (see module doc)."""
    texts = list(phrase_texts())
    texts += [" ".join(n) for n in NOUNS.values()]
    texts += [" ".join(a) for a in PATTERN_ADJ.values()]
    # One word per text: the vocabulary builder cleans texts as queries, keeping 50 words.
    texts += SHAPE_WORDS.split() + EVERYDAY.split() + list(USER_PHRASES)
    texts += list(sampled_captions(samples, seed))
    garments = [g for c in CATEGORIES for g in all_garments(c)]
    texts += sampled_descriptions(garments, samples, seed)  # what image-text pretraining says
    return texts
