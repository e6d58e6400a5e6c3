"""Samplers and DataLoader construction for training (resumable mid-epoch) and evaluation (exact coverage)."""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from videofocalnet.data.dataset import collate_skip_bad

__all__ = ["EvalDistributedSampler", "ResumableDistributedSampler", "build_loader", "set_loader_epoch"]


def _check_rank(num_replicas: int, rank: int) -> None:
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ValueError(f"need num_replicas >= 1 and 0 <= rank < num_replicas, got {num_replicas}, {rank}")


class ResumableDistributedSampler(Sampler[int]):
    """``DistributedSampler`` semantics (a permutation seeded by ``seed + epoch``, rank ``r`` takes every
    ``num_replicas``-th index from ``r``; ``drop_last`` trims, otherwise the head is repeated to pad) plus exact
    mid-epoch resume: ``set_start_index(n)`` skips this rank's first ``n`` indices of the current epoch. The skip
    belongs to the epoch it was set in; ``set_epoch`` to a different epoch clears it.
    """

    def __init__(
        self,
        dataset_len: int,
        *,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        _check_rank(num_replicas, rank)
        if dataset_len < 0:
            raise ValueError(f"dataset_len must be >= 0, got {dataset_len}")
        self.dataset_len = dataset_len
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self.start_index = 0
        if drop_last:
            self.num_samples = dataset_len // num_replicas
        else:
            self.num_samples = -(-dataset_len // num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        if int(epoch) != self.epoch:
            self.start_index = 0
        self.epoch = int(epoch)

    def set_start_index(self, n: int) -> None:
        if not 0 <= n <= self.num_samples:
            raise ValueError(f"start index {n} outside [0, {self.num_samples}] for this rank")
        self.start_index = int(n)

    def rank_indices(self) -> list[int]:
        """This rank's full order for the current epoch (before the start-index skip)."""
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.dataset_len, generator=g).tolist()
        else:
            order = list(range(self.dataset_len))
        if self.drop_last:
            order = order[: self.total_size]
        elif order:
            pad = self.total_size - len(order)
            order += (order * (pad // len(order) + 1))[:pad]
        return order[self.rank : self.total_size : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.rank_indices()[self.start_index :])

    def __len__(self) -> int:
        return self.num_samples - self.start_index


class EvalDistributedSampler(Sampler[int]):
    """Contiguous shards: every index goes to exactly one rank exactly once, no padding and nothing dropped
    (``DistributedSampler`` pads by repeating samples, which double-counts them in multi-GPU accuracy)."""

    def __init__(self, dataset_len: int, *, num_replicas: int = 1, rank: int = 0) -> None:
        _check_rank(num_replicas, rank)
        self.dataset_len = dataset_len
        self.num_replicas = num_replicas
        self.rank = rank
        self.start = rank * dataset_len // num_replicas
        self.stop = (rank + 1) * dataset_len // num_replicas

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.start, self.stop))

    def __len__(self) -> int:
        return self.stop - self.start


def build_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    train: bool,
    num_workers: int = 0,
    seed: int = 0,
    num_replicas: int = 1,
    rank: int = 0,
    pin_memory: bool = False,
    persistent_workers: bool | None = None,
    drop_last: bool | None = None,
    start_index: int = 0,
) -> DataLoader:
    """DataLoader over ``dataset`` with the samplers above and :func:`collate_skip_bad`.

    Training shuffles (epoch-seeded), drops the last incomplete batch and can resume from ``start_index``
    samples into the epoch on this rank; evaluation keeps every sample in order. ``persistent_workers`` defaults
    to True whenever there are workers (the dataset's epoch still reaches them through shared memory).
    Call :func:`set_loader_epoch` at the start of every epoch.
    """
    n = len(dataset)  # type: ignore[arg-type]
    if train:
        sampler: Sampler[int] = ResumableDistributedSampler(
            n, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
        )
        if start_index:
            sampler.set_start_index(start_index)
        batch_drop_last = True if drop_last is None else drop_last
    else:
        if start_index:
            raise ValueError("start_index is for resuming training; evaluation always covers the whole set")
        sampler = EvalDistributedSampler(n, num_replicas=num_replicas, rank=rank)
        if drop_last:
            raise ValueError("evaluation never drops samples (drop_last=True given with train=False)")
        batch_drop_last = False
    persistent = num_workers > 0 if persistent_workers is None else (persistent_workers and num_workers > 0)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_skip_bad,
        pin_memory=pin_memory,
        drop_last=batch_drop_last,
        persistent_workers=persistent,
        prefetch_factor=2 if num_workers > 0 else None,
    )


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Point both the sampler's permutation and the dataset's augmentation seeds at ``epoch``."""
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)
