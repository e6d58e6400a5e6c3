"""Video classification dataset: annotation list -> sampled, decoded, augmented clips.

Design points:

* Every sample's randomness (frame offsets, crop, flip, jitter) comes from a private ``torch.Generator`` seeded
  from ``(seed, epoch, index)``. A sample therefore looks the same whatever the number of DataLoader workers and
  whichever worker draws it, and a run resumed mid-epoch sees exactly the augmentations it would have seen.
* The epoch lives in a shared-memory tensor so :meth:`VideoDataset.set_epoch` reaches persistent DataLoader
  workers, which hold their own copy of the dataset.
* A sample that cannot be read is returned as ``video=None`` with the error text instead of raising, so one bad
  file among 240k does not kill a multi-day run; :func:`collate_skip_bad` drops it from the batch and
  :class:`BadVideoTracker` names it and stops the run if bad files are more than a small fraction.
* Truncated files (``VideoReader.truncation``: the header promises more than the file holds) are unreadable
  samples too, skipped and counted like any other: a clip sampled from the first seconds of a cut download need
  not show the labelled action, so using what decodes would train on wrong labels without a word.
* Frames are sampled in time (``sampling.FrameTimes``): a dropped-frame AVI or a variable-frame-rate file gives
  clips that span the seconds they claim; constant-rate files get exactly the index-based frames.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from videofocalnet.data.annotations import read_annotation_list
from videofocalnet.data.decode import BackendUnavailableError, DecodedVideoCache, DecodeError, open_video
from videofocalnet.data.sampling import SAMPLING_MODES, FrameTimes, SamplingMode, view_indices
from videofocalnet.data.transforms import EvalTransform, TrainTransform, time_reverse

__all__ = [
    "BadVideoTracker",
    "TooManyBadVideosError",
    "VideoDataset",
    "collate_skip_bad",
    "sample_seed",
]

logger = logging.getLogger(__name__)

Mode = Literal["train", "val", "test"]


@dataclass(frozen=True)
class _Entry:
    path: str
    label: int
    line: int


def _read_list(list_file: Path, num_classes: int | None) -> list[_Entry]:
    entries: list[_Entry] = []
    for a in read_annotation_list(list_file, num_classes=num_classes):
        if not isinstance(a.label, int):
            raise ValueError(f"{list_file}:{a.line}: multi-label entry {a.label!r}; VideoDataset is single-label")
        entries.append(_Entry(a.path, a.label, a.line))
    for e in entries:
        if e.label < 0 or (num_classes is not None and e.label >= num_classes):
            valid = f"[0, {num_classes})" if num_classes is not None else ">= 0"
            raise ValueError(f"{list_file}:{e.line}: label {e.label} out of range {valid} (path {e.path})")
    return entries


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 63-bit seed for one (seed, epoch, index) triple (SeedSequence avoids the correlated streams
    that ``seed + epoch + index`` arithmetic produces)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch) & 0xFFFFFFFF, int(index)]).generate_state(2)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


class VideoDataset(Dataset):
    """Clips from an annotation list.

    ``__getitem__`` returns ``dict(video, label, index, path)``: ``video`` is float (T, C, H, W) for train/val and
    (num_clips * num_crops, T, C, H, W) for test (clip-major: views ``[c * num_crops : (c + 1) * num_crops]`` share
    temporal clip ``c``). On any read error ``video`` is None and ``error`` holds the reason.
    """

    def __init__(
        self,
        *,
        list_file: str | os.PathLike[str],
        root: str | os.PathLike[str],
        num_frames: int = 8,
        mode: Mode = "train",
        sampling: SamplingMode = "tsn",
        frame_interval: int = 4,
        num_clips: int = 1,
        num_crops: int = 1,
        train_transform: TrainTransform | None = None,
        eval_transform: EvalTransform | None = None,
        seed: int = 0,
        backend: str = "pyav",
        num_classes: int | None = None,
        reverse_prob: float = 0.0,
        reverse_label_map: Sequence[int] | None = None,
        cache_decoded_bytes: int = 0,
    ) -> None:
        if mode not in ("train", "val", "test"):
            raise ValueError(f"mode must be 'train', 'val' or 'test', got {mode!r}")
        if sampling not in SAMPLING_MODES:
            raise ValueError(f"sampling must be 'tsn' or 'dense', got {sampling!r}")
        if num_frames < 1 or frame_interval < 1 or num_clips < 1:
            raise ValueError(
                f"num_frames, frame_interval, num_clips must be >= 1, got {num_frames}, {frame_interval}, {num_clips}"
            )
        if not 0.0 <= reverse_prob <= 1.0:
            raise ValueError(f"reverse_prob must be in [0, 1], got {reverse_prob}")
        if reverse_prob > 0 and reverse_label_map is None:
            raise ValueError("reverse_prob > 0 needs reverse_label_map (see transforms.reversal_label_map)")
        if cache_decoded_bytes < 0:
            raise ValueError(f"cache_decoded_bytes must be >= 0, got {cache_decoded_bytes}")
        if num_crops not in (1, 3):
            raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
        if mode != "test" and (num_clips != 1 or num_crops != 1):
            raise ValueError(f"num_clips/num_crops > 1 need mode='test' (got mode={mode!r})")
        self.list_file = Path(list_file)
        self.root = Path(root)
        self.num_frames = num_frames
        self.mode: Mode = mode
        self.sampling = sampling
        self.frame_interval = frame_interval
        self.num_clips = num_clips
        self.num_crops = num_crops
        self.train_transform = train_transform if train_transform is not None else TrainTransform()
        self.eval_transform = eval_transform if eval_transform is not None else EvalTransform(num_crops=num_crops)
        if mode != "train" and self.eval_transform.num_crops != num_crops:
            raise ValueError(
                f"eval_transform.num_crops={self.eval_transform.num_crops} disagrees with num_crops={num_crops}"
            )
        self.reverse_prob = float(reverse_prob)
        self.reverse_label_map = list(reverse_label_map) if reverse_label_map is not None else None
        self.seed = seed
        self.backend = backend
        self.num_classes = num_classes
        self.entries = _read_list(self.list_file, num_classes)
        # Shared memory: DataLoader workers (fork or spawn) see set_epoch() on their copy of the dataset.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._last_train_clip: tuple[tuple[int, int], torch.Tensor] | None = None  # see _train_clip
        # Whole decoded videos, kept in this process up to the budget (0: none); see DecodedVideoCache
        self.decoded_cache = DecodedVideoCache(cache_decoded_bytes) if cache_decoded_bytes > 0 else None

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(int(epoch))

    def generator_for(self, index: int) -> torch.Generator:
        g = torch.Generator()
        g.manual_seed(sample_seed(self.seed, self.epoch, index))
        return g

    def video_path(self, index: int) -> Path:
        return self.root / self.entries[index].path

    def _clip_indices(
        self, num_video_frames: int, g: torch.Generator, times: FrameTimes | None = None
    ) -> list[list[int]]:
        views = self.num_clips if self.mode == "test" else 1
        return view_indices(
            self.sampling,
            num_video_frames,
            self.num_frames,
            self.frame_interval,
            num_views=views,
            train=self.mode == "train",
            generator=g,
            times=times,
        )

    @property
    def labels(self) -> list[int]:
        """The annotated label of every entry, in list order (what a class-balanced sampler needs)."""
        return [entry.label for entry in self.entries]

    def __getitem__(self, key: int | tuple[int, bool]) -> dict[str, Any]:
        """``key`` is an index, or ``(index, reverse)`` from a sampler that decides time reversal itself
        (:class:`~videofocalnet.data.loader.ClassBalancedSampler`); then no reversal is drawn here."""
        index, reverse = (int(key[0]), bool(key[1])) if isinstance(key, tuple) else (int(key), None)
        entry = self.entries[index]
        path = self.root / entry.path
        if reverse and self.reverse_label_map is None:
            raise ValueError(
                f"sample {index} ({path}) asked for time reversal, but the dataset has no reverse_label_map"
            )
        try:
            video, label = self._load(path, index, entry.label, reverse)
        except BackendUnavailableError:
            raise  # a setup problem, not a bad sample
        except Exception as exc:  # any failure reading this one sample is reported, not raised
            return dict(
                video=None, label=entry.label, index=index, path=str(path), error=f"{type(exc).__name__}: {exc}"
            )
        return dict(video=video, label=label, index=index, path=str(path))

    def _read_views(self, path: Path, g: torch.Generator) -> torch.Tensor:
        """The sampled frames of every temporal view, (V, T, 3, H, W) uint8."""
        cache = self.decoded_cache
        decoded = cache.get(path) if cache is not None else None
        times = cache.times(path) if cache is not None and decoded is not None else None
        if decoded is None:
            with open_video(path, backend=self.backend) as reader:
                if reader.truncation is not None:
                    raise DecodeError(path, f"{reader.truncation}; skipped (download it again or drop it)")
                times = reader.frame_times
                decoded = cache.load(reader) if cache is not None else None
                if decoded is None:  # no cache, or it is full: read only the sampled frames
                    clips = self._clip_indices(reader.num_frames, g, times)
                    frames = reader.read([i for clip in clips for i in clip])  # (V * T, H, W, 3) uint8
        if decoded is not None:
            num_frames, every = decoded  # every: (N, H, W, 3) uint8; N < num_frames when the header over-counts
            clips = self._clip_indices(num_frames, g, times)
            frames = every[[min(i, num_frames - 1, len(every) - 1) for clip in clips for i in clip]]
        # (V * T, H, W, 3) -> (V, T, 3, H, W): channels-first per frame for the transforms
        return frames.view(len(clips), self.num_frames, *frames.shape[1:]).permute(0, 1, 4, 2, 3)

    def _train_clip(self, path: Path, index: int, g: torch.Generator, keyed: bool) -> torch.Tensor:
        """The augmented forward clip, (T, C, H, W) float.

        The both-ways sampler asks for ``(i, r)`` then ``(i, not r)`` in a row, and the two differ only in frame
        order (frames and crop are drawn from the same (seed, epoch, index) generator), so the last clip is kept and
        the second request costs a flip instead of a second decode: half the loading work of a both-ways epoch.
        """
        key = (self.epoch, index)
        if keyed and self._last_train_clip is not None and self._last_train_clip[0] == key:
            return self._last_train_clip[1]  # nothing is drawn after the clip when the sampler decides reversal
        clip = self.train_transform(self._read_views(path, g)[0], g)  # (T, C, H, W), channels-last memory
        if keyed:
            self._last_train_clip = (key, clip)
        return clip

    def _load(self, path: Path, index: int, label: int, reverse: bool | None = None) -> tuple[torch.Tensor, int]:
        g = self.generator_for(index)
        if self.mode == "train":
            clip = self._train_clip(path, index, g, keyed=reverse is not None)
            # Drawn last and only when enabled: the frames and crop stay those of the unreversed sample, and a run
            # without reversal keeps the sample stream of earlier versions.
            if reverse is None:
                reverse = self.reverse_prob > 0 and float(torch.rand((), generator=g)) < self.reverse_prob
            if reverse:
                assert self.reverse_label_map is not None, "refused by __init__ and __getitem__ when reversal is asked"
                clip, label = time_reverse(clip, label, self.reverse_label_map)
            return clip, label
        # each view: (num_crops, T, C, H, W)
        views = [self.eval_transform(clip.contiguous(), g) for clip in self._read_views(path, g)]
        out = torch.cat(views)  # (num_clips * num_crops, T, C, H, W), clip-major
        return (out[0] if self.mode == "val" else out), label


def collate_skip_bad(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the readable samples; list the unreadable ones as ``bad: [(path, error), ...]``.

    Returns ``dict(video=(B, ...) float | None, label=(B,) long, index=(B,) long, path=[str], bad=[...])``.
    """
    good = [s for s in batch if s.get("video") is not None]
    bad = [(str(s["path"]), str(s.get("error", "unknown error"))) for s in batch if s.get("video") is None]
    return dict(
        video=torch.stack([s["video"] for s in good]) if good else None,
        label=torch.tensor([int(s["label"]) for s in good], dtype=torch.long),
        index=torch.tensor([int(s["index"]) for s in good], dtype=torch.long),
        path=[str(s["path"]) for s in good],
        bad=bad,
    )


