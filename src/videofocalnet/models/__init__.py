"""Video-FocalNet models (maths only, no file I/O): the published architecture, its design space, the registry, key
conversion and pretrained-weight surgery, and the explicit CPU inference kernels (``models.cpu``)."""

# Importing the design space registers the spatial/joint/divided/factorized variants.
from videofocalnet.models import design_space  # noqa: F401
from videofocalnet.models.focal_modulation import MODULATIONS, SpatioTemporalFocalModulation
from videofocalnet.models.registry import create_model, is_model, list_models, register_model
from videofocalnet.models.video_focalnet import (
    FocalNetBlock,
    FocalNetStage,
    PatchEmbed,
    VideoFocalNet,
    video_focalnet_base,
    video_focalnet_small,
    video_focalnet_tiny,
)

__all__ = [
    "MODULATIONS",
    "SpatioTemporalFocalModulation",
    "create_model",
    "is_model",
    "list_models",
    "register_model",
    "FocalNetBlock",
    "FocalNetStage",
    "PatchEmbed",
    "VideoFocalNet",
    "video_focalnet_tiny",
    "video_focalnet_small",
    "video_focalnet_base",
]
