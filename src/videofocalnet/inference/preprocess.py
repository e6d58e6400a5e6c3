"""Preprocessing metadata that travels inside a checkpoint, so that inference needs no config file.

A weights checkpoint (``videofocalnet.weights.save_weights``) stores a JSON header; its ``extra``
part holds two keys defined here::

    "preprocess": {"num_frames": 8, "input_size": 224, "short_side": 224,
                   "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
                   "sampling": "tsn", "frame_interval": 1, "tubelet_size": 1}
    "labels": ["abseiling", "air drumming", ...]   # or null

``mean``/``std`` are on the 0-255 scale (as the official recipe). ``sampling`` is ``"tsn"`` (one frame per equal
segment, the official recipe; ``frame_interval`` unused) or ``"dense"`` (``num_frames`` frames ``frame_interval``
apart). The training engine calls :func:`preprocess_metadata` when it saves weights.

Checkpoints without the block (converted official weights) fall back to the official evaluation recipe at the
model's own ``num_frames`` / ``img_size``: see :func:`preprocess_from_config`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

from videofocalnet.data.sampling import SAMPLING_MODES
from videofocalnet.data.transforms import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "PREPROCESS_KEY",
    "LABELS_KEY",
    "PreprocessConfig",
    "preprocess_metadata",
    "preprocess_from_config",
    "labels_from_config",
]

PREPROCESS_KEY = "preprocess"
LABELS_KEY = "labels"


@dataclass(frozen=True)
class PreprocessConfig:
    """How a video becomes the model's input at test time (validated on construction)."""

    num_frames: int = 8
    input_size: int = 224
    short_side: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    sampling: str = "tsn"
    frame_interval: int = 1
    tubelet_size: int = 1

    def __post_init__(self) -> None:
        for name in ("num_frames", "input_size", "short_side", "frame_interval", "tubelet_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"preprocess.{name} must be a positive integer, got {value!r}")
        if self.input_size > self.short_side:
            raise ValueError(
                f"preprocess.input_size ({self.input_size}) must not exceed preprocess.short_side ({self.short_side})"
            )
        if self.num_frames % self.tubelet_size:
            raise ValueError(
                f"preprocess.num_frames ({self.num_frames}) must be a multiple of tubelet_size ({self.tubelet_size})"
            )
        if self.sampling not in SAMPLING_MODES:
            raise ValueError(f"preprocess.sampling must be one of {SAMPLING_MODES}, got {self.sampling!r}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if len(value) != 3 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value):
                raise ValueError(f"preprocess.{name} must be 3 finite numbers (0-255 scale), got {value!r}")
            object.__setattr__(self, name, tuple(float(v) for v in value))
        if any(s <= 0 for s in self.std):
            raise ValueError(f"preprocess.std must be positive, got {self.std!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "checkpoint") -> PreprocessConfig:
        """Strict: unknown keys are errors (a typo would otherwise silently fall back to a default)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{source}: '{PREPROCESS_KEY}' must be an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{source}: unknown '{PREPROCESS_KEY}' keys {unknown}; known: {sorted(known)}")
        try:
            return cls(**dict(data))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None


def preprocess_metadata(
    *,
    num_frames: int,
    input_size: int,
    short_side: int | None = None,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    sampling: str = "tsn",
    frame_interval: int = 1,
    tubelet_size: int = 1,
    labels: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``extra`` dict to pass to ``videofocalnet.weights.save_weights`` so that
    ``VideoClassifier.from_checkpoint`` needs nothing else. ``short_side`` defaults to ``input_size`` (the official
    test resize: short side to 224, then 224 crops)."""
    config = PreprocessConfig(
        num_frames=num_frames,
        input_size=input_size,
        short_side=input_size if short_side is None else short_side,
        # 3 values each: PreprocessConfig checks that on construction, with the error message a caller should see
        mean=cast("tuple[float, float, float]", tuple(mean)),
        std=cast("tuple[float, float, float]", tuple(std)),
        sampling=sampling,
        frame_interval=frame_interval,
        tubelet_size=tubelet_size,
    )
    names = None
    if labels is not None:
        names = [str(n) for n in labels]
        if len(set(names)) != len(names):
            raise ValueError("labels contain duplicate class names")
    return {PREPROCESS_KEY: config.to_dict(), LABELS_KEY: names}


def preprocess_from_config(config: Mapping[str, Any], *, source: str = "checkpoint") -> PreprocessConfig:
    """The checkpoint's preprocessing, or (with a warning) the official eval recipe at the model's own frame
    count and image size when the checkpoint predates the metadata."""
    block = config.get(PREPROCESS_KEY)
    if block is not None:
        return PreprocessConfig.from_dict(block, source=source)
    kwargs = config.get("model_kwargs") or {}
    if all(k in config for k in ("num_frames", "input_size", "mean", "std")):
        # flat keys written by engine.train before it adopted this block: TSN and short side = crop (official test)
        try:
            return PreprocessConfig(
                num_frames=int(config["num_frames"]),
                input_size=int(config["input_size"]),
                short_side=int(config["input_size"]),
                mean=tuple(config["mean"]),
                std=tuple(config["std"]),
                tubelet_size=int(kwargs.get("tubelet_size", 1)),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{source}: {exc}") from None
    num_frames = int(kwargs.get("num_frames", 8))
    size = int(kwargs.get("img_size", 224))
    warnings.warn(
        f"{source} carries no '{PREPROCESS_KEY}' metadata; assuming the official test recipe "
        f"({num_frames} TSN frames, short side {size}, {size}x{size} crops, ImageNet mean/std)",
        stacklevel=2,
    )
    return PreprocessConfig(
        num_frames=num_frames, input_size=size, short_side=size, tubelet_size=int(kwargs.get("tubelet_size", 1))
    )


def labels_from_config(config: Mapping[str, Any]) -> list[str] | None:
    labels = config.get(LABELS_KEY)
    if labels is None:
        return None
    if not isinstance(labels, list) or not all(isinstance(n, str) for n in labels):
        raise ValueError(f"checkpoint '{LABELS_KEY}' must be a list of class names, got {type(labels).__name__}")
    return labels
