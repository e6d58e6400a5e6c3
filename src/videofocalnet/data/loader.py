"""Samplers and DataLoader construction for training (resumable mid-epoch) and evaluation (exact coverage)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from videofocalnet.data.dataset import collate_skip_bad

__all__ = [
    "SAMPLERS",
    "ClassBalancedSampler",
    "EvalDistributedSampler",
    "ResumableDistributedSampler",
    "ResumableSampler",
    "build_loader",
    "set_loader_epoch",
]

# DATA.SAMPLER: "random" is the loader's own shuffling (ResumableDistributedSampler), the class-balanced ones are
# ClassBalancedSampler without and with both_ways (engine.build.build_train_sampler maps the names).
SAMPLERS = ("random", "class_balanced", "class_balanced_both_ways")

_Key = TypeVar("_Key")  # what a training sampler yields to the dataset: an index, or an (index, reverse) pair


def _check_rank(num_replicas: int, rank: int) -> None:
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise ValueError(f"need num_replicas >= 1 and 0 <= rank < num_replicas, got {num_replicas}, {rank}")


class ResumableSampler(Sampler[_Key]):
    """The resume interface every training sampler has (what :func:`build_loader` and the trainer call): an
    epoch-seeded order per rank (``rank_indices``, defined by the subclass), ``num_samples`` per rank per epoch, and
    ``set_start_index(n)`` to skip this rank's first ``n`` samples of the current epoch. The skip belongs to the epoch
    it was set in; ``set_epoch`` to a different epoch clears it."""

    def __init__(self, num_items: int, *, num_replicas: int, rank: int, seed: int, drop_last: bool) -> None:
        _check_rank(num_replicas, rank)
        self.num_replicas = num_replicas
        self.rank = rank
        self.seed = seed
        self.epoch = 0
        self.start_index = 0
        # drop_last trims the stream to a multiple of the world size; otherwise it is padded up to one
        self.num_samples = num_items // num_replicas if drop_last else -(-num_items // num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        if int(epoch) != self.epoch:
            self.start_index = 0
        self.epoch = int(epoch)

    def set_start_index(self, n: int) -> None:
        if not 0 <= n <= self.num_samples:
            raise ValueError(f"start index {n} outside [0, {self.num_samples}] for this rank")
        self.start_index = int(n)

    def rank_indices(self) -> list[_Key]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[_Key]:
        return iter(self.rank_indices()[self.start_index :])

    def __len__(self) -> int:
        return self.num_samples - self.start_index


class ResumableDistributedSampler(ResumableSampler[int]):
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
        if dataset_len < 0:
            raise ValueError(f"dataset_len must be >= 0, got {dataset_len}")
        super().__init__(dataset_len, num_replicas=num_replicas, rank=rank, seed=seed, drop_last=drop_last)
        self.dataset_len = dataset_len
        self.shuffle = shuffle
        self.drop_last = drop_last

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


class ClassBalancedSampler(ResumableSampler[tuple[int, bool]]):
    """Training keys ``(index, reverse)`` whose labels, counted after time reversal, are exactly balanced: every run of
    ``C`` consecutive samples of the all-rank stream holds each of the ``C`` classes once.

    Why: from scratch on a small set, a Video-FocalNet's many near-identical background tokens (unit-norm after their
    LayerNorm) pass the batch's label-count noise, sum(softmax - onehot), coherently into shared weights, and the
    model sits at the class prior. Balanced batches cancel that term: moving squares on a 64-px canvas went from
    chance after 200 steps to 100 % at 200 (batch 16, 4 classes), and the 11-class synthetic dataset learned where
    uniform sampling stayed at chance for 2,000 steps. A batch is exactly balanced when ``batch_size x world_size``
    is a multiple of ``C``; otherwise class counts differ by at most one per run of ``C``.

    With ``reverse_prob > 0`` a sample of class ``y`` in a reversal pair is, with that probability, a video of the
    partner class played backwards (``reverse=True``; the dataset flips it and takes the label from its map), so the
    pair stays balanced whichever way each clip plays. ``both_ways=True`` follows every sample by the same video
    played the other way: the dataset seeds a sample's frames and crop by its index, so the two are exactly one clip
    forwards and backwards under the two labels of its pair, and only frame order can tell them apart (every run of
    ``C`` pairs then holds each class twice). A pair always goes to one rank, next to itself, so the dataset decodes
    it once (see ``VideoDataset._train_clip``). Videos of each class are drawn without replacement in epoch-seeded
    cycles; a video drawn twice in one epoch (a class smaller than its share) gets the same frames and crop both times.
    ``num_samples`` per rank per epoch is the dataset size over the world size, as for the shuffling sampler.
    """

    def __init__(
        self,
        labels: Sequence[int],
        *,
        num_classes: int,
        reverse_label_map: Sequence[int] | None = None,
        reverse_prob: float = 0.0,
        both_ways: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
    ) -> None:
        if both_ways and reverse_label_map is None:
            raise ValueError("both_ways needs reverse_label_map (see transforms.reversal_label_map)")
        if not 0.0 <= reverse_prob <= 1.0:
            raise ValueError(f"reverse_prob must be in [0, 1], got {reverse_prob}")
        if reverse_prob > 0 and reverse_label_map is None:
            raise ValueError("reverse_prob > 0 needs reverse_label_map (see transforms.reversal_label_map)")
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)
        if self.labels.numel() and not (int(self.labels.min()) >= 0 and int(self.labels.max()) < num_classes):
            raise ValueError(
                f"labels must lie in [0, {num_classes}), got [{int(self.labels.min())}, {int(self.labels.max())}]"
            )
        self.by_class = [torch.nonzero(self.labels == c).flatten() for c in range(num_classes)]
        self.classes = torch.tensor([c for c in range(num_classes) if len(self.by_class[c])], dtype=torch.long)
        if not len(self.classes):
            raise ValueError("ClassBalancedSampler needs at least one labelled sample")
        partner = torch.as_tensor(list(reverse_label_map) if reverse_label_map is not None else range(num_classes))
        if len(partner) != num_classes:
            raise ValueError(f"reverse_label_map has {len(partner)} entries for {num_classes} classes")
        self.partner = partner
        # A class may be played from its partner's videos only where that partner has some.
        self.reversible = torch.tensor(
            [int(partner[c]) != c and len(self.by_class[int(partner[c])]) > 0 for c in range(num_classes)]
        )
        self.reverse_prob = float(reverse_prob)
        self.both_ways = bool(both_ways)
        super().__init__(len(self.labels), num_replicas=num_replicas, rank=rank, seed=seed, drop_last=True)

    def rank_indices(self) -> list[tuple[int, bool]]:
        """This rank's full ``(index, reverse)`` order for the current epoch (before the start-index skip)."""
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        num_classes = len(self.classes)
        # both ways: whole pairs go to one rank (pairs r, r + R, ... to rank r), so each rank needs ceil(n / 2)
        pairs_per_rank = -(-self.num_samples // 2)
        n = pairs_per_rank * self.num_replicas if self.both_ways else self.total_size
        blocks = -(-n // num_classes)
        # (blocks, C) -> (blocks * C,): each block is a permutation of the classes present
        order = torch.argsort(torch.rand(blocks, num_classes, generator=g), dim=1)
        wanted = self.classes[order].flatten()[:n]
        reverse = (torch.rand(n, generator=g) < self.reverse_prob) & self.reversible[wanted]
        source = torch.where(reverse, self.partner[wanted], wanted)
        index = torch.empty(n, dtype=torch.long)
        for c in source.unique().tolist():
            slots = torch.nonzero(source == c).flatten()
            pool = self.by_class[c]
            cycles = -(-len(slots) // len(pool))
            draws = torch.cat([pool[torch.randperm(len(pool), generator=g)] for _ in range(cycles)])
            index[slots] = draws[: len(slots)]
        keys = list(zip(index.tolist(), reverse.tolist()))
        if self.both_ways:  # this rank's pairs, (i, r) -> (i, r), (i, not r)
            mine = keys[self.rank :: self.num_replicas]
            return [key for i, r in mine for key in ((i, r), (i, not r))][: self.num_samples]
        return keys[self.rank : self.total_size : self.num_replicas]


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


def _ignore_interrupts(_worker_id: int) -> None:
    """Workers leave Ctrl-C to the main process, which finishes its step and checkpoints before it stops; a worker
    that died of the same SIGINT would end the run mid-step instead."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
    sampler: ResumableSampler | None = None,
) -> DataLoader:
    """DataLoader over ``dataset`` with the samplers above and :func:`collate_skip_bad`.

    Training shuffles (epoch-seeded), drops the last incomplete batch and can resume from ``start_index``
    samples into the epoch on this rank; evaluation keeps every sample in order. ``persistent_workers`` defaults
    to True whenever there are workers (the dataset's epoch still reaches them through shared memory).
    Call :func:`set_loader_epoch` at the start of every epoch. ``sampler`` replaces the shuffling training sampler
    (a :class:`ResumableSampler` such as :class:`ClassBalancedSampler`, built for the same ranks).
    """
    n = len(dataset)  # type: ignore[arg-type]
    if sampler is not None and not train:
        raise ValueError("a custom sampler is for training; evaluation always covers the whole set in order")
    loader_sampler: Sampler
    if train:
        if sampler is None:
            sampler = ResumableDistributedSampler(
                n, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=True
            )
        if start_index:
            sampler.set_start_index(start_index)
        loader_sampler = sampler
        batch_drop_last = True if drop_last is None else drop_last
    else:
        if start_index:
            raise ValueError("start_index is for resuming training; evaluation always covers the whole set")
        loader_sampler = EvalDistributedSampler(n, num_replicas=num_replicas, rank=rank)
        if drop_last:
            raise ValueError("evaluation never drops samples (drop_last=True given with train=False)")
        batch_drop_last = False
    persistent = num_workers > 0 if persistent_workers is None else (persistent_workers and num_workers > 0)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=loader_sampler,
        num_workers=num_workers,
        collate_fn=collate_skip_bad,
        pin_memory=pin_memory,
        drop_last=batch_drop_last,
        persistent_workers=persistent,
        prefetch_factor=2 if num_workers > 0 else None,
        worker_init_fn=_ignore_interrupts if num_workers > 0 else None,
    )


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Point both the sampler's permutation and the dataset's augmentation seeds at ``epoch``."""
    if hasattr(loader.sampler, "set_epoch"):
        loader.sampler.set_epoch(epoch)
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)
