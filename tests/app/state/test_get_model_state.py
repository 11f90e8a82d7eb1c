""""Get the QuRe model" without a screen: the converter's command line (read back by the
trainer's own parser), its JSON lines (as the trainer writes them) folded into the
dialog's words, why a run failed, the by-hand instructions, and the flow's transitions."""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
from pathlib import Path

import pytest

from app.state.get_model import (
    EVENTS,
    INSTALL_HINT,
    TRAINED,
    TRANSITIONS,
    Bytes,
    Done,
    GetModelFlow,
    ImportOptions,
    ImportProgress,
    Kind,
    Missing,
    Phase,
    Step,
    bundle_folder,
    by_hand_words,
    done_words,
    failure,
    import_command,
    missing_module,
    parse_event,
    ready_words,
    size_words,
    start_problem,
    step,
    use_problem,
)

CIRR, FIQ = TRAINED
GONE = Missing("blip2_pretrained_vitL.pth", "https://x.test/blip2_pretrained_vitL.pth",
               "/cache/downloads/blip2_pretrained_vitL.pth", "BLIP-2 pretrained", "x.test: Name or service not known")
VOCAB = Missing("bert-base-uncased-vocab.txt", "https://h.test/vocab.txt?a=1&b=<2>",
                "/other/bert-base-uncased-vocab.txt", "BERT vocabulary", "refused")


def test_the_cirr_checkpoint_is_offered_first_for_photos():
    assert [t.key for t in TRAINED] == ["cirr", "fashioniq"]
    assert "photo library" in CIRR.good_for and "clothing" in FIQ.title.lower()


def test_the_bundle_goes_to_the_librarys_models_folder():
    assert bundle_folder("/lib", FIQ, "20250101-120000") == Path("/lib/models/qure-fashioniq-20250101-120000")


def test_the_command_line_is_what_the_trainer_reads():
    cli = pytest.importorskip("trainer.cli")  # its commands import torch
    plain = import_command("/py", "/dl/model.pth", "/lib/models/q", CIRR)
    assert plain[:4] == ["/py", "-m", "trainer.cli", "import-qure"]
    a = cli.build_parser().parse_args(plain[3:])
    assert (a.checkpoint, a.out, a.name, a.progress_json) == (Path("/dl/model.pth"), Path("/lib/models/q"),
                                                              "qure-cirr", True)
    assert (a.base_config, a.vocab, a.mirror, a.cache_dir, a.blip2) == ("vitl", None, None, None, None)
    opts = ImportOptions(base_config="tiny", vocab=Path("/v.txt"), mirror="http://127.0.0.1:9", cache_dir=Path("/c"))
    b = cli.build_parser().parse_args(import_command("/py", "m.pth", "o", FIQ, opts)[3:])
    assert (b.base_config, b.vocab, b.mirror, b.cache_dir, b.name) == ("tiny", Path("/v.txt"), "http://127.0.0.1:9",
                                                                       Path("/c"), "qure-fashioniq")
    # int8 graphs by default, optional (a refused check keeps float32), on the library's photos when given
    assert (a.int8_optional, a.int8, a.library) == (True, False, None)
    c = cli.build_parser().parse_args(import_command("/py", "m.pth", "o", CIRR, calibrate_on=Path("/lib"))[3:])
    assert (c.int8_optional, c.library) == (True, Path("/lib"))
    d = cli.build_parser().parse_args(import_command("/py", "m.pth", "o", CIRR, ImportOptions(int8=False))[3:])
    assert not d.int8_optional


def trainer_lines(*calls: tuple[str, dict]) -> list[str]:
    """What ``import-qure --progress-json`` prints for these events (its own writer)."""
    qure = pytest.importorskip("trainer.commands.import_qure")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        for event, fields in calls:
            qure._event(argparse.Namespace(progress_json=True), event, **fields)
    return err.getvalue().splitlines()


