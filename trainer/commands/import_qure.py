"""``cirsearch-train import-qure``: an official QuRe (or BLIP-2) checkpoint -> a model bundle.

With ``--progress-json`` it tells a program what it does, one JSON object a line on
stderr (the app's "Get the QuRe model" shows them):

- ``{"event": "step", "step": "download"|"read"|"convert"|"export", ...}``: a step begins
  (``file`` names the download or the checkpoint read);
- ``{"event": "download", "file", "done", "total"}``: bytes so far (``total`` null if unknown);
- ``{"event": "missing", "file", "url", "path", "description", "reason"}``: a download
  failed; saving the file from ``url`` as ``path`` lets the next run go on without it;
- ``{"event": "done", "bundle"}``: the bundle is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.bundle import ModelInfo, sha256_file
from engine.text import Tokenizer
from trainer.commands.quantize import add_int8, add_int8_arguments
from trainer.download import (
    BERT_VOCAB,
    BLIP2_VITL,
    CLIP_VITL,
    DownloadError,
    RemoteFile,
    cached,
    default_cache_dir,
    download,
)
from trainer.export import ExportError, ExportOptions, export_bundle, manifest_summary
from trainer.model import get_config
from trainer.model.checkpoint import CheckpointError, clip_vit_to_lavis, import_lavis, read_state_dict
from trainer.run import save_initial_run

NAME = "import-qure"
HELP = "import an official QuRe model.pth (LAVIS Blip2QuRe keys) and write a model bundle"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", type=Path, help="QuRe's model.pth (LAVIS Blip2QuRe state dict)")
    p.add_argument("--blip2", type=Path, help="BLIP-2 blip2_pretrained_vitL.pth; downloaded if needed and omitted")
    p.add_argument("--clip-vit", type=Path, help="LAVIS clip_vit_L.pth; only needed if no other file has the ViT")
    p.add_argument("--vocab", type=Path, help="bert-base-uncased vocab.txt; downloaded if omitted")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to write (replaced if it exists)")
    p.add_argument("--name", default="qure-blip2-vitl", help="model name recorded in the manifest")
    p.add_argument("--fp16", action="store_true", help="also write half-precision graphs for GPUs")
    p.add_argument("--no-text", action="store_true", help="skip the text-only graph")
    p.add_argument("--int8", action="store_true",
                   help="also write int8 graphs for CPUs if they pass their check (see cirsearch-train quantize)")
    p.add_argument("--int8-optional", action="store_true",
                   help="as --int8, but a refused check keeps the float32 graphs and still exits 0 (a note says why)")
    p.add_argument("--offline", action="store_true", help="never download; fail if a file is missing")
    p.add_argument("--cache-dir", type=Path, help="where downloads go (default: the user cache dir)")
    p.add_argument(
        "--mirror", help=argparse.SUPPRESS
    )  # base URL serving the same file names (tests, air-gapped mirrors)
    p.add_argument("--base-config", default="vitl", help=argparse.SUPPRESS)  # head counts for non-standard sizes
    p.add_argument("--out-run", type=Path, help="also write a training run dir (to fine-tune with train --init)")
    add_int8_arguments(p)
    p.add_argument("--progress-json", action="store_true",
                   help="report steps, download bytes and failed downloads as JSON lines on stderr (for programs)")
    p.add_argument(
        "--vit-blocks",
        type=int,
        default=None,
        help="blocks of a raw CLIP tower to use (default 23, BLIP-2's penultimate layer; "
        "LAVIS 1.0.2 builds 21). Ignored when a BLIP-2/QuRe file holds the tower: its own count wins",
    )


def _event(args, event: str, **fields) -> None:
    if args.progress_json:
        print(json.dumps({"event": event, **fields}), file=sys.stderr, flush=True)


def _byte_reporter(args, filename: str):
    """``download``'s on_bytes: a "download" event at each new tenth of a percent (or 8 MiB)."""
    last = [-1]

    def on_bytes(done: int, total: int | None) -> None:
        mark = done * 1000 // total if total else done >> 23
        if mark != last[0]:
            last[0] = mark
            _event(args, "download", file=filename, done=done, total=total)

    return on_bytes


