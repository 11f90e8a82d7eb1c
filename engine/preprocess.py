"""Image preparation shared by the engine and the trainer (one definition of the inputs).

QuRe's recipe (``targetpad_transform(1.25, 224)`` in its code), on PIL images:

1. TargetPad: if max(w, h) / min(w, h) >= ratio, pad the short side with black,
   symmetrically, so the aspect ratio becomes ``ratio`` (not a square).
2. Resize the shorter side to ``size`` with PIL bicubic (what torchvision's
   ``Resize(size, BICUBIC)`` does on a PIL image; the long side is truncated to int).
3. Centre crop ``size`` x ``size`` (torchvision's rounding: ``int(round((h - size) / 2))``).
4. To float in [0, 1], then normalize with CLIP's mean and std. Layout (3, size, size).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


@dataclass(frozen=True)
class ImageSpec:
    """How pixels are prepared for the vision graph. Travels in the bundle manifest."""

    size: int = 224
    pad_ratio: float = 1.25
    resize: str = "bicubic"
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d["crop"] = "center"
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ImageSpec":
        if d.get("crop", "center") != "center":
            raise ValueError(f"unsupported crop mode {d.get('crop')!r}")
        if d.get("resize", "bicubic") not in _RESAMPLE:
            raise ValueError(f"unsupported resize mode {d.get('resize')!r}")
        return cls(
            size=int(d["size"]),
            pad_ratio=float(d["pad_ratio"]),
            resize=str(d.get("resize", "bicubic")),
            mean=tuple(float(x) for x in d["mean"]),  # type: ignore[arg-type]
            std=tuple(float(x) for x in d["std"]),  # type: ignore[arg-type]
        )


def target_pad(image: Image.Image, ratio: float) -> Image.Image:
    """Pad with black so that the aspect ratio is at most ``ratio`` (QuRe's TargetPad)."""
    w, h = image.size
    if min(w, h) == 0:
        raise ValueError("image has a zero-sized side")
    if max(w, h) / min(w, h) < ratio:
        return image
    scaled = max(w, h) / ratio
    hp = max(int((scaled - w) / 2), 0)
    vp = max(int((scaled - h) / 2), 0)
    if hp == 0 and vp == 0:
        return image
    out = Image.new(image.mode, (w + 2 * hp, h + 2 * vp), 0)
    out.paste(image, (hp, vp))
    return out


def resize_shorter(image: Image.Image, size: int, resample: str = "bicubic") -> Image.Image:
    """Resize so the shorter side is ``size``; the longer side is ``int(size * long / short)``."""
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) == (w, h):
        return image
    return image.resize((new_w, new_h), _RESAMPLE[resample])


def center_crop(image: Image.Image, size: int) -> Image.Image:
    w, h = image.size
    if w < size or h < size:
        raise ValueError(f"image {w}x{h} is smaller than the crop {size}")
    top = int(round((h - size) / 2.0))
    left = int(round((w - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def preprocess(image: Image.Image, spec: ImageSpec = ImageSpec()) -> np.ndarray:
    """A decoded image -> float32 array (3, size, size) ready for the vision graph."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    image = target_pad(image, spec.pad_ratio)
    image = resize_shorter(image, spec.size, spec.resize)
    image = center_crop(image, spec.size)
    x = np.asarray(image, dtype=np.float32) / 255.0  # (S, S, 3)
    x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))  # (3, S, S)
