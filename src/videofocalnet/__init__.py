"""videofocalnet: Video-FocalNets (ICCV 2023) for video action recognition.

The top-level names are resolved lazily, so ``import videofocalnet`` (and the CLI's ``--help``) does not pay for
importing torch.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["VideoClassifier", "VideoFocalNet", "create_model", "list_models", "__version__"]


def __getattr__(name: str):
    if name == "create_model":  # the timm-style one: create_model("video_focalnet_base", pretrained="k400")
        from videofocalnet.hub import create_model

        return create_model
    if name == "VideoClassifier":
        from videofocalnet.inference import VideoClassifier

        return VideoClassifier
    if name in ("VideoFocalNet", "list_models"):
        from videofocalnet import models

        return getattr(models, name)
    raise AttributeError(f"module 'videofocalnet' has no attribute {name!r}")
