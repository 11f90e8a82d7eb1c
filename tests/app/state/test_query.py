"""What a query runs (a table), request ids, and run() against a real library."""

from __future__ import annotations

import threading

import pytest

from app.state.query import Mode, Query, Requests, mode_reasons, plan, run
from engine.errors import QueryError

REF = "/photos/ref.jpg"


@pytest.mark.parametrize("mode, text, ref, has_text, call, note_has", [
    (Mode.COMPOSED, "make it red", REF, True, "composed", ""),
    (Mode.COMPOSED, "  ", REF, True, "composed", "No change typed"),
    (Mode.COMPOSED, "red dress", None, True, "text", "words alone"),
    (Mode.COMPOSED, "red dress", None, False, "", "needs one"),
    (Mode.COMPOSED, "", None, True, "", "Drop a photo"),
    (Mode.TEXT, "red dress", REF, True, "text", ""),
    (Mode.TEXT, "red dress", None, False, "", "cannot search by text"),
    (Mode.TEXT, " ", None, True, "", "Type what"),
    (Mode.SIMILAR, "ignored", REF, False, "similar", ""),
    (Mode.SIMILAR, "", None, True, "", "Drop a photo"),
    (Mode.COMPOSED, "with a photo id", 7, False, "composed", ""),
])
def test_plan(mode, text, ref, has_text, call, note_has):
    p = plan(Query(mode, text, ref), has_text)
    assert p.call == call
    assert p.runs == bool(call)
    assert note_has in p.note
    if not call:
        assert p.note, "a query that cannot run says why"


def test_text_mode_is_disabled_with_a_reason_without_a_text_graph():
    assert mode_reasons(True) == {Mode.COMPOSED: None, Mode.TEXT: None, Mode.SIMILAR: None}
    reasons = mode_reasons(False)
    assert reasons[Mode.TEXT] and "text graph" in reasons[Mode.TEXT]
    assert reasons[Mode.COMPOSED] is None and reasons[Mode.SIMILAR] is None


def test_requests_only_the_latest_is_current():
    r = Requests()
    a, b = r.next(), r.next()
    assert b > a and r.is_current(b) and not r.is_current(a)
    r.invalidate()
    assert not r.is_current(b)


def test_requests_are_unique_across_threads():
    r, got = Requests(), []
    lock = threading.Lock()

    def take():
        mine = [r.next() for _ in range(500)]
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == list(range(1, 2001)) and r.latest == 2000


def test_run_calls_the_planned_engine_method(library, photo_dir):
    ref = str(next((photo_dir / "a").iterdir()))
    composed = run(library, Query(Mode.COMPOSED, "make it red", ref, k=5))
    assert composed.query.mode == "composed" and composed.query.text == "make it red" and len(composed.hits) == 5
    assert ref not in [h.path for h in composed.hits], "the reference itself is left out"
    text = run(library, Query(Mode.COMPOSED, "red dress", None, k=5))
    assert text.query.mode == "text"
    similar = run(library, Query(Mode.SIMILAR, "ignored", ref, k=5))
    assert similar.query.mode == "similar" and similar.query.text is None
    direct = library.search(text="make it red", image=ref, k=5)
    assert [h.photo_id for h in composed.hits] == [h.photo_id for h in direct.hits]


def test_run_refuses_what_cannot_run(library):
    with pytest.raises(QueryError, match="Drop a photo"):
        run(library, Query(Mode.SIMILAR, "x", None))
