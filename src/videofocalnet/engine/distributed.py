"""Process-group setup for ``torchrun`` (single- or multi-node): gloo on CPU, nccl on GPU.

torchrun exports RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; a plain ``python -m videofocalnet``
run has none of them and runs as a world of one without a process group.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "DEVICES",
    "DIST_BACKENDS",
    "DistInfo",
    "init_distributed",
    "cleanup",
    "seed_everything",
    "all_reduce_sum",
    "barrier",
]

DEVICES = ("auto", "cpu", "cuda")  # DEVICE: "auto" is cuda when available (init_distributed)
DIST_BACKENDS = ("auto", "gloo", "nccl")  # DIST_BACKEND: "auto" is nccl on GPU, gloo on CPU


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    backend: str | None  # None when no process group was created

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(*, device: str = "auto", backend: str = "auto") -> DistInfo:
    """Create the process group from torchrun's environment; choose the device from ``device``/``LOCAL_RANK``."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("DEVICE is 'cuda' but CUDA is not available on this machine; set DEVICE cpu (or auto)")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    chosen: str | None = None
    if world_size > 1:
        chosen = ("nccl" if use_cuda else "gloo") if backend == "auto" else backend
        if not dist.is_initialized():
            dist.init_process_group(backend=chosen, init_method="env://", world_size=world_size, rank=rank)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, backend=chosen)


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); the engine passes SEED + rank as the official code does."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks in place (no-op without a process group); returns the tensor for chaining."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor
