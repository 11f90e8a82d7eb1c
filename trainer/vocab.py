"""WordPiece vocabularies for small models (the demo model and tests).

Real-size models use bert-base-uncased's ``vocab.txt``; a tiny model trained from
scratch on a small world gets a vocabulary from that world's texts, so its
embedding table stays small. The layout is BERT's: one token per line, special
tokens first.

The builder is deterministic (the same texts always give the same file, unlike the
``tokenizers`` trainer, which breaks ties in hash order): special tokens, then every
character seen (plus a base alphabet) as a word start and as a ``##`` continuation,
then whole words by descending frequency (ties alphabetical). A word outside the
vocabulary therefore splits into characters instead of becoming ``[UNK]``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable

from engine.text import TextSpec, clean_caption

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
BASE_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789,'-?/&+%$@=_<>[]{}|!.:;\"()*#~"


def words_of(texts: Iterable[str]) -> Counter:
    """Word counts after the same cleaning, normalization and splitting the tokenizer uses."""
    from tokenizers import normalizers, pre_tokenizers

    spec = TextSpec()
    norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    counts: Counter = Counter()
    for t in texts:
        s = norm.normalize_str(clean_caption(t, spec))
        counts.update(w for w, _ in pre.pre_tokenize_str(s))
    return counts


def build_wordpiece_vocab(texts: Iterable[str], path: str | Path, vocab_size: int = 1000) -> Path:
    """Write a deterministic BERT-layout vocabulary learned from ``texts``."""
    counts = words_of(texts)
    chars = sorted(set(BASE_ALPHABET) | {c for w in counts for c in w})
    tokens = SPECIAL + chars + ["##" + c for c in chars]
    seen = set(tokens)
    for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(tokens) >= vocab_size:
            break
        if w not in seen:
            tokens.append(w)
            seen.add(w)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return path
