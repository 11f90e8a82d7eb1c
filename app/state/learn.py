""""Learn from my votes": whether it can run, what it would learn from, and the flow.

Personalization itself is the trainer's (``cirsearch-train personalize``, PyTorch). The
app runs it as a separate process, so torch never loads into the window's process and
cancelling is killing that process. What the app decides about it lives here, Qt-free:

- :func:`learn_facts` (a worker: reads the library's votes and the bundle manifests):
  can the model in use learn (its base carries query-side weights), is it a
  personalized child and of which base, is the trainer installed, how many votes and
  preference pairs there are (:func:`count_pairs`, the trainer's pairing rule).
- :func:`start_problem`: why "Learn from my votes" is disabled now, or None.
- :func:`personalize_command`: the trainer's command line; :func:`child_folder` where the
  new bundle goes; :func:`leftovers` what to delete when it is not kept.
- :class:`LearnFlow`: idle -> running -> ready (a new model waits for "Use it" or "Keep
  the current model") -> idle; a cancel or a failure goes back to idle. A model swap
  ("Use it", "Roll back") is a flag beside the phase: one swap at a time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable, Iterable, Sequence

from engine.bundle import find_base
from engine.feedback import Vote
from engine.preferences import VoteView, build_pairs
from engine.text import TextSpec

from .transitions import Flow, Transitions

# What ``cirsearch-train personalize`` imports beyond the engine (torch.onnx needs onnx).
TRAINER_MODULES = ("torch", "onnx")
INSTALL_TRAINER = "install the trainer: pip install cirsearch[train]"
NO_WEIGHTS = "this model carries no query-side weights"
NO_PAIRS_HINT = "give a thumbs-up to a good result and a thumbs-down to a bad one"


def trainer_problem(find_spec: Callable[[str], object] = importlib.util.find_spec) -> str | None:
    """Why the trainer cannot run in this Python, or None. Nothing is imported."""
    for name in TRAINER_MODULES:
        try:
            if find_spec(name) is None:
                return INSTALL_TRAINER
        except (ImportError, ValueError):
            return INSTALL_TRAINER
    return None


# -- votes and pairs ---------------------------------------------------------------------


@dataclass(frozen=True)
class VoteCount:
    votes: int  # live votes
    up: int
    down: int
    other_modes: int  # text-only and "similar" votes: they do not train the query graph
    queries: int  # image+text questions with at least one pair
    pairs: int  # preference pairs (photos or references gone since are still counted)


def count_pairs(votes: Iterable[Vote], spec: TextSpec = TextSpec()) -> VoteCount:
    """Count votes and the preference pairs the trainer builds from them
    (``engine.preferences.build_pairs``: one rule for both)."""
    live = [v for v in votes if v.undone_at is None]
    ps = build_pairs((VoteView.of(v) for v in live), spec)
    up = sum(v.up for v in live)
    return VoteCount(len(live), up, len(live) - up, ps.skipped_votes, len(ps.queries), len(ps.pairs))


# -- what the model in use allows --------------------------------------------------------


@dataclass(frozen=True)
class LearnFacts:
    model: str  # the label of the model in use
    model_name: str  # its name (a new child is called <name>-personal-<time>)
    can_personalize: bool  # the base model carries query-side weights
    personalized: bool  # the model in use is a child (its manifest names a parent)
    base_label: str | None  # the base model, when it can be found (for "Roll back to ...")
    base_path: str | None
    trainer: str | None  # why the trainer cannot run, or None
    count: VoteCount

    @property
    def can_roll_back(self) -> bool:
        return self.personalized and self.base_path is not None


def learn_facts(lib, trainer: str | None) -> LearnFacts:
    """What "Learn from my votes" needs to know about ``lib`` (an open Library). A worker."""
    b = lib.bundle
    base = find_base(b)
    source = base if base is not None else b
    return LearnFacts(
        model=b.label,
        model_name=source.manifest.model.name,
        can_personalize=source.can_personalize,
        personalized=b.manifest.parent is not None,
        base_label=base.label if base is not None else None,
        base_path=str(base.root) if base is not None else None,
        trainer=trainer,
        count=count_pairs(lib.votes(), b.manifest.text),
    )


def start_problem(facts: LearnFacts | None, indexing: bool, phase: "Phase", swapping: bool) -> str | None:
    """Why "Learn from my votes" cannot start now (shown on the disabled button), or None.

    No pairs yet is not a reason: the trainer is asked and its message is shown (it
    knows which votes are usable).
    """
    if facts is None:
        return "no library is open"
    if not facts.can_personalize:
        return NO_WEIGHTS
    if facts.trainer is not None:
        return facts.trainer
    if phase in (Phase.RUNNING, Phase.CANCELLING):
        return "learning is running"
    if phase is Phase.READY:
        return "a new model is waiting: use it or keep the current one"
    if swapping:
        return "the model is being switched"
    if indexing:
        return "indexing is running: learn when it is done"
    return None


def counts_line(c: VoteCount) -> str:
    """ "24 votes · 41 pairs" (beside the button)."""
    return f"{c.votes} vote{'s' if c.votes != 1 else ''} · {c.pairs} pair{'s' if c.pairs != 1 else ''}"


def counts_tip(c: VoteCount) -> str:
    """What the counts mean, and what to do when there is nothing to learn from yet."""
    tip = (f"{c.up} thumbs-up, {c.down} thumbs-down. A pair is a liked photo against a disliked one, or against "
           "an unvoted photo shown above it, for the same photo and words.")
    if c.other_modes:
        n = c.other_modes
        tip += f" {n} vote{'s' if n != 1 else ''} from text-only or similar searches do not count."
    if not c.pairs:
        tip += f" No pairs yet: {NO_PAIRS_HINT}."
    return tip


def model_words(label: str, demo: bool, personalized: bool) -> str:
    """The status bar's model label (rich text). For a personalized model, ``label`` is
    best its base's (a child's own version carries a time stamp)."""
    text = "<b>Demo model — trained on generated images</b>" if demo else f"Model: {label}"
    return text + (" · <b>personalized</b> from your votes" if personalized else "")


# -- the trainer's command line ----------------------------------------------------------


@dataclass(frozen=True)
class LearnOptions:
    epochs: int = 30  # at most (early stopping on the held-out votes)
    lr: float | None = None  # None: the trainer's default for the model size
    held_out: float = 0.25
    seed: int = 0


def child_folder(library: str | Path, model_name: str, stamp: str) -> Path:
    """Where the new bundle is written: ``LIBRARY/models/<name>-personal-<stamp>``."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model_name) or "model"
    return Path(library) / "models" / f"{safe}-personal-{stamp}"


