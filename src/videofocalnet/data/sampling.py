"""Frame-index samplers (pure functions, no I/O): which frames of a video make up a clip.

Time is the unit. A file's frames need not be evenly spaced: an AVI stores dropped frames as empty slots, a phone
writes variable-frame-rate video. :class:`FrameTimes` holds every decodable frame's presentation time; the samplers
then run on the file's *nominal* frame grid (one slot per ``1 / rate`` seconds of its duration) and each slot is
mapped to the nearest decodable frame, so a clip spans the seconds it claims. For a constant-rate file the grid is
the frame list itself and the indices are exactly those of index-based sampling.

Conventions shared by every sampler:

* indices are presentation-order frame indices in ``[0, num_video_frames)``;
* videos shorter than the clip *loop* (index ``i`` becomes ``i % num_video_frames``), as mmaction's
  ``out_of_bound_opt="loop"`` does;
* all randomness comes from the ``generator`` argument (``None`` uses torch's global RNG), so a sample's frames
  are reproducible from its seed regardless of DataLoader worker count.
"""

from __future__ import annotations

import bisect
import math
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

__all__ = [
    "FrameTimes",
    "SAMPLING_MODES",
    "SamplingMode",
    "MAX_CLIPS",
    "MAX_VIEWS",
    "dense_indices",
    "multi_view_tsn_indices",
    "parse_views",
    "tsn_indices",
    "view_indices",
]

# DATA.SAMPLING / a checkpoint's preprocess.sampling: see view_indices
SamplingMode = Literal["tsn", "dense"]
SAMPLING_MODES: tuple[str, ...] = typing.get_args(SamplingMode)


@dataclass(frozen=True)
class FrameTimes:
    """Presentation times of a video's decodable frames and the nominal rate its samplers count frames in.

    ``times`` are seconds from the first frame, ascending (``times[0] == 0``); ``end_s`` is where the last frame
    stops showing (its time plus its duration); ``rate`` (frames per second) defines the grid: ``grid_length``
    slots of ``1 / rate`` seconds cover ``[0, end_s)``. ``uniform`` means slot ``i`` *is* frame ``i``.
    """

    times: tuple[float, ...]
    end_s: float
    rate: float

    def __post_init__(self) -> None:
        if not self.times:
            raise ValueError("FrameTimes needs at least one frame")
        if not (math.isfinite(self.rate) and self.rate > 0):
            raise ValueError(f"FrameTimes.rate must be a positive number of frames per second, got {self.rate}")
        if any(b < a for a, b in zip(self.times, self.times[1:])):
            raise ValueError("FrameTimes.times must be ascending")
        if not self.end_s > self.times[-1]:
            object.__setattr__(self, "end_s", self.times[-1] + 1.0 / self.rate)

    @classmethod
    def constant(cls, num_frames: int, rate: float) -> FrameTimes:
        """Frame ``i`` at ``i / rate``: frame folders, and files whose timestamps cannot be trusted."""
        return cls(tuple(i / rate for i in range(num_frames)), num_frames / rate, rate)

    @property
    def num_frames(self) -> int:
        return len(self.times)

    @property
    def grid_length(self) -> int:
        return max(1, int(round(self.end_s * self.rate)))

    @property
    def uniform(self) -> bool:
        """Every frame sits within a quarter slot of its own grid slot and the grid has one slot per frame."""
        if self.grid_length != len(self.times):
            return False
        tolerance = 0.25 / self.rate
        return all(abs(t - i / self.rate) <= tolerance for i, t in enumerate(self.times))

    def nearest_frame(self, seconds: float) -> int:
        """The decodable frame shown closest to ``seconds`` (the earlier one on a tie)."""
        times = self.times
        k = bisect.bisect_left(times, seconds)
        if k <= 0:
            return 0
        if k >= len(times):
            return len(times) - 1
        return k - 1 if seconds - times[k - 1] <= times[k] - seconds else k

    def first_frame_at(self, seconds: float) -> int:
        """The first frame shown at or after ``seconds`` (``num_frames`` when none is): exclusive range ends."""
        return bisect.bisect_left(self.times, seconds - 1e-9)

    def head(self, num_frames: int) -> FrameTimes:
        """The first ``num_frames`` frames (what decodes of a truncated file), ending where the next one starts."""
        if not 1 <= num_frames <= len(self.times):
            raise ValueError(f"head({num_frames}) of {len(self.times)} frames")
        if num_frames == len(self.times):
            return self
        return FrameTimes(self.times[:num_frames], self.times[num_frames], self.rate)

    def to_frames(self, slots: Sequence[int]) -> list[int]:
        """Grid slots -> decodable frame indices (the identity, clamped, for a uniform file)."""
        if self.uniform:
            return [min(int(i), len(self.times) - 1) for i in slots]
        return [self.nearest_frame(int(i) / self.rate) for i in slots]


