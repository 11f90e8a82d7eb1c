"""CIRR layout::

    ROOT/captions/cap.rc2.<split>.json       [{"pairid", "reference", "target_hard", "caption",
                                               "img_set": {"members": [...]}}, ...]
    ROOT/image_splits/split.rc2.<split>.json {name: "./train/34/<name>.png", ...}

Image paths in the split file are relative to ROOT, or to ROOT's parent (the layout
where ``captions/`` and ``image_splits/`` sit in ``cirr_dataset/cirr/`` next to the
image folders ``cirr_dataset/train``, ``dev``, ``test1``; ROOT may then be either
``cirr_dataset/cirr`` or ``cirr_dataset``). ``split`` is ``train``,
``val`` or ``test1``; test1 has no ``target_hard``.

The corpus (one group, ``cirr``) is every image of the split. As in QuRe's code, the
reference is *not* removed from the training corpus; evaluation removes it.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .jsonio import read_json, require
from .splits import CIRSplit, Triplet

GROUP = "cirr"


def _resolve(root: Path, rel: str) -> Path | None:
    for base in (root, root.parent):
        p = (base / rel).resolve()
        if p.is_file():
            return p
    return None


def load_cirr(root: str | Path, split: str) -> CIRSplit:
    root = Path(root)
    if not (root / "captions").is_dir() and (root / "cirr" / "captions").is_dir():
        root = root / "cirr"  # the CLIP4Cir layout given by its outer folder, cirr_dataset/
    cap_path = root / "captions" / f"cap.rc2.{split}.json"
    split_path = root / "image_splits" / f"split.rc2.{split}.json"
    items = read_json(cap_path, "CIRR captions file")
    listing = read_json(split_path, "CIRR image split")
    require(isinstance(items, list), cap_path, "expected a JSON list of pairs")
    require(isinstance(listing, dict), split_path, "expected a JSON object {name: relative path}")
    triplets = []
    for i, it in enumerate(items):
        require(
            isinstance(it, dict) and {"pairid", "reference", "caption"} <= it.keys(),
            cap_path,
            f"item {i} needs 'pairid', 'reference' and 'caption'",
        )
        members = tuple(str(m) for m in (it.get("img_set") or {}).get("members", []))
        target = it.get("target_hard")
        triplets.append(
            Triplet(
                reference=str(it["reference"]),
                caption=str(it["caption"]),
                target=None if target is None else str(target),
                group=GROUP,
                pair_id=int(it["pairid"]),
                members=members,
            )
        )
    names = [str(n) for n in listing]
    known = set(names)
    used = set(names) | {t.reference for t in triplets} | {m for t in triplets for m in t.members}
    used |= {t.target for t in triplets if t.target is not None}
    unlisted = sorted(n for n in used if n not in known)
    if unlisted:
        raise DataError(
            f"{split_path}: {len(unlisted)} image(s) used by {cap_path.name} are not listed, e.g. {unlisted[:5]}"
        )
    paths: dict[str, Path] = {}
    absent = []
    for n in sorted(used):
        p = _resolve(root, str(listing[n]))
        if p is None:
            absent.append(f"{n} ({listing[n]})")
        else:
            paths[n] = p
    if absent:
        raise DataError(f"{root}: {len(absent)} CIRR image file(s) not found, e.g. {absent[:3]}")
    return CIRSplit(
        dataset="cirr",
        split=split,
        root=root,
        triplets=tuple(triplets),
        corpus={GROUP: tuple(names)},
        paths=paths,
        missing_targets=0,
        captions_files={GROUP: cap_path},
    )