class TooManyBadVideosError(RuntimeError):
    """More than the allowed fraction of samples could not be read: the data (or the decoder) is broken."""


# The small-sample rule: stop when this many or more bad samples among those seen would happen with probability
# below SMALL_SAMPLE_P if the true bad fraction were the allowed maximum. An all-broken batch of 2 at 1 % allowed
# has probability 1e-4 and stops the run in its first batch; one bad video in a batch of 8 (p = 0.08) does not.
SMALL_SAMPLE_P = 1e-3


def _binomial_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed directly (n is at most a few hundred here)."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return min(1.0, sum(math.comb(n, j) * p**j * (1.0 - p) ** (n - j) for j in range(k, n + 1)))


class BadVideoTracker:
    """Counts unreadable samples across batches, logs each bad path once, and stops the run when bad files are
    more than ``max_bad_fraction`` of those seen.

    From the first batch: before ``min_seen`` samples the fraction alone says little (one bad file in the first
    batch of 8 is 12 %), so there the run stops only when the bad count is implausible under the allowed fraction
    (binomial tail below :data:`SMALL_SAMPLE_P`): an all-broken list stops in its first batch, a single early bad
    file does not. From ``min_seen`` on, the plain fraction decides. The error names ``setting`` (the config key
    that sets the limit) and the first bad files."""

    def __init__(
        self, max_bad_fraction: float = 0.01, min_seen: int = 100, *, setting: str = "DATA.MAX_BAD_FRACTION"
    ) -> None:
        if not 0 <= max_bad_fraction <= 1:
            raise ValueError(f"max_bad_fraction must be in [0, 1], got {max_bad_fraction}")
        self.max_bad_fraction = max_bad_fraction
        self.min_seen = min_seen
        self.setting = setting
        self.seen = 0
        self.bad = 0
        self.bad_paths: dict[str, str] = {}

    def too_many(self) -> bool:
        """Whether the counts so far break the limit (see the class docstring)."""
        if self.bad == 0:
            return False
        if self.seen >= self.min_seen:
            return self.bad_fraction > self.max_bad_fraction
        return _binomial_tail(self.seen, self.bad, self.max_bad_fraction) < SMALL_SAMPLE_P

    @property
    def bad_fraction(self) -> float:
        return self.bad / self.seen if self.seen else 0.0

    def update(self, num_good: int, bad: list[tuple[str, str]]) -> None:
        self.seen += int(num_good) + len(bad)
        self.bad += len(bad)
        for path, error in bad:
            if path not in self.bad_paths:
                self.bad_paths[path] = error
                logger.warning("skipping unreadable video %s: %s", path, error)
        if self.too_many():
            examples = "; ".join(f"{p} ({e})" for p, e in list(self.bad_paths.items())[:3])
            raise TooManyBadVideosError(
                f"{self.bad} of {self.seen} samples unreadable ({self.bad_fraction:.2%}, {self.setting} allows "
                f"{self.max_bad_fraction:.2%}): run videofocalnet check-data on the list, or raise {self.setting}; "
                f"first: {examples}"
            )

    def summary(self) -> dict[str, Any]:
        return dict(seen=self.seen, bad=self.bad, bad_fraction=self.bad_fraction, bad_paths=sorted(self.bad_paths))
