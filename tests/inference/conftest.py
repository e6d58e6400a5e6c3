"""Session fixtures for inference tests: real videos and a tiny checkpoint (see inference_helpers)."""

from __future__ import annotations

from pathlib import Path

import pytest
from inference_helpers import bikes_path, moving_shapes, save_tiny_checkpoint, write_h264


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("videos")
    return {
        "shapes": write_h264(root / "shapes.mp4", moving_shapes(48, 96, 96, seed=0)),  # 4 s at 12 fps
        "wide": write_h264(root / "wide.mp4", moving_shapes(20, 64, 112, seed=1)),  # landscape, short
        "tall": write_h264(root / "tall.mp4", moving_shapes(16, 112, 64, seed=2)),  # portrait
    }


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="session")
def classifier(checkpoint):
    from videofocalnet.inference import VideoClassifier

    return VideoClassifier.from_checkpoint(checkpoint)


@pytest.fixture(scope="session")
def bikes() -> Path:
    return bikes_path()
