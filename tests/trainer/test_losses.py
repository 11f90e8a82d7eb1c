"""Losses against naive formulas, QuRe's KL form, and their gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainer.losses import bank_info_nce, bradley_terry, duplicate_target_mask, in_batch_info_nce


def test_bradley_terry_matches_the_formula_and_qures_kl_form():
    g = torch.Generator().manual_seed(0)
    s_pos, s_neg = torch.rand(16, generator=g), torch.rand(16, generator=g)
    temp = torch.tensor(0.07)
    naive = sum(-math.log(1 / (1 + math.exp(-(p - n) / 0.07))) for p, n in zip(s_pos.tolist(), s_neg.tolist())) / 16
    assert float(bradley_terry(s_pos, s_neg, temp)) == pytest.approx(naive, rel=1e-5)
    # QuRe: kl_div(log_softmax([s+, s-] / temp), [1, 0], 'batchmean')
    logits = torch.stack([s_pos, s_neg], dim=1) / temp
    target = torch.tensor([[1.0, 0.0]]).expand(16, 2)
    kl = F.kl_div(F.log_softmax(logits, dim=1), target, reduction="batchmean")
    assert float(bradley_terry(s_pos, s_neg, temp)) == pytest.approx(float(kl), rel=1e-5)


def test_bradley_terry_gradients():
    s_pos = torch.tensor([0.3, 0.5], dtype=torch.float64, requires_grad=True)
    s_neg = torch.tensor([0.4, 0.1], dtype=torch.float64, requires_grad=True)
    temp = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, t: bradley_terry(a, b, t, temp_floor=0), (s_pos, s_neg, temp))
    bradley_terry(s_pos, s_neg, temp).backward()
    # raising the positive lowers the loss, raising the negative raises it
    assert (s_pos.grad < 0).all() and (s_neg.grad > 0).all()
    # the wrongly ordered pair (0.3 < 0.4) pulls harder than the right one
    assert abs(s_pos.grad[0]) > abs(s_pos.grad[1])


def test_temperature_floor():
    s_pos, s_neg = torch.tensor([1.0]), torch.tensor([0.0])
    low = bradley_terry(s_pos, s_neg, torch.tensor(-0.5), temp_floor=0.01)
    assert float(low) == pytest.approx(-F.logsigmoid(torch.tensor(100.0)).item(), abs=1e-6)
    assert float(bradley_terry(s_pos, s_neg, 0.5, temp_floor=0.01)) == pytest.approx(-math.log(1 / (1 + math.exp(-2))))


def naive_info_nce(scores, temp, ids):
    total = 0.0
    B = len(scores)
    for i in range(B):
        cols = [j for j in range(B) if j == i or ids[j] != ids[i]]
        den = sum(math.exp(scores[i][j] / temp) for j in cols)
        total += -math.log(math.exp(scores[i][i] / temp) / den)
    return total / B


def test_in_batch_info_nce_matches_naive_with_and_without_duplicates():
    g = torch.Generator().manual_seed(1)
    s = torch.rand(6, 6, generator=g)
    distinct = [0, 1, 2, 3, 4, 5]
    dup = [0, 1, 0, 3, 1, 5]  # rows 0/2 and 1/4 share a target image
    for ids in (distinct, dup):
        got = float(in_batch_info_nce(s, 0.05, torch.tensor(ids)))
        assert got == pytest.approx(naive_info_nce(s.tolist(), 0.05, ids), rel=1e-5)
    assert float(in_batch_info_nce(s, 0.05, torch.tensor(dup))) < float(in_batch_info_nce(s, 0.05, None))


def test_duplicate_mask():
    m = duplicate_target_mask(torch.tensor([4, 7, 4]))
    assert m.tolist() == [[False, False, True], [False, False, False], [True, False, False]]


def test_info_nce_gradient_pulls_the_diagonal_up():
    s = torch.zeros(4, 4, requires_grad=True)
    in_batch_info_nce(s, 0.1).backward()
    assert (s.grad.diagonal() < 0).all()
    off = s.grad[~torch.eye(4, dtype=torch.bool)]
    assert (off > 0).all()


def test_bank_info_nce_is_cross_entropy_over_the_bank():
    g = torch.Generator().manual_seed(2)
    s = torch.rand(3, 10, generator=g)
    labels = torch.tensor([2, 9, 0])
    naive = (
        sum(
            -math.log(math.exp(s[i, labels[i]] / 0.05) / sum(math.exp(v / 0.05) for v in s[i].tolist()))
            for i in range(3)
        )
        / 3
    )
    assert float(bank_info_nce(s, labels, 0.05)) == pytest.approx(naive, rel=1e-5)
