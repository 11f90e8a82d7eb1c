"""Image-text pretraining on a generated world: the analogue of BLIP-2's first stage for a
model that has no pretrained weights to start from (the tiny demo model).

QuRe, SPRC and SPN all fine-tune a BLIP-2 whose vision tower, Q-Former and projections
already tie images to words. The world knows every image's attributes, so it can say in
words what each image shows (``engine.world.descriptions``: "a green checked long-sleeved
dress with a v-neck", attributes in any order, some left out) and train the same parts
the same way: image-text contrastive learning (ITC) between an image's target tokens and
the [CLS] feature of a description, the image's score being the max over its tokens
(BLIP-2's ``sim_i2t``), with the learned temperature.

Optionally (``near_misses``) some images add a *near miss* to the batch's texts: a
description false of the image in exactly one attribute ("... with a round neck" for a
v-necked dress; ``engine.world.descriptions.near_miss``), as NegCLIP adds hard negative
captions. In a random batch almost no other image differs from a given one in neckline
alone, so ITC can tell images apart by colour and pattern and learn the small attributes
slowly; a near miss can only be ranked below the true description by seeing the one
attribute it changes. Near misses are negatives in the image -> text direction only (a
near miss that happens to fit another image of the batch is that image's positive).
``paired`` does the same on the image side: half of each batch is, for each image of the
other half, an image whose garment differs from it in one attribute (``Neighbours``), so
the text -> image direction must rank the v-necked dress above the round-necked one that
matches it in everything else.

A description that leaves attributes out is true of many images: "a green dress" fits
every green dress in the batch. Those pairs are positives, not negatives (the world knows
which: ``Description.fits``); each direction's cross-entropy spreads its target over the
row's positives (``trainer.losses.image_text_contrastive``).

Optionally (``itm`` > 0) image-text matching joins ITC, as in BLIP-2's first stage: the
queries and the text go through the Q-Former together, the queries cross-attending the
image (the very path a composed query takes, ``compose_query``, which ITC alone never
trains), and a linear head on the query outputs, averaged, says match or not. Each image
is matched with its own description, a false description drawn from the batch by ITC
similarity, and each description with a false image drawn the same way (BLIP-2's hard
negative mining; "false" read off ``Description.fits``, so a partial description is never
a negative of an image it is true of). The head lives in the run's checkpoint.pt for
resuming; best.pt, what ``train --init`` reads, holds the model alone.

Optionally (``itg`` > 0) image-grounded text generation joins them, BLIP-2's third
first-stage loss: the queries cross-attend the image and see only each other, the
description follows ([DEC] in place of [CLS]) with a causal mask over the text and full
view of the queries, and BERT's language-model head (its decoder tied to the word
embeddings) predicts each next token, cross-entropy with label smoothing 0.1 (BLIP-2's).
ITC needs an attribute only when the batch holds an image that differs in it alone; ITG
asks for every attribute a description states, through the queries that become the
target tokens. The head lives in checkpoint.pt, as ITM's does.

Optionally (``attributes`` > 0) the world's labels teach the model directly: one linear
head per attribute (category included) classifies the attribute's value, reading either
the image-only Q-Former's query outputs, averaged (``attribute_input="target"``), or the
vision tower's tokens, its [CLS] beside the mean of its patches (``"vision"``); the loss
is the mean over attributes of each head's cross-entropy (over the batch images that
have the attribute). A description is the same knowledge in words, but ITC needs an
attribute only when a batch image differs in it alone, and in a random batch the
neckline almost never does; here every attribute weighs the same in every step. The
heads live in checkpoint.pt.

Each epoch ends with a probe on another split: for every distinct garment there, its
full description ranks the images of its category; P@5 is the share of the top 5 with
exactly that garment, and per attribute the share that agree on it (and, ranking all
images, the share of the right category). With ITM, ``probe_itm_<attribute>`` is the
share of the split's images for which the head scores the image's full description above
the same description with that attribute changed (50 is chance); with ITG,
``probe_itg_<attribute>`` the share for which the generator finds the image's full
description likelier than the same wording with that attribute changed; with attribute
heads, ``probe_head_<attribute>`` each head's accuracy. The run folder it writes is
one that ``train --init`` starts from (config.json with ``"method": "pretrain"``,
vocab.txt, best.pt by probe P@5, checkpoint.pt to resume).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from engine.text import Tokenizer
from engine.world.attributes import CATEGORIES, VALUES, Garment
from engine.world.descriptions import Description, describe, full_description, near_miss
from engine.world.errors import WorldError
from engine.world.layout import read_world

from . import run
from .data.errors import DataError
from .data.images import MemoryPixelBank
from .losses import image_text_contrastive
from .model import QuReModel, score
from .model.layers import LayerNorm, init_bert_weights
from .schedule import lr_at

Log = Callable[[str], None]
METHOD = "pretrain"


@dataclass(frozen=True)
class PretrainConfig:
    epochs: int = 12
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 50
    min_lr_ratio: float = 0.01
    omit: float = 0.3  # chance each attribute is left out of a description
    near_misses: float = 0.0  # chance each image adds a description false in one attribute, as a negative text
    paired: bool = False  # half of each batch: images of garments one attribute away from the other half's
    itm: float = 0.0  # weight of the image-text matching loss (BLIP-2's ITM; 0 = ITC alone)
    itm_hard: float = 1.0  # share of ITM negatives drawn by ITC similarity (BLIP-2: 1); the rest uniform
    itg: float = 0.0  # weight of the image-grounded text generation loss (BLIP-2's ITG; 0 = none)
    attributes: float = 0.0  # weight of the per-attribute classification loss (0 = none)
    attribute_input: str = "target"  # what the heads read: "target" (query outputs) or "vision" (tower tokens)
    temp_floor: float = 1e-3
    seed: int = 0
    log_every: int = 20
    max_steps_per_epoch: int | None = None  # smoke runs

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be positive and the batch at least 2")
        if not 0.0 <= self.omit < 1.0:
            raise ValueError("omit must be in [0, 1)")
        if not 0.0 <= self.near_misses <= 1.0:
            raise ValueError("near_misses must be in [0, 1]")
        if not (self.itm >= 0.0 and np.isfinite(self.itm)):
            raise ValueError("itm must be a weight >= 0")
        if not 0.0 <= self.itm_hard <= 1.0:
            raise ValueError("itm_hard must be in [0, 1]")
        if not (self.itg >= 0.0 and np.isfinite(self.itg)):
            raise ValueError("itg must be a weight >= 0")
        if not (self.attributes >= 0.0 and np.isfinite(self.attributes)):
            raise ValueError("attributes must be a weight >= 0")
        if self.attribute_input not in ("target", "vision"):
            raise ValueError("attribute_input must be 'target' or 'vision'")

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "PretrainConfig":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


@dataclass
class WorldImages:
    """One split of a world, decoded at the model's size and kept in memory."""

    names: list[str]
    garments: list[Garment]
    bank: MemoryPixelBank


