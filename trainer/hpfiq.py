"""HP-FashionIQ: QuRe's human-preference set and its preference-rate metric.

Layout of ``hpfiq.json``: ``{user: {question_set_k: {...}}}``, each question set a dict
of parallel lists: ``ref_img_paths``, ``targ_img_paths``, ``sentences``,
``retrieved_set1`` / ``retrieved_set2`` (each item ``{"img_path": [5 paths],
"user_score": "1".."5"}``) and ``preferred set`` (``"1"`` or ``"2"``). Paths look like
``/-/image_data/shirt/<ASIN>.jpg``; the ``/-/`` prefix stands for the FashionIQ root
given as ``root``. A sentence given as a list of two captions is joined as FashionIQ's.

Metric (QuRe's ``evaluate_preference_ratio``): ``s_rel(set)`` = mean over its images of
the model's relevance ``max_k <q, t_k>`` (no temperature); among items with
``s_rel(set1) > s_rel(set2)``, the percentage whose preferred set is 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.preprocess import ImageSpec
from engine.text import Tokenizer

from .data.errors import DataError
from .data.fashioniq import join_captions
from .data.images import MemoryPixelBank
from .data.jsonio import read_json
from .evaluate import Encoder, EvalOptions, ModelEncoder
from .metrics import preference_rate
from .model import QuReModel, score

LISTS = ("ref_img_paths", "sentences", "retrieved_set1", "retrieved_set2", "preferred set")


@dataclass(frozen=True)
class HPItem:
    reference: Path
    sentence: str
    set1: tuple[Path, ...]
    set2: tuple[Path, ...]
    preferred: int  # 1 or 2


def resolve(path: str, root: Path) -> Path:
    if path.startswith("/-/"):
        return root / path[3:]
    p = Path(path)
    return p if p.is_absolute() else root / p


def load_hpfiq(path: str | Path, root: str | Path) -> list[HPItem]:
    path, root = Path(path), Path(root)
    data = read_json(path, "HP-FashionIQ file")
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected {{user: {{question_set: {{...}}}}}}")
    items = []
    for user, sets in data.items():
        for qs_name, qs in (sets or {}).items():
            where = f"{path}: {user}/{qs_name}"
            if not isinstance(qs, dict) or not all(k in qs for k in LISTS):
                raise DataError(f"{where} needs the lists {LISTS}")
            n = len(qs["ref_img_paths"])
            if any(len(qs[k]) != n for k in LISTS):
                raise DataError(f"{where}: the lists have different lengths")
            for i in range(n):
                sent = qs["sentences"][i]
                sent = join_captions([str(s) for s in sent]) if isinstance(sent, list) else str(sent)
                pref = str(qs["preferred set"][i]).strip()
                if pref not in ("1", "2"):
                    raise DataError(f"{where} item {i}: 'preferred set' is {pref!r}, not '1' or '2'")
                items.append(
                    HPItem(
                        resolve(str(qs["ref_img_paths"][i]), root),
                        sent,
                        tuple(resolve(str(p), root) for p in qs["retrieved_set1"][i]["img_path"]),
                        tuple(resolve(str(p), root) for p in qs["retrieved_set2"][i]["img_path"]),
                        int(pref),
                    )
                )
    return items


def evaluate_hpfiq(
    model: QuReModel, items: list[HPItem], tokenizer: Tokenizer, opt: EvalOptions
) -> dict[str, Any]:
    """{"preference_rate": %, "counted": items with s1 > s2, "items": all items}."""
    was_training = model.training
    model.eval()
    try:
        return hpfiq_with(ModelEncoder(model, opt), model.cfg.image, items, tokenizer)
    finally:
        model.train(was_training)


def hpfiq_with(encoder: Encoder, spec: ImageSpec, items: list[HPItem], tokenizer: Tokenizer) -> dict[str, Any]:
    """``evaluate_hpfiq`` for any encoder (a model, a bundle), images prepared as ``spec`` says."""
    if not items:
        raise DataError("the HP-FashionIQ file holds no items")
    files = sorted({str(p) for it in items for p in (it.reference, *it.set1, *it.set2)})
    absent = [f for f in files if not Path(f).is_file()]
    if absent:
        raise DataError(f"{len(absent)} HP-FashionIQ image(s) not found, e.g. {absent[:3]}")
    bank = MemoryPixelBank.load({f: Path(f) for f in files}, files, spec)
    ids, mask = tokenizer.encode([it.sentence for it in items])
    q = encoder.queries(bank, bank.indices([str(it.reference) for it in items]), ids, mask)  # (M, E)
    t = encoder.targets(bank, np.arange(len(bank)))  # (N, Q, E)
    s1, s2 = np.zeros(len(items)), np.zeros(len(items))
    with torch.no_grad():
        for i, it in enumerate(items):
            for out, paths in ((s1, it.set1), (s2, it.set2)):
                rows = torch.as_tensor(bank.indices([str(p) for p in paths]), device=t.device)
                out[i] = float(score(q[i : i + 1], t[rows]).mean())
    rate, counted = preference_rate(s1, s2, np.asarray([it.preferred for it in items]))
    return {"preference_rate": rate, "counted": counted, "items": len(items)}
