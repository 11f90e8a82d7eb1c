"""Fine-tuning the query side on consistent synthetic votes."""

from __future__ import annotations

import pytest
import torch

from trainer.model import TINY
from trainer.model.query_side import QuerySide
from trainer.personalize.train import PersonalizeConfig, PreferenceData, bt_loss, evaluate, train_query_side


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny batches: one thread is ~8x faster than oversubscribed cores on a busy CI box."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def synthetic(seed: int, n_queries=24, n_photos=60, pairs_per_query=12):
    """A hidden taste: photos whose tokens point along ``u`` are preferred, whatever the query."""
    g = torch.Generator().manual_seed(seed)
    cfg = TINY
    T, Dv, Q, E, L = cfg.vision.num_tokens, cfg.vision.width, cfg.qformer.num_query_tokens, cfg.embed_dim, 32
    u = torch.nn.functional.normalize(torch.randn(E, generator=g), dim=0)
    tokens = torch.nn.functional.normalize(torch.randn(n_photos, Q, E, generator=g), dim=-1)
    taste = (tokens @ u).amax(-1)  # (P,)
    feats = torch.randn(n_queries, T, Dv, generator=g)
    ids = torch.randint(5, 200, (n_queries, L), generator=g)
    mask = torch.ones(n_queries, L, dtype=torch.long)
    q, b, w = [], [], []
    for j in range(n_queries):
        for _ in range(pairs_per_query):
            x, y = torch.randint(0, n_photos, (2,), generator=g).tolist()
            if x == y:
                continue
            q.append(j)
            b.append(x if taste[x] > taste[y] else y)
            w.append(y if taste[x] > taste[y] else x)
    data = PreferenceData(
        feats, torch.arange(n_queries), ids, mask, tokens, torch.tensor(q), torch.tensor(b), torch.tensor(w)
    )
    return data


def _side(seed=0):
    torch.manual_seed(seed)
    from trainer.model import build_model

    return QuerySide.from_model(build_model(TINY, vocab_size=300).eval())


def test_bt_loss_formula():
    sb, sw, t = torch.tensor([0.5, 0.1]), torch.tensor([0.2, 0.3]), torch.tensor(0.1)
    want = -(torch.sigmoid((sb - sw) / t).log()).mean()
    torch.testing.assert_close(bt_loss(sb, sw, t), want)


def test_consistent_votes_raise_held_out_accuracy():
    data = synthetic(0)
    qs = data.query.tolist()
    held = [i for i, j in enumerate(qs) if j >= 18]  # 6 queries the training never sees
    train = [i for i, j in enumerate(qs) if j < 18]
    side = _side()
    before, _ = evaluate(side, data, held)
    best, report = train_query_side(side, data, train, held, PersonalizeConfig(lr=3e-4, max_epochs=12, patience=3))
    assert report.before == before
    assert report.after > before + 0.15, report.curve
    assert report.after >= 0.8
    assert report.train_after > report.train_before
    # the starting side is untouched (a copy was trained) and query tokens stay frozen
    assert evaluate(side, data, held)[0] == before
    torch.testing.assert_close(best.query_tokens, side.query_tokens)


def test_random_votes_do_not_fool_early_stopping():
    """With votes that contradict each other, the kept epoch cannot be worse on the
    held-out pairs than the start (early stopping keeps the start if nothing helps)."""
    data = synthetic(1)
    g = torch.Generator().manual_seed(3)
    flip = torch.rand(len(data), generator=g) < 0.5
    data.better, data.worse = torch.where(flip, data.worse, data.better), torch.where(flip, data.better, data.worse)
    qs = data.query.tolist()
    held = [i for i, j in enumerate(qs) if j >= 18]
    train = [i for i, j in enumerate(qs) if j < 18]
    _, report = train_query_side(_side(), data, train, held, PersonalizeConfig(lr=3e-4, max_epochs=6, patience=2))
    assert report.after >= report.before


def test_anchor_keeps_the_query_side_near_its_start():
    """The L2-SP anchor (on by default) pulls the trained weights towards the start:
    same data, same steps, a smaller distance than without it."""
    data = synthetic(2)
    train = list(range(len(data)))
    side = _side()

    def distance(anchor: float) -> float:
        best, _ = train_query_side(side, data, train, [], PersonalizeConfig(lr=3e-4, max_epochs=3, anchor=anchor))
        return sum(float(((p - s) ** 2).sum().detach()) for p, s in zip(best.parameters(), side.parameters()))

    free, anchored = distance(0.0), distance(PersonalizeConfig().anchor)
    assert PersonalizeConfig().anchor > 0
    assert 0 < anchored < 0.8 * free, (anchored, free)


def test_query_grouped_order_is_a_permutation_with_each_query_contiguous():
    from trainer.personalize.train import query_grouped_order

    g = torch.Generator().manual_seed(0)
    queries = torch.tensor([3, 0, 3, 1, 0, 3, 2, 1, 0, 3])
    idx = torch.arange(10) * 7  # any pair indices
    orders = [query_grouped_order(queries, idx, g) for _ in range(5)]
    for out in orders:
        assert sorted(out.tolist()) == idx.tolist()
        seq = [int(queries[(idx == v).nonzero()[0, 0]]) for v in out.tolist()]
        runs = [q for i, q in enumerate(seq) if i == 0 or seq[i - 1] != q]
        assert len(runs) == len(set(seq)) == 4, seq  # one run per query
    assert len({tuple(o.tolist()) for o in orders}) > 1  # and the order changes between epochs


def test_the_kept_epoch_is_the_earliest_with_the_best_held_out_accuracy():
    """Epochs 3 to 7 order the same held-out pairs right (0.917), each with a lower loss
    than the one before: the model kept is epoch 3's, the nearest to the start."""
    data = synthetic(1)
    qs = data.query.tolist()
    held = [i for i, j in enumerate(qs) if j >= 22]
    train = [i for i, j in enumerate(qs) if j < 22]
    best, report = train_query_side(_side(), data, train, held, PersonalizeConfig(lr=3e-4, max_epochs=7, patience=8))
    accs = [c["held_acc"] for c in report.curve]
    top = max(accs)
    assert report.best_epoch == accs.index(top) and report.after == top
    assert accs.count(top) > 1 and report.best_epoch < report.epochs_run, f"no tie to break: {accs}"
    assert evaluate(best, data, held)[0] == top