def personalize_command(python: str, library: str | Path, out: str | Path,
                        options: LearnOptions = LearnOptions()) -> list[str]:
    """argv for the trainer: writes ``out``, leaves the library's model as it is, reports as JSON."""
    argv = [python, "-m", "trainer.cli", "personalize", "--library", str(library), "--out", str(out),
            "--no-activate", "--json", "--progress-jsonl", "--epochs", str(options.epochs),
            "--held-out", str(options.held_out), "--seed", str(options.seed)]
    if options.lr is not None:
        argv += ["--lr", repr(options.lr)]
    return argv


def leftovers(out: Path, names: Sequence[str]) -> list[Path]:
    """What a run that is not kept leaves in ``out``'s folder (``names``: its entries):
    ``out`` itself and the exporter's temporary folders (``<out name>.<random>``)."""
    return [out.parent / n for n in sorted(names) if n == out.name or n.startswith(out.name + ".")]


# -- the flow ----------------------------------------------------------------------------


class Phase(str, Enum):
    IDLE = "idle"
    RUNNING = "running"
    CANCELLING = "cancelling"  # killed; waiting for the process to end
    READY = "ready"  # a new model waits for "Use it" or "Keep the current model"


# (phase, event) -> next phase. Events: start, cancel, succeeded, failed (the process
# ended), used (the swap to the new model is done), kept.
TRANSITIONS: dict[tuple[Phase, str], Phase] = {
    (Phase.IDLE, "start"): Phase.RUNNING,
    (Phase.RUNNING, "cancel"): Phase.CANCELLING,
    (Phase.RUNNING, "succeeded"): Phase.READY,
    (Phase.RUNNING, "failed"): Phase.IDLE,
    (Phase.CANCELLING, "succeeded"): Phase.IDLE,  # too late to stop: the new model is dropped
    (Phase.CANCELLING, "failed"): Phase.IDLE,
    (Phase.READY, "used"): Phase.IDLE,
    (Phase.READY, "kept"): Phase.IDLE,
}
MACHINE = Transitions(TRANSITIONS)
EVENTS = MACHINE.events
step = MACHINE.step


class LearnFlow(Flow[Phase]):
    """The phase of a learn run plus the one swap in flight. Not thread-safe (GUI thread)."""

    def __init__(self) -> None:
        super().__init__(MACHINE, Phase.IDLE)
        self.swapping = False
        self.out: Path | None = None  # the run's bundle folder

    def begin_swap(self) -> bool:
        """A model switch ("Use it" or "Roll back") may start; one at a time. A rollback
        may run while learning does: the run trains from the base model either way."""
        if self.swapping:
            return False
        self.swapping = True
        return True

    def end_swap(self) -> None:
        self.swapping = False
