"""``VideoClassifier``: a checkpoint plus its preprocessing, turning video files into class probabilities.

Test-time views follow the official protocol: ``clips`` temporal views (deterministic, evenly offset TSN or
dense windows) times ``crops`` spatial crops (1 centre crop, or 3 along the long side). The softmax of every view
is averaged (the official code sums them; the ranking is the same and a mean stays a probability).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from videofocalnet.data.sampling import parse_views
from videofocalnet.inference.preprocess import PreprocessConfig, labels_from_config, preprocess_from_config
from videofocalnet.models.cpu import optimize_for_inference

__all__ = ["Prediction", "VideoClassifier", "clip_indices", "load_labels", "expand_video_paths"]

logger = logging.getLogger(__name__)


def clip_indices(num_video_frames: int, preprocess: PreprocessConfig, num_clips: int) -> list[list[int]]:
    """Frame indices of each temporal view, per the checkpoint's sampling (eval mode: deterministic)."""
    return preprocess.clip_indices(num_video_frames, num_clips)


def load_labels(labels: str | os.PathLike[str] | Sequence[str] | None) -> list[str] | None:
    """Class names from a label file (``id,name`` CSV or one name per line) or a list."""
    if labels is None:
        return None
    if isinstance(labels, (str, os.PathLike)):
        from videofocalnet.data.annotations import read_label_list

        return read_label_list(labels)
    return [str(n) for n in labels]


@dataclass
class Prediction:
    """Averaged class probabilities of one video (or clip) and its top-k (name, probability) pairs."""

    topk: list[tuple[str, float]]
    probs: torch.Tensor  # (num_classes,) float32, sums to 1
    num_views: int
    path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.topk[0][0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "num_views": self.num_views,
            "topk": [{"label": name, "prob": round(prob, 6)} for name, prob in self.topk],
            **self.extra,
        }


