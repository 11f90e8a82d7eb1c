"""The texts behind the golden files: a seeded corpus for the tiny vocabulary, the
model's input sentences and the tokenizer cases. Standard library only, so both the
project's .venv (vocab) and the LAVIS venv (golden outputs) import it."""

from __future__ import annotations

import random

COLORS = [
    "red", "blue", "green", "black", "white", "grey", "navy", "beige", "pink", "purple",
    "yellow", "orange", "brown", "olive", "maroon", "teal", "cream", "khaki", "silver", "gold",
]
GARMENTS = [
    "shirt", "dress", "jacket", "coat", "skirt", "sweater", "hoodie", "blouse", "top", "tee",
    "cardigan", "vest", "jumpsuit", "gown", "tunic", "blazer", "shorts", "jeans", "trousers", "scarf",
]
PARTS = ["sleeves", "collar", "neckline", "hem", "buttons", "pockets", "hood", "straps", "belt", "zipper"]
PART_ADJ = [
    "short", "long", "wide", "narrow", "round", "v-shaped", "ruffled", "pleated", "rolled", "puffed",
    "lace", "button-down", "high", "low", "open", "closed", "thin", "thick", "loose", "fitted",
]
PATTERNS = [
    "stripes", "polka dots", "a floral print", "a graphic logo", "checks", "a plaid pattern",
    "animal print", "a tie-dye pattern", "embroidery", "sequins", "a small print", "no pattern",
]
MATERIALS = ["cotton", "denim", "leather", "silk", "wool", "linen", "velvet", "satin", "knit", "suede"]
FITS = ["looser", "tighter", "shorter", "longer", "brighter", "darker", "lighter", "plainer", "fancier", "simpler"]
SCENES = [
    "on a beach", "in the snow", "at night", "in a park", "indoors", "on a street", "in a forest",
    "with a dog", "with two people", "near the sea", "under a bridge", "in the rain",
]
TEMPLATES = [
    "is {color} and has {adj} {part}",
    "is {fit} and {color}",
    "has {pattern} instead of {pattern2}",
    "same {garment} but in {color}",
    "make it {material} with {adj} {part}",
    "is a {color} {garment} with {pattern}",
    "change the {part} to {adj} and the color to {color}",
    "is more {fit} and made of {material}",
    "shown {scene} wearing a {color} {garment}",
    "has no {part}, and is {color}",
    "a {material} {garment} that is {fit}",
    "is {color}/{color2} with {adj} {part}?",
    "replace the {garment} with a {color2} {garment2}",
    "it's {fit}, {color} & has {pattern}",
    "has {adj} {part} and {pattern}; it is {fit}",
]


def corpus(seed: int, n: int = 600) -> list[str]:
    """``n`` fashion-style modification sentences, the same for the same seed."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        template = rng.choice(TEMPLATES)
        out.append(
            template.format(
                color=rng.choice(COLORS),
                color2=rng.choice(COLORS),
                garment=rng.choice(GARMENTS),
                garment2=rng.choice(GARMENTS),
                part=rng.choice(PARTS),
                adj=rng.choice(PART_ADJ),
                pattern=rng.choice(PATTERNS),
                pattern2=rng.choice(PATTERNS),
                material=rng.choice(MATERIALS),
                fit=rng.choice(FITS),
                scene=rng.choice(SCENES),
            )
        )
    # Every letter, digit and common punctuation mark appears on its own at least once,
    # so the alphabet (and "##x" continuations) are in the vocabulary.
    out.append(" ".join("abcdefghijklmnopqrstuvwxyz0123456789"))
    out.append("size 10 , size 12 - 34/36 ? it's 100% cotton & 2 + 2 = 4 @ $5")
    return out


# Model inputs (batch of 4). Plausible modification texts; one is far over 32 tokens
# (truncation) and one is heavy with punctuation (cleaning and splitting).
MODEL_TEXTS = [
    "is red and has short sleeves",
    "Is darker, LONGER and has a V-shaped neckline... (no buttons!) #formal; it's 100% wool?",
    "same jacket but in green",
    "is a navy cotton shirt with rolled sleeves, a button-down collar, two chest pockets, "
    "a curved hem, thin white stripes, a small embroidered logo on the left side, and it "
    "is shown on a street at night with two people walking a dog near the sea",
]

# Tokenizer cases: LAVIS's cleaning then LAVIS's BertTokenizer (max_length 32).
TOKENIZER_CASES = [
    "is red and has short sleeves",
    "IS RED AND HAS SHORT SLEEVES",
    "Is Red, And Has Short Sleeves",
    "is red. has short sleeves!",
    'the "shirt" (blue) is *long*: no #tags; ~ok~',
    "a.b!c\"d(e)f*g#h:i;j~k",
    "red,blue'green?yellow-orange/pink",
    "it's a t-shirt, isn't it? yes/no - maybe",
    "100% cotton & 2+2=4 @ $5 <tag> [x] {y} | z ^ ` _",
    "café crème with naïve façade",
    "ÀÉÎÕÜ déjà vu",
    "size 42 and 3 buttons, 2024 model 7b",
    "",
    "   ",
    "red     shirt   with    spaces",
    "red\tshirt\twith\ttabs",
    "red\nshirt\nwith\nnewlines\n",
    " \t leading and trailing \n ",
    "a  \t  b \n\n c",
    "[DEC]",
    "make it [DEC] blue",
    "[dec] lower case",
    "[CLS] shirt [SEP] [PAD] [MASK] [UNK]",
    "红色的裙子 red dress",
    "日本語のテキスト",
    "emoji 👗 dress 👠 shoes",
    "Ωmega αlpha βeta",
    "zero\u200bwidth joiner\u200dtext",
    "non\u00a0breaking space",
    "control\x01char\x7fs",
    "supercalifragilisticexpialidocious sleeves",
    "x" * 120 + " long word",
    "unknownwords qwzx vbnm pfft",
    "shirtshirtshirt dressdress",
    " ".join(["word"] * 60),
    " ".join(f"w{i}" for i in range(55)),
    "is a long dress with many details such as ruffled sleeves, lace collar, pleated hem, "
    "small buttons, two pockets, a thin belt and a floral print on white silk",
    "—em dash– en dash … ellipsis “quotes” ‘single’ «guillemets»",
    "sleeves!!!...???,,,;;;",
    "a",
    "ÉTÉ DRESS",
    "fullwidth ｒｅｄ ｓｈｉｒｔ",
]
