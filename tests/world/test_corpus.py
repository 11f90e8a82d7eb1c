"""A vocabulary learned from the world's corpus must tokenize every caption the world writes."""

import pytest

from engine.text import TextSpec, Tokenizer
from engine.world import vocabulary_corpus
from engine.world.corpus import USER_PHRASES, sampled_captions
from trainer.vocab import build_wordpiece_vocab


@pytest.fixture(scope="module")
def vocab_path(tmp_path_factory):
    return build_wordpiece_vocab(vocabulary_corpus(), tmp_path_factory.mktemp("vocab") / "vocab.txt", 1000)


@pytest.fixture(scope="module")
def tokenizer(vocab_path):
    return Tokenizer(vocab_path)


def _unk(tokenizer, texts):
    return [t for t in texts if "[UNK]" in tokenizer.tokens(t)]


def test_world_captions_have_no_unknown_tokens(tokenizer, small_world):
    texts = [c.text for ts in small_world.triplets.values() for t in ts for c in t.captions]
    assert len(texts) > 400
    assert _unk(tokenizer, texts) == []


def test_fresh_captions_and_user_phrases_have_no_unknown_tokens(tokenizer):
    texts = list(sampled_captions(1500, seed=99)) + list(USER_PHRASES)
    texts += ["Make it NAVY, please!", "same jacket but with a hood", "without buttons (and shorter)"]
    assert _unk(tokenizer, texts) == []


def test_joined_captions_mostly_fit_the_token_budget(vocab_path, small_world):
    # QuRe joins a triplet's two captions with " and "; the text side keeps 32 tokens.
    counting = Tokenizer(vocab_path, TextSpec(max_tokens=512))
    joined = [t.captions[0].text + " and " + t.captions[1].text for ts in small_world.triplets.values() for t in ts]
    lengths = [len(counting.tokens(t)) for t in joined]
    assert max(lengths) > 12  # really counted, not truncated
    fits = sum(n <= 32 for n in lengths) / len(lengths)
    assert fits > 0.95, fits
