"""Building blocks: the CLIP vision tower and the BLIP-2 Q-Former, written for QuRe's math.

Module names are ours; ``trainer.model.checkpoint`` maps LAVIS's state-dict keys onto them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import QFormerConfig, VisionConfig

# BERT's additive mask value (LAVIS's get_extended_attention_mask uses -10000).
MASK_VALUE = -10000.0


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 whatever the input dtype (CLIP's fp16 trick)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            return super().forward(x)
        w = self.weight.float() if self.weight is not None else None
        b = self.bias.float() if self.bias is not None else None
        return F.layer_norm(x.float(), self.normalized_shape, w, b, self.eps).to(x.dtype)


class QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


# --------------------------------------------------------------------------- vision


class ViTAttention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (nn.MultiheadAttention's layout)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by {heads} heads")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, W = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.heads, W // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, h, T, d)
        y = F.scaled_dot_product_attention(q, k, v)  # (B, h, T, d)
        return self.proj(y.transpose(1, 2).reshape(B, T, W))


class ViTBlock(nn.Module):
    def __init__(self, cfg: VisionConfig):
        super().__init__()
        self.ln_1 = LayerNorm(cfg.width, eps=cfg.eps)
        self.attn = ViTAttention(cfg.width, cfg.heads)
        self.ln_2 = LayerNorm(cfg.width, eps=cfg.eps)
        self.mlp = nn.Sequential()
        self.mlp.add_module("fc1", nn.Linear(cfg.width, cfg.width * cfg.mlp_ratio))
        self.mlp.add_module("act", QuickGELU())
        self.mlp.add_module("fc2", nn.Linear(cfg.width * cfg.mlp_ratio, cfg.width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class ConvStem(nn.Sequential):
    """Pixels to the patch grid by stride-2 3x3 convolutions, each but the last followed by
    BatchNorm and GELU (Xiao et al. 2021): every token sees overlapping receptive fields
    instead of one patch's pixels through one linear map."""

    def __init__(self, cfg: VisionConfig):
        from .config import conv_stem_channels

        channels = [3, *conv_stem_channels(cfg.width, cfg.patch_size)]
        layers: list[nn.Module] = []
        for i in range(len(channels) - 1):
            last = i == len(channels) - 2
            conv = nn.Conv2d(channels[i], channels[i + 1], 3, 2, 1, bias=last)
            # He initialisation: PyTorch's default shrinks the signal about 3x per layer
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            layers.append(conv)
            if not last:
                layers += [nn.BatchNorm2d(channels[i + 1]), nn.GELU()]
        super().__init__(*layers)


class VisionTower(nn.Module):
    """CLIP ViT: patchify, [CLS] + positions, ln_pre, ``layers`` blocks. No ln_post."""

    def __init__(self, cfg: VisionConfig):
        super().__init__()
        if cfg.image_size % cfg.patch_size:
            raise ValueError(f"image size {cfg.image_size} is not a multiple of patch size {cfg.patch_size}")
        self.cfg = cfg
        scale = cfg.width**-0.5
        if cfg.stem == "conv":
            self.patch_embed: nn.Module = ConvStem(cfg)
        elif cfg.stem == "patch":
            self.patch_embed = nn.Conv2d(3, cfg.width, cfg.patch_size, cfg.patch_size, bias=False)
        else:
            raise ValueError(f"unknown vision stem {cfg.stem!r}")
        self.cls_token = nn.Parameter(scale * torch.randn(cfg.width))
        self.pos_embed = nn.Parameter(scale * torch.randn(cfg.num_tokens, cfg.width))
        self.ln_pre = LayerNorm(cfg.width, eps=cfg.eps)
        self.blocks = nn.ModuleList(ViTBlock(cfg) for _ in range(cfg.layers))

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(pixels.to(self.cls_token.dtype))  # (B, W, g, g)
        x = x.flatten(2).transpose(1, 2)  # (B, g*g, W)
        cls = self.cls_token.to(x.dtype).expand(x.shape[0], 1, -1)  # (B, 1, W)
        x = torch.cat([cls, x], dim=1) + self.pos_embed.to(x.dtype)  # (B, T, W)
        x = self.ln_pre(x)
        for blk in self.blocks:
            x = blk(x)
        return x  # (B, T, W)


