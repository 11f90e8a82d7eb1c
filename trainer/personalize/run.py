"""Personalize a library's model: votes -> pairs -> fine-tuned query side -> child bundle.

The child bundle shares (hard links where it can, else copies) every file of its base
bundle except the query side (``query.onnx`` and the keystroke pair ``query_kv`` /
``query_cached``, which hold Q-Former weights), so the index stays valid and the switch
is instant. When the base has int8 graphs, the child takes them too and gets int8 query
graphs of its own, checked against its float32 ones on the library's photos as
``cirsearch-train quantize`` checks (refused: the child runs float32). Training always starts from the base
model's query-side weights with all votes so far (a second personalization replaces
the first instead of stacking on it); the manifest's ``parent`` names the base bundle,
which a rollback switches back to.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine.bundle import Bundle, ModelInfo, find_base, load_bundle
from engine.preferences import split_held_out
from trainer.calibration import CalibrationError, generated_calibration, library_calibration, photo_paths
from trainer.quantize import QuantizeConfig, QuantizeRefused, quantize_bundle

from .collect import CollectInfo, collect
from .train import PersonalizeConfig, PersonalizeReport, train_query_side


class PersonalizeError(Exception):
    """Personalization cannot run (no usable votes, a model without query-side weights...)."""


@dataclass
class PersonalizeResult:
    bundle: Path
    base: Path
    report: PersonalizeReport
    info: CollectInfo
    activated: bool
    int8: str | None = None  # what became of the child's int8 graphs (None: the base has none)


def base_bundle(bundle: Bundle) -> Bundle:
    """The bundle a personalized one was made from, verified (itself if it is not
    personalized or its base is gone)."""
    base = find_base(bundle)
    return load_bundle(base.root) if base is not None else bundle


def personalize_library(
    folder: str | Path,
    out: str | Path | None = None,
    cfg: PersonalizeConfig = PersonalizeConfig(),
    activate: bool = True,
    progress: Callable[[int, int, dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PersonalizeResult:
    from engine.library import Library
    from trainer.export import ExportOptions, export_bundle
    from trainer.model.query_side import QuerySide

    lib = Library.open(folder, create=False)
    try:
        base = base_bundle(lib.bundle)
        if not base.can_personalize:
            raise PersonalizeError(
                f"the model {base.label} carries no query-side weights (weights/query_side.npz), so it cannot "
                "learn from votes; re-export it with this version of cirsearch-train")
        data, pairs, info = collect(lib)
        if data is None:
            raise PersonalizeError(
                f"no usable preference pairs yet ({info.votes} votes, {info.skipped_votes} of them outside "
                "image+text searches): give a thumbs-up to a good result and a thumbs-down to a bad one")
        train_idx, held_idx = split_held_out(pairs.pairs, cfg.held_out, cfg.seed)
        side = QuerySide.load_npz(base.path(base.manifest.query_weights))
        best, report = train_query_side(side, data, train_idx, held_idx, cfg, progress, should_stop)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = (
            Path(out)
            if out
            else Path(folder).expanduser().absolute() / "models" / f"{base.manifest.model.name}-personal-{stamp}"
        )
        m = base.manifest.model
        info_json = {**report.to_json(), **info.__dict__}
        child = export_bundle(
            best,
            base.path(base.manifest.text.vocab),
            out,
            ModelInfo(
                m.name,
                f"{m.version}+personal.{stamp}",
                m.architecture,
                f"{m.description} Personalized from {info.votes} votes ({len(pairs.pairs)} pairs).".strip(),
                m.demo,
            ),
            ExportOptions(),
            parent={
                "name": m.name,
                "version": m.version,
                "path": str(base.root.absolute()),
                "query_sha256": base.query_sha256,
                "target_side": base.target_side,
            },
            extra={"personalization": info_json},
            reuse_from=base,
        )
        child, int8 = int8_child(child, base, photo_paths(lib))
        if activate:
            lib.use_bundle(child)
        return PersonalizeResult(child.root, base.root, report, info, activate, int8)
    finally:
        lib.close()


def int8_child(child: Bundle, base: Bundle, photos: list[str],
               cfg: QuantizeConfig | None = None) -> tuple[Bundle, str | None]:
    """The child with the base's int8 graphs and int8 query-side graphs of its own, if they pass
    their check on ``photos`` (the library's; generated images while it has too few), and what
    became of them (None: the base has no int8 graphs)."""
    if not base.manifest.int8_graphs:
        return child, None
    cfg = cfg or QuantizeConfig()
    try:
        cal = library_calibration(child, photos, cfg.calibration, cfg.seed)
    except CalibrationError:  # too few photos yet: the generated ones
        cal = generated_calibration(child, cfg.calibration, cfg.seed)
    try:
        child, report = quantize_bundle(child, cal, cfg, reuse=base)
    except QuantizeRefused as e:
        return child, f"int8 refused, the personalized model runs in float32: {e}"
    f = report.figures
    return child, (f"int8 graphs checked on {cal.to_json()['images']} {cal.source} photos: query cosine "
                   f"{f['query_cosine']:.4f}, top-10 overlap {f['overlap_int8_index']:.3f}")


def rollback(folder: str | Path) -> Path:
    """Switch the library back to the base of its personalized model; returns it."""
    from engine.library import Library

    lib = Library.open(folder, create=False)
    try:
        base = base_bundle(lib.bundle)
        if base.root == lib.bundle.root:
            raise PersonalizeError(f"the model in use ({lib.bundle.label}) is not a personalized one")
        lib.use_bundle(base)
        return base.root
    finally:
        lib.close()
