"""The test-time preprocessing of a model, as one value: what every evaluator builds its views from.

Training's validation, ``videofocalnet eval``, ``predict``, ``export`` and ``VideoClassifier`` all turn a video into
model inputs with :meth:`PreprocessConfig.clip_indices` (which frames) and :meth:`PreprocessConfig.eval_transform`
(resize, crops, normalisation). The engine derives the value from its config (``engine.build.eval_preprocess``)
and writes it into every exported checkpoint, so the two sides cannot drift apart.

``short_side`` None is the official rule, which depends on the crop count: one centre crop resizes the short side
to int(256 / 224 x input_size) (validation), three crops to input_size (the 4x3 test). An explicit value is used for
every crop count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from videofocalnet.data.sampling import SAMPLING_MODES, FrameTimes, view_indices
from videofocalnet.data.transforms import IMAGENET_MEAN, IMAGENET_STD, EvalTransform

__all__ = ["PreprocessConfig", "official_short_side"]


def official_short_side(input_size: int, num_crops: int) -> int:
    """Official test resize: the crop size itself for three crops, 256/224 of it for one centre crop."""
    return input_size if num_crops == 3 else int(256 / 224 * input_size)


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"preprocess.{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class PreprocessConfig:
    """How a video becomes the model's input at test time (validated on construction). ``mean``/``std`` are on
    the 0-255 scale, as the official recipe; ``sampling`` is "tsn" (one frame per equal segment) or "dense"
    (``num_frames`` frames ``frame_interval`` apart)."""

    num_frames: int = 8
    input_size: int = 224
    short_side: int | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    sampling: str = "tsn"
    frame_interval: int = 1
    tubelet_size: int = 1

    def __post_init__(self) -> None:
        for name in ("num_frames", "input_size", "frame_interval", "tubelet_size"):
            _positive_int(name, getattr(self, name))
        if self.short_side is not None:
            _positive_int("short_side", self.short_side)
            if self.input_size > self.short_side:
                raise ValueError(
                    f"preprocess.input_size ({self.input_size}) must not exceed preprocess.short_side "
                    f"({self.short_side})"
                )
        if self.num_frames % self.tubelet_size:
            raise ValueError(
                f"preprocess.num_frames ({self.num_frames}) must be a multiple of tubelet_size ({self.tubelet_size})"
            )
        if self.sampling not in SAMPLING_MODES:
            raise ValueError(f"preprocess.sampling must be one of {SAMPLING_MODES}, got {self.sampling!r}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if len(value) != 3 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
            ):
                raise ValueError(f"preprocess.{name} must be 3 finite numbers (0-255 scale), got {value!r}")
            object.__setattr__(self, name, tuple(float(v) for v in value))
        if any(s <= 0 for s in self.std):
            raise ValueError(f"preprocess.std must be positive, got {self.std!r}")

    # ------------------------------------------------------------------------------------------------ views
    def short_side_for(self, num_crops: int) -> int:
        return official_short_side(self.input_size, num_crops) if self.short_side is None else self.short_side

    def eval_transform(self, num_crops: int) -> EvalTransform:
        """uint8 (T, C, H, W) frames -> normalised float (num_crops, T, C, input_size, input_size)."""
        return EvalTransform(
            short_side=self.short_side_for(num_crops),
            crop=self.input_size,
            num_crops=num_crops,
            mean=self.mean,
            std=self.std,
        )

    def clip_indices(self, num_video_frames: int, num_clips: int, times: FrameTimes | None = None) -> list[list[int]]:
        """Frame indices of each of ``num_clips`` deterministic temporal views; with the file's ``times`` they are
        placed in seconds (see ``sampling.view_indices``), as the datasets place them."""
        return view_indices(
            self.sampling, num_video_frames, self.num_frames, self.frame_interval, num_views=num_clips, times=times
        )

    # ------------------------------------------------------------------------------------------------ metadata
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "checkpoint") -> PreprocessConfig:
        """Strict: unknown keys are errors (a typo would otherwise silently fall back to a default)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: 'preprocess' must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown 'preprocess' keys {unknown}; known: {sorted(known)}")
        try:
            return cls(**dict(data))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None
