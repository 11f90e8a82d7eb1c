""""Learn from my votes" without a screen: the trainer's presence, vote and pair counts
(against the trainer's own pairing as the oracle), the model's facts, why the action is
disabled, the command line, what a discarded run leaves, and the flow's transitions."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from app.state.learn import (
    EVENTS,
    INSTALL_TRAINER,
    NO_WEIGHTS,
    TRANSITIONS,
    LearnFacts,
    LearnFlow,
    LearnOptions,
    Phase,
    VoteCount,
    child_folder,
    count_pairs,
    counts_line,
    counts_tip,
    learn_facts,
    leftovers,
    model_words,
    personalize_command,
    start_problem,
    step,
    trainer_problem,
)
from engine.bundle import file_entries, find_base, load_bundle, write_manifest
from engine.feedback import QueryInfo, Vote
from engine.preferences import VoteView, build_pairs
from tests.engine.fakebundle import write_fake_bundle

_ids = itertools.count(1)


def query(ref: str | None = "r1", text: str | None = "make it red", mode: str = "composed") -> QueryInfo:
    return QueryInfo(mode=mode, text=text, ref_path=f"/{ref}.jpg" if ref else None, ref_sha256=ref, bundle_name="m",
                     bundle_version="1", query_sha256="qsha", target_side="tside")


def vote(photo: str, up: bool, q: QueryInfo | None = None, above: tuple[str, ...] = (), at: float | None = None,
         undone: float | None = None) -> Vote:
    i = next(_ids)
    return Vote(i, float(i) if at is None else at, q or query(), photo, None, up, None, None, above, undone)


# -- the trainer -------------------------------------------------------------------------


@pytest.mark.parametrize("missing, problem", [
    ((), None),
    (("torch",), INSTALL_TRAINER),
    (("onnx",), INSTALL_TRAINER),
    (("torch", "onnx"), INSTALL_TRAINER),
])
def test_trainer_problem(missing, problem):
    asked = []

    def find_spec(name):
        asked.append(name)
        return None if name in missing else object()

    assert trainer_problem(find_spec) == problem
    assert "torch" in asked


def test_trainer_problem_when_the_finder_fails():
    def broken(name):
        raise ValueError("torch.__spec__ is None")

    assert trainer_problem(broken) == INSTALL_TRAINER


def test_the_real_trainer_is_found_without_importing_it():
    code = ("import sys; from app.state.learn import trainer_problem; "
            "print(trainer_problem(), 'torch' in sys.modules, 'onnx' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["None", "False", "False"]  # this environment has both; neither is loaded


# -- counting ----------------------------------------------------------------------------


@pytest.mark.parametrize("votes, want", [
    ([], VoteCount(0, 0, 0, 0, 0, 0)),
    ([vote("a", True)], VoteCount(1, 1, 0, 0, 0, 0)),  # a like with nothing above it: no pair
    ([vote("a", True), vote("b", False)], VoteCount(2, 1, 1, 0, 1, 1)),
    ([vote("a", True), vote("b", False), vote("c", False)], VoteCount(3, 1, 2, 0, 1, 2)),
    ([vote("a", True, above=("x", "y"))], VoteCount(1, 1, 0, 0, 1, 2)),  # liked over the unvoted shown above
    ([vote("a", True, above=("b",)), vote("b", False)], VoteCount(2, 1, 1, 0, 1, 1)),  # one pair, not two
    ([vote("a", True, above=("b",)), vote("b", True)], VoteCount(2, 2, 0, 0, 0, 0)),  # b is voted: no pair
    ([vote("a", True), vote("a", False), vote("b", False)], VoteCount(3, 1, 2, 0, 0, 0)),  # the latest vote counts
    ([vote("a", True), vote("b", False, undone=9.0)], VoteCount(1, 1, 0, 0, 0, 0)),  # undone votes do not
    ([vote("a", True), vote("b", False, q=query(text="Make it  RED!"))], VoteCount(2, 1, 1, 0, 1, 1)),  # cleaned words
    ([vote("a", True), vote("b", False, q=query(text="make it blue"))], VoteCount(2, 1, 1, 0, 0, 0)),
    ([vote("a", True), vote("b", False, q=query(ref="r2"))], VoteCount(2, 1, 1, 0, 0, 0)),
    ([vote("a", True, q=query(mode="text", ref=None)), vote("b", False, q=query(mode="similar", text=None))],
     VoteCount(2, 1, 1, 2, 0, 0)),
])
def test_count_pairs(votes, want):
    assert count_pairs(votes) == want


def test_count_pairs_agrees_with_the_trainers_pairing():
    rng = np.random.default_rng(0)
    photos = [f"p{i}" for i in range(8)]
    for trial in range(60):
        votes = []
        for _ in range(int(rng.integers(0, 14))):
            q = query(ref=f"r{rng.integers(2)}", text=["make it red", "MAKE it red.", "blue"][rng.integers(3)],
                      mode=["composed", "composed", "composed", "similar"][rng.integers(4)])
            above = tuple(rng.choice(photos, size=int(rng.integers(0, 4)), replace=False))
            undone = 1.0 if rng.random() < 0.1 else None
            votes.append(vote(str(rng.choice(photos)), bool(rng.random() < 0.5), q, above, undone=undone))
        live = [v for v in votes if v.undone_at is None]
        oracle = build_pairs([VoteView.of(v) for v in live])
        got = count_pairs(votes)
        assert (got.pairs, got.queries, got.other_modes) == (len(oracle.pairs), len(oracle.queries),
                                                             oracle.skipped_votes), f"trial {trial}"


# -- the model's facts -------------------------------------------------------------------


def _set(root: Path, **changes) -> Path:
    m = load_bundle(root).manifest
    write_manifest(root, dataclasses.replace(m, **changes))
    return root


def _with_weights(root: Path) -> Path:
    (root / "weights").mkdir(exist_ok=True)
    np.savez(root / "weights" / "query_side.npz")  # an (empty) archive: loading reads its array headers
    m = load_bundle(root).manifest
    return _set(root, query_weights="weights/query_side.npz",
                files={**m.files, **file_entries(root, ["weights/query_side.npz"])})


@pytest.fixture
def family(tmp_path):
    """A base that can learn, a child of it (another query graph), and a stranger (another target side)."""
    base = _with_weights(write_fake_bundle(tmp_path / "base", seed=0, name="base"))
    child = _with_weights(write_fake_bundle(tmp_path / "child", seed=0, query_seed=1, name="base", version="1+p"))
    _set(child, parent={"name": "base", "version": "1", "path": str(base)})
    other = write_fake_bundle(tmp_path / "other", seed=5, name="other")
    return SimpleNamespace(base=base, child=child, other=other)


def lib_of(root: Path, votes=()) -> SimpleNamespace:
    return SimpleNamespace(bundle=load_bundle(root), votes=lambda: list(votes))


def test_facts_of_a_base_model(family):
    f = learn_facts(lib_of(family.base, [vote("a", True), vote("b", False)]), None)
    assert (f.can_personalize, f.personalized, f.can_roll_back, f.base_path) == (True, False, False, None)
    assert f.model_name == "base" and f.count.pairs == 1 and f.trainer is None


def test_facts_of_a_personalized_model(family):
    f = learn_facts(lib_of(family.child), INSTALL_TRAINER)
    assert (f.personalized, f.can_roll_back, f.base_path, f.base_label) == (True, True, str(family.base), "base 1")
    assert f.trainer == INSTALL_TRAINER


def test_facts_of_a_model_without_query_side_weights(family):
    f = learn_facts(lib_of(family.other), None)
    assert not f.can_personalize and start_problem(f, False, Phase.IDLE, False) == NO_WEIGHTS


@pytest.mark.parametrize("parent", [
    None,
    {"name": "base", "version": "1"},  # no path recorded
    {"name": "base", "version": "1", "path": "/nowhere/at/all"},  # the base folder is gone
    "OTHER",  # a base that sees photos differently: not a base to roll back to
])
def test_no_base_to_roll_back_to(family, parent):
    _set(family.child, parent={"path": str(family.other)} if parent == "OTHER" else parent)
    b = load_bundle(family.child)
    assert find_base(b) is None
    f = learn_facts(lib_of(family.child), None)
    assert not f.can_roll_back and f.personalized is (parent is not None)


def facts(**kw) -> LearnFacts:
    base = LearnFacts("m 1", "m", True, False, None, None, None, VoteCount(4, 2, 2, 0, 1, 4))
    return dataclasses.replace(base, **kw)


IDLE, RUNNING = Phase.IDLE, Phase.RUNNING


@pytest.mark.parametrize("f, indexing, phase, swapping, problem", [
    (facts(), False, IDLE, False, None),
    (facts(count=VoteCount(0, 0, 0, 0, 0, 0)), False, IDLE, False, None),  # the trainer says why
    (None, False, IDLE, False, "no library is open"),
    (facts(can_personalize=False), False, IDLE, False, NO_WEIGHTS),
    (facts(can_personalize=False, trainer=INSTALL_TRAINER), False, IDLE, False, NO_WEIGHTS),
    (facts(trainer=INSTALL_TRAINER), False, IDLE, False, INSTALL_TRAINER),
    (facts(), True, IDLE, False, "indexing is running: learn when it is done"),
    (facts(), False, RUNNING, False, "learning is running"),
    (facts(), False, Phase.CANCELLING, False, "learning is running"),
    (facts(), False, Phase.READY, False, "a new model is waiting: use it or keep the current one"),
    (facts(), False, IDLE, True, "the model is being switched"),
])
def test_start_problem(f, indexing, phase, swapping, problem):
    assert start_problem(f, indexing, phase, swapping) == problem


@pytest.mark.parametrize("c, words", [
    (VoteCount(0, 0, 0, 0, 0, 0), "0 votes · 0 pairs"),
    (VoteCount(1, 1, 0, 0, 0, 0), "1 vote · 0 pairs"),
    (VoteCount(24, 10, 14, 0, 3, 41), "24 votes · 41 pairs"),
    (VoteCount(2, 1, 1, 0, 1, 1), "2 votes · 1 pair"),
])
def test_counts_line(c, words):
    assert counts_line(c) == words


@pytest.mark.parametrize("c, has, has_not", [
    (VoteCount(0, 0, 0, 0, 0, 0), ["0 thumbs-up, 0 thumbs-down", "No pairs yet: give a thumbs-up"], ["do not count"]),
    (VoteCount(24, 10, 14, 0, 3, 41), ["10 thumbs-up, 14 thumbs-down"], ["No pairs yet", "do not count"]),
    (VoteCount(5, 3, 2, 1, 1, 2), ["1 vote from text-only or similar searches do not count"], ["No pairs yet"]),
    (VoteCount(5, 3, 2, 4, 0, 0), ["4 votes from", "No pairs yet"], []),
])
def test_counts_tip(c, has, has_not):
    tip = counts_tip(c)
    assert all(h in tip for h in has) and not any(h in tip for h in has_not)


@pytest.mark.parametrize("label, demo, personal, words", [
    ("qure 1", False, False, "Model: qure 1"),
    ("qure 1+personal.x", False, True, "Model: qure 1+personal.x · <b>personalized</b> from your votes"),
    ("demo 1", True, False, "<b>Demo model — trained on generated images</b>"),
    ("demo 1", True, True, "<b>Demo model — trained on generated images</b> · <b>personalized</b> from your votes"),
])
def test_model_words(label, demo, personal, words):
    assert model_words(label, demo, personal) == words


# -- the command -------------------------------------------------------------------------


@pytest.mark.parametrize("name, folder", [
    ("qure-vitl", "qure-vitl-personal-20260101-120000"),
    ("my model/2", "my_model_2-personal-20260101-120000"),
    ("", "model-personal-20260101-120000"),
])
def test_child_folder(tmp_path, name, folder):
    assert child_folder(tmp_path, name, "20260101-120000") == tmp_path / "models" / folder


def test_personalize_command():
    argv = personalize_command("/py", "/lib", "/lib/models/x", LearnOptions(epochs=3, lr=1e-3, held_out=0.3, seed=2))
    assert argv == ["/py", "-m", "trainer.cli", "personalize", "--library", "/lib", "--out", "/lib/models/x",
                    "--no-activate", "--json", "--progress-jsonl", "--epochs", "3", "--held-out", "0.3", "--seed", "2",
                    "--lr", "0.001"]
    assert "--lr" not in personalize_command("/py", "/lib", "/o")
    from trainer.cli import build_parser

    args = build_parser().parse_args(argv[3:])  # the trainer understands every flag
    assert (args.no_activate, args.json, args.progress_jsonl, args.epochs, args.lr) == (True, True, True, 3, 1e-3)


def test_leftovers():
    out = Path("/lib/models/m-personal-1")
    names = ["m-personal-1", "m-personal-1.ab12cd", "m-personal-10", "m-personal-0", "other", "m-personal-1x"]
    assert leftovers(out, names) == [out.parent / "m-personal-1", out.parent / "m-personal-1.ab12cd"]


# -- the flow ----------------------------------------------------------------------------


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("event", EVENTS)
def test_step_follows_the_table(phase, event):
    assert step(phase, event) == TRANSITIONS.get((phase, event))


def test_step_refuses_unknown_events():
    with pytest.raises(ValueError):
        step(Phase.IDLE, "finish")


@pytest.mark.parametrize("events, phase, accepted", [
    (["start", "succeeded", "used"], Phase.IDLE, [True, True, True]),
    (["start", "succeeded", "kept"], Phase.IDLE, [True, True, True]),
    (["start", "succeeded"], Phase.READY, [True, True]),
    (["start", "start"], Phase.RUNNING, [True, False]),  # one run at a time
    (["start", "cancel", "succeeded"], Phase.IDLE, [True, True, True]),  # cancelled: the result is dropped
    (["start", "cancel", "cancel", "failed"], Phase.IDLE, [True, True, False, True]),
    (["start", "failed", "start"], Phase.RUNNING, [True, True, True]),  # a failure allows another try
    (["used"], Phase.IDLE, [False]),
    (["start", "succeeded", "cancel"], Phase.READY, [True, True, False]),  # nothing left to cancel
])
def test_flow(events, phase, accepted):
    f = LearnFlow()
    assert [f.fire(e) for e in events] == accepted
    assert f.phase is phase


def test_one_swap_at_a_time():
    f = LearnFlow()
    f.fire("start")
    assert f.begin_swap(), "a rollback may run while learning does"
    assert not f.begin_swap()
    f.end_swap()
    assert f.begin_swap()
