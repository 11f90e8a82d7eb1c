"""Running the model over banks of images and queries in batches (no gradients):
shared by mining, evaluation and the frozen-feature caches."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from engine.atomic import atomic_write

from .data.images import ImageBank, MemoryPixelBank, TokenBank
from .model import QuReModel


def autocast(device: torch.device, enabled: bool):
    """fp16 autocast on CUDA when enabled; a no-op elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def featurize(model: QuReModel, x: torch.Tensor) -> torch.Tensor:
    """Pixels (B, 3, S, S) or cached pre-ln_vision ViT tokens (B, T, Dv) -> (B, T, Dv) features."""
    if x.dim() == 4:
        return model.vision_features(x)  # (B, T, Dv)
    return model.ln_vision(x).float()  # (B, T, Dv)


class _Rows(Dataset):
    def __init__(self, bank: ImageBank, ids: np.ndarray):
        self.bank, self.ids = bank, ids

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.bank[int(self.ids[i])]


def image_batches(
    bank: ImageBank, ids: Sequence[int] | np.ndarray, batch_size: int, num_workers: int = 0
) -> Iterator[torch.Tensor]:
    """The bank's images ``ids`` in order, ``batch_size`` at a time."""
    ids = np.asarray(ids, dtype=np.int64)
    if num_workers == 0 or isinstance(bank, (MemoryPixelBank, TokenBank)):
        for s in range(0, len(ids), batch_size):
            yield bank.batch(ids[s : s + batch_size])
        return
    loader = DataLoader(_Rows(bank, ids), batch_size=batch_size, num_workers=num_workers, shuffle=False)
    yield from loader


@torch.no_grad()
def encode_targets(
    model: QuReModel,
    bank: ImageBank,
    ids: Sequence[int] | np.ndarray,
    device: torch.device,
    batch_size: int = 128,
    amp: bool = False,
    num_workers: int = 0,
    out_device: torch.device | None = None,
) -> torch.Tensor:
    """Target tokens of the bank images ``ids``: (N, Q, E) float32 on ``out_device`` (default: device)."""
    out = []
    for x in image_batches(bank, ids, batch_size, num_workers):
        with autocast(device, amp):
            t = model.target_from_features(featurize(model, x.to(device, non_blocking=True)))  # (b, Q, E)
        out.append(t.float().to(out_device or device))
    if not out:
        cfg = model.cfg
        return torch.zeros(0, cfg.qformer.num_query_tokens, cfg.embed_dim, device=out_device or device)
    return torch.cat(out)


@torch.no_grad()
def encode_queries(
    model: QuReModel,
    bank: ImageBank,
    ref_ids: np.ndarray,
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    device: torch.device,
    batch_size: int = 128,
    amp: bool = False,
    num_workers: int = 0,
) -> torch.Tensor:
    """Composed query vectors: (M, E) float32 on ``device``."""
    out = []
    for s, x in zip(range(0, len(ref_ids), batch_size), image_batches(bank, ref_ids, batch_size, num_workers)):
        ids = torch.from_numpy(input_ids[s : s + batch_size]).to(device)
        mask = torch.from_numpy(attention_mask[s : s + batch_size]).to(device)
        with autocast(device, amp):
            q = model.query_from_features(featurize(model, x.to(device, non_blocking=True)), ids, mask)  # (b, E)
        out.append(q.float())
    if not out:
        return torch.zeros(0, model.cfg.embed_dim, device=device)
    return torch.cat(out)


def vision_fingerprint(model: QuReModel, names: Sequence[str]) -> str:
    """What a ViT-token cache depends on: the frozen tower's weights, the image spec, the names."""
    h = hashlib.sha256()
    h.update(json.dumps(model.cfg.image.to_json(), sort_keys=True).encode())
    for k, v in sorted(model.vision.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().float().cpu().numpy().tobytes())
    h.update("\n".join(names).encode())
    return h.hexdigest()[:16]


@torch.no_grad()
def cache_vit_tokens(
    model: QuReModel,
    bank: ImageBank,
    device: torch.device,
    batch_size: int = 64,
    cache_dir: str | Path | None = None,
    amp: bool = False,
    num_workers: int = 0,
) -> TokenBank:
    """Run the (frozen) vision tower once over the whole bank and keep its tokens before
    ``ln_vision``. In memory (float32) without ``cache_dir``; otherwise a float16 .npy in
    ``cache_dir`` named by ``vision_fingerprint``, reused by later runs and memory-mapped."""
    if any(p.requires_grad for p in model.vision.parameters()):
        raise ValueError("the vision tower is trained; its tokens cannot be cached")
    vc = model.cfg.vision
    shape = (len(bank), vc.num_tokens, vc.width)
    ids = np.arange(len(bank))
    if cache_dir is None:
        out = torch.empty(shape)
        for s, x in zip(range(0, len(bank), batch_size), image_batches(bank, ids, batch_size, num_workers)):
            with autocast(device, amp):
                out[s : s + len(x)] = model.vision(x.to(device)).float().cpu()
        return TokenBank(bank.names, out)
    path = Path(cache_dir) / f"vit_tokens-{vision_fingerprint(model, bank.names)}.npy"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)

        def write(f: BinaryIO) -> None:
            # an .npy file written batch by batch: the header, then the rows in order
            header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float16)), "fortran_order": False,
                      "shape": shape}
            np.lib.format.write_array_header_1_0(f, header)
            for x in image_batches(bank, ids, batch_size, num_workers):
                with autocast(device, amp):
                    f.write(model.vision(x.to(device)).float().cpu().numpy().astype(np.float16).tobytes())

        # not durable: a cache, keyed by the weights and the images, recomputed when missing
        atomic_write(path, write, durable=False)
    return TokenBank(bank.names, path=path)
