"""The training loop: AdamW, QuRe's per-epoch cosine, AMP on CUDA, mining on QuRe's
schedule, validation and checkpoints each epoch, exact resume, DDP under torchrun.

``start_run`` writes a new run directory; ``train`` runs (or resumes) it. What is
deterministic: the shuffling order and the negatives of epoch e depend only on
(seed, e); the torch RNG (dropout) is saved in each checkpoint. So on CPU a run
paused after epoch k and resumed ends with the same weights as an uninterrupted run.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler
from torch.utils.data.distributed import DistributedSampler

from engine.text import Tokenizer

from . import distributed, run
from .config import DataConfig, TrainConfig, data_to_json
from .data.dataset import TripletDataset
from .data.images import ImageBank, make_pixel_bank
from .data.queries import Queries, build_queries
from .data.splits import CIRSplit, load_split
from .encode import autocast, cache_vit_tokens, encode_targets
from .evaluate import EvalOptions, evaluate_split
from .mining import mine
from .model import QuReModel
from .negatives import NegativeTable, draw_from_table, draw_uniform_excluding, is_mining_epoch
from .objectives import PAIRWISE, Objective
from .schedule import lr_at

Log = Callable[[str], None]
MEMORY_LIMIT = 2 << 30  # "auto" keeps decoded images in memory below this many bytes


# --------------------------------------------------------------------------- data


@dataclass
class SplitData:
    split: CIRSplit
    bank: ImageBank
    queries: Queries


def _vision_frozen(model: QuReModel) -> bool:
    return not any(p.requires_grad for p in model.vision.parameters())


def load_data(
    data: DataConfig,
    split_name: str,
    model: QuReModel,
    tokenizer: Tokenizer,
    device: torch.device,
    d: distributed.Dist,
    num_workers: int = 0,
) -> SplitData:
    """Parse a split, build its image bank (cached ViT tokens when the tower is frozen
    and caching is possible), tokenize its captions."""
    split = load_split(data.dataset, data.root, split_name, data.categories, corpus=data.corpus)
    names = split.image_names()
    size = model.cfg.image.size
    in_memory = data.images == "memory" or (data.images == "auto" and len(names) * 3 * size * size * 4 < MEMORY_LIMIT)
    bank = make_pixel_bank(split.paths, names, model.cfg.image, in_memory)
    vc = model.cfg.vision
    tokens_fit = len(names) * vc.num_tokens * vc.width * 4 < MEMORY_LIMIT
    if _vision_frozen(model) and (data.feature_cache or (in_memory and tokens_fit)):
        if data.feature_cache and not d.main:
            d.barrier()  # rank 0 writes the cache file first
        bank = cache_vit_tokens(model, bank, device, cache_dir=data.feature_cache, num_workers=num_workers)
        if data.feature_cache and d.main:
            d.barrier()
    return SplitData(split, bank, build_queries(split, bank, tokenizer))


# --------------------------------------------------------------------------- run setup


def start_run(
    run_dir: Path, model: QuReModel, vocab_path: Path, data: DataConfig, cfg: TrainConfig, extra: dict[str, Any]
) -> None:
    """Create RUN with its config.json and vocab.txt. Refuses a folder that holds a run."""
    if (run_dir / run.CONFIG).exists():
        raise run.RunError(f"{run_dir} already holds a run; pass --resume to continue it or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    if Path(vocab_path).resolve() != (run_dir / run.VOCAB).resolve():
        shutil.copyfile(vocab_path, run_dir / run.VOCAB)
    vocab_size = Tokenizer(run_dir / run.VOCAB, model.cfg.text_spec()).vocab_size
    if vocab_size != model.cfg.qformer.vocab_size:
        raise run.RunError(f"vocabulary size {vocab_size} != the model's {model.cfg.qformer.vocab_size}")
    if cfg.method == "spn" and not model.has_split_query_side:
        model.split_query_side()  # recorded in config.json, so load_model rebuilds it
    run.write_config(
        run_dir,
        model,
        vocab_size,
        {"training": cfg.to_json(), "data": data_to_json(data), "method": cfg.method, "seed": cfg.seed, **extra},
    )


def select_metric(metrics: dict[str, float]) -> float | None:
    """The number best.pt is chosen by: FashionIQ's (R@10+R@50)/2, CIRR's (R@5+R_s@1)/2."""
    v = metrics.get("average")
    return None if v is None or math.isnan(v) else float(v)


# --------------------------------------------------------------------------- the loop


class Trainer:
    def __init__(
        self,
        run_dir: Path,
        model: QuReModel,
        data: DataConfig,
        cfg: TrainConfig,
        device: torch.device,
        d: distributed.Dist,
        log: Log,
    ):
        self.run_dir, self.model, self.data, self.cfg, self.device, self.d, self.log = (
            run_dir,
            model,
            data,
            cfg,
            device,
            d,
            log,
        )
        self.tokenizer = Tokenizer(run_dir / run.VOCAB, model.cfg.text_spec())
        if cfg.method == "spn":
            model.split_query_side()
        model.to(device)
        t0 = time.perf_counter()
        self.train_data = load_data(data, data.train_split, model, self.tokenizer, device, d, cfg.num_workers)
        self.val_data = None
        if data.val_split and d.main:
            solo = distributed.Dist()  # only rank 0 validates: no barriers while loading
            self.val_data = load_data(data, data.val_split, model, self.tokenizer, device, solo, cfg.num_workers)
        self.log(
            f"data: {len(self.train_data.queries)} training queries, {len(self.train_data.bank)} images "
            f"({self.train_data.bank.kind}) in {time.perf_counter() - t0:.1f}s"
        )
        bank_tokens = None
        if cfg.method == "spn":
            model.eval()  # the frozen target side, computed once for the whole bank
            bank_tokens = encode_targets(
                model, self.train_data.bank, np.arange(len(self.train_data.bank)), device, cfg.eval_batch_size, cfg.amp
            )  # (N, Q, E)
        self.objective = Objective(model, cfg.method, cfg.temp_floor, bank_tokens, cfg.spn_temp)
        self.step_module: torch.nn.Module = self.objective
        if d.enabled:
            ids = [device.index] if device.type == "cuda" else None
            self.step_module = torch.nn.parallel.DistributedDataParallel(self.objective, device_ids=ids)
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and device.type == "cuda")
        self.dataset = TripletDataset(
            self.train_data.queries, self.train_data.bank, with_target_images=cfg.method != "spn"
        )
        self.epoch, self.step, self.best = 0, 0, None
        self.table: NegativeTable | None = None
        self.table_file: str | None = None

    # ---------------------------------------------------------------- state
    def resume_from(self, payload: dict[str, Any]) -> None:
        if not payload.get("resumable", True) or "optimizer" not in payload:
            raise run.RunError("this checkpoint cannot be resumed (no optimizer state)")
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scaler.load_state_dict(payload["scaler"])
        self.epoch, self.step, self.best = payload["epoch"] + 1, payload["step"], payload.get("best")
        torch.set_rng_state(payload["rng_cpu"])
        if torch.cuda.is_available() and payload.get("rng_cuda"):
            torch.cuda.set_rng_state_all(payload["rng_cuda"])
        if payload.get("negatives_file"):
            self._load_table(payload["negatives_file"])

    def _checkpoint(self, epoch: int, metrics: dict[str, float]) -> None:
        payload = run.weights_payload(self.model, epoch, self.step, metrics)
        payload.update(
            optimizer=self.optimizer.state_dict(),
            scaler=self.scaler.state_dict(),
            rng_cpu=torch.get_rng_state(),
            rng_cuda=torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            negatives_file=self.table_file,
            resumable=True,
        )
        value = select_metric(metrics)
        improved = value is not None and (self.best is None or value > self.best)
        if improved:
            self.best = value
        payload["best"] = self.best
        run.atomic_save(payload, self.run_dir / run.CHECKPOINT)
        # best.pt: the best validated epoch; without any validation yet, the last epoch
        if improved or self.best is None:
            run.atomic_save(run.weights_payload(self.model, epoch, self.step, metrics), self.run_dir / run.BEST)

    def _load_table(self, rel: str) -> None:
        self.table = NegativeTable.load(self.run_dir / rel, expect_names=self.train_data.bank.names)
        self.table_file = rel

    # ---------------------------------------------------------------- epoch pieces
    def _negatives(self, epoch: int) -> tuple[np.ndarray | None, dict[str, Any]]:
        cfg = self.cfg
        if cfg.method not in PAIRWISE:
            return None, {}
        info: dict[str, Any] = {}
        if is_mining_epoch(epoch, cfg.epochs, cfg.n_def, cfg.warmup):
            rel = f"negatives/epoch_{epoch:03d}.npz"
            if self.d.main:
                t0 = time.perf_counter()
                table = mine(
                    self.model,
                    self.train_data.bank,
                    self.train_data.queries,
                    cfg.mining,
                    self.device,
                    cfg.amp,
                    cfg.num_workers,
                    meta={"epoch": epoch},
                )
                table.save(self.run_dir / rel)
                info = {"mined": True, "seconds": round(time.perf_counter() - t0, 2), **table.stats()}
            self.d.barrier()
            self._load_table(rel)
        rng = np.random.default_rng([cfg.seed, epoch])
        q = self.train_data.queries
        if self.table is None:
            return draw_uniform_excluding(q.corpus_ids, q.group, q.target_pos, rng), {"uniform": True, **info}
        return draw_from_table(self.table, rng), info

    def _loader(self, epoch: int) -> DataLoader:
        cfg = self.cfg
        if self.d.enabled:
            sampler = DistributedSampler(self.dataset, self.d.world, self.d.rank, shuffle=True, seed=cfg.seed)
            sampler.set_epoch(epoch)
        else:
            gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            sampler = RandomSampler(self.dataset, generator=gen)
        return DataLoader(
            self.dataset,
            batch_size=cfg.batch_size,
            sampler=sampler,
            num_workers=cfg.num_workers,
            pin_memory=self.device.type == "cuda",
            drop_last=len(self.dataset) > cfg.batch_size,
            persistent_workers=False,
        )

    def _train_epoch(self, epoch: int) -> tuple[float, float]:
        cfg, model = self.cfg, self.model
        model.train()
        if _vision_frozen(model):
            model.vision.eval()  # a frozen tower stays in eval mode (no dropout/stat updates)
        loader = self._loader(epoch)
        n_steps = len(loader) if cfg.max_steps_per_epoch is None else min(len(loader), cfg.max_steps_per_epoch)
        total_loss, total_acc, n = 0.0, 0.0, 0
        bar = _progress(loader, n_steps, f"epoch {epoch + 1}/{cfg.epochs}", self.d.main)
        for i, batch in enumerate(bar):
            if i >= n_steps:
                break
            lr = lr_at(cfg.lr, epoch, cfg.epochs, self.step, cfg.lr_warmup_steps, cfg.min_lr_ratio)
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            with autocast(self.device, cfg.amp):
                loss, acc = self.step_module(batch)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.step += 1
            lv, av = float(loss.detach()), float(acc)
            total_loss, total_acc, n = total_loss + lv, total_acc + av, n + 1
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(loss=f"{lv:.4f}", acc=f"{av:.2f}")
            if self.d.main and (self.step % cfg.log_every == 0 or i == n_steps - 1):
                run.append_log(
                    self.run_dir,
                    {
                        "kind": "step",
                        "epoch": epoch,
                        "step": self.step,
                        "loss": lv,
                        "acc": av,
                        "lr": lr,
                        "temp": float(model.temp.detach()),
                    },
                )
        n = max(n, 1)
        return self.d.mean(total_loss / n, self.device), self.d.mean(total_acc / n, self.device)

    def validate(self) -> dict[str, float]:
        if self.val_data is None:
            return {}
        opt = EvalOptions(self.device, self.cfg.eval_batch_size, amp=self.cfg.amp, num_workers=self.cfg.num_workers)
        metrics, _ = evaluate_split(self.model, self.val_data.split, self.val_data.bank, self.val_data.queries, opt)
        return metrics

    # ---------------------------------------------------------------- driver
    def fit(self, pause_after: int | None = None) -> dict[str, Any]:
        cfg = self.cfg
        done_here = 0
        last: dict[str, Any] = {}
        while self.epoch < cfg.epochs:
            epoch = self.epoch
            t0 = time.perf_counter()
            negatives, neg_info = self._negatives(epoch)
            self.dataset.set_negatives(negatives)
            t1 = time.perf_counter()
            train_loss, train_acc = self._train_epoch(epoch)
            t2 = time.perf_counter()
            metrics: dict[str, float] = {}
            if self.d.main and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs):
                metrics = self.validate()
            t3 = time.perf_counter()
            if self.d.main:
                self._checkpoint(epoch, metrics)
                last = {
                    "kind": "epoch",
                    "epoch": epoch,
                    "step": self.step,
                    "train_loss": train_loss,
                    "train_acc": train_acc,
                    "val": metrics,
                    "negatives": neg_info,
                    "seconds": {"negatives": round(t1 - t0, 2), "train": round(t2 - t1, 2), "eval": round(t3 - t2, 2)},
                }
                run.append_log(self.run_dir, last)
                run.plot_log(self.run_dir)
                shown = ", ".join(f"{k} {v:.2f}" for k, v in metrics.items() if "/" not in k)
                self.log(
                    f"epoch {epoch + 1}/{cfg.epochs}: loss {train_loss:.4f} acc {train_acc:.3f}"
                    f"{' | ' + shown if shown else ''} | {t3 - t0:.1f}s (train {t2 - t1:.1f}s)"
                )
            self.d.barrier()
            self.epoch += 1
            done_here += 1
            if self.d.enabled:
                checksum = float(sum(p.detach().double().sum() for p in self.model.parameters()))
                self.d.check_same(checksum, self.device, "the model's weights")
            if pause_after is not None and done_here >= pause_after and self.epoch < cfg.epochs:
                self.log(f"paused after epoch {self.epoch}; continue with --resume")
                break
        return last


def _progress(loader, total: int, desc: str, enabled: bool):
    if not enabled:
        return loader
    from tqdm import tqdm

    return tqdm(loader, total=total, desc=desc, leave=False, disable=None, dynamic_ncols=True)
