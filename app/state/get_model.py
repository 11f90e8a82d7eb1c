"""Get the QuRe model: where its checkpoint comes from, the converter's command line,
what the converter says, and the flow from a chosen file to a library on the new model.

The conversion is the trainer's (``cirsearch-train import-qure``, PyTorch): the app runs
it as a child process with ``--progress-json`` and reads its JSON lines on stderr
(``trainer/commands/import_qure.py`` documents them). What the app decides about it
lives here, Qt-free:

- :data:`QURE_CHECKPOINTS`, :data:`QURE_PAGE`, :data:`TRAINED`: where a person
  downloads QuRe's checkpoint, and which of the two to choose.
- :func:`import_command`: the converter's argv; :func:`bundle_folder`: where the new
  bundle goes.
- :func:`parse_event` and :class:`ImportProgress`: the converter's lines -> the
  dialog's line and bar.
- :func:`failure`: why a run failed, as one of three kinds: files to download by hand
  (offline; :func:`by_hand_words` says which and where, so the next try finds them),
  the trainer is not installed (:data:`INSTALL_HINT`), or another error.
- :class:`GetModelFlow`: idle -> running -> ready (a new model waits for "Use it") ->
  switching -> indexing -> done; cancel and failure go back to idle.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Sequence

from app.state.learn_report import failure_message
from app.state.transitions import Flow, Transitions

# QuRe's authors link their checkpoints (a Google Drive folder with one for FashionIQ
# and one for CIRR) from their code's README, section "Checkpoints".
QURE_PAGE = "https://github.com/jackwaky/QuRe#checkpoints"
QURE_CHECKPOINTS = "https://drive.google.com/drive/folders/1tEMZ4wcriZOQZNsXdo5R5IiLOud3ecph?usp=drive_link"
CHECKPOINT_FILE = "model.pth"  # what each of QuRe's checkpoints is called

INSTALL_HINT = ("The conversion needs the trainer (PyTorch). Install it with pip install 'cirsearch[train]' "
                "(in a source checkout: ./dev setup), then try again.")


@dataclass(frozen=True)
class Trained:
    """One of QuRe's checkpoints: what it was trained on and what it is good for."""

    key: str  # in the model's name
    title: str
    good_for: str


TRAINED = (
    Trained("cirr", "CIRR: everyday photos",
            "people, animals, objects and places in real-life photos: choose this one for a photo library"),
    Trained("fashioniq", "FashionIQ: clothing",
            "dresses, shirts and tops photographed as shop products"),
)


@dataclass(frozen=True)
class ImportOptions:
    """What the app passes to the converter beyond the file and the folder. The defaults
    are a real import; tests give a small architecture, their own vocabulary and a local
    server for the downloads."""

    base_config: str | None = None  # None: QuRe's own size (ViT-L)
    vocab: Path | None = None  # None: the BERT vocabulary is downloaded
    mirror: str | None = None  # a base URL serving the same file names
    cache_dir: Path | None = None  # where downloads go; None: the trainer's default (the user cache)
    int8: bool = True  # also the 8-bit graphs a CPU runs 3-5x faster, kept only if they pass their check


def bundle_folder(library: str | Path, trained: Trained, stamp: str) -> Path:
    """Where the new bundle is written: ``LIBRARY/models/qure-<dataset>-<stamp>``."""
    return Path(library) / "models" / f"qure-{trained.key}-{stamp}"


CALIBRATION_PHOTOS = 64  # the int8 check's default calibration size: fewer indexed photos, generated images


def import_command(python: str, checkpoint: str | Path, out: str | Path, trained: Trained,
                   options: ImportOptions = ImportOptions(), calibrate_on: Path | None = None) -> list[str]:
    """argv for the converter: writes ``out``, reports as JSON lines on stderr. With
    ``options.int8`` it also makes int8 graphs (kept only if they pass their check), checked
    on the photos of the library ``calibrate_on`` when given, else on generated images."""
    argv = [python, "-m", "trainer.cli", "import-qure", "--checkpoint", str(checkpoint), "--out", str(out),
            "--name", f"qure-{trained.key}", "--progress-json"]
    if options.int8:
        argv.append("--int8-optional")
        if calibrate_on is not None:
            argv += ["--library", str(calibrate_on)]
    for flag, value in (("--base-config", options.base_config), ("--vocab", options.vocab),
                        ("--mirror", options.mirror), ("--cache-dir", options.cache_dir)):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def checkpoint_problem(text: str) -> str | None:
    """Why the text in the file field cannot be converted yet (existence is the converter's to check)."""
    return None if text.strip() else f"choose the QuRe checkpoint you downloaded ({CHECKPOINT_FILE})"


# -- what the converter says -------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    step: str  # download, read, convert, export
    file: str | None  # the download's file name, or the checkpoint being read
    description: str | None = None  # what a download is


@dataclass(frozen=True)
class Bytes:
    file: str
    done: int
    total: int | None


@dataclass(frozen=True)
class Missing:
    """A download that failed: save ``url`` as ``path`` and the next try goes on without it."""

    file: str
    url: str
    path: str
    description: str
    reason: str