def test_the_converters_lines_are_read_as_it_writes_them():
    lines = trainer_lines(
        ("step", {"step": "download", "file": "f.pth", "description": "BLIP-2"}),
        ("download", {"file": "f.pth", "done": 5, "total": None}),
        ("missing", {"file": GONE.file, "url": GONE.url, "path": GONE.path, "description": GONE.description,
                     "reason": GONE.reason}),
        ("done", {"bundle": "/b"}))
    assert [parse_event(ln) for ln in lines] == [Step("download", "f.pth", "BLIP-2"), Bytes("f.pth", 5, None), GONE,
                                                 Done("/b")]


@pytest.mark.parametrize("line", ["", "mapped 120 keys", "{not json", "[1, 2]", '{"event": "epoch", "epoch": 1}',
                                  '{"event": "download", "file": "f"}', '{"event": "download", "file": "f", '
                                  '"done": "many", "total": 3}'])
def test_other_lines_are_not_events(line):
    assert parse_event(line) is None


@pytest.mark.parametrize("n, words", [(0, "0 bytes"), (999, "999 bytes"), (1000, "1.0 kB"), (231_508, "231.5 kB"),
                                      (5_850_857, "5.9 MB"), (1_900_000_000, "1.9 GB")])
def test_sizes_in_words(n, words):
    assert size_words(n) == words


def test_progress_follows_the_steps_and_the_bytes():
    p = ImportProgress()
    assert p.line == "Starting the converter…" and p.bar is None and p.done == []
    p.feed(Step("read", "/dl/model.pth"))
    assert p.line == "Reading model.pth…" and p.bar is None
    p.feed(Step("download", "b.pth", "BLIP-2 weights"))
    assert p.line == "Downloading BLIP-2 weights (b.pth)…" and p.done == ["Read model.pth"]
    p.feed(Bytes("b.pth", 2_000_000, 8_000_000))  # the first report: a part resumed from 2 MB
    p.feed(Bytes("b.pth", 6_000_000, 8_000_000))
    assert p.line == "Downloading b.pth: 6.0 MB of 8.0 MB (resumed at 2.0 MB)" and p.bar == (750, 1000)
    p.feed(Step("download", "v.txt", None))
    assert p.bar is None and p.line == "Downloading v.txt (v.txt)…"
    p.feed(Bytes("v.txt", 0, None))
    p.feed(Bytes("v.txt", 9_000_000, None))
    assert p.line == "Downloading v.txt: 9.0 MB" and p.bar is None, "no total: a busy bar"
    for s in ("convert", "export"):
        p.feed(Step(s, None))
    assert p.line.startswith("Writing the model's graphs")
    p.feed(Done("/lib/models/q"))
    assert p.done == ["Read model.pth", "Downloaded BLIP-2 weights", "Downloaded v.txt", "Converted the weights",
                      "Wrote the model's graphs"]
    assert p.bundle == "/lib/models/q" and p.line == "The model is ready."


def test_a_failed_download_is_not_counted_as_done():
    p = ImportProgress()
    p.feed(Step("download", GONE.file, GONE.description))
    p.feed(GONE)
    p.feed(Step("download", VOCAB.file, VOCAB.description))
    p.feed(VOCAB)
    assert p.missing == [GONE, VOCAB] and p.done == []


@pytest.mark.parametrize("line, module", [
    ("ModuleNotFoundError: No module named 'torch'", "torch"),
    ("ModuleNotFoundError: No module named 'onnxscript'", "onnxscript"),
    ("/usr/bin/python3: No module named trainer.cli", "trainer"),
    ("/usr/bin/python3: Error while finding module specification for 'trainer.cli' "
     "(ModuleNotFoundError: No module named 'trainer')", "trainer"),
    ("ModuleNotFoundError: No module named 'torchvision'", None),  # not one the converter needs
    ("ModuleNotFoundError: No module named 'numpy'", None),
    ("error: checkpoint /x/model.pth does not exist", None),
])
def test_a_python_without_the_trainer_is_recognized(line, module):
    assert missing_module(["Traceback (most recent call last):", line]) == module


