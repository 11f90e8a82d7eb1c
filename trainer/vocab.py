"""WordPiece vocabularies for small models (the demo model and tests).

Real-size models use bert-base-uncased's ``vocab.txt``; a tiny model trained from
scratch on a small world gets a vocabulary learned from that world's texts, so its
embedding table stays small. The layout is BERT's: one token per line, the special
tokens first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from engine.text import TextSpec, clean_caption

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_wordpiece_vocab(texts: Iterable[str], path: str | Path, vocab_size: int = 1000) -> Path:
    """Learn a WordPiece vocabulary from ``texts`` (cleaned as at query time) and write it."""
    from tokenizers import BertWordPieceTokenizer

    spec = TextSpec()
    cleaned = [clean_caption(t, spec) for t in texts]
    tok = BertWordPieceTokenizer(lowercase=True, clean_text=True, handle_chinese_chars=True)
    tok.train_from_iterator(
        cleaned,
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=SPECIAL,
        limit_alphabet=200,
        initial_alphabet=list("abcdefghijklmnopqrstuvwxyz0123456789,'-?/&+%$@=_<>[]{}|"),
        wordpieces_prefix="##",
        show_progress=False,
    )
    vocab = tok.get_vocab()  # token -> id
    ordered = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
    if ordered[: len(SPECIAL)] != SPECIAL:
        raise RuntimeError(f"unexpected special token order {ordered[:5]}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(ordered) + "\n", encoding="utf-8")
    return path