@dataclass(frozen=True)
class Done:
    bundle: str


@dataclass(frozen=True)
class Int8:
    """Whether the 8-bit graphs passed their check and were kept."""

    kept: bool


Event = Step | Bytes | Missing | Done | Int8


def parse_event(line: str) -> Event | None:
    """One of the converter's JSON lines, or None for any other line."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        d = json.loads(line)
        kind = d.get("event") if isinstance(d, dict) else None
        if kind == "step":
            return Step(str(d["step"]), d.get("file"), d.get("description"))
        if kind == "download":
            total = d.get("total")
            return Bytes(str(d["file"]), int(d["done"]), None if total is None else int(total))
        if kind == "missing":
            return Missing(str(d["file"]), str(d["url"]), str(d["path"]), str(d["description"]), str(d["reason"]))
        if kind == "done":
            return Done(str(d["bundle"]))
        if kind == "int8":
            return Int8(bool(d["kept"]))
    except (ValueError, KeyError, TypeError):
        return None
    return None


def size_words(n: int) -> str:
    """Bytes in decimal units: ``"231.5 kB"``, ``"1.9 GB"``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


# A step as it runs, and once it is over.
STEP_WORDS = {
    "read": ("Reading {name}…", "Read {name}"),
    "convert": ("Converting the weights into this app's model…", "Converted the weights"),
    "export": ("Writing the model's graphs and checking them against the original (the longest step)…",
               "Wrote the model's graphs"),
    "quantize": ("Making 8-bit graphs for this computer's processor and checking that they rank as the "
                 "original does…", "Made 8-bit graphs"),
}