def _check(num_video_frames: int, **positive: int) -> None:
    if num_video_frames < 1:
        raise ValueError(f"num_video_frames must be >= 1, got {num_video_frames}")
    for name, value in positive.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
    """Uniform integer in [low, high)."""
    return int(torch.randint(low, high, (1,), generator=generator).item())


def tsn_indices(
    num_video_frames: int, num_segments: int, *, train: bool, generator: torch.Generator | None = None
) -> list[int]:
    """TSN sampling as in the official recipe: cut the video into ``num_segments`` equal segments and take one
    frame per segment — a uniformly random frame of the segment when training, its centre frame otherwise.

    Segment ``i`` covers frames ``[floor(i*L), floor((i+1)*L))`` with ``L = num_video_frames / num_segments``;
    the centre is ``floor((i + 0.5) * L)`` (mmaction ``SampleFrames(test_mode=True)``). Videos with fewer frames
    than segments loop: segment ``i`` takes frame ``i % num_video_frames``.
    """
    _check(num_video_frames, num_segments=num_segments)
    n, s = num_video_frames, num_segments
    if n < s:
        return [i % n for i in range(s)]
    length = n / s
    if not train:
        return [int(math.floor((i + 0.5) * length)) for i in range(s)]
    starts = [int(math.floor(i * length)) for i in range(s + 1)]
    starts[-1] = n
    # An integer draw within each segment's own frame range is exactly uniform over that segment's frames, even
    # when segment sizes differ by one frame.
    return [_randint(starts[i], starts[i + 1], generator) for i in range(s)]


def multi_view_tsn_indices(num_video_frames: int, num_segments: int, num_views: int) -> list[list[int]]:
    """Deterministic multi-view TSN for testing: view ``k`` of ``K`` takes offset ``(k + 0.5) / K`` of every
    segment, so the views tile each segment evenly (the released code draws random offsets instead, which makes
    test accuracy irreproducible). ``K = 1`` equals ``tsn_indices(..., train=False)``.
    """
    _check(num_video_frames, num_segments=num_segments, num_views=num_views)
    n, s = num_video_frames, num_segments
    if n < s:
        return [[i % n for i in range(s)] for _ in range(num_views)]
    length = n / s
    return [
        [min(n - 1, int(math.floor((i + (k + 0.5) / num_views) * length))) for i in range(s)] for k in range(num_views)
    ]


def dense_indices(
    num_video_frames: int,
    clip_len: int,
    interval: int,
    *,
    train: bool,
    generator: torch.Generator | None = None,
    num_views: int = 1,
) -> list[list[int]]:
    """Dense (SlowFast/Video-Swin style) sampling: ``clip_len`` frames ``interval`` apart from one window of
    ``clip_len * interval`` frames.

    Training draws each view's window start uniformly from ``[0, num_video_frames - window]``; evaluation puts view
    ``k`` of ``K`` at ``floor((k + 0.5) / K * (num_video_frames - window))`` (``K = 1``: the centred window).
    Videos shorter than the window start at 0 (eval) or anywhere (train) and loop.
    """
    _check(num_video_frames, clip_len=clip_len, interval=interval, num_views=num_views)
    n = num_video_frames
    window = clip_len * interval
    slack = n - window  # how far the window can slide; negative for short videos
    views: list[list[int]] = []
    for k in range(num_views):
        if train:
            start = _randint(0, max(slack, 0) + 1, generator) if slack >= 0 else _randint(0, n, generator)
        else:
            start = int(math.floor((k + 0.5) / num_views * slack)) if slack > 0 else 0
        views.append([(start + j * interval) % n for j in range(clip_len)])
    return views