def load_world_images(root: str | Path, split: str, model: QuReModel,
                      categories: Sequence[str] | None = None) -> WorldImages:
    try:
        world = read_world(root)
    except WorldError as e:
        raise DataError(f"{root}: not a generated world ({e})") from None
    cats = list(categories or world.meta["categories"])
    strangers = [c for c in cats if c not in world.meta["categories"]]
    if strangers:
        raise DataError(f"{root}: no category {', '.join(map(repr, strangers))} in this world "
                        f"(it has {', '.join(world.meta['categories'])})")
    unknown = [c for c in cats if (c, split) not in world.splits]
    if unknown:
        raise DataError(f"{root}: no split {split!r} for {', '.join(unknown)}")
    names = [n for c in cats for n in world.splits[(c, split)]]
    if len(names) < 2:
        raise DataError(f"{root}: the {split} split has {len(names)} images; pretraining needs at least 2")
    bank = MemoryPixelBank.load({n: world.image_path(n) for n in names}, names, model.cfg.image)
    return WorldImages(names, [world.attributes[n] for n in names], bank)


def fits_matrix(garments: Sequence[Garment], descriptions: Sequence[Description]) -> torch.Tensor:
    """(B_img, B_txt) bool: description j is true of garment i."""
    return torch.tensor([[d.fits(g) for d in descriptions] for g in garments], dtype=torch.bool)


def itc_scores(model: QuReModel, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
               feats: torch.Tensor | None = None) -> torch.Tensor:
    """(B_img, B_txt): max over each image's target tokens of <token, text [CLS] feature>.
    ``feats``: the images' vision features, when already computed."""
    tokens = model.target_from_features(model.vision_features(pixels) if feats is None else feats)  # (Bi, Q, E)
    text = model.encode_text(ids, mask)  # (Bt, E)
    return score(text, tokens).T  # (Bi, Bt)


