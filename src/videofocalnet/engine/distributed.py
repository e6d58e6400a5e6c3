"""Process-group setup for ``torchrun`` (single- or multi-node), and the only collectives the engine calls.

torchrun exports RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; a plain ``python -m videofocalnet``
run has none of them and runs as a world of one without a process group.

Backends. On CPU the group is gloo. On CUDA it is ``"cpu:gloo,cuda:nccl"``: NCCL moves the tensors that live on the
GPU (gradients, the loss sums), and gloo serves what lives in host memory (object collectives such as the RNG
states gathered for ``last.pt`` and the evaluation rows, barriers, host-side flags), so neither has to be copied to
the other side just to be reduced. NCCL refuses CPU tensors outright, which is why every tensor collective goes
through :func:`all_reduce_sum` here and is checked to live on the training device: a CPU tensor that slips into a
reduction on GPU is then an assertion naming it, on CPU as on GPU, instead of a crash at the first step on a
cluster.

Failure. One rank that raises must end the run on every rank promptly, with its own message. The failing rank
prints ``rank R/W failed: ...`` and leaves its collectives alone (:func:`shutdown_after_error` aborts instead of
waiting on the group); its exit closes its gloo sockets, so the other ranks' pending collectives fail at once, and
torchrun stops (or, with ``--max-restarts``, restarts) the whole group when any worker exits non-zero. For NCCL,
where a vanished peer shows only as a stalled kernel, ``timeout_s`` (the group's collective timeout) bounds the wait.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "DEVICES",
    "DIST_BACKENDS",
    "DistInfo",
    "init_distributed",
    "process_group_backend",
    "cleanup",
    "shutdown_after_error",
    "seed_everything",
    "all_reduce_sum",
    "any_rank",
    "min_over_ranks",
    "gather_objects",
    "barrier",
    "training_device",
]

DEVICES = ("auto", "cpu", "cuda")  # DEVICE: "auto" is cuda when available (init_distributed)
DIST_BACKENDS = ("auto", "gloo", "nccl")  # DIST_BACKEND: "auto" is nccl (with gloo for CPU tensors) on GPU, gloo on CPU

_training_device: torch.device | None = None  # set by init_distributed; what every tensor collective must live on


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


def process_group_backend(backend: str, *, cuda: bool) -> str:
    """The ``init_process_group`` backend for DIST_BACKEND ``backend`` on CPU or CUDA (see the module docstring).

    "gloo" on CUDA stays plain gloo, which also reduces CUDA tensors (through host copies): the one choice for
    several ranks sharing one GPU, where NCCL refuses to run.
    """
    if backend not in DIST_BACKENDS:
        raise ValueError(f"DIST_BACKEND {backend!r} is not one of {', '.join(DIST_BACKENDS)}")
    if not cuda:
        if backend == "nccl":
            raise ValueError("DIST_BACKEND is 'nccl' but training runs on the CPU, which NCCL cannot: set gloo or auto")
        return "gloo"
    return "gloo" if backend == "gloo" else "cpu:gloo,cuda:nccl"


def init_distributed(*, device: str = "auto", backend: str = "auto", timeout_s: float | None = None) -> DistInfo:
    """Create the process group from torchrun's environment; choose the device from ``device``/``LOCAL_RANK``.

    ``timeout_s`` bounds every collective (torch's default, 10 minutes, when None).
    """
    global _training_device
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("DEVICE is 'cuda' but CUDA is not available on this machine; set DEVICE cpu (or auto)")
    if use_cuda:
        dev = torch.device("cuda", _gpu_index(local_rank, backend))
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    chosen: str | None = None
    if world_size > 1:
        chosen = process_group_backend(backend, cuda=use_cuda)
        if not dist.is_initialized():
            dist.init_process_group(
                backend=chosen,
                init_method="env://",
                world_size=world_size,
                rank=rank,
                timeout=timedelta(seconds=timeout_s) if timeout_s else None,
                device_id=dev if "nccl" in chosen else None,  # binds this rank's NCCL communicator to its GPU
            )
    _training_device = dev
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev, backend=chosen)


def _gpu_index(local_rank: int, backend: str) -> int:
    """This rank's GPU: LOCAL_RANK; more ranks than GPUs share them round-robin under gloo (NCCL refuses that)."""
    count = torch.cuda.device_count()
    if local_rank < count:
        return local_rank
    if backend == "gloo":
        return local_rank % count
    raise ValueError(
        f"LOCAL_RANK {local_rank} but this node has {count} GPU(s): start at most one process per GPU "
        "(torchrun --nproc-per-node), or set DIST_BACKEND gloo to share GPUs between processes"
    )


def training_device() -> torch.device | None:
    """The device ``init_distributed`` chose (None before it ran)."""
    return _training_device


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def cleanup() -> None:
    if _active():
        dist.destroy_process_group()


def shutdown_after_error(exc: BaseException, info: DistInfo) -> None:
    """This rank failed: say so with its own message, then drop the group without waiting on any peer.

    A graceful ``destroy_process_group`` may wait for collectives the other ranks will never join; aborting does
    not. The caller re-raises ``exc`` and the process exits non-zero, which ends the others (module docstring).
    """
    if not (info.distributed and _active()):
        return
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    print(f"rank {info.rank}/{info.world_size} failed: {type(exc).__name__}: {first}", file=sys.stderr, flush=True)
    with contextlib.suppress(RuntimeError, ValueError, AttributeError):  # a backend without abort: destroy below
        dist.distributed_c10d._abort_process_group()
    if _active():
        dist.destroy_process_group()


def barrier() -> None:
    if _active():
        dist.barrier()


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); the engine passes SEED + rank as the official code does."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _check_device(tensor: torch.Tensor) -> None:
    """A tensor collective's input must live on the training device (NCCL would reject a CPU tensor on GPU)."""
    expected = _training_device
    assert expected is None or tensor.device == expected, (
        f"a {tuple(tensor.shape)} {tensor.dtype} tensor on {tensor.device} was handed to a collective; "
        f"the training device is {expected}"
    )


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks in place (no-op without a process group); returns the tensor for chaining.

    ``tensor`` must live on the training device (asserted, also in a world of one, so a CPU test catches it).
    """
    _check_device(tensor)
    if _active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is true on any rank: a host-side vote (through gloo on CUDA too, so it never waits for the
    GPU stream)."""
    if not _active():
        return flag
    vote = torch.tensor([int(flag)], dtype=torch.int32)  # host memory: every group made here has gloo for it
    dist.all_reduce(vote, op=dist.ReduceOp.MAX)
    return bool(vote.item())


def min_over_ranks(value: int) -> int:
    """The smallest ``value`` of any rank: a host-side reduction, like :func:`any_rank`."""
    if not _active():
        return value
    least = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(least, op=dist.ReduceOp.MIN)
    return int(least.item())


def gather_objects(obj: object, info: DistInfo) -> list[object]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank (through gloo on CUDA too)."""
    if not (info.distributed and _active()):
        return [obj]
    out: list[object] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out
