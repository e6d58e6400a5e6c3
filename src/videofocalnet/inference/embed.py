"""Pooled features (the pre-head embedding) per video, or per window of a long video, for retrieval and clustering.

The clips are cut exactly as ``predict`` cuts them (``VideoClassifier``'s preprocessing: the checkpoint's frame
count, sampling and crops), so an embedding and a prediction of the same file see the same pixels; the embedding is
``model.forward_features`` of each view, averaged over the views.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from videofocalnet.data.sampling import parse_views
from videofocalnet.inference.classifier import VideoClassifier, clip_indices, expand_video_paths

__all__ = ["Embedding", "embed_views", "embed_file", "embedding_inputs", "write_npz"]


@dataclass
class Embedding:
    """One video's features: (C,) for the whole video, or (num_windows, C) with each window's [start, end) s."""

    key: str
    features: np.ndarray
    windows: np.ndarray | None = None  # (num_windows, 2) seconds, only with a window


@torch.inference_mode()
def embed_views(classifier: VideoClassifier, views: torch.Tensor) -> torch.Tensor:
    """(V, T, 3, S, S) normalised views -> their mean pooled feature (C,), in batches of the classifier's size."""
    forward_features = getattr(classifier.model, "forward_features", None)
    if forward_features is None:
        raise ValueError(f"{type(classifier.model).__name__} has no forward_features: it cannot embed")
    total: torch.Tensor | None = None
    for chunk in views.split(classifier.batch_size):
        feats = forward_features(chunk.to(classifier.device, torch.float32)).float().sum(0)  # (chunk, C) -> (C,)
        total = feats if total is None else total + feats
    if total is None:
        raise ValueError(f"expected at least one view, got shape {tuple(views.shape)}")
    return (total / views.shape[0]).cpu()


def embed_file(
    classifier: VideoClassifier,
    path: str | os.PathLike[str],
    *,
    key: str,
    views: str = "1x1",
    window_s: float | None = None,
    stride_s: float | None = None,
    fps: float | None = None,
) -> Embedding:
    """Embed a file (or frame folder): one vector, or one per window of ``window_s`` seconds every ``stride_s``."""
    from videofocalnet.data.decode import open_video
    from videofocalnet.inference.timeline import window_ranges

    if window_s is None:
        return Embedding(key, embed_views(classifier, classifier.views_from_file(path, views)).numpy())
    clips, crops = parse_views(views)
    with open_video(path) as reader:
        rate = float(fps) if fps is not None else reader.info().fps
        if not rate > 0:
            raise ValueError(f"{path}: unknown frame rate (a frame folder?); pass --fps")
        ranges = window_ranges(reader.num_frames, rate, window_s, stride_s or window_s)
        rows = []
        for start, end in ranges:
            indices = [[start + i for i in clip] for clip in clip_indices(end - start, classifier.preprocess, clips)]
            rows.append(embed_views(classifier, classifier._views_from_reader(reader, indices, crops)))
    seconds = np.array([[s / rate, e / rate] for s, e in ranges], dtype=np.float64)
    return Embedding(key, torch.stack(rows).numpy(), seconds)  # (num_windows, C)


def embedding_inputs(inputs: Sequence[str | os.PathLike[str]]) -> Iterator[tuple[str, Path]]:
    """(key, path) per video: a file keeps the path as given, videos found under a folder are keyed by their path
    relative to it (``class_a/clip1.mp4``), so the keys say what each vector is and stay unique across a tree."""
    for item in inputs:
        root = Path(item)
        for path in expand_video_paths([item]):
            yield (path.relative_to(root).as_posix() if root.is_dir() and path != root else str(item)), path


def write_npz(path: str | os.PathLike[str], embeddings: Sequence[Embedding]) -> Path:
    """One array per video under its key, plus ``<key>#windows`` (start, end seconds) for windowed videos."""
    arrays: dict[str, np.ndarray] = {}
    for emb in embeddings:
        if emb.key in arrays:
            raise ValueError(f"two inputs give the key {emb.key!r}; pass each video or folder once")
        arrays[emb.key] = emb.features.astype(np.float32)
        if emb.windows is not None:
            arrays[f"{emb.key}#windows"] = emb.windows
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    return out