def _fetch_all(remotes: list[RemoteFile], args) -> dict[str, Path]:
    """Download every file in ``remotes`` (file name -> path). Each is tried even when
    one fails, so that one message names every file to fetch by hand."""
    if not remotes:
        return {}
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    if args.offline:  # files saved in the cache by hand count; nothing is fetched
        found = {r.filename: cached(r, cache) for r in remotes}
        remotes = [r for r in remotes if found[r.filename] is None]
        if not remotes:
            return {name: path for name, path in found.items() if path is not None}
        names = " and ".join(r.description for r in remotes)
        raise SystemExit(f"error: {names} {'is' if len(remotes) == 1 else 'are'} needed; pass "
                         f"{'it' if len(remotes) == 1 else 'them'} explicitly, or save "
                         + ", ".join(r.filename for r in remotes) + f" in {cache} (offline mode)")
    got: dict[str, Path] = {}
    failed: list[str] = []
    for remote in remotes:
        if args.mirror:  # the same file names under another base URL
            remote = RemoteFile(args.mirror.rstrip("/") + "/" + remote.filename, remote.filename, remote.sha256,
                                remote.size, remote.description)
        _event(args, "step", step="download", file=remote.filename, description=remote.description)
        if not args.progress_json:
            print(f"downloading {remote.description} from {remote.url}", file=sys.stderr)
        try:
            got[remote.filename] = download(remote, cache, progress=not args.progress_json,
                                            on_bytes=_byte_reporter(args, remote.filename))
        except DownloadError as e:
            dest = cache / remote.filename
            failed.append(f"{e}; download it by hand and save it as {dest}")
            _event(args, "missing", file=remote.filename, url=remote.url, path=str(dest),
                   description=remote.description, reason=str(e))
    if failed:
        raise DownloadError(" | ".join(failed) + " | then run again (a part already fetched is resumed)")
    return got


def run(args: argparse.Namespace) -> int:
    def has_vit(sd) -> bool:
        return any(k.startswith("visual_encoder.") for k in sd)

    try:
        base = get_config(args.base_config)
        sources = []
        if args.checkpoint:
            _event(args, "step", step="read", file=str(args.checkpoint))
            sources.append(("qure", read_state_dict(args.checkpoint)))
        wanted = [BERT_VOCAB] if args.vocab is None else []
        if args.blip2 is None and (not sources or not has_vit(sources[0][1])):
            wanted.insert(0, BLIP2_VITL)
        fetched = _fetch_all(wanted, args)
        blip2 = args.blip2 or fetched.get(BLIP2_VITL.filename)
        if blip2 is not None:
            _event(args, "step", step="read", file=str(blip2))
            sources.append(("blip2", read_state_dict(blip2)))
        vit_blocks = None
        clip = args.clip_vit
        if clip is None and not any(has_vit(sd) for _, sd in sources):
            clip = _fetch_all([CLIP_VITL], args)[CLIP_VITL.filename]
        if clip is not None:
            sources.append(("clip_vit", clip_vit_to_lavis(read_state_dict(clip))))
            if not any(has_vit(sd) for _, sd in sources[:-1]):
                vit_blocks = args.vit_blocks or base.vision.layers
        vocab = args.vocab or fetched[BERT_VOCAB.filename]

        _event(args, "step", step="convert")
        model, report = import_lavis(sources, base, vit_blocks)
        print(report.summary())
        if not args.checkpoint:
            print(
                "note: no QuRe checkpoint given: this is pretrained BLIP-2, not fine-tuned for composed retrieval",
                file=sys.stderr,
            )
        n_vocab = Tokenizer(vocab).vocab_size
        if n_vocab != model.cfg.qformer.vocab_size:
            raise ExportError(
                f"{vocab} gives {n_vocab} token ids with [DEC], the checkpoint has "
                f"{model.cfg.qformer.vocab_size} word embeddings: wrong vocabulary"
            )
        origin = args.checkpoint or blip2 or clip
        digest = sha256_file(origin)[:12]
        info = ModelInfo(
            name=args.name,
            version=digest,
            architecture=model.cfg.name,
            description="QuRe (BLIP-2 ViT-L Q-Former) imported from "
            + ", ".join(str(p) for p in (args.checkpoint, blip2, clip) if p),
        )
        extra = {"import": {"sources": {label: len(sd) for label, sd in sources}, "report": report.summary()}}
        del sources
        if args.out_run:
            save_initial_run(args.out_run, model, vocab, {"imported_from": info.description})
            print(f"wrote run {args.out_run}")
        _event(args, "step", step="export")
        bundle = export_bundle(
            model, vocab, args.out, info, ExportOptions(text_graph=not args.no_text, fp16=args.fp16), extra=extra
        )
    except (CheckpointError, DownloadError, ExportError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(manifest_summary(bundle))
    if args.int8 or args.int8_optional:
        _event(args, "step", step="quantize")
        refused = add_int8(bundle, args)
        _event(args, "int8", kept=not refused)
        if refused:
            if not args.int8_optional:
                return 1
            print(f"note: {bundle.root} keeps its float32 graphs only: the int8 graphs did not pass their check "
                  "(it runs, at float32 speed on a CPU)", file=sys.stderr)
    _event(args, "done", bundle=str(bundle.root))
    return 0