# --------------------------------------------------------------------------- Q-Former


class BertAttention(nn.Module):
    """BERT attention + output dense + residual LayerNorm. Keys/values may come from
    another width (cross-attention to the image)."""

    def __init__(self, hidden: int, kv_width: int, heads: int, eps: float, dropout: float):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden {hidden} is not divisible by {heads} heads")
        self.heads = heads
        self.q = nn.Linear(hidden, hidden)
        self.k = nn.Linear(kv_width, hidden)
        self.v = nn.Linear(kv_width, hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm = LayerNorm(hidden, eps=eps)
        self.dropout = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        B, T, H = x.shape
        return x.reshape(B, T, self.heads, H // self.heads).transpose(1, 2)  # (B, h, T, d)

    def keys_values(self, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """kv (B, S, Dkv) -> keys and values, each (B, h, S, d)."""
        return self._split(self.k(kv)), self._split(self.v(kv))

    def forward(
        self,
        x: torch.Tensor,
        kv: torch.Tensor | None,
        mask: torch.Tensor | None,
        given: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """x (B, T, H), kv (B, S, Dkv), mask additive (B, 1, 1, S) or None -> (B, T, H).
        ``given``: the keys and values (B, h, S, d) of ``kv`` computed before (then ``kv`` is unused)."""
        q = self._split(self.q(x))
        k, v = given if given is not None else self.keys_values(kv)
        p = self.dropout if self.training else 0.0
        if mask is not None:
            mask = mask.to(q.dtype)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, h, T, d)
        y = y.transpose(1, 2).reshape(x.shape)
        y = F.dropout(self.out(y), p, self.training)
        return self.norm(y + x)


class BertFFN(nn.Module):
    def __init__(self, hidden: int, intermediate: int, eps: float, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(hidden, intermediate)
        self.fc2 = nn.Linear(intermediate, hidden)
        self.norm = LayerNorm(hidden, eps=eps)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc2(F.gelu(self.fc1(x)))  # BERT's exact (erf) GELU
        y = F.dropout(y, self.dropout, self.training)
        return self.norm(y + x)


class QFormerLayer(nn.Module):
    """One Q-Former layer: self-attention over [queries; text]; the query positions
    cross-attend to the image (on cross-attention layers); queries and text then go
    through separate feed-forward blocks."""

    def __init__(self, cfg: QFormerConfig, encoder_width: int, has_cross: bool):
        super().__init__()
        H = cfg.hidden
        self.self_attn = BertAttention(H, H, cfg.heads, cfg.eps, cfg.dropout)
        self.cross_attn = BertAttention(H, encoder_width, cfg.heads, cfg.eps, cfg.dropout) if has_cross else None
        self.ffn_text = BertFFN(H, cfg.intermediate, cfg.eps, cfg.dropout)
        self.ffn_query = BertFFN(H, cfg.intermediate, cfg.eps, cfg.dropout)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        n_query: int,
        image: torch.Tensor | None,
        image_kv: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``image_kv`` (B, 2, h, S, d): this layer's cross-attention keys and values of the
        image, computed before (then ``image`` is not needed)."""
        a = self.self_attn(x, x, mask)  # (B, n_query + L, H)
        if n_query == 0:
            return self.ffn_text(a)
        q = a[:, :n_query]
        if self.cross_attn is not None:
            if image_kv is not None:
                q = self.cross_attn(q, None, None, (image_kv[:, 0], image_kv[:, 1]))
            elif image is None:
                raise ValueError("a cross-attention layer needs the image features")
            else:
                q = self.cross_attn(q, image, None)
        out = self.ffn_query(q)
        if a.shape[1] > n_query:
            out = torch.cat([out, self.ffn_text(a[:, n_query:])], dim=1)
        return out


class QFormerEmbeddings(nn.Module):
    def __init__(self, cfg: QFormerConfig):
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.hidden, padding_idx=cfg.pad_token_id)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.norm = LayerNorm(cfg.hidden, eps=cfg.eps)
        self.dropout = cfg.dropout

    def forward(self, input_ids: torch.Tensor | None, query_embeds: torch.Tensor | None) -> torch.Tensor:
        """Queries (no positions) in front of text (word + position), then LayerNorm."""
        if input_ids is not None:
            L = input_ids.shape[1]
            pos = torch.arange(L, device=input_ids.device)
            x = self.word(input_ids) + self.position(pos)[None]  # (B, L, H)
            if query_embeds is not None:
                x = torch.cat([query_embeds.to(x.dtype), x], dim=1)  # (B, Q + L, H)
        elif query_embeds is not None:
            x = query_embeds
        else:
            raise ValueError("need input_ids or query_embeds")
        return F.dropout(self.norm(x), self.dropout, self.training)


class QFormer(nn.Module):
    def __init__(self, cfg: QFormerConfig, encoder_width: int):
        super().__init__()
        self.cfg = cfg
        self.embeddings = QFormerEmbeddings(cfg)
        self.layers = nn.ModuleList(
            QFormerLayer(cfg, encoder_width, has_cross=(i % cfg.cross_attention_freq == 0))
            for i in range(cfg.layers)
        )

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        query_embeds: torch.Tensor | None = None,
        image: torch.Tensor | None = None,
        image_kv: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """Returns the last hidden states (B, Q + L, H).

        ``attention_mask`` covers the text only (1 = token, 0 = padding); query
        positions are always attended. ``image_kv`` (B, C, 2, h, S, d), from
        :meth:`cross_keys_values`, stands for ``image``: the cross-attention layers then
        skip their key and value projections.

        ``causal`` (BLIP-2's image-grounded text generation): each text position attends to
        the queries and to the text up to itself, the queries to the queries only, so the
        queries come out as without the text and position t predicts token t + 1.
        """
        x = self.embeddings(input_ids, query_embeds)
        n_query = 0 if query_embeds is None else query_embeds.shape[1]
        mask = None
        if causal:
            if input_ids is None or attention_mask is None:
                raise ValueError("a causal pass needs the text and its attention mask")
            mask = causal_mask(attention_mask, n_query).to(x.dtype)
        elif attention_mask is not None:
            full = attention_mask.to(x.dtype)
            if n_query:
                ones = torch.ones(full.shape[0], n_query, dtype=x.dtype, device=x.device)
                full = torch.cat([ones, full], dim=1)  # (B, Q + L)
            mask = ((1.0 - full) * MASK_VALUE)[:, None, None, :]  # (B, 1, 1, Q + L)
        c = 0
        for layer in self.layers:
            kv = None
            if image_kv is not None and layer.cross_attn is not None:
                kv, c = image_kv[:, c], c + 1  # (B, 2, h, S, d)
            x = layer(x, mask, n_query, image, kv)
        return x

    def cross_keys_values(self, image: torch.Tensor) -> torch.Tensor:
        """The image's keys and values of every cross-attention layer, which depend on
        the image alone: (B, S, Dv) -> (B, C, 2, h, S, d), C cross-attention layers."""
        kv = [torch.stack(layer.cross_attn.keys_values(image), dim=1)  # (B, 2, h, S, d)
              for layer in self.layers if layer.cross_attn is not None]
        return torch.stack(kv, dim=1)  # (B, C, 2, h, S, d)


def causal_mask(attention_mask: torch.Tensor, n_query: int) -> torch.Tensor:
    """Additive mask (B, 1, Q + L, Q + L) for a causal pass over [queries; text]: queries see
    the queries; text position t sees the queries and the non-padding text at positions <= t."""
    B, L = attention_mask.shape
    n = n_query + L
    allowed = torch.zeros(B, n, n, dtype=torch.bool, device=attention_mask.device)
    allowed[:, :, :n_query] = True
    tri = torch.ones(L, L, dtype=torch.bool, device=attention_mask.device).tril()
    allowed[:, n_query:, n_query:] = tri[None] & (attention_mask[:, None, :] > 0)
    return torch.zeros(B, 1, n, n, device=attention_mask.device).masked_fill(~allowed[:, None], MASK_VALUE)


def init_bert_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation (normal(0, 0.02), zero biases, unit LayerNorms)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=std)
            if isinstance(m, nn.Embedding) and m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