def test_why_a_run_failed():
    no_torch = failure(["ModuleNotFoundError: No module named 'torch'"], 1, [GONE], "/usr/bin/python3")
    assert no_torch.kind is Kind.NO_TRAINER, "the trainer first: without it nothing else can work"
    assert INSTALL_HINT in no_torch.message and "/usr/bin/python3 cannot import torch" in no_torch.message
    offline = failure(["error: ... (are you online?)"], 1, [GONE, VOCAB], "py")
    assert offline.kind is Kind.OFFLINE and offline.missing == (GONE, VOCAB)
    assert offline.message == by_hand_words([GONE, VOCAB])
    other = failure(['{"event": "step", "step": "read"}', "error: checkpoint /x/model.pth does not exist"], 1, [],
                    "py")
    assert other.kind is Kind.ERROR and other.missing == ()
    assert other.message == "<b>The model could not be converted.</b> checkpoint /x/model.pth does not exist"
    assert failure([], -9, [], "py").message.endswith("the trainer stopped with exit code -9")


def test_the_by_hand_words_name_each_file_and_where_it_goes():
    one = by_hand_words([GONE])
    assert one.startswith("<b>A file could not be downloaded</b>") and "Download it by hand" in one
    assert f'<a href="{GONE.url}">{GONE.url}</a>' in one and f"save it as <code>{GONE.path}</code>" in one
    assert "in /cache/downloads:" in one and "Try again" in one and GONE.reason in one
    two = by_hand_words([GONE, VOCAB])
    assert two.startswith("<b>Some files could not be downloaded</b>") and "Download each by hand" in two
    assert "in /cache/downloads, /other:" in two
    assert 'href="https://h.test/vocab.txt?a=1&amp;b=&lt;2&gt;"' in two, "escaped as rich text"
    assert two.count("<li>") == 2


def test_the_flow_goes_only_where_the_table_says():
    for phase, event in itertools.product(Phase, sorted(EVENTS)):
        assert step(phase, event) == TRANSITIONS.get((phase, event))
    with pytest.raises(ValueError):
        step(Phase.IDLE, "finish")
    f = GetModelFlow()
    for event, phase in [("use", Phase.IDLE), ("start", Phase.RUNNING), ("start", Phase.RUNNING),
                         ("succeeded", Phase.READY), ("use", Phase.SWITCHING), ("switch_failed", Phase.READY),
                         ("use", Phase.SWITCHING), ("switched", Phase.INDEXING), ("indexed", Phase.DONE),
                         ("reset", Phase.IDLE), ("start", Phase.RUNNING), ("cancel", Phase.CANCELLING),
                         ("succeeded", Phase.IDLE)]:
        f.fire(event)
        assert f.phase is phase, (event, phase)


def test_why_convert_or_use_it_waits():
    assert start_problem("", None, Phase.IDLE) == "choose the QuRe checkpoint you downloaded (model.pth)"
    assert start_problem("  ", INSTALL_HINT, Phase.IDLE) == INSTALL_HINT
    assert start_problem("/m.pth", None, Phase.IDLE) is None
    assert start_problem("/m.pth", None, Phase.READY) == "a conversion is under way"
    assert use_problem(False, Phase.READY) is None
    assert use_problem(True, Phase.READY).startswith("indexing is running")
    assert use_problem(False, Phase.IDLE) == "no new model is waiting"


def test_the_last_words():
    assert ready_words("/lib/models/q", 1).endswith("(1 photo; your votes are kept).")
    assert "(12,000 photos;" in ready_words("/q", 12000)
    assert done_words("qure-cirr ab12", None, False) == "Your library now uses qure-cirr ab12."
    assert done_words("q", 1, False) == "Your library now uses q. 1 photo was encoded with it."
    assert done_words("q", 5, True).endswith("Library → Rescan folders finishes it.")
