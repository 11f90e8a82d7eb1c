"""``cirsearch``: index a photo library and search it by composed query, from the shell.

Exit codes: 0 done; 1 the request could not be carried out (bad bundle, unreadable
reference, nothing indexed, ...; the message says why); 2 wrong usage; 130 stopped with
Ctrl-C (what was committed stays, the same command continues). Messages go to stderr,
results to stdout; ``--json`` makes stdout machine-readable.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from .errors import CirsearchError
from .faiss_index import KINDS
from .formats import RAW_PAIR_MODES
from .fspath import shown
from .index_kind import VectorConfig
from .indexer import Control, IndexConfig, IndexReport, Progress
from .library import Library, LibraryConfig, SearchResult
from .resources import default_demo_library_dir, default_library_dir, demo_bundle_dir
from .runtime import PRECISIONS, RuntimeConfig

SHOW_SKIPPED = 20


class UsageError(Exception):
    """Wrong arguments that argparse cannot see (exit code 2)."""


def _common(p: argparse.ArgumentParser, demo: bool = False, top: bool = False) -> None:
    """--library, --bundle, --device and --precision: before the command (``top``, the main parser, which
    holds the defaults) and after it (each command's parser). A command's parser sets none of
    them unless given, so ``cirsearch --library L index`` keeps L and one after the command wins."""
    if top:
        where, last = f"{default_library_dir()}; demo: {default_demo_library_dir()}", "; demo: the demo model"
    else:
        where = default_demo_library_dir() if demo else default_library_dir()
        last = ", else the demo model" if demo else ""
    none, auto = (None, "auto") if top else (argparse.SUPPRESS, argparse.SUPPRESS)
    p.add_argument("--library", metavar="DIR", type=Path, default=none, help=f"library folder (default: {where})")
    p.add_argument("--bundle", metavar="PATH", type=Path, default=none,
                   help=f"model bundle folder, or its manifest.json (default: the library's last one{last})")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=auto, help="where the model runs")
    p.add_argument("--precision", choices=PRECISIONS, default=auto,
                   help="which of the bundle's graphs run (auto: int8 on the CPU, fp16 on CUDA, where it has them)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cirsearch", description=__doc__.splitlines()[0],
                                     epilog="--library, --bundle, --device and --precision go before or after "
                                            "the command.")
    _common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="add folders and index new or changed photos")
    _common(p)
    p.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="folders to add (default: rescan known ones)")
    p.add_argument("--batch-size", type=int, default=16, help="photos per encoder batch (default 16)")
    p.add_argument("--index-kind", choices=("auto", *KINDS), default="auto", help="FAISS index kind")
    p.add_argument("--reindex", action="store_true", help="accept a bundle with another target side: encode all again")
    p.add_argument("--raw-pairs", choices=RAW_PAIR_MODES, default=None,
                   help="a RAW file with a JPEG (or HEIF) of the same name beside it: index the JPEG only, or both "
                        "(remembered by the library; default: jpeg)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=cmd_index)

    p = sub.add_parser("watch", help="index, then keep indexing new, changed, moved and deleted photos until Ctrl-C")
    _common(p)
    p.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="folders to add (default: the known ones)")
    p.add_argument("--settle", type=float, default=3.0, metavar="S",
                   help="index once no change came for S seconds (default 3)")
    p.add_argument("--max-wait", type=float, default=60.0, metavar="S",
                   help="but at most S seconds after the first change (default 60)")
    p.add_argument("--rescan-every", type=float, default=5.0, metavar="MIN",
                   help="rescan folders whose changes are not announced (network drives) every MIN minutes "
                        "(default 5; all folders: hourly)")
    p.set_defaults(run=cmd_watch)

    p = sub.add_parser("search", help="composed search (--image and --text) or text-only search (--text)")
    _common(p)
    p.add_argument("--image", type=Path, help="reference photo")
    p.add_argument("--text", default=None, help="how the wanted photo differs (or what it shows)")
    _result_args(p)
    p.set_defaults(run=cmd_search)

    p = sub.add_parser("similar", help="photos that look like PATH")
    _common(p)
    p.add_argument("path", type=Path, metavar="PATH")
    _result_args(p)
    p.set_defaults(run=cmd_similar)

    p = sub.add_parser("status", help="what is indexed, what was skipped and why, the model and the device")
    _common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_status)

    p = sub.add_parser("remove", help="forget folders of the library and their photos (the files and votes stay)")
    _common(p)
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="folders as cirsearch status lists them")
    p.set_defaults(run=cmd_remove)

    p = sub.add_parser("check", help="verify every photo's stored vectors; --repair encodes damaged ones again")
    _common(p)
    p.add_argument("--repair", action="store_true", help="encode damaged photos again from their files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("vote", help="record a thumbs-up or -down for PATH as a result of a query")
    _common(p)
    p.add_argument("path", type=Path, nargs="?", metavar="PATH", help="the photo voted on")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--up", action="store_true")
    g.add_argument("--down", action="store_true")
    g.add_argument("--undo", type=int, metavar="VOTE_ID", help="undo a vote")
    p.add_argument("--image", type=Path, help="the query's reference photo")
    p.add_argument("--text", "--query", dest="text", default=None, help="the query's text")
    p.add_argument("--similar", action="store_true", help="the query was 'similar to --image'")
    p.add_argument("-k", type=int, default=50, help="results the query showed (default 50)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_vote)

    p = sub.add_parser("demo", help="build the demo library, index it with the demo model and run an example query")
    _common(p, demo=True)
    p.add_argument("--photos", type=Path, default=None, help="where the demo photos go (default: next to the library)")
    p.add_argument("--count", type=int, default=300, help="demo photos to render the first time (default 300)")
    p.add_argument("--query", type=int, default=0, metavar="N", help="which example query to run (default 0)")
    p.add_argument("-k", type=int, default=10, help="results to show (default 10)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("recover-catalog", help="copy what can be read from a damaged catalog (votes first) into a new "
                                               "one; the damaged file is kept")
    _common(p)
    p.set_defaults(run=cmd_recover_catalog)
    return parser


def _result_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", type=int, default=20, help="number of results (default 20)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {path, score, ...}, best first")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
        sys.stdout.flush()  # here, so that a closed pipe is seen here and not at exit
        return code
    except BrokenPipeError:  # stdout went to a reader that stopped (| head): say nothing more
        # (the Python docs' recipe: point stdout at devnull, so the flush at exit stays quiet)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except UsageError as e:
        print(f"cirsearch {args.command}: {e}", file=sys.stderr)
        return 2
    except CirsearchError as e:
        print(f"cirsearch {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ncirsearch: stopped; everything committed so far is kept, run the same command to continue",
              file=sys.stderr)
        return 130


# -- opening ------------------------------------------------------------------------------


def _config(args: argparse.Namespace) -> LibraryConfig:
    return LibraryConfig(
        runtime=RuntimeConfig(device=args.device, precision=args.precision),
        vectors=VectorConfig(kind=getattr(args, "index_kind", "auto")),
        index=IndexConfig(batch_size=max(1, getattr(args, "batch_size", 16)),
                          raw_pairs=getattr(args, "raw_pairs", None)),
    )


def _open(args: argparse.Namespace, reindex: bool = False, create: bool = False, read_only: bool = False) -> Library:
    folder = args.library or default_library_dir()
    return Library.open(folder, bundle=args.bundle, cfg=_config(args), reindex=reindex, create=create,
                        read_only=read_only)


# -- index --------------------------------------------------------------------------------


class _Bar:
    """A tqdm bar on stderr fed by the indexer's progress callbacks."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar, self.last = quiet, None, 0

    def __call__(self, p: Progress) -> None:
        if self.quiet:
            return
        if p.phase == "scan":
            print(f"scanning {shown(p.current)}", file=sys.stderr)
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=p.total, unit="photo", file=sys.stderr, dynamic_ncols=True, smoothing=0.1,
                            desc="indexing")
        self.bar.update(p.done - self.last)
        self.last = p.done
        self.bar.set_postfix(encoded=p.encoded, reused=p.reused, skipped=p.failed, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run_index(lib: Library, dirs: Sequence[Path], quiet: bool) -> IndexReport:
    bar = _Bar(quiet)
    try:
        return lib.index(dirs, progress=bar)
    finally:
        bar.close()


def cmd_index(args: argparse.Namespace) -> int:
    with _open(args, reindex=args.reindex, create=True) as lib:
        if not args.dirs and not lib.roots():
            raise UsageError("no folders yet: give the folders to index, e.g. cirsearch index ~/Pictures")
        report = _run_index(lib, args.dirs, args.quiet or args.json)
        st = lib.status()
    if args.json:
        print(json.dumps(_report_json(report, st.indexed)))
    else:
        print(_summary(report, st.indexed))
    return 0


def _report_json(r: IndexReport, indexed: int) -> dict:
    return {
        "indexed": indexed, "added": r.added, "changed": r.changed, "removed": r.removed, "unchanged": r.unchanged,
        "resumed": r.resumed,
        "encoded": r.encoded, "reused": r.reused, "kept_unreachable": r.kept_unreachable,
        "skipped": len(r.failed) + len(r.issues),
        "skipped_files": [{"path": p, "reason": why} for p, why in r.failed + r.issues],
        "cancelled": r.cancelled, "seconds": round(r.elapsed_s, 3), "device": r.device, "repaired": r.repaired,
        "raw_paired": r.raw_paired,
    }


def _summary(r: IndexReport, indexed: int) -> str:
    lines = [
        f"{indexed} photos indexed in the library ({r.device}, {r.elapsed_s:.1f} s). This run: "
        f"{r.encoded} encoded, {r.reused} recognised from known bytes (renamed, moved or copied), "
        f"{r.removed} removed, {max(0, r.unchanged - r.resumed)} unchanged."
    ]
    if r.resumed:
        n = r.resumed
        lines.append(f"{n} photo{'s' if n != 1 else ''} left waiting by an earlier run that did not finish "
                     f"(interrupted, or the disk was full) {'were' if n != 1 else 'was'} taken up again.")
    if r.kept_unreachable:
        n = r.kept_unreachable
        lines.append(f"{n} photo{'s' if n != 1 else ''} kept: {'their' if n != 1 else 'its'} folder could not be "
                     "read, is empty or has no drive mounted any more (unplugged drive?); see below.")
    if r.repaired:
        lines.append(f"{r.repaired} photo{'s' if r.repaired != 1 else ''} whose stored vectors were damaged "
                     f"{'were' if r.repaired != 1 else 'was'} encoded again.")
    if r.raw_paired:
        lines.append(f"{r.raw_paired} RAW files paired with a JPEG of the same shot: the JPEG is indexed "
                     "(--raw-pairs both indexes the RAW files too).")
    skipped = r.failed + r.issues
    if skipped:
        lines.append(f"Skipped {len(skipped)}:")
        lines += [f"  {shown(p)}: {why}" for p, why in skipped[:SHOW_SKIPPED]]
        if len(skipped) > SHOW_SKIPPED:
            lines.append(f"  ... and {len(skipped) - SHOW_SKIPPED} more (cirsearch status lists all)")
    return "\n".join(lines)


# -- watch --------------------------------------------------------------------------------


def cmd_watch(args: argparse.Namespace) -> int:
    from .watch import Coverage, Decision, FolderWatch, WatchConfig, keep_indexed

    if min(args.settle, args.max_wait) < 0 or args.rescan_every <= 0:
        raise UsageError("--settle and --max-wait must be at least 0, --rescan-every more than 0")
    cfg = WatchConfig(settle_s=args.settle, max_wait_s=max(args.settle, args.max_wait),
                      fallback_every_s=args.rescan_every * 60)

    def coverage(c: Coverage) -> None:
        print(f"watching {len(c.watched)} of {c.roots} folders for changes (Ctrl-C stops)", file=sys.stderr)
        for root, why in c.polled:
            print(f"  {shown(root)}: {why}; rescanned every {c.rescan_every_s / 60:g} min", file=sys.stderr)

    def ran(d: Decision, r: IndexReport) -> None:
        print(_watch_line(d, r, lib.status().indexed), flush=True)

    with _open(args, create=True) as lib:
        for d in args.dirs:
            lib.add_root(d)
        if not lib.roots():
            raise UsageError("no folders yet: give the folders to watch, e.g. cirsearch watch ~/Pictures")
        watch = FolderWatch(lib.folder, cfg, catch_up=True, on_coverage=coverage)
        watch.set_roots(lib.roots())
        stop = Control()

        def interrupted(*_signal) -> None:
            # The first Ctrl-C only asks: the loop and a run in progress stop at their next
            # check, so no KeyboardInterrupt lands inside a lock or a transaction. A second
            # one stops at once.
            if stop.cancelled:
                raise KeyboardInterrupt
            stop.cancel()

        before = signal.signal(signal.SIGINT, interrupted)
        try:
            keep_indexed(lib, watch, ran, lambda why: print(f"cirsearch watch: {why}; trying again later",
                                                             file=sys.stderr, flush=True), stop)
        finally:
            signal.signal(signal.SIGINT, before)
            watch.close()
    if stop.cancelled:
        raise KeyboardInterrupt  # main() says what is kept and exits 130
    return 0


def _watch_line(d, r: IndexReport, indexed: int) -> str:
    why = {"catch-up": "caught up", "rescan": "rescanned", "retry": "tried again"}.get(
        d.reason, f"{d.events} file event{'s' if d.events != 1 else ''}")
    skipped = len(r.failed) + len(r.issues)
    return (f"{time.strftime('%H:%M:%S')} {why}: {r.encoded} encoded, {r.reused} recognised, {r.removed} removed"
            + (f", {skipped} skipped" if skipped else "") + f"; {indexed} photos indexed ({r.elapsed_s:.1f} s)")


# -- search -------------------------------------------------------------------------------


def _print_results(res: SearchResult, as_json: bool, relevant: frozenset[str] = frozenset()) -> None:
    if as_json:
        print(json.dumps(res.to_json()))
        return
    if not res.hits:
        print("no results: the library has no indexed photos (cirsearch index DIR)", file=sys.stderr)
        return
    for h in res.hits:
        if h.rank == res.cutoff and res.cutoff < len(res.hits):
            print("  -------- the scores drop steeply here --------")
        mark = ("  * " if h.path in relevant else "    ") if relevant else ""
        print(f"{h.rank + 1:4d}  {h.score:7.4f}  {mark}{shown(h.path)}")


def cmd_search(args: argparse.Namespace) -> int:
    if args.image is None and not args.text:
        raise UsageError("give --text, or --image with --text (composed search)")
    with _open(args, read_only=True) as lib:
        res = lib.search(args.text, image=args.image, k=_k(args.k))
    _print_results(res, args.json)
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    with _open(args, read_only=True) as lib:
        res = lib.similar(args.path, k=_k(args.k))
    _print_results(res, args.json)
    return 0


def _k(k: int) -> int:
    if k < 1:
        raise UsageError("-k must be at least 1")
    return k


# -- status -------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    with _open(args, read_only=True) as lib:
        st = lib.status()
        damage = lib.damage()
    if args.json:
        print(json.dumps({**st.to_json(), "damage": damage}))
    else:
        _print_status(st)
    if damage:
        print(f"cirsearch status: {damage}", file=sys.stderr)
        return 1
    return 0


def _print_status(st) -> None:
    print(f"library   {st.folder} (schema {st.schema_version})")
    print(f"folders   {', '.join(map(shown, st.roots)) or '(none yet: cirsearch index DIR)'}")
    print(f"indexed   {st.indexed} files, {st.photos} distinct photos; {st.pending} waiting")
    print(f"model     {st.bundle}  [{st.bundle_path}]" + ("  (a demo model trained on generated images)"
                                                           if st.demo_model else ""))
    print(f"device    {st.device} ({st.precision} graphs); index {st.index_kind}; "
          f"text-only search {'yes' if st.has_text_search else 'no'}")
    if st.index_rebuilt_because:
        print(f"note      the index was rebuilt from stored vectors: {st.index_rebuilt_because}")
    print(f"votes     {st.votes}")
    print(f"skipped   {st.skipped}")
    for p, why in st.skipped_files:
        print(f"  {shown(p)}: {why}")


# -- remove -------------------------------------------------------------------------------


def cmd_remove(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        roots = lib.roots()
        dirs = [os.path.abspath(os.path.expanduser(d)) for d in args.dirs]
        unknown = [d for d in dirs if d not in roots]
        if unknown:
            raise UsageError(f"{shown(unknown[0])} is not a folder of this library; its folders: "
                             f"{', '.join(map(shown, roots)) or 'none'}")
        before = lib.status().indexed
        for d in dirs:
            lib.remove_root(d)
        gone = before - lib.status().indexed
    print(f"removed {', '.join(map(shown, dirs))}: {gone} photos left the library "
          "(the files themselves and the votes are kept)")
    return 0


# -- check --------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    bar = _Bar(args.quiet or args.json or not args.repair)
    try:
        with _open(args) as lib:
            r = lib.check(repair=args.repair, progress=bar)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(r.to_json()))
    elif not r.applicable:
        print(f"the vectors are kept in {r.where}, which checks its own data: nothing to check here")
    elif not r.damaged:
        print(f"all {r.checked} photos' stored vectors are intact ({r.where})")
    else:
        print(f"{len(r.damaged)} of {r.checked} photos' stored vectors are damaged ({r.where}):")
        print("\n".join(f"  {shown(d.paths[0]) if d.paths else d.sha256 + ' (no file in the library)'}"
                        for d in r.damaged[:SHOW_SKIPPED]))
        if len(r.damaged) > SHOW_SKIPPED:
            print(f"  ... and {len(r.damaged) - SHOW_SKIPPED} more (--json lists all)")
        if args.repair:
            print(f"{r.repaired} encoded again from their files; the index is up to date.")
        for d in r.not_repaired:
            print(f"  not repaired (file gone, changed or unreadable; indexed again when found): "
                  f"{shown(d.paths[0]) if d.paths else d.sha256}")
    if r.damaged and not args.repair:
        print("cirsearch check: run cirsearch check --repair to encode them again from their files", file=sys.stderr)
        return 1
    return 0


# -- vote ---------------------------------------------------------------------------------


def cmd_vote(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        if args.undo is not None:
            v = lib.undo_vote(args.undo)
        else:
            v = _vote(lib, args)
    if args.json:
        print(json.dumps({"id": v.id, "up": v.up, "rank": v.rank, "score": v.score, "photo": v.photo_path,
                          "undone": v.undone_at is not None}))
    elif v.undone_at is not None:
        print(f"vote {v.id} undone")
    else:
        where = f"shown at rank {v.rank + 1}, score {v.score:.4f}" if v.rank is not None else "not in the results shown"
        print(f"vote {v.id}: thumbs {'up' if v.up else 'down'} for {shown(v.photo_path or '')} ({where})")
    return 0


def _vote(lib: Library, args: argparse.Namespace):
    if args.path is None or not (args.up or args.down):
        raise UsageError("give the PATH of a photo and --up or --down (or --undo VOTE_ID)")
    if args.image is None and not args.text:
        raise UsageError("say which query the vote is for: --image and/or --text (or --similar --image)")
    photo = lib.photo_at(args.path)
    if photo is None:
        raise UsageError(f"{shown(str(args.path))} is not an indexed photo of this library")
    if args.similar:
        if args.image is None:
            raise UsageError("--similar needs --image")
        res = lib.similar(args.image, k=_k(args.k))
    else:
        res = lib.search(args.text, image=args.image, k=_k(args.k))
    return lib.vote(res, photo.id, up=args.up)


# -- recover-catalog ----------------------------------------------------------------------


def cmd_recover_catalog(args: argparse.Namespace) -> int:
    from .recovery import recover_catalog

    folder = (args.library or default_library_dir()).expanduser().absolute()
    s = recover_catalog(folder)
    if s.sound:
        print(f"the catalog in {folder} is not damaged (PRAGMA integrity_check): nothing to recover")
        return 0
    if s.finished:
        print(f"finished the interrupted recovery of {folder}: its new catalog is in place")
        return 0
    kept = f"the damaged one is kept as {s.kept_as.name}" if s.kept_as else "there was no catalog to keep"
    print(f"a new catalog for {folder}; {kept}")
    for t in s.tables:
        print(_salvaged(t))
    if not s.tables:
        print("  nothing could be read: give the model and the folders again (cirsearch index --bundle PATH DIR)")
    if s.index_dropped:
        print("index.faiss was deleted: it is rebuilt from the stored vectors (tokens.f16) when the library opens")
    print(f"next: cirsearch index --library {folder}  (finds lost entries again by their bytes; a photo is "
          "encoded again only if its vectors' entry was lost)")
    return 0


def _salvaged(t) -> str:
    """One table of a recovery: ``  files  29 saved; 1 to be indexed again ...``."""
    notes = []
    if t.relinked:
        notes.append(f"{t.relinked} to be indexed again (their photo's entry was lost)")
    if t.rejected:
        notes.append(f"{t.rejected} left out (what they refer to was lost)")
    if t.unreadable:
        notes.append("part of the table could not be read")
    return f"  {t.table:12s} {t.copied:8d} saved" + "".join(f"; {n}" for n in notes)


# -- demo ---------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import ensure_demo_photos, example_queries

    folder = (args.library or default_demo_library_dir()).expanduser().absolute()
    bundle = args.bundle or demo_bundle_dir()
    if bundle is None and not (folder / "catalog.sqlite").exists():
        raise CirsearchError("the demo model is not installed (resources/demo-bundle in a checkout, "
                             "engine/_resources/demo-bundle in an installed package); give one with --bundle PATH")
    photos = args.photos or folder.parent / (folder.name + "-photos")
    if not args.json:
        print(f"demo photos in {photos}", file=sys.stderr)
    ensure_demo_photos(photos, photos=args.count)
    # A demo library may be re-encoded whenever the demo model changes.
    with Library.open(folder, bundle=bundle, cfg=_config(args), reindex=True) as lib:
        report = _run_index(lib, [photos], args.quiet or args.json)
        queries = example_queries(photos)
        q = queries[args.query % len(queries)]
        res = lib.search(q.text, image=q.reference, k=_k(args.k))
        st = lib.status()
    if args.json:
        print(json.dumps({"library": str(folder), "photos": str(photos), "indexed": st.indexed,
                          "bundle": st.bundle, "device": st.device, "reference": str(q.reference), "text": q.text,
                          "results": [{**h, "relevant": h["path"] in q.relevant} for h in res.to_json()]}))
        return 0
    print(_summary(report, st.indexed))
    print(f"\nmodel: {st.bundle}" + ("  (a demo model trained on generated images)" if st.demo_model else ""))
    print(f"reference: {q.reference}\ntext:      {q.text!r}\n")
    _print_results(res, False, q.relevant)
    found = sum(h.path in q.relevant for h in res.hits[:5])
    print(f"\n{found} of the top {min(5, len(res.hits))} satisfy the query (marked *; {len(q.relevant)} photos do).")
    print(f"Try your own: cirsearch search --library {folder} --image {q.reference} --text \"...\"")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