# --------------------------------------------------------------------------- ITM


def itm_head(model: QuReModel) -> torch.nn.Linear:
    """BLIP-2's ``itm_head``: Q-Former hidden -> (no match, match), BERT's initialization."""
    head = torch.nn.Linear(model.cfg.qformer.hidden, 2)
    init_bert_weights(head)
    return head


def itm_logits(model: QuReModel, head: torch.nn.Linear, feats: torch.Tensor, ids: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
    """Image features (B, T, Dv) and texts (B, L), pair by pair -> (B, 2): the queries and the
    text through the Q-Former together (queries cross-attend the image, as in a composed
    query), the head on each query output, mean over the queries."""
    nq = model.query_tokens.shape[1]
    h = model.qformer(ids, mask, model.query_tokens.expand(feats.shape[0], -1, -1), feats)  # (B, Q + L, H)
    return head(h[:, :nq]).mean(dim=1)


def itm_pairs(scores: torch.Tensor, positive: torch.Tensor, generator: torch.Generator | None = None,
              hard: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BLIP-2's hard negatives for ITM from ITC similarities ``scores`` (B_img, B_txt), whose
    first B_img texts are the images' own. Returns (image, text, label) index tensors: each
    image with its own text (label 1); each image with a text false of it, drawn with
    probability softmax(score) over the texts false of it (label 0); each own text with an
    image it is false of, drawn the same way over the images (label 0). An image every text
    fits (or a text every image fits) has no negative and gets none."""
    bi = scores.shape[0]
    own = torch.arange(bi)
    images, texts, labels = [own], [own], [torch.ones(bi, dtype=torch.long)]
    s = scores.detach().float()

    def weights(logits: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        w = torch.softmax(logits, dim=1).masked_fill(pos, 0.0)
        if hard >= 1.0:
            return w
        uniform = (~pos).float()
        norm = lambda x: x / x.sum(1, keepdim=True).clamp(min=1e-30)  # noqa: E731
        return hard * norm(w) + (1.0 - hard) * norm(uniform)

    w = weights(s, positive)  # (Bi, Bt): image -> false texts
    ok = w.sum(1) > 0
    if ok.any():
        images.append(own[ok])
        texts.append(torch.multinomial(w[ok], 1, generator=generator).squeeze(1))
        labels.append(torch.zeros(int(ok.sum()), dtype=torch.long))
    w = weights(s[:, :bi].T, positive[:, :bi].T)  # (Bi texts, Bi): text -> false images
    ok = w.sum(1) > 0
    if ok.any():
        texts.append(own[ok])
        images.append(torch.multinomial(w[ok], 1, generator=generator).squeeze(1))
        labels.append(torch.zeros(int(ok.sum()), dtype=torch.long))
    return torch.cat(images), torch.cat(texts), torch.cat(labels)


@torch.no_grad()
def probe_itm(model: QuReModel, head: torch.nn.Linear, images: WorldImages, tok: Tokenizer, seed: int = 0,
              batch: int = 128, device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """Per attribute, the share (percent) of the images whose full description the ITM head
    scores above the same description with that attribute changed to another value."""
    was_training = model.training
    model.eval()
    head.eval()
    rng = np.random.default_rng([seed, 13])
    pairs: list[tuple[int, str, str]] = []  # (image, attribute, text); attribute "" for the true text
    for i, g in enumerate(images.garments):
        pairs.append((i, "", full_description(g, rng).text))
        for a in g.attributes:
            others = [v for v in VALUES[a] if v != g.get(a)]
            pairs.append((i, a, full_description(g.replace(**{a: others[int(rng.integers(len(others)))]}), rng).text))
    margin = np.empty(len(pairs))
    for s in range(0, len(pairs), batch):
        chunk = pairs[s:s + batch]
        ids, mask = tok.encode([t for _, _, t in chunk])
        pix = images.bank.batch(np.asarray([i for i, _, _ in chunk])).to(device)
        logits = itm_logits(model, head, model.vision_features(pix), torch.from_numpy(ids).to(device),
                            torch.from_numpy(mask).to(device))
        margin[s:s + len(chunk)] = (logits[:, 1] - logits[:, 0]).cpu().numpy()
    model.train(was_training)
    head.train(was_training)
    return share_true_wins(pairs, margin, "probe_itm_")


# --------------------------------------------------------------------------- ITG

ITG_SMOOTHING = 0.1  # BLIP-2's label smoothing for the language-model loss


class ItgHead(torch.nn.Module):
    """BERT's language-model head (BLIP-2's ``Qformer.cls.predictions``): dense, GELU,
    LayerNorm, then the Q-Former's word embeddings (tied, passed in) and a bias per token."""

    def __init__(self, model: QuReModel):
        super().__init__()
        q = model.cfg.qformer
        self.dense = torch.nn.Linear(q.hidden, q.hidden)
        self.norm = LayerNorm(q.hidden, eps=q.eps)
        self.bias = torch.nn.Parameter(torch.zeros(q.vocab_size))
        init_bert_weights(self)

    def forward(self, hidden: torch.Tensor, word: torch.Tensor) -> torch.Tensor:
        """(..., H) and the word embeddings (V, H) -> logits (..., V)."""
        return torch.nn.functional.linear(self.norm(torch.nn.functional.gelu(self.dense(hidden))), word, self.bias)


def itg_logits(model: QuReModel, head: ItgHead, feats: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
               dec_id: int) -> torch.Tensor:
    """Image features (B, T, Dv) and their texts (B, L) -> next-token logits (B, L, V): position
    t predicts token t + 1. The first token ([CLS]) is replaced by [DEC], as BLIP-2 does."""
    dec = ids.clone()
    dec[:, 0] = dec_id
    nq = model.query_tokens.shape[1]
    h = model.qformer(dec, mask, model.query_tokens.expand(feats.shape[0], -1, -1), feats, causal=True)
    return head(h[:, nq:], model.qformer.embeddings.word.weight)


def itg_loss(model: QuReModel, head: ItgHead, feats: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor,
             dec_id: int, smoothing: float = ITG_SMOOTHING) -> torch.Tensor:
    """Mean cross-entropy of every text token after the first given the image and the tokens
    before it (padding excluded), with label smoothing. The text is trimmed to the batch's
    longest first (padding is masked out, so this changes nothing but the time)."""
    length = max(2, int(mask.sum(1).max()))
    ids, mask = ids[:, :length], mask[:, :length]
    logits = itg_logits(model, head, feats, ids, mask, dec_id)
    labels = ids[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                             ignore_index=-100, label_smoothing=smoothing)


@torch.no_grad()
def text_log_likelihood(model: QuReModel, head: ItgHead, feats: torch.Tensor, ids: torch.Tensor,
                        mask: torch.Tensor, dec_id: int) -> torch.Tensor:
    """(B,): the sum over each text's tokens after the first of log p(token | image, tokens before)."""
    logp = itg_logits(model, head, feats, ids, mask, dec_id)[:, :-1].log_softmax(-1)
    got = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, L - 1)
    return (got * mask[:, 1:].to(got.dtype)).sum(1)


