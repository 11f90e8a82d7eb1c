"""The model's card (Help → The model in use): what the manifest says about the model.

Its name and version, whether it is the demo model, where it came from (a trainer run,
QuRe's checkpoint imported, or personalized from another model by your votes), what it
was trained on, and the figures measured when it was made: the trainer run's retrieval
metrics, the held-out accuracy before and after learning from votes, the 8-bit graphs'
agreement with full precision and the exported graphs' agreement with PyTorch. A
manifest that records none of these says so: nothing is made up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.bundle import Manifest

DATASETS = {
    "fashioniq": "FashionIQ (clothing: dresses, shirts, tops)",
    "cirr": "CIRR (everyday photos)",
}


@dataclass(frozen=True)
class Card:
    title: str  # "cirsearch-demo 42521ce55e57"
    rows: tuple[tuple[str, str], ...]  # (heading, plain text), in order


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def _figures(d: Any, scale: float = 1.0, digits: int = 1) -> str:
    """"R@10 74.5 · R@50 98.7" from a mapping of names to numbers (others left out)."""
    if not isinstance(d, dict):
        return ""
    parts = [f"{k} {_num(v) * scale:.{digits}f}" for k, v in d.items() if _num(v) is not None]
    return " · ".join(parts)


def _percent(v: Any) -> str:
    x = _num(v)
    return "–" if x is None else f"{100 * x:.1f}%"


def _origin(m: Manifest, base: Manifest | None) -> str:
    parent, extra = m.parent, m.extra
    if isinstance(parent, dict):
        name = f"{parent.get('name', '?')} {parent.get('version', '')}".strip()
        where = f" (in {parent['path']})" if parent.get("path") else ""
        gone = "" if base is not None else "; that model's folder is gone, so it cannot be rolled back to"
        return f"Personalized from {name}{where} by learning from your votes{gone}."
    if isinstance(extra.get("import"), dict):
        return "Converted from QuRe's published checkpoint (cirsearch-train import-qure)."
    run = extra.get("run")
    if isinstance(run, dict):
        how = ", ".join(f"{k} {run[k]}" for k in ("method", "epoch", "seed") if k in run)
        return f"Exported from a cirsearch-train run ({how})." if how else "Exported from a cirsearch-train run."
    return "Not recorded in the manifest."


def _trained_on(m: Manifest, base: Manifest | None) -> str:
    if m.model.demo:
        return "Generated images (a demo model): not real photos, so it shows how the app works, not how well."
    source = base if base is not None and m.parent else m
    run = source.extra.get("run")
    if isinstance(run, dict) and run.get("dataset"):
        return DATASETS.get(str(run["dataset"]).lower(), str(run["dataset"]))
    if isinstance(source.extra.get("import"), dict):
        return "QuRe's training data (FashionIQ or CIRR, as the checkpoint was chosen); see the description."
    return "Not recorded in the manifest."


def _measured(m: Manifest, base: Manifest | None) -> list[tuple[str, str]]:
    rows = []
    personal = m.extra.get("personalization")
    if isinstance(personal, dict):
        if _num(personal.get("before")) is not None:
            rows.append(("Learned from your votes",
                         f"{personal.get('votes', '?')} votes, {personal.get('pairs_train', '?')} pairs trained on; "
                         f"on {personal.get('pairs_held_out', '?')} pairs set aside, pairwise accuracy "
                         f"{_percent(personal.get('before'))} before → {_percent(personal.get('after'))} after"))
        else:
            rows.append(("Learned from your votes",
                         f"{personal.get('votes', '?')} votes, {personal.get('pairs_train', '?')} pairs; too few to "
                         "set any aside, so the effect was not measured"))
    source = base if base is not None and m.parent else m
    run = source.extra.get("run")
    metrics = _figures(run.get("metrics")) if isinstance(run, dict) else ""
    if metrics:
        of = " (of the model it was personalized from)" if source is not m else ""
        split = run.get("split") if isinstance(run.get("split"), str) else "validation"  # what training measures
        rows.append((f"Measured on its {split} split" + of, metrics))
    figures = _figures(m.int8_check.get("figures"), digits=4) if m.int8_check else ""
    if figures:
        rows.append(("8-bit graphs against full precision", figures))
    diffs = [x for x in (_num(v) for v in m.parity.values()) if x is not None]
    if diffs:
        rows.append(("Exported graphs against PyTorch", f"largest difference in any output {max(diffs):.1e}"))
    return rows or [("Measured", "No figures recorded in the manifest.")]


def model_card(m: Manifest, folder: str, base: Manifest | None = None) -> Card:
    """The card of the model whose manifest is ``m`` (in ``folder``); ``base``: the manifest
    of the model a personalized one was made from, when its folder is still there."""
    info = m.model
    rows: list[tuple[str, str]] = []
    if info.demo:
        rows.append(("Demo model", "Trained on generated images: use Model → Get the QuRe model… for your photos."))
    if info.description:
        rows.append(("Description", info.description))
    rows.append(("Came from", _origin(m, base)))
    rows.append(("Trained on", _trained_on(m, base)))
    rows += _measured(m, base)
    s = m.sizes
    rows.append(("Architecture", f"{info.architecture or 'not recorded'}: images at {m.image.size} px, "
                                 f"{s.num_query_tokens} tokens of {s.embed_dim} numbers per photo"))
    rows.append(("Folder", folder))
    return Card(f"{info.name} {info.version}", tuple(rows))
