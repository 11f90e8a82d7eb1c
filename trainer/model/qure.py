"""The QuRe model: BLIP-2 (CLIP ViT + Q-Former) for composed image retrieval.

One entry point per path, each matching a graph of the model bundle:

- ``vision_features(pixels)``                    (B,3,S,S) -> (B,T,Dv)   ViT then ln_vision
- ``target_from_features(feats)``                (B,T,Dv)  -> (B,Q,E)    image-only Q-Former,
                                                              vision_proj per token, L2 per token
- ``query_from_features(feats, ids, mask)``      -> (B,E)   queries + text through the Q-Former
                                                              (queries cross-attend the reference),
                                                              text_proj per query output, mean, L2
- ``query_cross_kv(feats)``                      (B,T,Dv)  -> (B,C,2,h,T,d) the query path's cross-attention
                                                              keys and values of the reference (they depend
                                                              on it alone: computed once per reference)
- ``query_from_cross_kv(kv, ids, mask)``         -> (B,E)   ``query_from_features`` with those given
- ``encode_text(ids, mask)``                     -> (B,E)   BLIP-2 text-only [CLS] through text_proj
- ``encode_target(pixels)`` / ``encode_query(pixels, ids, mask)`` compose the above.

Relevance is ``score(q, t) = max_k <q, t_k>``; the learned temperature enters only the loss.
Text and pixels are prepared outside the model (``engine.text``, ``engine.preprocess``).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .layers import LayerNorm, QFormer, VisionTower, init_bert_weights


class QuReModel(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.image.size != cfg.vision.image_size:
            raise ValueError(f"image spec size {cfg.image.size} != vision image size {cfg.vision.image_size}")
        self.cfg = cfg
        q = cfg.qformer
        self.vision = VisionTower(cfg.vision)
        self.ln_vision = LayerNorm(cfg.vision.width, eps=cfg.ln_vision_eps)
        self.qformer = QFormer(q, encoder_width=cfg.vision.width)
        self.query_tokens = nn.Parameter(torch.zeros(1, q.num_query_tokens, q.hidden))
        self.vision_proj = nn.Linear(q.hidden, cfg.embed_dim)
        self.text_proj = nn.Linear(q.hidden, cfg.embed_dim)
        self.temp = nn.Parameter(torch.tensor(float(cfg.temp_init)))
        # A separate copy of the query side (SPN's second stage, personalization):
        # when present, query_from_features uses it and the target side is untouched.
        self.qformer_query: QFormer | None = None
        self.text_proj_query: nn.Linear | None = None
        init_bert_weights(self.qformer)
        init_bert_weights(self.vision_proj)
        init_bert_weights(self.text_proj)
        nn.init.normal_(self.query_tokens, std=0.02)
        if cfg.freeze_vision:
            self.vision.requires_grad_(False)

    def train(self, mode: bool = True) -> "QuReModel":
        """A frozen vision tower stays in eval mode: its BatchNorm statistics (the conv stem's)
        and anything else that differs between modes belong to the weights it was frozen with."""
        super().train(mode)
        if mode and not any(p.requires_grad for p in self.vision.parameters()):
            self.vision.eval()
        return self

    # ------------------------------------------------------------------ paths
    def vision_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, T, Dv): ViT tokens after ln_vision."""
        if self.cfg.freeze_vision:
            with torch.no_grad():
                x = self.vision(pixels)
        else:
            x = self.vision(pixels)
        return self.ln_vision(x).float()  # (B, T, Dv)

    def _queries(self, batch: int) -> torch.Tensor:
        return self.query_tokens.expand(batch, -1, -1)  # (B, Q, H)

    def target_from_features(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, Dv) -> (B, Q, E), each token L2-normalized."""
        h = self.qformer(query_embeds=self._queries(feats.shape[0]), image=feats)  # (B, Q, H)
        return F.normalize(self.vision_proj(h), dim=-1)  # (B, Q, E)

    def query_from_features(
        self, feats: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Reference features (B, T, Dv) + text (B, L) -> (B, E), L2-normalized."""
        qformer, text_proj = self._query_path()
        return compose_query(qformer, self.query_tokens, text_proj, feats, input_ids, attention_mask)

    def query_cross_kv(self, feats: torch.Tensor) -> torch.Tensor:
        """Reference features (B, T, Dv) -> the query path's cross-attention keys and
        values (B, C, 2, h, T, d): what of the query depends on the reference alone."""
        return self._query_path()[0].cross_keys_values(feats)

    def query_from_cross_kv(
        self, cross_kv: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """:meth:`query_from_features` from :meth:`query_cross_kv`'s keys and values -> (B, E)."""
        qformer, text_proj = self._query_path()
        return compose_query(qformer, self.query_tokens, text_proj, None, input_ids, attention_mask, cross_kv)

    def _query_path(self) -> tuple[QFormer, nn.Linear]:
        """The Q-Former and text_proj of the query path (the split copies if there are)."""
        if self.qformer_query is not None and self.text_proj_query is not None:
            return self.qformer_query, self.text_proj_query
        return self.qformer, self.text_proj

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Text only (BLIP-2 ITC text path): [CLS] -> text_proj -> L2. (B, L) -> (B, E)."""
        h = self.qformer(input_ids, attention_mask)  # (B, L, H)
        return F.normalize(self.text_proj(h[:, 0]), dim=-1)

    def encode_target(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.target_from_features(self.vision_features(pixels))

    def encode_query(self, pixels: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.query_from_features(self.vision_features(pixels), input_ids, attention_mask)

    # ------------------------------------------------------------------ helpers
    @property
    def has_split_query_side(self) -> bool:
        return self.qformer_query is not None

    def split_query_side(self) -> None:
        """Give the query path its own copy of the Q-Former and text_proj, and freeze
        everything else (vision, ln_vision, the target-side Q-Former, vision_proj,
        query tokens). Target tokens computed before stay valid: the index is reused.
        Idempotent."""
        if self.qformer_query is None:
            self.qformer_query = copy.deepcopy(self.qformer)
            self.text_proj_query = copy.deepcopy(self.text_proj)
        self.requires_grad_(False)
        self.qformer_query.requires_grad_(True)
        self.text_proj_query.requires_grad_(True)


def compose_query(
    qformer: QFormer,
    query_tokens: torch.Tensor,
    text_proj: nn.Linear,
    feats: torch.Tensor | None,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    cross_kv: torch.Tensor | None = None,
) -> torch.Tensor:
    """QuRe's query: queries + text through the Q-Former (queries cross-attend the
    reference features), text_proj on each query output, mean, L2. -> (B, E)

    ``cross_kv`` (B, C, 2, h, T, d): the reference's cross-attention keys and values
    (``QFormer.cross_keys_values(feats)``) instead of ``feats``. The text may be of any
    length L: padding positions are masked out, so trimming it changes nothing."""
    nq = query_tokens.shape[1]
    queries = query_tokens.expand((feats if feats is not None else input_ids).shape[0], -1, -1)  # (B, Q, H)
    h = qformer(input_ids, attention_mask, queries, feats, cross_kv)  # (B, Q + L, H)
    q = text_proj(h[:, :nq]).mean(dim=1)  # (B, E)
    return F.normalize(q, dim=-1)


def score(query: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Relevance ``max_k <q, t_k>``: query (B, E), targets (N, Q, E) -> (B, N)."""
    return torch.einsum("be,nqe->bnq", query, targets).amax(dim=-1)


def paired_score(query: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Row-wise relevance: query (B, E), targets (B, Q, E) -> (B,)."""
    return torch.einsum("be,bqe->bq", query, targets).amax(dim=-1)


def build_model(cfg: ModelConfig, vocab_size: int | None = None) -> QuReModel:
    """Construct with random weights. Never touches the network."""
    if vocab_size is not None and vocab_size != cfg.qformer.vocab_size:
        from dataclasses import replace

        cfg = cfg.replace(qformer=replace(cfg.qformer, vocab_size=vocab_size))
    return QuReModel(cfg)
