"""Predictions over time for long videos: sliding windows in seconds, each classified like a short video.

Windows live in the file's own time: ``window_s`` seconds every ``stride_s`` seconds over its real duration, on the
nominal frame grid of its :class:`~videofocalnet.data.sampling.FrameTimes` (presentation timestamps). Inside a
window the checkpoint's sampling picks the clip(s) on that grid exactly as it would for a whole video, and every
slot becomes the nearest decodable frame, so a dropped-frame AVI or a variable-frame-rate phone video gets windows
that cover the seconds they report. For a constant-rate file the grid is the frame list: a window of a long video
and a trimmed clip of the same span get the same prediction. A truncated file is classified as far as it decodes,
with a warning.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from videofocalnet.data.sampling import FrameTimes, parse_views
from videofocalnet.inference.classifier import VideoClassifier

__all__ = ["TimelineWindow", "Timeline", "window_ranges", "predict_timeline"]

logger = logging.getLogger(__name__)


@dataclass
class TimelineWindow:
    """One window: its span in seconds and the decodable frames shown in it (``[start_frame, end_frame)``)."""

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
    duration_s: float = 0.0  # the file's real duration (its frames' timestamps); 0 when unknown
    warning: str | None = None  # e.g. the truncation of a file classified as far as it decodes

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "duration_s": round(self.duration_s, 4),
            "window_s": self.window_s,
            "stride_s": self.stride_s,
            "views": self.views,
            "windows": [w.to_dict() for w in self.windows],
        }
        if self.warning:
            out["warning"] = self.warning
        return out

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
        ax.set_xlim(0, max(self.duration_s or self.num_frames / self.fps, centres[-1]))
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


def _file_times(reader: Any, num_frames: int, times: FrameTimes | None, fps: float | None, path: Any) -> FrameTimes:
    """The times windows are laid on: ``fps`` when given (frame folders need it), else the file's timestamps,
    else its header rate."""
    if fps is not None:
        if not fps > 0:
            raise ValueError(f"{path}: --fps must be positive, got {fps}")
        return FrameTimes.constant(num_frames, float(fps))
    if times is not None:
        return times
    rate = reader.info().fps
    if not rate > 0:
        raise ValueError(f"{path}: unknown frame rate (a frame folder?); pass fps= / --fps")
    return FrameTimes.constant(num_frames, rate)


def _frame_span(times: FrameTimes, start: int, end: int) -> tuple[int, int]:
    """Grid slots ``[start, end)`` -> the decodable frames shown in them (the same numbers on a uniform file)."""
    if times.uniform:
        return min(start, times.num_frames), min(end, times.num_frames)
    return times.first_frame_at(start / times.rate), times.first_frame_at(end / times.rate)


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
    """Classify every window of a video. ``fps`` overrides the file's timestamps with a constant rate (needed for
    frame folders)."""
    from tqdm.auto import tqdm

    from videofocalnet.data.decode import open_video

    clips, crops = parse_views(views)
    with open_video(path) as reader:
        num_frames, file_times = reader.what_decodes()
        warning = None
        if reader.truncation is not None:
            warning = f"{reader.truncation}; classified as far as it decodes"
            logger.warning("warning: %s: %s", path, warning)
        times = _file_times(reader, num_frames, file_times, fps, path)
        rate = times.rate
        ranges = window_ranges(times.grid_length, rate, window_s, stride_s)
        timeline = Timeline(
            path=str(path),
            fps=rate,
            num_frames=num_frames,
            window_s=window_s,
            stride_s=stride_s,
            views=f"{clips}x{crops}",
            labels=classifier.labels,
            duration_s=times.end_s,
            warning=warning,
        )
        for start, end in tqdm(ranges, desc=f"timeline {Path(path).name}", unit="window", disable=not progress):
            slots = classifier.preprocess.clip_indices(end - start, clips)
            indices = [times.to_frames([start + i for i in clip]) for clip in slots]
            batch = classifier._views_from_reader(reader, indices, crops)
            probs = classifier.probabilities(batch)
            first, stop = _frame_span(times, start, end)
            timeline.windows.append(
                TimelineWindow(
                    start_frame=first,
                    end_frame=stop,
                    start_s=start / rate,
                    end_s=end / rate,
                    probs=probs,
                    topk=classifier.topk(probs, topk),
                )
            )
    return timeline
