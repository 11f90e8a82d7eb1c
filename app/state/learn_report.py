"""What the trainer's process says, read and put into words; the accuracy plot's geometry.

``cirsearch-train personalize --json --progress-jsonl`` writes one JSON object per
epoch to stderr while it trains and, at the end, one JSON object with the report to
stdout; a failure is a line ``error: ...`` on stderr and exit code 1. Here:
:class:`LineBuffer` cuts the stream into lines, :func:`parse_epoch` reads an epoch line,
:func:`parse_outcome` the final report, :func:`failure_message` says why a run failed,
:func:`result_words` what the before/after panel shows, and :func:`plot_points` where
the held-out accuracy curve is drawn.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence


@dataclass(frozen=True)
class Epoch:
    epoch: int
    epochs: int  # at most this many (early stopping may end sooner)
    train_loss: float
    train_acc: float
    held_acc: float | None  # None: no votes were set aside
    held_loss: float | None


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
        return None
    return float(v)


def _epoch(d: dict, epochs: int) -> Epoch:
    return Epoch(int(d["epoch"]), int(epochs), float(d["train_loss"]), float(d["train_acc"]),
                 _num(d.get("held_acc")), _num(d.get("held_loss")))


def parse_epoch(line: str) -> Epoch | None:
    """An epoch record (``{"event": "epoch", ...}``), or None for any other line."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        d = json.loads(line)
        if not isinstance(d, dict) or d.get("event") != "epoch":
            return None
        return _epoch(d, d["epochs"])
    except (ValueError, KeyError, TypeError):
        return None


class LineBuffer:
    """Bytes as they arrive -> complete lines (a partial line waits for its end)."""

    def __init__(self) -> None:
        self._rest = b""
        self.lines: list[str] = []  # every complete line so far

    def feed(self, data: bytes) -> list[str]:
        *done, self._rest = (self._rest + data).split(b"\n")
        new = [d.decode("utf-8", "replace").rstrip("\r") for d in done]
        self.lines += new
        return new

    def close(self) -> list[str]:
        """The last line, if it had no newline."""
        rest, self._rest = self._rest, b""
        return self.feed(rest + b"\n") if rest else []


# -- the end of a run --------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    bundle: str  # the new model's folder
    base: str  # the model it was made from
    votes: int
    pairs: int  # all pairs the votes make, before dropping any
    dropped_pairs: int  # pairs whose photo or reference is gone
    queries: int
    pairs_train: int
    pairs_held_out: int
    before: float | None  # held-out pairwise accuracy of the base model; None: nothing held out
    after: float | None  # ... of the new model
    train_before: float
    train_after: float
    best_epoch: int  # 0: no epoch beat the base model
    epochs_run: int
    seconds: float
    curve: tuple[Epoch, ...]


def parse_outcome(stdout: str) -> Outcome:
    """The report the trainer printed last; ValueError if there is none."""
    for line in reversed(stdout.strip().splitlines()):
        if not line.startswith("{"):
            continue
        try:
            d = json.loads(line)
            epochs = max([int(d["epochs_run"])] + [int(c["epoch"]) for c in d["curve"]])
            return Outcome(
                str(d["bundle"]), str(d["base"]), int(d["votes"]), int(d["pairs"]), int(d["dropped_pairs"]),
                int(d["queries"]),
                int(d["pairs_train"]), int(d["pairs_held_out"]), _num(d.get("before")), _num(d.get("after")),
                float(d["train_before"]), float(d["train_after"]), int(d["best_epoch"]), int(d["epochs_run"]),
                float(d["seconds"]), tuple(_epoch(c, epochs) for c in d["curve"]))
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"the trainer's report cannot be read ({type(e).__name__}: {e})") from e
    raise ValueError("the trainer ended without a report")


def failure_message(stderr_lines: Sequence[str], exit_code: int) -> str:
    """Why a run failed: the trainer's own ``error:`` line, else the last line of a
    traceback (the exception), else the exit code."""
    lines = [ln.strip() for ln in stderr_lines if ln.strip() and not ln.lstrip().startswith("{")]
    for ln in reversed(lines):
        if ln.startswith("error: "):
            return ln[len("error: "):]
    if lines:
        return f"the trainer failed: {lines[-1]}"
    return f"the trainer stopped with exit code {exit_code}"


# -- words -------------------------------------------------------------------------------


