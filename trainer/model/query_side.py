"""The query side alone: Q-Former + query tokens + text_proj, as personalization trains it.

Bundles carry these weights as a plain ``.npz`` (``weights/query_side.npz``; numpy's
loader with ``allow_pickle=False`` cannot run code) so that a copy can be fine-tuned
against the target tokens already in a library's index, without the vision tower and
without PyTorch checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .config import ModelConfig
from .layers import QFormer
from .qure import QuReModel, compose_query

CONFIG_KEY = "__config__"
TEMP_KEY = "__temp__"


class QuerySide(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        q = cfg.qformer
        self.qformer = QFormer(q, encoder_width=cfg.vision.width)
        self.query_tokens = nn.Parameter(torch.zeros(1, q.num_query_tokens, q.hidden))
        self.text_proj = nn.Linear(q.hidden, cfg.embed_dim)
        self.register_buffer("temp", torch.tensor(float(cfg.temp_init)))

    def query_from_features(
        self, feats: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Reference features (B, T, Dv) + text (B, L) -> (B, E), L2-normalized."""
        return compose_query(self.qformer, self.query_tokens, self.text_proj, feats, input_ids, attention_mask)

    def query_cross_kv(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, Dv) -> (B, C, 2, h, T, d), as :meth:`QuReModel.query_cross_kv`."""
        return self.qformer.cross_keys_values(feats)

    def query_from_cross_kv(
        self, cross_kv: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """-> (B, E), as :meth:`QuReModel.query_from_cross_kv`."""
        return compose_query(self.qformer, self.query_tokens, self.text_proj, None, input_ids, attention_mask,
                             cross_kv)

    @classmethod
    def from_model(cls, model: QuReModel) -> "QuerySide":
        """A copy of the model's query path (its split copy if it has one)."""
        side = cls(model.cfg)
        src_qf = model.qformer_query if model.qformer_query is not None else model.qformer
        src_tp = model.text_proj_query if model.text_proj_query is not None else model.text_proj
        side.qformer.load_state_dict(src_qf.state_dict(), strict=True)
        side.text_proj.load_state_dict(src_tp.state_dict(), strict=True)
        with torch.no_grad():
            side.query_tokens.copy_(model.query_tokens)
            side.temp.copy_(model.temp.detach())
        return side.eval()

    # ------------------------------------------------------------------ .npz
    def save_npz(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: v.detach().cpu().float().numpy() for k, v in self.state_dict().items() if k != "temp"}
        arrays[TEMP_KEY] = np.asarray(float(self.temp), np.float32)
        arrays[CONFIG_KEY] = np.asarray(json.dumps(self.cfg.to_json()))
        with open(path, "wb") as f:
            np.savez(f, **arrays)
        return path

    @classmethod
    def load_npz(cls, path: str | Path) -> "QuerySide":
        """Load strictly: every parameter filled, nothing unexpected."""
        with np.load(path, allow_pickle=False) as z:
            cfg = ModelConfig.from_json(json.loads(str(z[CONFIG_KEY])))
            side = cls(cfg)
            state = {k: torch.from_numpy(z[k].copy()) for k in z.files if k not in (CONFIG_KEY, TEMP_KEY)}
            state["temp"] = torch.tensor(float(z[TEMP_KEY]))
        missing, unexpected = side.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{path}: query-side weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}"
            )
        return side.eval()