def changed_pairs(garments: Sequence[Garment], seed: int) -> list[tuple[int, str, str]]:
    """(image, attribute, text): each garment's full description (attribute "") and, per
    attribute, the same wording draw with that attribute set to another value."""
    pairs = []
    for i, g in enumerate(garments):
        pairs.append((i, "", full_description(g, np.random.default_rng([seed, 17, i])).text))
        pick = np.random.default_rng([seed, 19, i])
        for a in g.attributes:
            others = [v for v in VALUES[a] if v != g.get(a)]
            changed = g.replace(**{a: others[int(pick.integers(len(others)))]})
            pairs.append((i, a, full_description(changed, np.random.default_rng([seed, 17, i])).text))
    return pairs


def share_true_wins(pairs: Sequence[tuple[int, str, str]], values: np.ndarray, prefix: str) -> dict[str, float]:
    """Per attribute, the share (percent) of images whose true text's value beats the changed one's."""
    true = {i: v for (i, a, _), v in zip(pairs, values) if not a}
    wins: dict[str, list[bool]] = {}
    for (i, a, _), v in zip(pairs, values):
        if a:
            wins.setdefault(a, []).append(bool(true[i] > v))
    return {f"{prefix}{a}": 100.0 * float(np.mean(w)) for a, w in sorted(wins.items())}


