"""Bradley-Terry fine-tuning of a copy of the query side on preference pairs.

Everything the target side computed stays fixed: the photos' target tokens come from
the library's index and the references' vision features from its cache, so training
touches only the query graph (Q-Former query path + text_proj) and the index is reused.
Early stopping on the held-out pairs' accuracy; the earliest epoch with the best accuracy
is kept (a later epoch with the same accuracy and a lower loss has only moved further
from the model the votes started from).
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F

from trainer.model.query_side import QuerySide


@dataclass(frozen=True)
class PersonalizeConfig:
    lr: float | None = None  # None: 1e-4 for small models, 1e-5 for BERT-base-sized ones
    max_epochs: int = 30
    patience: int = 4  # epochs without held-out improvement before stopping
    batch_size: int = 16
    held_out: float = 0.25
    weight_decay: float = 0.0
    anchor: float = 1.0  # L2 pull towards the starting weights (L2-SP); 0 = off. 1.0 kept the demo
    # model following the sentence in benchmarks/bench_personalize.py (query P@5 34.7 -> 34.3 at 100
    # votes, against 25.3 without); at ViT-L size only its time was measured
    seed: int = 0
    min_epochs_without_held_out: int = 5

    def learning_rate(self, side: QuerySide) -> float:
        if self.lr is not None:
            return self.lr
        return 1e-4 if side.cfg.qformer.hidden <= 256 else 1e-5


@dataclass
class PreferenceData:
    """Tensors for pairs. Pair i compares photo ``better[i]`` over ``worse[i]`` for
    query ``query[i]``; query j has reference ``ref[j]`` and text ``ids[j], mask[j]``."""

    feats: torch.Tensor  # (R, T, Dv) reference vision features
    ref: torch.Tensor  # (NQ,) int64
    ids: torch.Tensor  # (NQ, L) int64
    mask: torch.Tensor  # (NQ, L) int64
    tokens: torch.Tensor  # (P, Q, E) photos' target tokens, as indexed
    query: torch.Tensor  # (N,) int64
    better: torch.Tensor  # (N,) int64
    worse: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return int(self.query.numel())


@dataclass
class PersonalizeReport:
    pairs_train: int
    pairs_held_out: int
    before: float | None  # held-out pairwise accuracy of the starting query side
    after: float | None  # ... of the kept epoch
    train_before: float
    train_after: float
    best_epoch: int
    epochs_run: int
    seconds: float
    curve: list[dict] = field(default_factory=list)  # per epoch (0 = the start): loss, accuracies

    def to_json(self) -> dict:
        return asdict(self)


def pair_scores(side: QuerySide, data: PreferenceData, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (s_better, s_worse) of the pairs ``idx``: max over tokens of <q, t_k>."""
    qs, inv = torch.unique(data.query[idx], return_inverse=True)
    q = side.query_from_features(data.feats[data.ref[qs]], data.ids[qs], data.mask[qs])[inv]  # (B, E)
    sb = torch.einsum("be,bqe->bq", q, data.tokens[data.better[idx]]).amax(-1)  # (B,)
    sw = torch.einsum("be,bqe->bq", q, data.tokens[data.worse[idx]]).amax(-1)  # (B,)
    return sb, sw


def bt_loss(sb: torch.Tensor, sw: torch.Tensor, temp: torch.Tensor) -> torch.Tensor:
    """Bradley-Terry negative log-likelihood: mean of -log sigmoid((s+ - s-)/temp)."""
    return -F.logsigmoid((sb - sw) / temp).mean()


@torch.no_grad()
def evaluate(side: QuerySide, data: PreferenceData, idx: list[int], batch: int = 64) -> tuple[float, float]:
    """(pairwise accuracy, mean BT loss) over pairs ``idx``; a tie counts half."""
    if not idx:
        return float("nan"), float("nan")
    side.eval()
    acc, loss, n = 0.0, 0.0, 0
    t = torch.as_tensor(idx)
    for i in range(0, len(idx), batch):
        sb, sw = pair_scores(side, data, t[i : i + batch])
        acc += float((sb > sw).sum() + 0.5 * (sb == sw).sum())
        loss += float(bt_loss(sb, sw, side.temp)) * len(sb)
        n += len(sb)
    return acc / n, loss / n


