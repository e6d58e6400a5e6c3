"""Preprocessing and class names as they travel inside a checkpoint, so that inference needs no config file.

A weights checkpoint (``videofocalnet.weights.save_weights``) stores a JSON header; its ``extra`` part holds two
keys defined here::

    "preprocess": {"num_frames": 8, "input_size": 224, "short_side": null,
                   "mean": [123.675, 116.28, 103.53], "std": [58.395, 57.12, 57.375],
                   "sampling": "tsn", "frame_interval": 1, "tubelet_size": 1}
    "labels": ["abseiling", "air drumming", ...]   # or null

(see :class:`videofocalnet.data.preprocess.PreprocessConfig` for the fields; ``short_side`` null is the official
rule by crop count). The training engine writes both from its config with ``engine.build.eval_preprocess``, the
function that also builds its own evaluation views.

Checkpoints without the block (older exports, weights converted without a config) fall back to the official
evaluation recipe at the model's own ``num_frames`` / ``img_size``: see :func:`preprocess_from_config`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any, cast

from videofocalnet.data.preprocess import PreprocessConfig
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


def checked_labels(labels: Sequence[str] | None) -> list[str] | None:
    """Class names as a list of unique strings (duplicates would make predictions ambiguous)."""
    if labels is None:
        return None
    names = [str(n) for n in labels]
    if len(set(names)) != len(names):
        raise ValueError("labels contain duplicate class names")
    return names


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
    ``VideoClassifier.from_checkpoint`` needs nothing else. ``short_side`` None is the official rule (see
    :class:`PreprocessConfig`)."""
    config = PreprocessConfig(
        num_frames=num_frames,
        input_size=input_size,
        short_side=short_side,
        # 3 values each: PreprocessConfig checks that on construction, with the error message a caller should see
        mean=cast("tuple[float, float, float]", tuple(mean)),
        std=cast("tuple[float, float, float]", tuple(std)),
        sampling=sampling,
        frame_interval=frame_interval,
        tubelet_size=tubelet_size,
    )
    return {PREPROCESS_KEY: config.to_dict(), LABELS_KEY: checked_labels(labels)}


def preprocess_from_config(config: Mapping[str, Any], *, source: str = "checkpoint") -> PreprocessConfig:
    """The checkpoint's preprocessing, or (with a warning) the official eval recipe at the model's own frame
    count and image size when the checkpoint predates the metadata."""
    block = config.get(PREPROCESS_KEY)
    if block is not None:
        return PreprocessConfig.from_dict(block, source=source)
    kwargs = config.get("model_kwargs") or {}
    num_frames = int(kwargs.get("num_frames", 8))
    size = int(kwargs.get("img_size", 224))
    warnings.warn(
        f"{source} carries no '{PREPROCESS_KEY}' metadata; assuming the official test recipe "
        f"({num_frames} TSN frames, {size}x{size} crops, official resize, ImageNet mean/std)",
        stacklevel=2,
    )
    return PreprocessConfig(num_frames=num_frames, input_size=size, tubelet_size=int(kwargs.get("tubelet_size", 1)))


def labels_from_config(config: Mapping[str, Any]) -> list[str] | None:
    labels = config.get(LABELS_KEY)
    if labels is None:
        return None
    if not isinstance(labels, list) or not all(isinstance(n, str) for n in labels):
        raise ValueError(f"checkpoint '{LABELS_KEY}' must be a list of class names, got {type(labels).__name__}")
    return labels