@torch.no_grad()
def probe_itg(model: QuReModel, head: ItgHead, images: WorldImages, tok: Tokenizer, seed: int = 0,
              batch: int = 128, device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """Per attribute, the share (percent) of the images whose full description the generator
    finds likelier than the same wording with that attribute changed."""
    was_training = model.training
    model.eval()
    head.eval()
    pairs = changed_pairs(images.garments, seed)
    dec_id = tok.token_id("[DEC]")
    values = np.empty(len(pairs))
    for s in range(0, len(pairs), batch):
        chunk = pairs[s:s + batch]
        ids, mask = tok.encode([t for _, _, t in chunk])
        pix = images.bank.batch(np.asarray([i for i, _, _ in chunk])).to(device)
        values[s:s + len(chunk)] = text_log_likelihood(
            model, head, model.vision_features(pix), torch.from_numpy(ids).to(device),
            torch.from_numpy(mask).to(device), dec_id).cpu().numpy()
    model.train(was_training)
    head.train(was_training)
    return share_true_wins(pairs, values, "probe_itg_")


# --------------------------------------------------------------------------- attribute heads

ATTRIBUTES = ("category", *VALUES)  # VALUES has no "category" key: the categories are CATEGORIES


def attribute_values(attribute: str) -> tuple[str, ...]:
    return CATEGORIES if attribute == "category" else VALUES[attribute]


class AttributeHeads(torch.nn.Module):
    """One linear classifier per attribute, on the mean of the target path's query outputs
    (``source="target"``) or on the vision tokens' [CLS] and patch mean side by side ("vision")."""

    def __init__(self, model: QuReModel, source: str = "target"):
        super().__init__()
        self.source = source
        width = model.cfg.qformer.hidden if source == "target" else 2 * model.cfg.vision.width
        self.heads = torch.nn.ModuleDict({a: torch.nn.Linear(width, len(attribute_values(a))) for a in ATTRIBUTES})
        init_bert_weights(self)

    def features(self, model: QuReModel, feats: torch.Tensor) -> torch.Tensor:
        """Vision features (B, T, Dv) -> what the heads read (B, width)."""
        if self.source == "vision":
            return torch.cat([feats[:, 0], feats[:, 1:].mean(dim=1)], dim=-1)
        return target_hidden(model, feats).mean(dim=1)

    def forward(self, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, width) -> {attribute: logits (B, values)}."""
        return {a: head(pooled) for a, head in self.heads.items()}


def attribute_labels(garments: Sequence[Garment]) -> dict[str, torch.Tensor]:
    """{attribute: (B,) value index, -100 where the garment has no such attribute}."""
    out = {}
    for a in ATTRIBUTES:
        values = attribute_values(a)
        out[a] = torch.tensor([values.index(g.category if a == "category" else g.get(a))
                               if a == "category" or a in g.attributes else -100 for g in garments])
    return out


def attribute_loss(logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean over the attributes some batch image has of each head's mean cross-entropy."""
    parts = [torch.nn.functional.cross_entropy(logits[a], y.to(logits[a].device), ignore_index=-100)
             for a, y in labels.items() if bool((y >= 0).any())]
    return torch.stack(parts).mean()


def target_hidden(model: QuReModel, feats: torch.Tensor) -> torch.Tensor:
    """The image-only Q-Former's query outputs (B, Q, H), before vision_proj."""
    return model.qformer(query_embeds=model.query_tokens.expand(feats.shape[0], -1, -1), image=feats)


@torch.no_grad()
def probe_heads(model: QuReModel, heads: AttributeHeads, images: WorldImages, batch: int = 256,
                device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """Each head's accuracy (percent) on the split's images that have its attribute."""
    was_training = model.training
    model.eval()
    heads.eval()
    labels = attribute_labels(images.garments)
    right = {a: 0 for a in ATTRIBUTES}
    n = len(images.names)
    for s in range(0, n, batch):
        idx = np.arange(s, min(s + batch, n))
        logits = heads(heads.features(model, model.vision_features(images.bank.batch(idx).to(device))))
        for a in ATTRIBUTES:
            y = labels[a][idx]
            right[a] += int(((logits[a].argmax(1).cpu() == y) & (y >= 0)).sum())
    model.train(was_training)
    heads.train(was_training)
    return {f"probe_head_{a}": 100.0 * right[a] / max(1, int((labels[a] >= 0).sum()))
            for a in ATTRIBUTES if bool((labels[a] >= 0).any())}


# --------------------------------------------------------------------------- probe


@torch.no_grad()
def probe(model: QuReModel, images: WorldImages, tok: Tokenizer, seed: int = 0, batch: int = 256,
          device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """Text -> image retrieval with full descriptions (see the module doc), in percent.

    ``probe_p@5`` and the per-attribute shares rank each description against the images of
    its own category (as composed retrieval ranks a category's corpus);
    ``probe_category`` is the share of the top 5 over *all* images that has the right
    category."""
    was_training = model.training
    model.eval()
    n = len(images.names)
    tokens = torch.cat([model.encode_target(images.bank.batch(np.arange(i, min(i + batch, n))).to(device))
                        for i in range(0, n, batch)])  # (N, Q, E)
    combos = sorted(set(images.garments))
    rng = np.random.default_rng([seed, 11])
    ids, mask = tok.encode([full_description(g, rng).text for g in combos])
    text = model.encode_text(torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device))  # (C, E)
    s = score(text, tokens).cpu()  # (C, N)
    model.train(was_training)
    cats = np.asarray([g.category for g in images.garments])
    k = min(5, n)
    top_all = s.topk(k, dim=1).indices.numpy()  # (C, k)
    same = torch.from_numpy(np.asarray([cats == g.category for g in combos]))  # (C, N)
    top = s.masked_fill(~same, float("-inf")).topk(k, dim=1).indices.numpy()  # (C, k)
    exact, agree, category = [], {}, []
    for g, row, row_all in zip(combos, top, top_all):
        hits = [images.garments[int(i)] for i in row if cats[int(i)] == g.category]
        category.append(np.mean([cats[int(i)] == g.category for i in row_all]))
        exact.append(sum(h == g for h in hits) / k)
        for a in g.attributes:
            agree.setdefault(a, []).append(sum(h.get(a) == g.get(a) for h in hits) / k)
    out = {"probe_p@5": 100.0 * float(np.mean(exact)), "probe_category": 100.0 * float(np.mean(category))}
    out.update({f"probe_{a}": 100.0 * float(np.mean(v)) for a, v in sorted(agree.items())})
    return out


class Neighbours:
    """For each image, the images whose garment differs from its own in exactly one
    attribute (same category), to draw a near miss from."""

    def __init__(self, garments: Sequence[Garment]):
        by_garment: dict[Garment, list[int]] = {}
        for i, g in enumerate(garments):
            by_garment.setdefault(g, []).append(i)
        self._images = {g: np.asarray(v) for g, v in by_garment.items()}
        self._near = {g: [h for a in g.attributes for v in VALUES[a] if v != g.get(a)
                          for h in [g.replace(**{a: v})] if h in self._images] for g in by_garment}
        self._garments = list(garments)

    def draw(self, i: int, rng: np.random.Generator) -> int:
        """An image one attribute away from image i (a changed attribute and value drawn
        uniformly among those the data has), or a random image of the data if none is."""
        near = self._near[self._garments[i]]
        if not near:
            return int(rng.integers(len(self._garments)))
        images = self._images[near[int(rng.integers(len(near)))]]
        return int(images[int(rng.integers(len(images)))])


# --------------------------------------------------------------------------- loop


class Pretrainer:
    def __init__(self, run_dir: Path, model: QuReModel, tok: Tokenizer, train: WorldImages,
                 probe_images: WorldImages | None, cfg: PretrainConfig, log: Log,
                 device: torch.device = torch.device("cpu")):
        self.run_dir, self.model, self.tok, self.train, self.probe_images = run_dir, model, tok, train, probe_images
        self.cfg, self.log, self.device = cfg, log, device
        model.to(device)
        self.itm_head = itm_head(model).to(device) if cfg.itm > 0 else None
        self.itg_head = ItgHead(model).to(device) if cfg.itg > 0 else None
        self.dec_id = tok.token_id("[DEC]") if cfg.itg > 0 else None
        self.attribute_heads = AttributeHeads(model, cfg.attribute_input).to(device) if cfg.attributes > 0 else None
        params = [p for p in model.parameters() if p.requires_grad]
        if self.itm_head is not None:
            params += list(self.itm_head.parameters())
        if self.itg_head is not None:
            params += list(self.itg_head.parameters())
        if self.attribute_heads is not None:
            params += list(self.attribute_heads.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.epoch, self.step, self.best = 0, 0, None
        n = len(train.names)
        self.steps_per_epoch = max(1, n // cfg.batch_size) if n >= cfg.batch_size else 1
        if cfg.max_steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, cfg.max_steps_per_epoch)
        self.neighbours = Neighbours(train.garments) if cfg.paired else None

    def resume_from(self, payload: dict[str, Any]) -> None:
        if "optimizer" not in payload:
            raise run.RunError("this checkpoint cannot be resumed (no optimizer state)")
        if (self.itm_head is not None) != ("itm_head" in payload):
            raise run.RunError("this checkpoint's ITM head does not match the run's configuration")
        if self.itm_head is not None:
            self.itm_head.load_state_dict(payload["itm_head"])
        if (self.itg_head is not None) != ("itg_head" in payload):
            raise run.RunError("this checkpoint's ITG head does not match the run's configuration")
        if self.itg_head is not None:
            self.itg_head.load_state_dict(payload["itg_head"])
        if (self.attribute_heads is not None) != ("attribute_heads" in payload):
            raise run.RunError("this checkpoint's attribute heads do not match the run's configuration")
        if self.attribute_heads is not None:
            self.attribute_heads.load_state_dict(payload["attribute_heads"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.epoch, self.step, self.best = payload["epoch"] + 1, payload["step"], payload.get("best")
        torch.set_rng_state(payload["rng_cpu"])

    def _batch(self, ids: np.ndarray, rng: np.random.Generator):
        garments = [self.train.garments[int(i)] for i in ids]
        descriptions = [describe(g, rng, self.cfg.omit) for g in garments]
        if self.cfg.near_misses > 0:  # no draws otherwise: runs without them keep their random stream
            descriptions += [near_miss(g, rng, self.cfg.omit) for g in garments
                             if rng.random() < self.cfg.near_misses]
        tid, tmask = self.tok.encode([d.text for d in descriptions])
        dev = self.device
        return (self.train.bank.batch(ids).to(dev), torch.from_numpy(tid).to(dev), torch.from_numpy(tmask).to(dev),
                fits_matrix(garments, descriptions).to(dev))

    def _epoch(self, epoch: int) -> float:
        cfg, model = self.cfg, self.model
        model.train()
        rng = np.random.default_rng([cfg.seed, epoch])  # order and wording depend on (seed, epoch) only
        order = rng.permutation(len(self.train.names))
        b = min(cfg.batch_size, len(order))
        losses, itm_loss, itg_part, attr_part = [], None, None, None
        for s in range(self.steps_per_epoch):
            lr = lr_at(cfg.lr, epoch, cfg.epochs, self.step, cfg.warmup_steps, cfg.min_lr_ratio)
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            ids = order[s * b:(s + 1) * b]
            if self.neighbours is not None:  # the other half: one near miss of each image in the first
                ids = np.concatenate([ids[:b - b // 2], [self.neighbours.draw(int(i), rng) for i in ids[:b // 2]]])
            batch = ids  # the images' indices (``ids`` becomes the texts' token ids)
            pixels, ids, mask, positive = self._batch(ids, rng)
            feats = model.vision_features(pixels)
            scores = itc_scores(model, pixels, ids, mask, feats)
            loss = image_text_contrastive(scores, positive, model.temp, cfg.temp_floor,
                                          unmatched_texts=cfg.near_misses > 0)
            if self.itm_head is not None:
                im, tx, labels = itm_pairs((scores / model.temp.detach().clamp(min=cfg.temp_floor)).cpu(),
                                           positive.cpu(), hard=cfg.itm_hard)
                logits = itm_logits(model, self.itm_head, feats[im.to(self.device)], ids[tx.to(self.device)],
                                    mask[tx.to(self.device)])
                itm_loss = torch.nn.functional.cross_entropy(logits, labels.to(self.device))
                loss = loss + cfg.itm * itm_loss
            if self.itg_head is not None:  # each image with its own description (not the near misses)
                bi = pixels.shape[0]
                itg_part = itg_loss(model, self.itg_head, feats, ids[:bi], mask[:bi], self.dec_id)
                loss = loss + cfg.itg * itg_part
            if self.attribute_heads is not None:
                logits = self.attribute_heads(self.attribute_heads.features(model, feats))
                attr_part = attribute_loss(logits, attribute_labels([self.train.garments[int(i)] for i in batch]))
                loss = loss + cfg.attributes * attr_part
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            losses.append(float(loss.detach()))
            self.step += 1
            if self.step % cfg.log_every == 0:
                record = {"kind": "step", "epoch": epoch, "step": self.step, "loss": losses[-1], "lr": lr,
                          "temp": float(model.temp.detach())}
                if itm_loss is not None:
                    record["itm_loss"] = float(itm_loss.detach())
                if itg_part is not None:
                    record["itg_loss"] = float(itg_part.detach())
                if attr_part is not None:
                    record["attribute_loss"] = float(attr_part.detach())
                run.append_log(self.run_dir, record)
        return float(np.mean(losses))

    def _checkpoint(self, epoch: int, metrics: dict[str, float]) -> None:
        payload = run.weights_payload(self.model, epoch, self.step, metrics)
        payload["model"] = {k: v.cpu() for k, v in payload["model"].items()}
        value = metrics.get("probe_p@5")
        improved = value is not None and (self.best is None or value > self.best)
        if improved:
            self.best = value
        full = {**payload, "optimizer": self.optimizer.state_dict(), "rng_cpu": torch.get_rng_state(),
                "best": self.best, "resumable": True}
        if self.itm_head is not None:
            full["itm_head"] = {k: v.cpu() for k, v in self.itm_head.state_dict().items()}
        if self.itg_head is not None:
            full["itg_head"] = {k: v.cpu() for k, v in self.itg_head.state_dict().items()}
        if self.attribute_heads is not None:
            full["attribute_heads"] = {k: v.cpu() for k, v in self.attribute_heads.state_dict().items()}
        run.atomic_save(full, self.run_dir / run.CHECKPOINT)
        if improved or self.best is None:
            run.atomic_save(payload, self.run_dir / run.BEST)

    def fit(self, pause_after: int | None = None) -> dict[str, Any]:
        cfg, last = self.cfg, {}
        stop = cfg.epochs if pause_after is None else min(cfg.epochs, self.epoch + pause_after)
        while self.epoch < stop:
            t0 = time.perf_counter()
            loss = self._epoch(self.epoch)
            metrics = probe(self.model, self.probe_images, self.tok, cfg.seed, device=self.device) \
                if self.probe_images else {}
            if self.probe_images and self.itm_head is not None:
                metrics.update(probe_itm(self.model, self.itm_head, self.probe_images, self.tok, cfg.seed,
                                         device=self.device))
            if self.probe_images and self.itg_head is not None:
                metrics.update(probe_itg(self.model, self.itg_head, self.probe_images, self.tok, cfg.seed,
                                         device=self.device))
            if self.probe_images and self.attribute_heads is not None:
                metrics.update(probe_heads(self.model, self.attribute_heads, self.probe_images, device=self.device))
            last = {"kind": "epoch", "epoch": self.epoch, "loss": loss, "val": metrics,
                    "seconds": round(time.perf_counter() - t0, 1)}
            run.append_log(self.run_dir, last)
            self._checkpoint(self.epoch, metrics)
            run.plot_log(self.run_dir)
            shown = "  ".join(f"{k.removeprefix('probe_')} {v:.1f}" for k, v in metrics.items())
            self.log(f"epoch {self.epoch + 1}/{cfg.epochs}  loss {loss:.4f}  {shown}  ({last['seconds']:.0f} s)")
            self.epoch += 1
        return last


def start_pretrain_run(run_dir: Path, model: QuReModel, vocab_path: Path, cfg: PretrainConfig,
                       data: dict[str, Any], extra: dict[str, Any]) -> None:
    """Create RUN (config.json, vocab.txt). Refuses a folder that already holds a run."""
    if (run_dir / run.CONFIG).exists():
        raise run.RunError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    if Path(vocab_path).resolve() != (run_dir / run.VOCAB).resolve():
        (run_dir / run.VOCAB).write_bytes(Path(vocab_path).read_bytes())
    vocab_size = Tokenizer(run_dir / run.VOCAB, model.cfg.text_spec()).vocab_size
    if vocab_size != model.cfg.qformer.vocab_size:
        raise run.RunError(f"vocabulary size {vocab_size} != the model's {model.cfg.qformer.vocab_size}")
    run.write_config(run_dir, model, vocab_size,
                     {"method": METHOD, "pretraining": asdict(cfg), "data": data, "seed": cfg.seed, **extra})
