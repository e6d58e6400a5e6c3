"""Data pipeline: decoding, frame sampling, transforms, mixup, datasets and loaders.

Submodules are imported lazily (``videofocalnet.data.decode`` etc.) so that importing the package stays cheap;
the most used names are also reachable as attributes of this package.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "DecodeError": "decode",
    "VideoInfo": "decode",
    "probe_video": "decode",
    "read_frames": "decode",
    "read_all_frames": "decode",
    "tsn_indices": "sampling",
    "multi_view_tsn_indices": "sampling",
    "dense_indices": "sampling",
    "TrainTransform": "transforms",
    "EvalTransform": "transforms",
    "Mixup": "mixup",
    "VideoDataset": "dataset",
    "collate_skip_bad": "dataset",
    "BadVideoTracker": "dataset",
    "TooManyBadVideosError": "dataset",
    "build_loader": "loader",
    "ResumableDistributedSampler": "loader",
    "ResumableSampler": "loader",
    "EvalDistributedSampler": "loader",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'videofocalnet.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"videofocalnet.data.{module}"), name)