def query_grouped_order(queries: torch.Tensor, idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``idx`` shuffled so that each query's pairs are consecutive: queries in random
    order, each query's pairs in random order. A batch then holds the pairs of a few
    queries, and the query side (the expensive part: a Q-Former pass with its backward)
    runs once per query in the batch instead of once per pair's query. At ViT-L size
    this is most of the time of an epoch."""
    order = torch.randperm(len(idx), generator=gen)
    q = queries[order]
    rank = torch.randperm(int(q.max()) + 1 if len(q) else 1, generator=gen)  # a random order of the queries
    order = order[torch.sort(rank[q], stable=True).indices]
    return idx[order]


def train_query_side(
    side: QuerySide,
    data: PreferenceData,
    train_idx: list[int],
    held_idx: list[int],
    cfg: PersonalizeConfig = PersonalizeConfig(),
    progress: Callable[[int, int, dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[QuerySide, PersonalizeReport]:
    """Fine-tune a copy of ``side``; returns the best copy and the report."""
    if not train_idx:
        raise ValueError("no preference pairs to learn from")
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model = copy.deepcopy(side)
    model.query_tokens.requires_grad_(False)  # shared with the target side: kept (as SPN does)
    params = [p for p in model.parameters() if p.requires_grad]
    start = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate(side), weight_decay=cfg.weight_decay)
    before, before_loss = evaluate(model, data, held_idx)
    train_before, train_loss_before = evaluate(model, data, train_idx)
    best_state, best_acc, best_epoch, stale = copy.deepcopy(model.state_dict()), before, 0, 0
    # epoch 0: the starting point, so a live plot has its baseline from the start
    curve = [{"epoch": 0, "train_loss": train_loss_before, "train_acc": train_before, "held_acc": before,
              "held_loss": before_loss}]
    if progress is not None:
        progress(0, cfg.max_epochs, curve[0])
    epochs_run = 0
    tr = torch.as_tensor(train_idx)
    for epoch in range(1, cfg.max_epochs + 1):
        if should_stop is not None and should_stop():
            break
        model.train()
        total, n = 0.0, 0
        for b in query_grouped_order(data.query[tr], tr, gen).split(cfg.batch_size):
            sb, sw = pair_scores(model, data, b)
            loss = bt_loss(sb, sw, model.temp)
            if cfg.anchor:
                loss = loss + cfg.anchor * sum(((p - s) ** 2).sum() for p, s in zip(params, start))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
            n += len(b)
        epochs_run = epoch
        held_acc, held_loss = evaluate(model, data, held_idx)
        train_acc, _ = evaluate(model, data, train_idx)
        rec = {"epoch": epoch, "train_loss": total / n, "train_acc": train_acc, "held_acc": held_acc,
               "held_loss": held_loss}
        curve.append(rec)
        if progress is not None:
            progress(epoch, cfg.max_epochs, rec)
        if held_idx:
            if held_acc > best_acc:  # only a higher accuracy: a tie keeps the earlier epoch
                best_acc, best_state, best_epoch, stale = held_acc, copy.deepcopy(model.state_dict()), epoch, 0
            else:
                stale += 1
                if stale >= cfg.patience:
                    break
        else:
            best_state, best_epoch = copy.deepcopy(model.state_dict()), epoch
            if epoch >= cfg.min_epochs_without_held_out:
                break
    model.load_state_dict(best_state)
    model.eval()
    after, _ = evaluate(model, data, held_idx)
    train_after, _ = evaluate(model, data, train_idx)
    report = PersonalizeReport(
        pairs_train=len(train_idx),
        pairs_held_out=len(held_idx),
        before=None if not held_idx else before,
        after=None if not held_idx else after,
        train_before=train_before,
        train_after=train_after,
        best_epoch=best_epoch,
        epochs_run=epochs_run,
        seconds=time.perf_counter() - t0,
        curve=curve,
    )
    return model, report
