"""Inference: classify videos with a checkpoint, predict over time, export, and draw the modulators.

``VideoClassifier.from_checkpoint(path)`` needs no config: the preprocessing travels in the checkpoint (see
:mod:`videofocalnet.inference.preprocess`). Export and visualisation live in their own modules and are imported
on use, so their optional dependencies (onnx/onnxruntime, matplotlib) are only needed when used.
"""

from videofocalnet.inference.classifier import (
    Prediction,
    VideoClassifier,
    clip_indices,
    expand_video_paths,
    load_labels,
)
from videofocalnet.inference.preprocess import PreprocessConfig, preprocess_from_config, preprocess_metadata

__all__ = [
    "Prediction",
    "VideoClassifier",
    "clip_indices",
    "expand_video_paths",
    "load_labels",
    "PreprocessConfig",
    "preprocess_from_config",
    "preprocess_metadata",
]
