"""Predictions over time for long videos: sliding windows in seconds, each classified like a short video.

A window of ``window_s`` seconds starting every ``stride_s`` seconds becomes a frame range through the file's frame
rate; inside the window the checkpoint's sampling picks the clip(s) exactly as it would for a whole video, so a
window of a long video and a trimmed clip of the same span get the same prediction.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from videofocalnet.data.sampling import parse_views
from videofocalnet.inference.classifier import VideoClassifier, clip_indices

__all__ = ["TimelineWindow", "Timeline", "window_ranges", "predict_timeline"]


@dataclass
class TimelineWindow:
    start_frame: int
    end_frame: int  # exclusive
    start_s: float
    end_s: float
    probs: torch.Tensor  # (num_classes,)
    topk: list[tuple[str, float]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_s": round(self.start_s, 4),
            "end_s": round(self.end_s, 4),
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "topk": [{"label": n, "prob": round(p, 6)} for n, p in self.topk],
        }


@dataclass
class Timeline:
    path: str
    fps: float
    num_frames: int
    window_s: float
    stride_s: float
    views: str
    labels: list[str]
    windows: list[TimelineWindow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "window_s": self.window_s,
            "stride_s": self.stride_s,
            "views": self.views,
            "windows": [w.to_dict() for w in self.windows],
        }

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """Long format, one row per (window, rank): easy to filter and to load in pandas."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["window", "start_s", "end_s", "start_frame", "end_frame", "rank", "label", "prob"])
            for i, w in enumerate(self.windows):
                for rank, (name, prob) in enumerate(w.topk, start=1):
                    writer.writerow(
                        [i, f"{w.start_s:.4f}", f"{w.end_s:.4f}", w.start_frame, w.end_frame, rank, name, f"{prob:.6f}"]
                    )
        return path

    def plot(self, path: str | os.PathLike[str], *, max_classes: int = 8) -> Path:
        """Probability of the most prominent classes (highest peak over windows) against window centre time."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        probs = torch.stack([w.probs for w in self.windows])  # (num_windows, num_classes)
        peak = probs.max(dim=0).values
        classes = peak.argsort(descending=True)[: max(1, min(max_classes, probs.shape[1]))].tolist()
        centres = [(w.start_s + w.end_s) / 2 for w in self.windows]
        fig, ax = plt.subplots(figsize=(8, 3.5), dpi=100)
        for c in classes:
            ax.plot(centres, probs[:, c].numpy(), marker="o", markersize=3, label=self.labels[c])
        ax.set_xlabel("time (s, window centre)")
        ax.set_ylabel("probability")
        ax.set_ylim(0, 1)
        ax.set_xlim(0, max(self.num_frames / self.fps, centres[-1]))
        ax.set_title(f"{Path(self.path).name}: {self.window_s:g} s windows every {self.stride_s:g} s", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return path


def window_ranges(num_frames: int, fps: float, window_s: float, stride_s: float) -> list[tuple[int, int]]:
    """[start, end) frame ranges of windows ``window_s`` long every ``stride_s`` seconds.

    A final window is aligned to the video's end when the stride leaves a tail uncovered; a video shorter than
    one window is one window.
    """
    if not (window_s > 0 and stride_s > 0):
        raise ValueError(f"window and stride must be positive seconds, got window={window_s} stride={stride_s}")
    if not fps > 0:
        raise ValueError(f"the frame rate must be positive to convert seconds to frames, got {fps}")
    if num_frames < 1:
        raise ValueError(f"the video holds no frames ({num_frames})")
    length = max(1, int(round(window_s * fps)))
    stride = max(1, int(round(stride_s * fps)))
    if length >= num_frames:
        return [(0, num_frames)]
    starts = list(range(0, num_frames - length + 1, stride))
    if starts[-1] + length < num_frames:
        starts.append(num_frames - length)
    return [(s, s + length) for s in starts]


def predict_timeline(
    classifier: VideoClassifier,
    path: str | os.PathLike[str],
    *,
    window_s: float,
    stride_s: float,
    views: str | tuple[int, int] = "1x1",
    topk: int = 5,
    fps: float | None = None,
    progress: bool = True,
) -> Timeline:
    """Classify every window of a video. ``fps`` overrides the file's rate (needed for frame folders)."""
    from tqdm.auto import tqdm

    from videofocalnet.data.decode import open_video

    clips, crops = parse_views(views)
    with open_video(path) as reader:
        info = reader.info()
        rate = float(fps) if fps is not None else info.fps
        if not rate > 0:
            raise ValueError(f"{path}: unknown frame rate (a frame folder?); pass fps= / --fps")
        ranges = window_ranges(reader.num_frames, rate, window_s, stride_s)
        timeline = Timeline(
            path=str(path),
            fps=rate,
            num_frames=reader.num_frames,
            window_s=window_s,
            stride_s=stride_s,
            views=f"{clips}x{crops}",
            labels=classifier.labels,
        )
        for start, end in tqdm(ranges, desc=f"timeline {Path(path).name}", unit="window", disable=not progress):
            indices = [[start + i for i in clip] for clip in clip_indices(end - start, classifier.preprocess, clips)]
            batch = classifier._views_from_reader(reader, indices, crops)
            probs = classifier.probabilities(batch)
            timeline.windows.append(
                TimelineWindow(
                    start_frame=start,
                    end_frame=end,
                    start_s=start / rate,
                    end_s=end / rate,
                    probs=probs,
                    topk=classifier.topk(probs, topk),
                )
            )
    return timeline
