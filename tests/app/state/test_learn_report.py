"""The trainer's progress stream and report read back, failures put into words, the
before/after panel's words and the accuracy plot's geometry."""

from __future__ import annotations

import json

import pytest

from app.state.learn_report import (
    Epoch,
    LineBuffer,
    Outcome,
    accuracy_range,
    best_held,
    curve_values,
    failure_message,
    parse_epoch,
    parse_outcome,
    plot_points,
    progress_words,
    progress_x_max,
    result_words,
)


def epoch_line(**kw) -> str:
    d = {"event": "epoch", "epoch": 2, "epochs": 30, "train_loss": 0.5, "train_acc": 0.75, "held_acc": 0.6,
         "held_loss": 0.7}
    d.update(kw)
    return json.dumps(d)


@pytest.mark.parametrize("line, want", [
    (epoch_line(), Epoch(2, 30, 0.5, 0.75, 0.6, 0.7)),
    ("  " + epoch_line() + "\r", Epoch(2, 30, 0.5, 0.75, 0.6, 0.7)),
    (epoch_line(held_acc=None, held_loss=None), Epoch(2, 30, 0.5, 0.75, None, None)),
    (epoch_line(held_acc=float("nan")), Epoch(2, 30, 0.5, 0.75, None, 0.7)),  # NaN from an older trainer
    (epoch_line(event="start"), None),
    ('{"epoch": 2}', None),
    (epoch_line()[:-5], None),  # cut off
    ("epoch  2/30  loss 0.5", None),  # the human-readable form
    ("error: no usable preference pairs yet", None),
    ("[1, 2]", None),
    ("", None),
])
def test_parse_epoch(line, want):
    assert parse_epoch(line) == want


@pytest.mark.parametrize("chunks, lines, rest", [
    ([b"a\nb\n"], ["a", "b"], []),
    ([b"ab", b"c\nd", b"e\n"], ["abc", "de"], []),
    ([b"a\r\n", b"\n"], ["a", ""], []),
    ([b"x\ny"], ["x"], ["y"]),
    ([b"caf\xc3", b"\xa9\n"], ["caf\u00e9"], []),  # a character split between reads
    ([b"bad \xff\n"], ["bad \ufffd"], []),
])
def test_line_buffer(chunks, lines, rest):
    buf = LineBuffer()
    got = [ln for c in chunks for ln in buf.feed(c)]
    assert got == lines and buf.close() == rest and buf.lines == lines + rest


REPORT = {"bundle": "/lib/models/m-personal-1", "base": "/models/m", "activated": False, "votes": 32,
          "skipped_votes": 0, "pairs": 40, "dropped_pairs": 2, "queries": 4, "pairs_train": 28, "pairs_held_out": 10,
          "before": 0.5, "after": 0.8, "train_before": 0.55, "train_after": 0.9, "best_epoch": 2, "epochs_run": 3,
          "seconds": 4.25, "curve": [
              {"epoch": 1, "train_loss": 0.6, "train_acc": 0.6, "held_acc": 0.7, "held_loss": 0.65},
              {"epoch": 2, "train_loss": 0.5, "train_acc": 0.8, "held_acc": 0.8, "held_loss": 0.6},
              {"epoch": 3, "train_loss": 0.4, "train_acc": 0.9, "held_acc": 0.8, "held_loss": 0.62}]}


def outcome(**kw) -> Outcome:
    return parse_outcome(json.dumps({**REPORT, **kw}))


def test_parse_outcome():
    o = parse_outcome("some line\n" + json.dumps(REPORT) + "\n")
    assert (o.bundle, o.pairs, o.pairs_train, o.pairs_held_out, o.before, o.after, o.best_epoch) == (
        "/lib/models/m-personal-1", 40, 28, 10, 0.5, 0.8, 2)
    assert o.curve == (Epoch(1, 3, 0.6, 0.6, 0.7, 0.65), Epoch(2, 3, 0.5, 0.8, 0.8, 0.6),
                       Epoch(3, 3, 0.4, 0.9, 0.8, 0.62))


def test_parse_outcome_without_held_out_votes():
    text = json.dumps({**REPORT, "before": None, "after": None, "pairs_held_out": 0,
                       "curve": [{**c, "held_acc": float("nan"), "held_loss": float("nan")} for c in REPORT["curve"]]})
    assert "NaN" in text  # as Python's json writes the trainer's NaN
    o = parse_outcome(text)
    assert o.before is None and all(e.held_acc is None for e in o.curve)


