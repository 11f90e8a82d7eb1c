"""The from-scratch initialization of the tiny model."""

from __future__ import annotations

import pytest
import torch

from trainer.model import TINY, build_model
from trainer.scratch import widen_qformer_init


def test_widen_redraws_only_the_qformer_and_projections():
    torch.manual_seed(0)
    model = build_model(TINY, vocab_size=300)
    vision = {k: v.clone() for k, v in model.vision.state_dict().items()}
    tokens = model.query_tokens.detach().clone()
    n = widen_qformer_init(model, 0.1)
    assert n > 10
    w = torch.cat([m.weight.detach().flatten() for m in model.qformer.modules() if isinstance(m, torch.nn.Linear)])
    assert float(w.std()) == pytest.approx(0.1, rel=0.05)
    assert float(model.text_proj.weight.detach().std()) == pytest.approx(0.1, rel=0.1)
    assert all(torch.equal(vision[k], v) for k, v in model.vision.state_dict().items())
    assert torch.equal(tokens, model.query_tokens) and float(model.text_proj.bias.detach().abs().max()) == 0.0


def test_a_wider_start_makes_targets_depend_on_the_image():
    torch.manual_seed(0)
    narrow = build_model(TINY, vocab_size=300).eval()
    torch.manual_seed(0)
    wide = build_model(TINY, vocab_size=300)
    widen_qformer_init(wide, 0.1)
    wide.eval()
    g = torch.Generator().manual_seed(1)
    px = torch.randn(16, 3, 96, 96, generator=g)
    with torch.no_grad():
        spread_narrow = narrow.encode_target(px).std(0).mean()
        spread_wide = wide.encode_target(px).std(0).mean()
    assert spread_wide > 5 * spread_narrow


def test_widen_rejects_a_non_positive_std():
    with pytest.raises(ValueError):
        widen_qformer_init(build_model(TINY, vocab_size=300), 0.0)