class VideoClassifier:
    """A Video-FocalNet in eval mode with the preprocessing it was trained with.

    ``predict`` accepts a video path (file or frame folder), decoded frames as a uint8 tensor (N, H, W, 3) which are
    sampled and transformed like a file, or model-ready normalised float views (T, 3, H, W) / (V, T, 3, H, W) whose
    softmaxes are averaged.
    """

    def __init__(
        self,
        model: nn.Module,
        preprocess: PreprocessConfig,
        labels: Sequence[str] | None = None,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
        config: dict[str, Any] | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.config = dict(config or {})  # the checkpoint's metadata (model_name, model_kwargs, source, ...)
        self.model = optimize_for_inference(model.eval().to(self.device))
        self.preprocess = preprocess
        num_classes = int(getattr(model, "num_classes", 0))
        if labels is None:
            labels = [f"class_{i}" for i in range(num_classes)]
        labels = list(labels)
        if num_classes and len(labels) != num_classes:
            raise ValueError(f"{len(labels)} labels given for a model with {num_classes} classes")
        self.labels = labels
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str],
        labels: str | os.PathLike[str] | Sequence[str] | None = None,
        *,
        device: str | torch.device = "cpu",
        batch_size: int = 8,
    ) -> VideoClassifier:
        """Any video checkpoint (see ``videofocalnet.hub.read_checkpoint``: our safetensors, last.pt, a released
        .pth, a save_pretrained folder, a URL, an ``hf-hub:`` id or a zoo name); labels given here override those
        stored in it."""
        from videofocalnet.hub import load_model_checkpoint

        model, config = load_model_checkpoint(path)
        preprocess = preprocess_from_config(config, source=str(path))
        names = load_labels(labels)
        if names is None:
            names = labels_from_config(config)
        return cls(model, preprocess, names, device=device, batch_size=batch_size, config=config)

    from_pretrained = from_checkpoint  # the Hugging Face spelling

    def save_pretrained(self, save_directory: str | os.PathLike[str]) -> Path:
        """``config.json`` + ``model.safetensors`` with this classifier's preprocessing and class names."""
        from videofocalnet.hub import save_pretrained

        if "model_name" not in self.config:
            raise ValueError("save_pretrained needs the model's config: build the classifier with from_checkpoint")
        extra = {k: v for k, v in self.config.items() if k not in ("format_version", "model_name", "model_kwargs")}
        return save_pretrained(
            save_directory,
            self.model,
            model_name=self.config["model_name"],
            model_kwargs=self.config["model_kwargs"],
            preprocess=self.preprocess.to_dict(),
            labels=self.labels,
            extra=extra,
        )

    # ---------------------------------------------------------------------------------------------- inputs
    def transform(self, frames: torch.Tensor, num_crops: int) -> torch.Tensor:
        """uint8 (T, H, W, 3) sampled frames -> normalised float (num_crops, T, 3, S, S)."""
        clip = frames.permute(0, 3, 1, 2)  # (T, H, W, 3) -> (T, 3, H, W)
        return self.preprocess.eval_transform(num_crops)(clip)

    def views_from_frames(self, frames: torch.Tensor, views: str | tuple[int, int] = "1x1") -> torch.Tensor:
        """All decoded frames of a video, uint8 (N, H, W, 3) -> views (clips*crops, T, 3, S, S)."""
        clips, crops = parse_views(views)
        _check_frames(frames, "frames")
        out = [self.transform(frames[idx], crops) for idx in clip_indices(frames.shape[0], self.preprocess, clips)]
        return torch.cat(out)  # clips x (crops, T, 3, S, S) -> (clips*crops, T, 3, S, S)

    def views_from_file(self, path: str | os.PathLike[str], views: str | tuple[int, int] = "1x1") -> torch.Tensor:
        """Decode only the sampled frames of a file: (clips*crops, T, 3, S, S). Views are placed in seconds (the
        file's frame times), as the evaluation datasets place them; of a truncated file only what decodes is used,
        with a warning naming what the header promised."""
        from videofocalnet.data.decode import open_video

        clips, crops = parse_views(views)
        with open_video(path) as reader:
            num_frames, times = reader.what_decodes()
            if reader.truncation is not None:
                logger.warning("warning: %s: %s; classifying what decodes", path, reader.truncation)
            indices = self.preprocess.clip_indices(num_frames, clips, times)
            return self._views_from_reader(reader, indices, crops)

    def _views_from_reader(self, reader, indices: list[list[int]], crops: int) -> torch.Tensor:
        flat = sorted({i for clip in indices for i in clip})
        frames = reader.read(flat)  # (len(flat), H, W, 3), one sparse pass over the file
        position = {i: k for k, i in enumerate(flat)}
        out = [self.transform(frames[[position[i] for i in clip]], crops) for clip in indices]
        return torch.cat(out)  # (clips*crops, T, 3, S, S)

    # ---------------------------------------------------------------------------------------------- inference
    @torch.inference_mode()
    def probabilities(self, views: torch.Tensor) -> torch.Tensor:
        """(V, T, 3, S, S) -> mean softmax over the V views, (num_classes,)."""
        if views.ndim != 5:
            raise ValueError(f"expected views (V, T, 3, H, W), got shape {tuple(views.shape)}")
        total: torch.Tensor | None = None
        for chunk in views.split(self.batch_size):
            probs: torch.Tensor = self.model(chunk.to(self.device, torch.float32)).float().softmax(-1).sum(0)
            total = probs if total is None else total + probs
        if total is None:
            raise ValueError(f"expected at least one view, got shape {tuple(views.shape)}")
        return (total / views.shape[0]).cpu()

    def topk(self, probs: torch.Tensor, k: int) -> list[tuple[str, float]]:
        k = max(1, min(int(k), probs.numel()))
        values, idx = probs.topk(k)
        return [(self.labels[int(i)], float(v)) for v, i in zip(values, idx)]

    def predict(
        self,
        video: str | os.PathLike[str] | torch.Tensor,
        *,
        views: str | tuple[int, int] = "1x1",
        topk: int = 5,
    ) -> Prediction:
        """Top-k classes of one video: a path, uint8 frames (N, H, W, 3), or float views (T,3,H,W)/(V,T,3,H,W)."""
        path = None
        if isinstance(video, torch.Tensor):
            if video.dtype == torch.uint8:
                batch = self.views_from_frames(video, views)
            elif video.is_floating_point() and video.ndim in (4, 5):
                batch = video.unsqueeze(0) if video.ndim == 4 else video  # (T,3,H,W) -> (1,T,3,H,W)
            else:
                raise ValueError(
                    "a tensor input must be uint8 frames (N, H, W, 3) or normalised float views (T, 3, H, W) / "
                    f"(V, T, 3, H, W); got dtype {video.dtype} and shape {tuple(video.shape)}"
                )
        else:
            path = str(video)
            batch = self.views_from_file(video, views)
        probs = self.probabilities(batch)
        return Prediction(topk=self.topk(probs, topk), probs=probs, num_views=batch.shape[0], path=path)

    def predict_many(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        views: str | tuple[int, int] = "1x1",
        topk: int = 5,
        progress: bool = True,
    ) -> Iterator[Prediction | Exception]:
        """Predict each path in turn; an unreadable video yields its ``DecodeError`` instead of stopping the batch."""
        from tqdm.auto import tqdm

        from videofocalnet.data.decode import DecodeError

        paths = list(paths)
        for path in tqdm(paths, desc="predict", unit="video", disable=not progress or len(paths) < 2):
            try:
                yield self.predict(path, views=views, topk=topk)
            except DecodeError as exc:
                yield exc


def _check_frames(frames: torch.Tensor, name: str) -> None:
    if frames.dtype != torch.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{name} must be uint8 (N, H, W, 3), got dtype {frames.dtype} shape {tuple(frames.shape)}")
    if frames.shape[0] < 1:
        raise ValueError(f"{name} holds no frames")


def expand_video_paths(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Files as given; a folder expands to the video files under it (recursively, sorted), or is itself one
    video when it holds only frame images (the official raw-frame layout)."""
    from videofocalnet.data.formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

    out: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            videos = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
            if videos:
                out.extend(videos)
            elif any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir()):
                out.append(path)
            else:
                raise FileNotFoundError(
                    f"{path}: folder holds no video files ({', '.join(VIDEO_EXTENSIONS)}) and no frame images"
                )
        elif path.exists():
            out.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    return out