@pytest.mark.parametrize("stdout, words", [
    ("", "without a report"),
    ("not json\n", "without a report"),
    ('{"bundle": "/x"}', "cannot be read (KeyError"),
    (json.dumps({**REPORT, "votes": "many"}), "cannot be read (ValueError"),
])
def test_parse_outcome_refuses(stdout, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        parse_outcome(stdout)


@pytest.mark.parametrize("lines, code, message", [
    (["error: no usable preference pairs yet (3 votes, 0 of them outside image+text searches): give a thumbs-up"],
     1, "no usable preference pairs yet (3 votes, 0 of them outside image+text searches): give a thumbs-up"),
    ([epoch_line(), "error: the model x carries no query-side weights"], 1,
     "the model x carries no query-side weights"),
    (["Traceback (most recent call last):", '  File "x.py", line 1', "RuntimeError: out of memory", ""], 1,
     "the trainer failed: RuntimeError: out of memory"),
    ([epoch_line()], -9, "the trainer stopped with exit code -9"),
    ([], 1, "the trainer stopped with exit code 1"),
])
def test_failure_message(lines, code, message):
    assert failure_message(lines, code) == message


@pytest.mark.parametrize("e, best, words", [
    (None, None, "Starting the trainer and reading your votes…"),
    (Epoch(3, 30, 0.5, 0.75, 0.714, 0.6), 0.75, "Epoch 3 of at most 30 · held-out accuracy 71.4% (best so far 75.0%)"),
    (Epoch(1, 30, 0.5, 0.75, 0.5, 0.6), None, "Epoch 1 of at most 30 · held-out accuracy 50.0%"),
    (Epoch(2, 5, 0.5, 0.75, None, None), None, "Epoch 2 of at most 5 · accuracy on the training pairs 75.0%"),
])
def test_progress_words(e, best, words):
    assert progress_words(e, best) == words


def test_best_held():
    assert best_held([]) is None
    assert best_held([Epoch(1, 3, 0, 0, None, None)]) is None
    assert best_held([Epoch(1, 3, 0, 0, 0.5, 1), Epoch(2, 3, 0, 0, 0.7, 1), Epoch(3, 3, 0, 0, 0.6, 1)]) == 0.7


@pytest.mark.parametrize("kw, before, after, better, verdict", [
    ({}, "50.0%", "80.0%", True, "up from 50.0%"),
    ({"after": 0.5, "best_epoch": 0}, "50.0%", "50.0%", False, "no improvement"),
    ({"after": 0.5, "best_epoch": 2}, "50.0%", "50.0%", False, "no improvement"),
    ({"before": None, "after": None, "pairs_held_out": 0}, "–", "–", None, "from 55.0% to 90.0%"),
])
def test_result_words(kw, before, after, better, verdict):
    w = result_words(outcome(**kw))
    assert (w.before, w.after, w.better) == (before, after, better)
    assert verdict in w.verdict


def test_result_counts():
    w = result_words(outcome())
    assert w.counts == ("Trained on 28 pairs from 32 votes; 10 pairs set aside to measure the effect. 3 epochs in "
                        "4.2 s. 2 pairs left out: photo or reference gone.")
    one = result_words(outcome(pairs_train=1, votes=1, pairs_held_out=1, epochs_run=1, dropped_pairs=0))
    assert one.counts == "Trained on 1 pair from 1 vote; 1 pair set aside to measure the effect. 1 epoch in 4.2 s."


def test_curve_values():
    o = outcome()
    assert curve_values(o.before, o.curve) == [(0, 0.5), (1, 0.7), (2, 0.8), (3, 0.8)]
    assert curve_values(None, [Epoch(1, 3, 0, 0, None, None)]) == []


@pytest.mark.parametrize("values, lo, hi", [
    ([], 0.0, 1.0),
    ([0.5, 0.8], 0.45, 0.85),
    ([0.6, 0.62], 0.51, 0.71),  # widened to the least span around the middle
    ([0.0, 0.05], 0.0, 0.2),  # held inside [0, 1]
    ([1.0, 0.98], 0.8, 1.0),
    ([0.0, 1.0], 0.0, 1.0),
])
def test_accuracy_range(values, lo, hi):
    got = accuracy_range(values)
    assert got == pytest.approx((lo, hi))
    assert got[1] - got[0] >= 0.2 - 1e-12 and 0.0 <= got[0] <= got[1] <= 1.0


def test_plot_points():
    pts = plot_points([(0, 0.5), (1, 1.0), (2, 0.0)], 4, (0.0, 1.0), (10, 20, 200, 100))
    assert pts == [(10.0, 70.0), (60.0, 20.0), (110.0, 120.0)]
    assert plot_points([(0, 0.6)], 0, (0.5, 0.7), (0, 0, 100, 50)) == [(0.0, 25.0)]  # no epochs yet: no divide by 0


@pytest.mark.parametrize("epoch, epochs, x_max", [
    (1, 30, 5), (4, 30, 5), (5, 30, 6), (12, 30, 13), (30, 30, 30), (1, 3, 3), (3, 3, 3), (1, 1, 1), (0, 0, 1),
])
def test_progress_x_max(epoch, epochs, x_max):
    assert progress_x_max(epoch, epochs) == x_max