def percent(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def progress_words(e: Epoch | None, best: float | None) -> str:
    if e is None:
        return "Starting the trainer and reading your votes…"
    held = (f"held-out accuracy {percent(e.held_acc)}" + (f" (best so far {percent(best)})" if best is not None else "")
            if e.held_acc is not None else f"accuracy on the training pairs {percent(e.train_acc)}")
    return f"Epoch {e.epoch} of at most {e.epochs} · {held}"


def progress_x_max(epoch: int, epochs: int, least: int = 5) -> int:
    """The plot's last epoch while a run goes on: room ahead of the newest point, up to
    the most the run may take (early stopping usually ends it well before)."""
    return max(1, min(epochs, max(epoch + 1, least)))


def best_held(epochs: Sequence[Epoch]) -> float | None:
    vals = [e.held_acc for e in epochs if e.held_acc is not None]
    return max(vals) if vals else None


CHANCE = 0.5  # pairwise accuracy of a random order


@dataclass(frozen=True)
class ResultWords:
    before: str  # "58.3%"
    after: str
    counts: str  # the pairs trained on and set aside
    verdict: str  # what the numbers mean
    better: bool | None  # None: nothing was set aside to measure on


def result_words(o: Outcome) -> ResultWords:
    counts = (f"Trained on {o.pairs_train} pair{'s' if o.pairs_train != 1 else ''} from {o.votes} "
              f"vote{'s' if o.votes != 1 else ''}; {o.pairs_held_out} pair{'s' if o.pairs_held_out != 1 else ''} "
              f"set aside to measure the effect. {o.epochs_run} epoch{'s' if o.epochs_run != 1 else ''} "
              f"in {o.seconds:.1f} s.")
    if o.dropped_pairs:
        counts += f" {o.dropped_pairs} pair{'s' if o.dropped_pairs != 1 else ''} left out: photo or reference gone."
    if o.before is None or o.after is None:
        return ResultWords("–", "–", counts,
                           "Too few votes to set any aside, so the effect cannot be measured. On the pairs it "
                           f"trained on, accuracy went from {percent(o.train_before)} to {percent(o.train_after)}.",
                           None)
    more = "More votes, on more questions, give it more to learn from."
    if o.best_epoch == 0 or o.after <= o.before:
        verdict = ("No epoch did better than the model you have on the votes set aside: the new model is no "
                   f"improvement. {more}")
        return ResultWords(percent(o.before), percent(o.after), counts, verdict, False)
    verdict = (f"On votes it never trained on, the new model orders {percent(o.after)} of the pairs as you did, "
               f"up from {percent(o.before)}")
    if o.after < CHANCE:  # better than before, yet worse than a coin toss: not a success
        verdict += (f", but that is still below chance ({percent(CHANCE)}: a coin toss orders half of them as you "
                    f"did). {more}")
    return ResultWords(percent(o.before), percent(o.after), counts, verdict + ("" if o.after < CHANCE else "."), True)


# -- the plot ----------------------------------------------------------------------------


def curve_values(before: float | None, epochs: Sequence[Epoch]) -> list[tuple[int, float]]:
    """(epoch, held-out accuracy) to draw: epoch 0 is the base model, when known (the
    trainer streams it as its first record; ``before`` stands in until it arrives)."""
    pts = [(e.epoch, e.held_acc) for e in epochs if e.held_acc is not None]
    if before is not None and not any(x == 0 for x, _ in pts):
        pts.insert(0, (0, before))
    return pts


def accuracy_range(values: Sequence[float], min_span: float = 0.2, pad: float = 0.05) -> tuple[float, float]:
    """A y range in [0, 1] around ``values``, at least ``min_span`` tall."""
    if not values:
        return 0.0, 1.0
    lo, hi = max(0.0, min(values) - pad), min(1.0, max(values) + pad)
    if hi - lo < min_span:
        mid = (lo + hi) / 2
        lo, hi = mid - min_span / 2, mid + min_span / 2
        if lo < 0:
            lo, hi = 0.0, min_span
        if hi > 1:
            lo, hi = 1.0 - min_span, 1.0
    return lo, hi


def plot_points(values: Sequence[tuple[int, float]], x_max: int, y_range: tuple[float, float],
                box: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    """Pixel positions of (epoch, accuracy) in ``box`` = (left, top, width, height):
    epoch 0 on the left edge, ``x_max`` on the right; ``y_range`` bottom to top."""
    left, top, w, h = box
    lo, hi = y_range
    span = max(1, x_max)
    return [(left + w * x / span, top + h * (1 - (y - lo) / (hi - lo))) for x, y in values]
