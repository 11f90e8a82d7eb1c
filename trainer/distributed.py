"""``torchrun`` support: who am I, and the few collective steps the loop needs.

Under ``torchrun`` (``WORLD_SIZE`` > 1) the process group is initialized with NCCL on
CUDA and gloo on CPU; rank 0 mines, validates, logs and writes the run directory, the
others wait at barriers. Without torchrun everything is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, x: float, device: torch.device) -> float:
        """The mean of ``x`` over all processes."""
        if not self.enabled:
            return x
        t = torch.tensor([x], dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return float(t.item()) / self.world


    def check_same(self, value: float, device: torch.device, what: str) -> None:
        """Raise if ``value`` differs between processes (replicas that drifted apart)."""
        if not self.enabled:
            return
        mine = torch.tensor([value], dtype=torch.float64, device=device)
        everyone = [torch.zeros_like(mine) for _ in range(self.world)]
        dist.all_gather(everyone, mine)
        values = [float(v.item()) for v in everyone]
        if max(values) - min(values) > 1e-9 * max(1.0, abs(values[0])):
            raise RuntimeError(f"{what} differs between processes: {values}")


def setup(device_kind: str) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return Dist(rank, world, local)


def teardown(d: Dist) -> None:
    """Leave the process group together: a rank that destroys it while another still has
    gloo work in flight can abort the other at exit ("terminate called without an active
    exception", seen in CI), so every rank first meets at a barrier."""
    if d.enabled and dist.is_initialized():
        import gc

        gc.collect()
        dist.barrier()
        dist.destroy_process_group()
