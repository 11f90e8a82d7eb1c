"""``cirsearch``: index a photo library and search it by composed query, from the shell.

Exit codes: 0 done; 1 the request could not be carried out (bad bundle, unreadable
reference, nothing indexed, ...; the message says why); 2 wrong usage; 130 stopped with
Ctrl-C (what was committed stays, the same command continues). Messages go to stderr,
results to stdout; ``--json`` makes stdout machine-readable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from .errors import CirsearchError
from .faiss_index import KINDS
from .index_kind import VectorConfig
from .indexer import IndexConfig, IndexReport, Progress
from .library import Library, LibraryConfig, SearchResult
from .resources import default_demo_library_dir, default_library_dir, demo_bundle_dir
from .runtime import RuntimeConfig

SHOW_SKIPPED = 20


class UsageError(Exception):
    """Wrong arguments that argparse cannot see (exit code 2)."""


def _common(p: argparse.ArgumentParser, demo: bool = False) -> None:
    default = default_demo_library_dir() if demo else default_library_dir()
    p.add_argument("--library", metavar="DIR", type=Path, default=None,
                   help=f"library folder (default: {default})")
    last = "the library's last one" + (", else the demo model" if demo else "")
    p.add_argument("--bundle", metavar="PATH", type=Path, default=None, help=f"model bundle folder (default: {last})")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where the model runs")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cirsearch", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("index", help="add folders and index new or changed photos")
    _common(p)
    p.add_argument("dirs", nargs="*", type=Path, metavar="DIR", help="folders to add (default: rescan known ones)")
    p.add_argument("--batch-size", type=int, default=16, help="photos per encoder batch (default 16)")
    p.add_argument("--index-kind", choices=("auto", *KINDS), default="auto", help="FAISS index kind")
    p.add_argument("--reindex", action="store_true", help="accept a bundle with another target side: encode all again")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=cmd_index)

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
    return parser


def _result_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", type=int, default=20, help="number of results (default 20)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {path, score, ...}, best first")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
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
        runtime=RuntimeConfig(device=args.device),
        vectors=VectorConfig(kind=getattr(args, "index_kind", "auto")),
        index=IndexConfig(batch_size=max(1, getattr(args, "batch_size", 16))),
    )


def _open(args: argparse.Namespace, reindex: bool = False, create: bool = False) -> Library:
    folder = args.library or default_library_dir()
    return Library.open(folder, bundle=args.bundle, cfg=_config(args), reindex=reindex, create=create)


# -- index --------------------------------------------------------------------------------


class _Bar:
    """A tqdm bar on stderr fed by the indexer's progress callbacks."""

    def __init__(self, quiet: bool):
        self.quiet, self.bar, self.last = quiet, None, 0

    def __call__(self, p: Progress) -> None:
        if self.quiet:
            return
        if p.phase == "scan":
            print(f"scanning {p.current}", file=sys.stderr)
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
        "encoded": r.encoded, "reused": r.reused, "kept_unreachable": r.kept_unreachable,
        "skipped": len(r.failed) + len(r.issues),
        "skipped_files": [{"path": p, "reason": why} for p, why in r.failed + r.issues],
        "cancelled": r.cancelled, "seconds": round(r.elapsed_s, 3), "device": r.device,
    }


def _summary(r: IndexReport, indexed: int) -> str:
    lines = [
        f"{indexed} photos indexed in the library ({r.device}, {r.elapsed_s:.1f} s). This run: "
        f"{r.encoded} encoded, {r.reused} recognised from known bytes (renamed, moved or copied), "
        f"{r.removed} removed, {r.unchanged} unchanged."
    ]
    if r.kept_unreachable:
        lines.append(f"{r.kept_unreachable} photos kept although their folder could not be read (unplugged drive?).")
    skipped = r.failed + r.issues
    if skipped:
        lines.append(f"Skipped {len(skipped)}:")
        lines += [f"  {p}: {why}" for p, why in skipped[:SHOW_SKIPPED]]
        if len(skipped) > SHOW_SKIPPED:
            lines.append(f"  ... and {len(skipped) - SHOW_SKIPPED} more (cirsearch status lists all)")
    return "\n".join(lines)


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
        print(f"{h.rank + 1:4d}  {h.score:7.4f}  {mark}{h.path}")


def cmd_search(args: argparse.Namespace) -> int:
    if args.image is None and not args.text:
        raise UsageError("give --text, or --image with --text (composed search)")
    with _open(args) as lib:
        res = lib.search(args.text, image=args.image, k=_k(args.k))
    _print_results(res, args.json)
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        res = lib.similar(args.path, k=_k(args.k))
    _print_results(res, args.json)
    return 0


def _k(k: int) -> int:
    if k < 1:
        raise UsageError("-k must be at least 1")
    return k


# -- status -------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    with _open(args) as lib:
        st = lib.status()
    if args.json:
        print(json.dumps(st.to_json()))
        return 0
    print(f"library   {st.folder} (schema {st.schema_version})")
    print(f"folders   {', '.join(st.roots) or '(none yet: cirsearch index DIR)'}")
    print(f"indexed   {st.indexed} files, {st.photos} distinct photos; {st.pending} waiting")
    print(f"model     {st.bundle}  [{st.bundle_path}]" + ("  (a demo model trained on generated images)"
                                                           if st.demo_model else ""))
    print(f"device    {st.device}; index {st.index_kind}; text-only search {'yes' if st.has_text_search else 'no'}")
    if st.index_rebuilt_because:
        print(f"note      the index was rebuilt from stored vectors: {st.index_rebuilt_because}")
    print(f"votes     {st.votes}")
    print(f"skipped   {st.skipped}")
    for p, why in st.skipped_files:
        print(f"  {p}: {why}")
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
        print(f"vote {v.id}: thumbs {'up' if v.up else 'down'} for {v.photo_path} ({where})")
    return 0


def _vote(lib: Library, args: argparse.Namespace):
    if args.path is None or not (args.up or args.down):
        raise UsageError("give the PATH of a photo and --up or --down (or --undo VOTE_ID)")
    if args.image is None and not args.text:
        raise UsageError("say which query the vote is for: --image and/or --text (or --similar --image)")
    photo = lib.photo_at(args.path)
    if photo is None:
        raise UsageError(f"{args.path} is not an indexed photo of this library")
    if args.similar:
        if args.image is None:
            raise UsageError("--similar needs --image")
        res = lib.similar(args.image, k=_k(args.k))
    else:
        res = lib.search(args.text, image=args.image, k=_k(args.k))
    return lib.vote(res, photo.id, up=args.up)


# -- demo ---------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import ensure_demo_photos, example_queries

    folder = (args.library or default_demo_library_dir()).expanduser().absolute()
    bundle = args.bundle or demo_bundle_dir()
    if bundle is None and not (folder / "catalog.sqlite").exists():
        raise CirsearchError("the demo model is not installed (resources/demo-bundle); give one with --bundle PATH")
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