def view_indices(
    sampling: str,
    num_video_frames: int,
    num_frames: int,
    frame_interval: int,
    *,
    num_views: int = 1,
    train: bool = False,
    generator: torch.Generator | None = None,
    times: FrameTimes | None = None,
) -> list[list[int]]:
    """Frame indices of each temporal view for a ``SAMPLING_MODES`` name: the one place where datasets (training,
    validation, test) and inference turn a sampling mode into a sampler call, so they cannot pick frames differently.

    ``"tsn"`` ignores ``frame_interval``; training draws each view from ``generator``, evaluation is deterministic.
    With ``times`` (the file's :class:`FrameTimes`, for ``num_video_frames`` frames) the sampler runs on the nominal
    grid and every slot becomes the nearest decodable frame, so views cover the seconds they claim.
    """
    if times is not None:
        if times.num_frames != num_video_frames:
            raise ValueError(f"times hold {times.num_frames} frames, num_video_frames is {num_video_frames}")
        slots = _grid_views(sampling, times.grid_length, num_frames, frame_interval, num_views, train, generator)
        return [times.to_frames(view) for view in slots]
    return _grid_views(sampling, num_video_frames, num_frames, frame_interval, num_views, train, generator)


def _grid_views(
    sampling: str,
    num_video_frames: int,
    num_frames: int,
    frame_interval: int,
    num_views: int,
    train: bool,
    generator: torch.Generator | None,
) -> list[list[int]]:
    if sampling == "tsn":
        if train:
            return [
                tsn_indices(num_video_frames, num_frames, train=True, generator=generator) for _ in range(num_views)
            ]
        return multi_view_tsn_indices(num_video_frames, num_frames, num_views)
    if sampling == "dense":
        return dense_indices(
            num_video_frames, num_frames, frame_interval, train=train, generator=generator, num_views=num_views
        )
    raise ValueError(f"sampling must be one of {', '.join(SAMPLING_MODES)}, got {sampling!r}")


_VIEWS_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")

# Every view of a video is decoded, transformed and held at once (a (V, T, C, H, W) item), so memory grows with the
# view count: 2000x1 took 8 GB. The official protocol is 4x3; 10x3 (Video Swin) is the most any published one uses.
MAX_CLIPS = 32
MAX_VIEWS = 48
CROP_CHOICES = (1, 3)  # data.transforms.EvalTransform: one centre crop, or three along the long side


def parse_views(views: str | tuple[int, int]) -> tuple[int, int]:
    """``"4x3"`` -> (clips=4, crops=3). Crops must be 1 or 3 (centre, or three along the long side); clips at most
    :data:`MAX_CLIPS` and clips x crops at most :data:`MAX_VIEWS`, because all views of a video are held at once."""
    if isinstance(views, tuple):
        clips, crops = views
    else:
        match = _VIEWS_RE.match(str(views))
        if not match:
            raise ValueError(f"views must look like CLIPSxCROPS (e.g. 4x3), got {views!r}")
        clips, crops = int(match.group(1)), int(match.group(2))
    if not 1 <= clips <= MAX_CLIPS:
        raise ValueError(f"the number of clips must be in [1, {MAX_CLIPS}], got {clips} (views {views!r})")
    if crops not in CROP_CHOICES:
        raise ValueError(f"the number of crops must be 1 or 3, got {crops} (views {views!r})")
    if clips * crops > MAX_VIEWS:
        raise ValueError(f"at most {MAX_VIEWS} views (clips x crops) per video, got {clips * crops} (views {views!r})")
    return clips, crops
