"""Imports LAVIS 1.0.2's BLIP-2 Q-Former code without the rest of LAVIS.

``import lavis`` runs ``lavis/__init__.py``, which imports every dataset, model,
processor and task, and with them cv2, spacy, timm, torchvision, fairscale, decord...
None of that is needed to build ``Blip2Qformer`` and run it, and torchvision/timm do not
even import next to a CPU torch from PyPI. So ``load()``:

1. imports ``transformers`` first, so that its "is torchvision/timm available" probes
   run against the real environment and never see a stub;
2. puts throw-away stubs in ``sys.modules`` for the few names the needed LAVIS modules
   import at module level (download helpers, timm layer helpers, fairscale's
   checkpoint wrapper, torchvision's transforms module, LAVIS's cv2-based
   ``randaugment``). Every stub that is a function raises if it is ever called, so a
   stub can never stand in for real behaviour silently;
3. registers ``lavis``, ``lavis.models`` and ``lavis.processors`` as bare packages
   (their real directories, without running their ``__init__``), and sets the two
   attributes LAVIS's registry looks up there (``BaseModel``, ``BaseProcessor``);
4. imports the LAVIS modules, then removes every stub from ``sys.modules``.

Nothing of LAVIS is copied: the code that runs is the installed wheel's.
"""

from __future__ import annotations

import enum
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


class StubCalled(RuntimeError):
    """A stubbed helper was called: the golden path reached code it must not use."""


def _refuse(name: str) -> Callable[..., Any]:
    def stub(*args: Any, **kwargs: Any) -> Any:
        raise StubCalled(f"{name} is a lavis_shim stub and must not be called")

    stub.__name__ = name.rsplit(".", 1)[-1]
    return stub


def _identity_decorator(fn: Any) -> Any:
    return fn


class _InterpolationMode(enum.Enum):
    """Stands in for torchvision's enum; only referenced by image processors we never build."""

    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


class _RefusingModule(types.ModuleType):
    """A stub module whose every missing attribute is a refusing function."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _refuse(f"{self.__name__}.{attr}")


def _module(name: str, refusing: bool = False, **attrs: Any) -> types.ModuleType:
    mod = (_RefusingModule if refusing else types.ModuleType)(name)
    mod.__dict__.update(attrs)
    mod.__path__ = []  # lets "import a.b.c" walk through stubs
    mod.__lavis_shim_stub__ = True
    return mod


def _stubs() -> dict[str, dict[str, Any]]:
    """Module name -> attributes, for every third-party name LAVIS imports at module level."""
    r = _refuse
    return {
        "torchvision": {},
        "torchvision.datasets": {},
        "torchvision.datasets.utils": {
            n: r(f"torchvision.datasets.utils.{n}")
            for n in ("check_integrity", "download_file_from_google_drive", "extract_archive")
        },
        "torchvision.transforms": {"__refusing__": True},
        "torchvision.transforms.functional": {"InterpolationMode": _InterpolationMode},
        "timm": {},
        "timm.models": {},
        "timm.models.layers": {n: r(f"timm.models.layers.{n}") for n in ("drop_path", "to_2tuple", "trunc_normal_")},
        "timm.models.registry": {"register_model": _identity_decorator},
        "timm.models.hub": {n: r(f"timm.models.hub.{n}") for n in ("get_cache_dir", "download_cached_file")},
        "fairscale": {},
        "fairscale.nn": {},
        "fairscale.nn.checkpoint": {},
        "fairscale.nn.checkpoint.checkpoint_activations": {"checkpoint_wrapper": r("checkpoint_wrapper")},
        # LAVIS's own cv2-based augmentation module, imported by blip_processors.
        "lavis.processors.randaugment": {"RandomAugment": r("RandomAugment")},
    }


def _bare_package(name: str, path: Path) -> types.ModuleType:
    spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
    spec.submodule_search_locations = [str(path)]
    mod = importlib.util.module_from_spec(spec)
    mod.__path__ = [str(path)]
    return mod


@dataclass(frozen=True)
class Lavis:
    """The LAVIS (and transformers) classes the golden generator uses."""

    Blip2Qformer: type
    BertConfig: type
    BertLMHeadModel: type
    VisionTransformer: type
    LayerNorm: type
    BertTokenizer: type
    BlipCaptionProcessor: type
    lavis_dir: Path
    stubbed: tuple[str, ...]


def _third_party_missing(top: str) -> bool:
    return importlib.util.find_spec(top) is None


def load() -> Lavis:
    """Imports LAVIS's BLIP-2 modules as described in the module docstring."""
    if "lavis" in sys.modules:
        raise RuntimeError("lavis is already imported; call lavis_shim.load() before any LAVIS import")
    import transformers  # noqa: F401  (step 1: its availability probes see the real world)
    import transformers.modeling_utils  # noqa: F401

    spec = importlib.util.find_spec("lavis")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("salesforce-lavis is not installed in this environment")
    lavis_dir = Path(list(spec.submodule_search_locations)[0])

    stubs = _stubs()
    present = {top for top in {n.split(".")[0] for n in stubs} - {"lavis"} if not _third_party_missing(top)}
    installed: list[str] = []
    for name, attrs in stubs.items():
        if name.split(".")[0] in present:
            continue  # the real package is there: let LAVIS use it
        attrs = dict(attrs)
        refusing = bool(attrs.pop("__refusing__", False))
        sys.modules[name] = _module(name, refusing, **attrs)
        installed.append(name)

    for name, sub in (("lavis", ""), ("lavis.models", "models"), ("lavis.processors", "processors")):
        sys.modules[name] = _bare_package(name, lavis_dir / sub)
    sys.modules["lavis"].models = sys.modules["lavis.models"]
    sys.modules["lavis"].processors = sys.modules["lavis.processors"]
    try:
        base_model = importlib.import_module("lavis.models.base_model")
        sys.modules["lavis.models"].BaseModel = base_model.BaseModel
        base_processor = importlib.import_module("lavis.processors.base_processor")
        sys.modules["lavis.processors"].BaseProcessor = base_processor.BaseProcessor
        blip2 = importlib.import_module("lavis.models.blip2_models.blip2")
        qformer_mod = importlib.import_module("lavis.models.blip2_models.Qformer")
        blip2_qformer = importlib.import_module("lavis.models.blip2_models.blip2_qformer")
        clip_vit = importlib.import_module("lavis.models.clip_vit")
        processors = importlib.import_module("lavis.processors.blip_processors")
    finally:
        for name in installed:  # step 4: nothing else ever sees a stub
            del sys.modules[name]

    return Lavis(
        Blip2Qformer=blip2_qformer.Blip2Qformer,
        BertConfig=qformer_mod.BertConfig,
        BertLMHeadModel=qformer_mod.BertLMHeadModel,
        VisionTransformer=clip_vit.VisionTransformer,
        LayerNorm=blip2.LayerNorm,
        BertTokenizer=transformers.BertTokenizer,
        BlipCaptionProcessor=processors.BlipCaptionProcessor,
        lavis_dir=lavis_dir,
        stubbed=tuple(installed),
    )
