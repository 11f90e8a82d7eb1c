"""A small BERT-layout WordPiece vocabulary built deterministically from a corpus.

Why not ``trainer.vocab.build_wordpiece_vocab``: the ``tokenizers`` trainer breaks ties
through hash-map order, so two runs on the same corpus give different vocabularies
(seen: 5 runs, 5 different token sets). Golden files must come out byte-identical from
the same seed, so this builder counts and sorts instead of training:

1. the special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]``;
2. every printable ASCII character except the upper-case letters, each a word start,
   plus ``##`` + each lower-case letter and digit (so any ASCII word can be spelled);
3. the corpus's words, most frequent first;
4. word-start and ``##`` continuation character n-grams (2..5), most frequent first,
   until ``size`` tokens. These make unknown words split into several pieces.

Non-ASCII characters are left out on purpose: they become ``[UNK]``.
Standard library only.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Iterable

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")


def _words(texts: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for t in texts:
        counts.update(w for w in _WORD.findall(t.lower()) if len(w) > 1)
    return counts


def _by_count(counts: Counter[str]) -> list[str]:
    return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def build_vocab(texts: Iterable[str], size: int) -> list[str]:
    """The vocabulary as a list of tokens; the line number is the token id."""
    words = _words(texts)
    chars = sorted(c for c in string.printable if not c.isspace() and not c.isupper())
    conts = ["##" + c for c in string.ascii_lowercase + string.digits]
    vocab = SPECIAL + chars + conts
    seen = set(vocab)

    def add(tokens: Iterable[str]) -> None:
        for t in tokens:
            if len(vocab) >= size:
                return
            if t not in seen:
                seen.add(t)
                vocab.append(t)

    add(_by_count(words))
    grams: Counter[str] = Counter()
    for w, n in words.items():
        for k in range(2, 6):
            for i in range(len(w) - k + 1):
                grams[w[i : i + k] if i == 0 else "##" + w[i : i + k]] += n
    add(_by_count(grams))
    return vocab
