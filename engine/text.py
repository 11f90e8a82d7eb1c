"""Text preparation shared by the engine and the trainer.

1. LAVIS ``blip_caption`` cleaning: lowercase; each of ``.!"()*#:;~`` becomes a
   space; runs of whitespace collapse to one space; trimmed; at most 50 words.
2. BERT WordPiece (uncased) over the bundle's ``vocab.txt`` with ``[DEC]`` added
   as a special token after the vocabulary (LAVIS adds it as BLIP-2's BOS token,
   so the Q-Former's word embeddings have ``len(vocab) + 1`` rows).
3. ``[CLS] ... [SEP]``, truncated and padded to ``max_tokens`` (32).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

LAVIS_PUNCTUATION = '.!"()*#:;~'


@dataclass(frozen=True)
class TextSpec:
    """How text becomes token ids. Travels in the bundle manifest."""

    vocab: str = "vocab.txt"
    lowercase: bool = True
    punctuation: str = LAVIS_PUNCTUATION
    max_words: int = 50
    max_tokens: int = 32
    extra_special_tokens: tuple[str, ...] = field(default=("[DEC]",))

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["extra_special_tokens"] = list(self.extra_special_tokens)
        d["tokenizer"] = "bert-wordpiece"
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TextSpec":
        if d.get("tokenizer", "bert-wordpiece") != "bert-wordpiece":
            raise ValueError(f"unsupported tokenizer {d.get('tokenizer')!r}")
        return cls(
            vocab=str(d["vocab"]),
            lowercase=bool(d.get("lowercase", True)),
            punctuation=str(d.get("punctuation", LAVIS_PUNCTUATION)),
            max_words=int(d.get("max_words", 50)),
            max_tokens=int(d["max_tokens"]),
            extra_special_tokens=tuple(d.get("extra_special_tokens", ["[DEC]"])),
        )


def clean_caption(text: str, spec: TextSpec = TextSpec()) -> str:
    """LAVIS ``BlipCaptionProcessor.pre_caption`` with the spec's rules."""
    if spec.lowercase:
        text = text.lower()
    if spec.punctuation:
        text = re.sub("[" + re.escape(spec.punctuation) + "]", " ", text)
    text = re.sub(r"\s{2,}", " ", text)
    text = text.rstrip("\n").strip(" ")
    words = text.split(" ")
    if len(words) > spec.max_words:
        text = " ".join(words[: spec.max_words])
    return text


class VocabError(ValueError):
    """A vocabulary file that cannot be used: missing, unreadable, not UTF-8 text, or without
    BERT's special tokens. The message names the file."""


def read_vocab(path: str | Path) -> list[str]:
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]
    except FileNotFoundError:
        raise VocabError(f"{path}: vocabulary file not found") from None
    except IsADirectoryError:
        raise VocabError(f"{path}: is a folder, not a vocabulary file") from None
    except UnicodeDecodeError as e:
        raise VocabError(f"{path}: not a vocabulary file (not UTF-8 text at byte {e.start})") from None
    except OSError as e:
        raise VocabError(f"{path}: cannot read the vocabulary file ({e.strerror or e})") from None


class Tokenizer:
    """BERT WordPiece over a vocab file, the way LAVIS's ``BertTokenizer`` sees it."""

    def __init__(self, vocab_path: str | Path, spec: TextSpec = TextSpec()):
        from tokenizers import BertWordPieceTokenizer  # one home for the tokenizers import

        self.spec = spec
        vocab = read_vocab(vocab_path)
        for special in ("[PAD]", "[UNK]", "[CLS]", "[SEP]"):
            if special not in vocab:
                raise VocabError(f"{vocab_path}: the vocabulary has no {special} token (not a BERT WordPiece "
                                 "vocab.txt?)")
        self.vocab_size = len(vocab) + len(spec.extra_special_tokens)
        self._tok = BertWordPieceTokenizer(
            str(vocab_path), lowercase=spec.lowercase, clean_text=True, handle_chinese_chars=True
        )
        if spec.extra_special_tokens:
            self._tok.add_special_tokens(list(spec.extra_special_tokens))
        self.pad_id = vocab.index("[PAD]")
        self._tok.enable_truncation(max_length=spec.max_tokens)
        self._tok.enable_padding(length=spec.max_tokens, pad_id=self.pad_id, pad_token="[PAD]")

    def clean(self, text: str) -> str:
        return clean_caption(text, self.spec)

    def token_id(self, token: str) -> int:
        """The id of one token of the vocabulary or of the extra special tokens ("[DEC]")."""
        i = self._tok.token_to_id(token)
        if i is None:
            raise VocabError(f"the vocabulary has no token {token!r}")
        return int(i)

    def encode(self, texts: Sequence[str], clean: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Texts -> (input_ids, attention_mask), both int64 of shape (B, max_tokens)."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not one string")
        prepared = [self.clean(t) if clean else t for t in texts]
        if not prepared:
            z = np.zeros((0, self.spec.max_tokens), np.int64)
            return z, z.copy()
        enc = self._tok.encode_batch(prepared)
        ids = np.asarray([e.ids for e in enc], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in enc], dtype=np.int64)
        return ids, mask

    def tokens(self, text: str, clean: bool = True) -> list[str]:
        """The WordPiece tokens of one text (for display and debugging)."""
        enc = self._tok.encode(self.clean(text) if clean else text)
        return [t for t, m in zip(enc.tokens, enc.attention_mask) if m]
