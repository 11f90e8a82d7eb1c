"""FashionIQ layout::

    ROOT/images/<name>.png                      (any of .png .jpg .jpeg .webp)
    ROOT/captions/cap.<category>.<split>.json   [{"candidate", "target", "captions": [c0, c1]}, ...]
    ROOT/image_splits/split.<category>.<split>.json   [name, ...]

``candidate`` is the reference image. The two captions are joined the way QuRe does
(fixed order, no random swap): ``c0.strip('.?, ').capitalize() + " and " + c1.strip('.?, ')``.

Each category is a group; its corpus is the split's image list (the index QuRe's
evaluation ranks over), plus, for training, any triplet target the list lacks.
QuRe's own training code instead mines and draws warm-up negatives from the list of
training-triplet *targets* with duplicates; ``corpus="targets"`` gives that list
without the duplicates (see docs/training.md).
"""

from __future__ import annotations

from pathlib import Path

from .errors import DataError
from .jsonio import read_json, require
from .splits import CIRSplit, Triplet

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
CORPUS_MODES = ("split", "targets")


def join_captions(captions: list[str]) -> str:
    """QuRe's FashionIQ caption: the first capitalised, ' and ', the second."""
    if not captions:
        raise ValueError("a FashionIQ item needs at least one caption")
    first = captions[0].strip(".?, ").capitalize()
    if len(captions) == 1:
        return first
    return first + " and " + captions[1].strip(".?, ")


def discover_categories(root: Path, split: str) -> tuple[str, ...]:
    files = sorted((root / "captions").glob(f"cap.*.{split}.json"))
    cats = tuple(f.name[len("cap.") : -len(f".{split}.json")] for f in files)
    if not cats:
        raise DataError(f"{root / 'captions'}: no cap.<category>.{split}.json files (is this a FashionIQ root?)")
    return cats


def index_images(folder: Path) -> dict[str, Path]:
    """``images/`` -> {name without extension: file}, one directory listing."""
    if not folder.is_dir():
        raise DataError(f"{folder}: image folder not found")
    out: dict[str, Path] = {}
    for entry in folder.iterdir():
        stem, dot, ext = entry.name.rpartition(".")
        if dot and "." + ext.lower() in IMAGE_EXTENSIONS:
            out.setdefault(stem, entry)
    return out


def _parse_captions(path: Path, category: str) -> list[Triplet]:
    items = read_json(path, "FashionIQ captions file")
    require(isinstance(items, list), path, "expected a JSON list of {candidate, target, captions}")
    out = []
    for i, it in enumerate(items):
        require(
            isinstance(it, dict) and "candidate" in it and isinstance(it.get("captions"), list),
            path,
            f"item {i} needs 'candidate' and a 'captions' list",
        )
        try:
            caption = join_captions([str(c) for c in it["captions"]])
        except ValueError:
            raise DataError(f"{path}: item {i} has no captions") from None
        target = it.get("target")
        out.append(Triplet(str(it["candidate"]), caption, None if target is None else str(target), category))
    return out


def load_fashioniq(
    root: str | Path, split: str, categories: tuple[str, ...] | None = None, corpus: str = "split"
) -> CIRSplit:
    if corpus not in CORPUS_MODES:
        raise ValueError(f"unknown corpus mode {corpus!r}; choose one of {CORPUS_MODES}")
    root = Path(root)
    cats = tuple(categories) if categories else discover_categories(root, split)
    if categories and (root / "captions").is_dir():
        found = discover_categories(root, split)
        strangers = [c for c in cats if c not in found]
        if strangers:
            raise DataError(f"{root / 'captions'}: no {split} captions for category "
                            f"{', '.join(map(repr, strangers))} (there are: {', '.join(found)})")
    triplets: list[Triplet] = []
    corpora: dict[str, tuple[str, ...]] = {}
    captions_files: dict[str, Path] = {}
    missing = 0
    for cat in cats:
        cap_path = root / "captions" / f"cap.{cat}.{split}.json"
        trips = _parse_captions(cap_path, cat)
        captions_files[cat] = cap_path
        targets = [t.target for t in trips if t.target is not None]
        if corpus == "targets":
            names = list(dict.fromkeys(targets))
        else:
            split_path = root / "image_splits" / f"split.{cat}.{split}.json"
            listed = read_json(split_path, "FashionIQ image split")
            require(isinstance(listed, list), split_path, "expected a JSON list of image names")
            names = list(dict.fromkeys(str(n) for n in listed))
            known = set(names)
            extra = [t for t in dict.fromkeys(targets) if t not in known]
            missing += len(extra)
            names += extra
        triplets += trips
        corpora[cat] = tuple(names)
    files = index_images(root / "images")
    used = {t.reference for t in triplets} | {t.target for t in triplets if t.target} | {
        n for c in corpora.values() for n in c
    }
    absent = sorted(n for n in used if n not in files)
    if absent:
        raise DataError(
            f"{root / 'images'}: {len(absent)} image(s) named by the {split} split are missing, e.g. {absent[:5]}"
        )
    return CIRSplit(
        dataset="fashioniq",
        split=split,
        root=root,
        triplets=tuple(triplets),
        corpus=corpora,
        paths={n: files[n] for n in used},
        missing_targets=missing,
        captions_files=captions_files,
    )
