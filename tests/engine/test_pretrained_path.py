"""TRAIN.PRETRAINED_PATH as a URL: rank 0 downloads the ImageNet checkpoint once into the cache, the run starts from
its weights (temporal branch and head initialised), and a second run reads the cached file without a request."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import torch

from conftest import tiny_config_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from http_helpers import FileServer  # noqa: E402
from videofocalnet.engine.config import config_from_dict  # noqa: E402
from videofocalnet.engine.distributed import init_distributed  # noqa: E402
from videofocalnet.engine.train import TrainRecipe  # noqa: E402
from weights_helpers import microsoft_from  # noqa: E402


def test_pretrained_path_url_is_downloaded_once_and_loaded(tiny_videos, tmp_path: Path, monkeypatch) -> None:
    from videofocalnet.models import create_model

    monkeypatch.setenv("VIDEOFOCALNET_HOME", str(tmp_path / "home"))
    source = create_model("video_focalnet_tiny", embed_dim=8, depths=[1, 1, 1, 1], num_classes=3, img_size=32)
    imagenet = microsoft_from(source.state_dict())
    buffer = io.BytesIO()
    torch.save({"model": imagenet}, buffer)
    with FileServer({"/focalnet_tiny_srf.pth": buffer.getvalue()}) as server:
        for attempt in range(2):
            cfg = config_from_dict(
                tiny_config_dict(tiny_videos, TRAIN={"PRETRAINED_PATH": server.url("/focalnet_tiny_srf.pth")})
            )
            recipe = TrainRecipe(
                cfg, init_distributed(device="cpu"), run_dir=tmp_path / f"run{attempt}", progress=False
            )
            recipe.setup(resume_path=None)
            state = recipe.model.state_dict()
            for key, value in imagenet.items():
                if not key.startswith("head."):
                    assert torch.equal(state[key], value), key
        gets = [path for method, path in server.requests if method == "GET"]
    assert gets == ["/focalnet_tiny_srf.pth"]
    assert (tmp_path / "home" / "checkpoints" / "focalnet_tiny_srf.pth").is_file()
