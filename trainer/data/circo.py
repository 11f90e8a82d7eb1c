"""CIRCO layout (Baldrati et al., ICCV 2023; github.com/miccunifi/CIRCO)::

    ROOT/annotations/<split>.json     [{"id", "reference_img_id", "target_img_id", "relative_caption",
                                        "shared_concept", "gt_img_ids": [...]}, ...]
    ROOT/COCO2017_unlabeled/annotations/image_info_unlabeled2017.json   {"images": [{"id", "file_name"}, ...]}
    ROOT/COCO2017_unlabeled/unlabeled2017/<file_name>                    (000000009761.jpg)

``split`` is ``val`` or ``test``; test has no ``target_img_id`` nor ``gt_img_ids``.
Image names are the COCO image ids as strings. The corpus (one group, ``circo``) is
every image of the COCO 2017 unlabeled set, in the order of its image list. The caption
is ``relative_caption`` alone (``shared_concept`` is not used). ``gt_img_ids`` (the
target first) become the triplet's ``ground_truth``, for mAP@K.

CIRCO's own code (``src/evaluation.py``, and SEARLE's ``validate.py`` /
``generate_test_submission.py``) ranks the whole corpus *without* removing the
reference; so does ``trainer.evaluate``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import DataError
from .jsonio import read_json, require
from .splits import CIRSplit, Triplet

GROUP = "circo"
IMAGE_INFO = Path("COCO2017_unlabeled") / "annotations" / "image_info_unlabeled2017.json"
IMAGE_DIR = Path("COCO2017_unlabeled") / "unlabeled2017"


def _image_list(root: Path) -> dict[str, str]:
    """{image id as a string: file name}, in the order of COCO's image list."""
    path = root / IMAGE_INFO
    info = read_json(path, "COCO 2017 unlabeled image list")
    images = info.get("images") if isinstance(info, dict) else None
    require(isinstance(images, list), path, 'expected a JSON object with an "images" list')
    out: dict[str, str] = {}
    for i, im in enumerate(images):
        ok = isinstance(im, dict) and "id" in im and "file_name" in im
        require(ok, path, f"image {i} needs 'id' and 'file_name'")
        out.setdefault(str(im["id"]), str(im["file_name"]))
    return out


def _triplet(it: Any, i: int, path: Path) -> Triplet:
    require(
        isinstance(it, dict) and {"id", "reference_img_id", "relative_caption"} <= it.keys(),
        path,
        f"item {i} needs 'id', 'reference_img_id' and 'relative_caption'",
    )
    target = it.get("target_img_id")
    gts = it.get("gt_img_ids")
    if target is not None and gts is None:
        gts = [target]
    ok = gts is None or (isinstance(gts, list) and len(gts) > 0)
    require(ok, path, f"item {i}: 'gt_img_ids' must be a non-empty list")
    require(target is not None or gts is None, path, f"item {i} has 'gt_img_ids' but no 'target_img_id'")
    try:
        pair_id = int(it["id"])
    except (TypeError, ValueError):
        raise DataError(f"{path}: item {i}: 'id' must be an integer, not {it['id']!r}") from None
    return Triplet(
        reference=str(it["reference_img_id"]),
        caption=str(it["relative_caption"]),
        target=None if target is None else str(target),
        group=GROUP,
        pair_id=pair_id,
        ground_truth=tuple(str(g) for g in gts or ()),
    )


def _files(root: Path, listing: dict[str, str], used: set[str]) -> dict[str, Path]:
    """Every listed image's file (one directory listing); a missing one of ``used`` or of the corpus is an error."""
    folder = root / IMAGE_DIR
    if not folder.is_dir():
        raise DataError(f"{folder}: image folder not found (unzip COCO's unlabeled2017.zip there)")
    present = {e.name for e in os.scandir(folder)}
    absent = sorted(n for n in listing if listing[n] not in present)
    if absent:
        raise DataError(
            f"{folder}: {len(absent)} image file(s) of {root / IMAGE_INFO} are missing, e.g. "
            f"{[listing[n] for n in absent[:3]]}"
        )
    return {n: folder / listing[n] for n in used}


def load_circo(root: str | Path, split: str) -> CIRSplit:
    root = Path(root)
    ann_path = root / "annotations" / f"{split}.json"
    items = read_json(ann_path, "CIRCO annotations file")
    require(isinstance(items, list), ann_path, "expected a JSON list of queries")
    triplets = [_triplet(it, i, ann_path) for i, it in enumerate(items)]
    ids = [t.pair_id for t in triplets]
    require(len(set(ids)) == len(ids), ann_path, "query 'id's must be unique")
    listing = _image_list(root)
    used = {t.reference for t in triplets} | {t.target for t in triplets if t.target is not None}
    used |= {g for t in triplets for g in t.ground_truth}
    unlisted = sorted(n for n in used if n not in listing)
    if unlisted:
        raise DataError(
            f"{root / IMAGE_INFO}: {len(unlisted)} image id(s) used by {ann_path.name} are not listed, "
            f"e.g. {unlisted[:5]}"
        )
    names = tuple(listing)
    return CIRSplit(
        dataset="circo",
        split=split,
        root=root,
        triplets=tuple(triplets),
        corpus={GROUP: names},
        paths=_files(root, listing, used | set(names)),
        missing_targets=0,
        captions_files={GROUP: ann_path},
    )