@dataclass
class ImportProgress:
    """The converter's events folded into what the dialog shows."""

    line: str = "Starting the converter…"
    bar: tuple[int, int] | None = None  # (value, maximum) of a download in per mille; None: busy
    done: list[str] = field(default_factory=list)  # finished steps, in words
    missing: list[Missing] = field(default_factory=list)
    bundle: str | None = None
    int8: bool | None = None  # the 8-bit graphs were kept (True), refused by their check (False), not made (None)
    _current: str | None = None  # the running step's words, moved to ``done`` when the next begins
    _resumed: dict[str, int] = field(default_factory=dict)  # file -> bytes it resumed from

    def feed(self, e: Event) -> None:
        if isinstance(e, Step):
            self._finish()
            if e.step == "download":
                what = e.description or e.file
                self.line, self._current = f"Downloading {what} ({e.file})…", f"Downloaded {what}"
            else:
                now, then = STEP_WORDS.get(e.step, (e.step + "…", e.step))
                name = Path(e.file or "").name
                self.line, self._current = now.format(name=name), then.format(name=name)
            self.bar = None
        elif isinstance(e, Bytes):
            self._resumed.setdefault(e.file, e.done)
            start = self._resumed[e.file]
            resumed = f" (resumed at {size_words(start)})" if start else ""
            if e.total:
                self.line = f"Downloading {e.file}: {size_words(e.done)} of {size_words(e.total)}{resumed}"
                self.bar = (e.done * 1000 // e.total, 1000)
            else:
                self.line = f"Downloading {e.file}: {size_words(e.done)}{resumed}"
        elif isinstance(e, Missing):
            self.missing.append(e)
            self._current = None
        elif isinstance(e, Int8):
            self.int8 = e.kept
            self._current = ("Made the 8-bit graphs: they rank as the original does (3-5x faster on a CPU)" if e.kept
                             else "Kept full precision: the 8-bit graphs did not rank as the original does")
        elif isinstance(e, Done):
            self._finish()
            self.bundle = e.bundle
            self.line = "The model is ready."

    def _finish(self) -> None:
        if self._current is not None:
            self.done.append(self._current)
            self._current = None


# -- why a run failed --------------------------------------------------------------------


class Kind(str, Enum):
    OFFLINE = "offline"  # downloads failed: the files to fetch by hand
    NO_TRAINER = "no-trainer"  # the child's Python cannot import the trainer
    ERROR = "error"


@dataclass(frozen=True)
class Failure:
    kind: Kind
    message: str  # rich text for the dialog
    missing: tuple[Missing, ...] = ()


# What a Python without the trainer says: "No module named 'torch'" (a module import) or
# "No module named trainer.cli" (``python -m`` when the package is absent).
NO_MODULE = re.compile(r"No module named '?(torch|onnx\w*|trainer)\b")


def missing_module(lines: Sequence[str]) -> str | None:
    """The trainer's module the child could not import, or None."""
    for ln in lines:
        m = NO_MODULE.search(ln)
        if m:
            return m.group(1)
    return None


def _text(s: str) -> str:
    """``s`` as rich text outside a tag: &, < and > escaped, quotes kept."""
    return html.escape(s, quote=False)


def by_hand_words(missing: Sequence[Missing]) -> str:
    """Rich text: which files to download by hand, and the exact name and folder to save
    each under, so that the next try uses them instead of the network."""
    items = "".join(
        f"<li>{_text(m.description)}: <a href=\"{html.escape(m.url, quote=True)}\">{_text(m.url)}</a><br>"
        f"save it as <code>{_text(m.path)}</code></li>" for m in missing)
    folders = sorted({str(Path(m.path).parent) for m in missing})
    reason = _text(missing[0].reason) if missing else ""
    return (f"<b>{'A file' if len(missing) == 1 else 'Some files'} could not be downloaded</b> (is this computer "
            f"offline?). Download {'it' if len(missing) == 1 else 'each'} by hand, on any computer, and save it "
            f"under exactly this name in {_text(', '.join(folders))}:<ul>{items}</ul>"
            "Then press <b>Try again</b>: the converter finds the files there and does not download them "
            f"(a partial download is resumed).<br><small>{reason}</small>")


def install_words(python: str, module: str) -> str:
    return (f"<b>The trainer is not installed.</b> {_text(INSTALL_HINT)}<br><small>{_text(python)} "
            f"cannot import {_text(module)}.</small>")


def failure(stderr_lines: Sequence[str], exit_code: int, missing: Sequence[Missing], python: str) -> Failure:
    """Why the converter failed: the trainer absent, files to download by hand, or its own error line."""
    module = missing_module(stderr_lines)
    if module is not None:
        return Failure(Kind.NO_TRAINER, install_words(python, module))
    if missing:
        return Failure(Kind.OFFLINE, by_hand_words(missing), tuple(missing))
    return Failure(Kind.ERROR, f"<b>The model could not be converted.</b> "
                               f"{_text(failure_message(stderr_lines, exit_code))}")


# -- the flow ----------------------------------------------------------------------------


class Phase(str, Enum):
    IDLE = "idle"  # choosing the checkpoint (or reading why the last try failed)
    RUNNING = "running"
    CANCELLING = "cancelling"  # killed; waiting for the process to end
    READY = "ready"  # a new model waits for "Use it"
    SWITCHING = "switching"  # the library is being switched to it
    INDEXING = "indexing"  # the photos are encoded again with it
    DONE = "done"


# (phase, event) -> next phase. Events: start, cancel, succeeded, failed (the process
# ended), use, later, switched (with re-indexing), switched_same (nothing to re-index),
# switch_failed, indexed, reset.
TRANSITIONS: dict[tuple[Phase, str], Phase] = {
    (Phase.IDLE, "start"): Phase.RUNNING,
    (Phase.RUNNING, "cancel"): Phase.CANCELLING,
    (Phase.RUNNING, "succeeded"): Phase.READY,
    (Phase.RUNNING, "failed"): Phase.IDLE,
    (Phase.CANCELLING, "succeeded"): Phase.IDLE,  # too late to stop: the new model is dropped
    (Phase.CANCELLING, "failed"): Phase.IDLE,
    (Phase.READY, "use"): Phase.SWITCHING,
    (Phase.READY, "later"): Phase.IDLE,
    (Phase.SWITCHING, "switched"): Phase.INDEXING,
    (Phase.SWITCHING, "switched_same"): Phase.DONE,
    (Phase.SWITCHING, "switch_failed"): Phase.READY,
    (Phase.INDEXING, "indexed"): Phase.DONE,
    (Phase.DONE, "reset"): Phase.IDLE,
}
MACHINE = Transitions(TRANSITIONS)
EVENTS = MACHINE.events
step = MACHINE.step


class GetModelFlow(Flow[Phase]):
    """The phase, the last failure and the new bundle. Not thread-safe (GUI thread)."""

    def __init__(self) -> None:
        super().__init__(MACHINE, Phase.IDLE)
        self.failure: Failure | None = None  # why the last run failed (shown while idle)
        self.out: Path | None = None  # the run's bundle folder


def start_problem(checkpoint: str, trainer: str | None, phase: Phase) -> str | None:
    """Why "Convert" cannot start now (shown on the disabled button), or None."""
    if phase is not Phase.IDLE:
        return "a conversion is under way"
    if trainer is not None:
        return trainer
    return checkpoint_problem(checkpoint)


def use_problem(indexing: bool, phase: Phase) -> str | None:
    """Why "Use it" cannot switch the library now, or None."""
    if phase is not Phase.READY:
        return "no new model is waiting"
    if indexing:
        return "indexing is running: wait for it to end (or cancel it), then use the new model"
    return None


def ready_words(out: str | Path, photos: int) -> str:
    return (f"The model is ready, saved in {out}. Using it means every photo in the library is encoded again "
            f"({photos:,} photo{'s' if photos != 1 else ''}; your votes are kept).")


def done_words(model: str, encoded: int | None, stopped: bool) -> str:
    """The last page's words; ``encoded`` None: nothing had to be encoded again."""
    text = f"Your library now uses {model}."
    if encoded is not None:
        text += f" {encoded:,} {'photo was' if encoded == 1 else 'photos were'} encoded with it."
    if stopped:
        text += " Indexing was stopped before the end: Library → Rescan folders finishes it."
    return text
