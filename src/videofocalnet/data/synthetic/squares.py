"""The moving-squares toy task: a tensor dataset (no files, no photos) whose labels live in frame order only."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

SQUARE_CLASS_NAMES: tuple[str, ...] = ("moving_right", "moving_left", "moving_down", "moving_up")
SQUARE_PAIRS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3))


def moving_squares(
    num_videos: int, *, generator: torch.Generator, size: int = 32, num_frames: int = 8, speed: int = 2
) -> tuple[torch.Tensor, torch.Tensor]:
    """A minimal motion task as tensors, no files: a 4x4 bright square on a dark field moving ``speed`` px per frame.

    Returns clips (N, T, 3, size, size) in [-1, 1] and labels (N,) indexing ``SQUARE_CLASS_NAMES``. Left and up are
    the right and down clips played backwards, so within a pair every frame statistic is shared and only frame order
    separates them (a per-frame model sits at 50 % pair accuracy). It isolates the model's ability to use time from
    the appearance nuisances of the photographic dataset: seconds to train, for tests and the design-space benchmark.
    """
    import torch  # lazily: the spawned video-rendering workers never need it

    travel = speed * (num_frames - 1)
    if size < travel + 6 or num_frames < 2 or speed < 1:
        raise ValueError(
            f"need size >= speed * (num_frames - 1) + 6 and num_frames >= 2, got size={size}, "
            f"num_frames={num_frames}, speed={speed}"
        )
    clips = torch.full((num_videos, num_frames, 3, size, size), -1.0)
    labels = torch.randint(0, 4, (num_videos,), generator=generator)
    for i in range(num_videos):
        across = int(torch.randint(0, size - 4 + 1, (1,), generator=generator))
        start = int(torch.randint(0, size - 4 - travel + 1, (1,), generator=generator))
        for t in range(num_frames):
            along = start + speed * t
            if labels[i] < 2:  # horizontal: (T, 3, H, W) rows `across`, columns `along`
                clips[i, t, :, across : across + 4, along : along + 4] = 1.0
            else:
                clips[i, t, :, along : along + 4, across : across + 4] = 1.0
        if labels[i] % 2:
            clips[i] = clips[i].flip(0)
    return clips, labels
