"""Embedded synthetic action dataset: real photographs moving through time, where only the time order gives the label.

A new user has no Kinetics, yet must see the whole pipeline (encode -> decode -> sample -> train -> evaluate) work and
reach a high accuracy in minutes on a laptop CPU. The classes are therefore built like Something-Something: five
*reversal pairs* (moving left / right, up / down, rotating clockwise / counter-clockwise, growing / shrinking,
appearing / disappearing) plus ``static``, where one member of each pair is the other's process played backwards, so
a model can only separate them by looking at the order of frames (``engine.metrics.pair_accuracy`` measures that).

Where to look: ``classes`` (class table, reversal pairs, nuisance style), ``render`` (photos, sprites, tracks, one
clip from an RNG), ``encode`` (deterministic H.264 mp4 writing), ``dataset`` (the on-disk dataset and its
``dataset.json``), ``squares`` (a tensor-only toy task for tests and benchmarks). This package re-exports their
public names.
"""

from __future__ import annotations

from videofocalnet.data.synthetic.classes import (
    CLASS_NAMES,
    CLASS_PROCESS,
    DEFAULT_STYLE,
    REVERSAL_PAIRS,
    SyntheticStyle,
)
from videofocalnet.data.synthetic.dataset import (
    GENERATOR_VERSION,
    SyntheticDatasetInfo,
    generate_dataset,
    load_dataset_info,
    resolve_classes,
)
from videofocalnet.data.synthetic.encode import X264_OPTIONS, rgb_to_yuv420p, write_video
from videofocalnet.data.synthetic.render import ObjectTrack, render_video, render_video_with_track, video_rng
from videofocalnet.data.synthetic.squares import SQUARE_CLASS_NAMES, SQUARE_PAIRS, moving_squares

__all__ = [
    "CLASS_NAMES",
    "CLASS_PROCESS",
    "DEFAULT_STYLE",
    "GENERATOR_VERSION",
    "REVERSAL_PAIRS",
    "SQUARE_CLASS_NAMES",
    "SQUARE_PAIRS",
    "X264_OPTIONS",
    "ObjectTrack",
    "SyntheticDatasetInfo",
    "SyntheticStyle",
    "generate_dataset",
    "load_dataset_info",
    "moving_squares",
    "render_video",
    "render_video_with_track",
    "resolve_classes",
    "rgb_to_yuv420p",
    "video_rng",
    "write_video",
]
